"""``harness load-db``: copy a suite's SQLite databases into PostgreSQL, MySQL or a DuckDB file.

Each SQLite file becomes one schema (``schema_name``; on MySQL, a database of
that name), its tables and columns in lower case, each column typed from the
values it holds (:mod:`harness.engines.column_types`). Keys come after the
data: a primary key the rows break, or a foreign key the engine will not take,
is left out and said so in the report.

A database loads in one transaction, together with its row in
``harness_meta.loaded`` (the SQLite file's sha256 and ``LOADER_VERSION``): a
crash leaves the previous copy as it was, and loading again skips every database
already "up to date". MySQL cannot run DDL in a transaction; its load is
crash-safe instead, the row written last (:mod:`harness.engines.load_mysql`).
On PostgreSQL and MySQL an account (``reader``) that may only read the loaded
schemas is made or updated; its URL is what ``harness eval --db-url`` takes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.engines.naming import META_SCHEMA, schema_name, table_name
from harness.engines.sqlite_source import ForeignKey, SourceDatabase, read_source

__all__ = ["LOADER_VERSION", "DatabaseLoad", "LoadReport", "file_sha256", "load_databases"]

# Bump when the loaded form changes (types, names, keys): every schema then loads again.
LOADER_VERSION = 1
TARGET_ENGINES = ("postgresql", "duckdb", "mysql")
# What the --db-url user needs to set up the meta table and the reader.
_SETUP_RIGHTS = {
    "postgresql": "CREATE on the database and CREATEROLE",
    "mysql": "CREATE, DROP, ALTER, INDEX, REFERENCES, SELECT, INSERT and DELETE on *.*, "
    "CREATE USER and GRANT OPTION (as root has)",
}


@dataclass
class DatabaseLoad:
    """What happened to one database: ``status`` "loaded" or "up to date" (``rows`` then None)."""

    schema: str
    source: str
    status: str
    tables: int
    rows: int | None
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    engine: str
    target: str
    databases: list[DatabaseLoad] = field(default_factory=list)
    reader_url: str | None = None
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """A plain-text table, one line per database, then the notes.

        >>> report = LoadReport("duckdb", "x.duckdb", [
        ...     DatabaseLoad("shop", "shop.sqlite", "loaded", 2, 30, 0.04, ["a.b: why"]),
        ...     DatabaseLoad("zoo", "zoo.sqlite", "up to date", 3, None, 0.0)])
        >>> print(report.render())
        schema  status      tables  rows  seconds
        shop    loaded           2    30     0.04
        zoo     up to date       3     -     0.00
        2 databases into duckdb x.duckdb: 1 loaded, 1 up to date
        notes:
          shop: a.b: why
        """
        header = ["schema", "status", "tables", "rows", "seconds"]
        lines = [
            [
                d.schema,
                d.status,
                str(d.tables),
                "-" if d.rows is None else str(d.rows),
                f"{d.seconds:.2f}",
            ]
            for d in self.databases
        ]
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

        def line(row: list[str]) -> str:
            cells = [
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            ]
            return "  ".join(cells).rstrip()

        loaded = sum(d.status == "loaded" for d in self.databases)
        out = [
            line(header),
            *map(line, lines),
            f"{len(self.databases)} databases into {self.engine} {self.target}: "
            f"{loaded} loaded, {len(self.databases) - loaded} up to date",
        ]
        notes = [f"{d.schema}: {note}" for d in self.databases for note in d.notes] + self.notes
        if notes:
            out += ["notes:", *(f"  {note}" for note in notes)]
        return "\n".join(out)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _schemas(db_paths: Iterable[str | Path]) -> dict[str, Path]:
    """Each schema's SQLite file, in first-seen order; two files for one schema is a ValueError."""
    found: dict[str, Path] = {}
    for raw in db_paths:
        path = Path(raw)
        schema = schema_name(path)
        other = found.setdefault(schema, path)
        if other != path and other.resolve() != path.resolve():
            raise ValueError(
                f"{other} and {path} would both load into schema {schema!r}; "
                "load them into separate targets or rename one file"
            )
    return found


def _open_target(engine: str, url: str, reader: str, reader_password: str | None) -> Any:
    """The engine's target (imported only now, so psycopg and PyMySQL stay optional)."""
    if engine == "postgresql":
        from harness.engines.load_postgres import PostgresTarget

        return PostgresTarget(url, reader, reader_password)
    if engine == "mysql":
        from harness.engines.load_mysql import MySQLTarget

        return MySQLTarget(url, reader, reader_password)
    from harness.engines.load_duckdb import DuckDBTarget

    return DuckDBTarget(url)


def _referenced(source: SourceDatabase, key: ForeignKey) -> tuple[str, list[str]] | str:
    """The table and columns ``key`` references (target names), or why it cannot be made."""
    parent = source.table(key.ref_table)
    if parent is None:
        return f"table {key.ref_table!r} does not exist"
    ref = parent.primary_key if key.ref_columns is None else key.ref_columns
    if not ref:
        return f"it names no columns and {parent.target} has no primary key"
    known = {c.target for c in parent.columns}
    if missing := [c for c in ref if table_name(c) not in known]:
        return f"{parent.target} has no column {missing[0]!r}"
    return parent.target, [table_name(c) for c in ref]


