"""Reading a SQLite database for ``harness load-db``: its tables, keys, column types and rows.

``read_source`` opens the file read-only and makes one pass over every table to
profile its columns (:mod:`harness.engines.column_types`); ``SourceTable.chunks``
then reads the rows again, a chunk at a time, in the form the target's types
expect. Text is decoded as Spider's evaluator does (invalid UTF-8 bytes dropped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.engines.column_types import ColumnProfile, ColumnType, decode_text
from harness.engines.naming import quote, table_name

__all__ = ["ForeignKey", "SourceColumn", "SourceDatabase", "SourceTable", "read_source"]

CHUNK_ROWS = 20_000


@dataclass
class SourceColumn:
    name: str
    declared: str
    profile: ColumnProfile
    type: ColumnType = ColumnType("text")

    @property
    def target(self) -> str:
        return table_name(self.name)

    @property
    def read_as_text(self) -> bool:
        """Whether the column is text holding numbers or blobs, read through ``CAST(x AS TEXT)``."""
        return self.type.kind == "text" and bool(set(self.profile.counts) - {"text"})


@dataclass
class ForeignKey:
    """``columns`` reference ``ref_columns`` of ``ref_table`` (SQLite names; ``None``: its key)."""

    columns: list[str]
    ref_table: str
    ref_columns: list[str] | None


@dataclass
class SourceTable:
    name: str
    columns: list[SourceColumn]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    rows: int = 0
    conn: sqlite3.Connection | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return table_name(self.name)

    def chunks(self, size: int = CHUNK_ROWS) -> Iterator[list[tuple]]:
        """The rows, ``size`` at a time; a mixed column comes as SQLite's text of each value."""
        assert self.conn is not None
        # Decoding never fails here; LossyText was only needed to count during profiling.
        self.conn.text_factory = lambda raw: raw.decode("utf-8", errors="ignore")
        exprs = [
            f"CAST({quote(c.name)} AS TEXT)" if c.read_as_text else quote(c.name)
            for c in self.columns
        ]
        cursor = self.conn.execute(f"SELECT {', '.join(exprs)} FROM {quote(self.name)}")
        while rows := cursor.fetchmany(size):
            yield rows


@dataclass
class SourceDatabase:
    path: Path
    tables: list[SourceTable]
    conn: sqlite3.Connection = field(repr=False)

    def table(self, name: str) -> SourceTable | None:
        """The table SQLite would find under ``name`` (names are compared without case)."""
        return next((t for t in self.tables if t.target == table_name(name)), None)

    def close(self) -> None:
        self.conn.close()


def _open(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such SQLite database; check the suite's --data/--db-dir"
        )
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        conn.close()
        raise ValueError(f"{path}: not a readable SQLite database ({e})") from e
    return conn


def _unique(names: list[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(table_name(name), name)
        if other != name:
            raise ValueError(
                f"{what}: {other!r} and {name!r} are the same name in lower case; "
                "rename one of them in the SQLite file"
            )


def _table(conn: sqlite3.Connection, name: str, path: Path) -> SourceTable:
    info = conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    columns = [SourceColumn(row[1], row[2] or "", ColumnProfile(row[2] or "")) for row in info]
    _unique([c.name for c in columns], f"{path}: table {name!r}")
    primary_key = [row[1] for row in sorted((r for r in info if r[5] > 0), key=lambda r: r[5])]
    keys: dict[int, ForeignKey] = {}
    for fk in conn.execute(f"PRAGMA foreign_key_list({quote(name)})").fetchall():
        _id, _seq, ref_table, column, ref_column = fk[:5]
        key = keys.setdefault(_id, ForeignKey([], ref_table, []))
        key.columns.append(column)
        if ref_column is None:
            key.ref_columns = None
        elif key.ref_columns is not None:
            key.ref_columns.append(ref_column)
    table = SourceTable(name, columns, primary_key, list(keys.values()), conn=conn)
    cursor = conn.execute(f"SELECT {', '.join(quote(c.name) for c in columns)} FROM {quote(name)}")
    while rows := cursor.fetchmany(CHUNK_ROWS):
        table.rows += len(rows)
        for column, values in zip(columns, zip(*rows)):
            column.profile.add(values)
    for column in columns:
        column.type = column.profile.choose()
    return table


def read_source(path: str | Path) -> SourceDatabase:
    """Open the SQLite file at ``path`` read-only and profile all its tables (not ``sqlite_*``)."""
    path = Path(path)
    conn = _open(path)
    conn.text_factory = decode_text
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
            )
        ]
        _unique(names, str(path))
        tables = [_table(conn, name, path) for name in names]
    except sqlite3.Error as e:
        conn.close()
        raise ValueError(f"{path}: cannot read it as SQLite ({e})") from e
    except BaseException:
        conn.close()
        raise
    return SourceDatabase(path, tables, conn)