def _keys(target: Any, schema: str, source: SourceDatabase) -> list[str]:
    """Add primary keys, then foreign keys; a note for each one left out."""
    notes = []
    for table in source.tables:
        if table.primary_key:
            columns = [table_name(c) for c in table.primary_key]
            why = target.add_primary_key(schema, table.target, columns)
            if why:
                notes.append(f"{table.target}: primary key ({', '.join(columns)}) left out: {why}")
    refused = 0
    for table in source.tables:
        for key in table.foreign_keys:
            columns = [table_name(c) for c in key.columns]
            what = (
                f"{table.target}: foreign key ({', '.join(columns)}) -> {table_name(key.ref_table)}"
            )
            found = _referenced(source, key)
            if isinstance(found, str):
                why: str | None = found
            elif target.foreign_keys_refused:
                refused += 1
                continue
            else:
                what += f" ({', '.join(found[1])})"
                why = target.add_foreign_key(schema, table.target, columns, *found)
            if why:
                notes.append(f"{what} left out: {why}")
    if refused:
        notes.append(f"{refused} foreign keys left out: {target.foreign_keys_refused}")
    return notes


def _column_notes(source: SourceDatabase, engine: str) -> list[str]:
    notes = []
    for table in source.tables:
        for column in table.columns:
            where = f"{table.target}.{column.target}"
            if column.type.reason:
                notes.append(f"{where}: {column.type.reason}; loaded as {column.type.on(engine)}")
            if column.profile.lossy:
                notes.append(
                    f"{where}: {column.profile.lossy} text values were not valid UTF-8; "
                    "their invalid bytes were dropped (as Spider's evaluator reads them)"
                )
    return notes


def _load_one(target: Any, schema: str, path: Path, force: bool) -> DatabaseLoad:
    start = time.perf_counter()
    digest = file_sha256(path)
    with target.transaction(schema):
        tables = target.table_count(schema)  # None: no such schema (dropped by hand?), so load
        if not force and tables is not None and target.recorded(schema) == (digest, LOADER_VERSION):
            target.grant(schema)
            seconds = time.perf_counter() - start
            return DatabaseLoad(schema, str(path), "up to date", tables, None, seconds)
        source = read_source(path)
        try:
            target.replace_schema(schema)
            notes = _column_notes(source, target.engine)
            for table in source.tables:
                notes += target.create_table(schema, table)
                notes += target.copy(schema, table)
            notes += _keys(target, schema, source)
            target.grant(schema)
            target.record(schema, digest, LOADER_VERSION)
        finally:
            source.close()
    rows = sum(t.rows for t in source.tables)
    seconds = time.perf_counter() - start
    return DatabaseLoad(schema, str(path), "loaded", len(source.tables), rows, seconds, notes)


def load_databases(
    db_paths: Iterable[str | Path],
    engine: str = "postgresql",
    url: str = "",
    *,
    reader: str = "harness_reader",
    reader_password: str | None = None,
    force: bool = False,
    progress: Callable[[DatabaseLoad, int, int], None] | None = None,
) -> LoadReport:
    """Copy each SQLite database in ``db_paths`` into ``engine`` at ``url``, one schema each.

    ``url`` is a SQLAlchemy URL for PostgreSQL (``postgresql+psycopg://...``) or
    MySQL (``mysql+pymysql://USER:PASSWORD@HOST:PORT/``), a file path (or
    ``duckdb:///PATH``) for DuckDB. ``force`` reloads databases that are up to
    date. ``progress(done_database, count_done, count_all)`` is called after each
    database. The report's ``reader_url`` is what ``harness eval --db-url``
    takes: the reader account's URL, or the DuckDB file.
    """
    if engine not in TARGET_ENGINES:
        raise ValueError(
            f"load-db cannot load into engine {engine!r}; use one of {', '.join(TARGET_ENGINES)}"
        )
    if not url:
        raise ValueError(
            f"engine {engine!r} needs a --db-url: a PostgreSQL or MySQL URL, or a DuckDB file"
        )
    schemas = _schemas(db_paths)
    target = _open_target(engine, url, reader, reader_password)
    report = LoadReport(engine, _shown(engine, url))
    try:
        try:
            target.prepare()
        except (ValueError, RuntimeError):
            raise
        except Exception as e:
            raise RuntimeError(
                f"{report.target}: cannot set up {META_SCHEMA} and the reader account "
                f"({type(e).__name__}: {' '.join(str(e).split())}); the --db-url user "
                f"needs {_SETUP_RIGHTS.get(engine, _SETUP_RIGHTS['postgresql'])}"
            ) from e
        for schema, path in schemas.items():
            try:
                done = _load_one(target, schema, path, force)
            except (ValueError, FileNotFoundError):
                raise
            except Exception as e:
                raise RuntimeError(
                    f"{path}: loading it into schema {schema!r} failed, and {_kept(engine)}: "
                    f"{type(e).__name__}: {' '.join(str(e).split())}"
                ) from e
            report.databases.append(done)
            if progress is not None:
                progress(done, len(report.databases), len(schemas))
        report.reader_url, notes = target.finish()
        report.notes += notes
    finally:
        target.close()
    return report


def _kept(engine: str) -> str:
    """What a failed load leaves of the schema's previous copy."""
    if engine == "mysql":
        return (
            "the schema was left as it was (or, if it failed while swapping the new copy in, "
            "recorded as not loaded, so the next load-db loads it)"
        )
    return "the schema was left as it was"


def _shown(engine: str, url: str) -> str:
    """``url`` with its password masked, for the report and errors."""
    if engine == "postgresql":
        from harness.engines.postgres import safe_url

        return safe_url(url)
    if engine == "mysql":
        from harness.engines.mysql import safe_url

        return safe_url(url)
    return url
