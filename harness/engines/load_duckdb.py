"""The DuckDB side of ``harness load-db``: one DuckDB file, one schema per SQLite database.

Rows go in a chunk at a time as a pandas DataFrame with one typed column per
column (nullable ``Int64``/``Float64``, Python objects for text and blobs) and
``INSERT INTO ... SELECT``. DuckDB cannot add a foreign key to a table that
exists, nor survive a failed ``ALTER`` inside a transaction, so primary keys are
added only after checking the loaded rows satisfy them, and foreign keys not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd

from harness.engines.duckdb_engine import duckdb_path
from harness.engines.naming import META_SCHEMA, quote
from harness.engines.sqlite_source import SourceTable

__all__ = ["DuckDBTarget"]

_DTYPES = {"integer": "Int64", "real": "Float64"}


class DuckDBTarget:
    """Loads schemas into the DuckDB file that ``url`` names (created if missing)."""

    engine = "duckdb"
    foreign_keys_refused = (
        "DuckDB cannot add them to tables already loaded (it takes them only in CREATE TABLE, "
        "against a primary key, and checks them on every insert)"
    )

    def __init__(self, url: str) -> None:
        if "://" in url and not url.startswith("duckdb:///"):
            raise ValueError(f"{url!r}: the duckdb engine takes a file path or duckdb:///PATH")
        self.path = duckdb_path(url)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = duckdb.connect(str(self.path))
        except (OSError, duckdb.Error) as e:
            raise RuntimeError(
                f"cannot open the DuckDB file {self.path}: {e}; check the path, and that "
                "no other process (an eval, another load-db) has it open"
            ) from e
        # The file's catalog is named after it: a schema of the same name ("nums" in nums.duckdb)
        # is ambiguous unless named with its catalog.
        (catalog,) = self.conn.execute("SELECT current_database()").fetchone()
        self._in = f"{quote(catalog)}."

    def _run(self, statement: str, params: list | None = None) -> Any:
        return self.conn.execute(statement, params)

    def prepare(self) -> None:
        self._run(f"CREATE SCHEMA IF NOT EXISTS {self._in}{META_SCHEMA}")
        self._run(
            f"CREATE TABLE IF NOT EXISTS {self._in}{META_SCHEMA}.loaded (schema_name VARCHAR PRIMARY KEY, "
            "source_sha256 VARCHAR NOT NULL, loader_version INTEGER NOT NULL, "
            "loaded_at TIMESTAMP NOT NULL)"
        )

    @contextmanager
    def transaction(self, schema: str) -> Iterator[None]:
        self.conn.begin()
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def recorded(self, schema: str) -> tuple[str, int] | None:
        row = self._run(
            f"SELECT source_sha256, loader_version FROM {self._in}{META_SCHEMA}.loaded WHERE schema_name = ?",
            [schema],
        ).fetchone()
        return (row[0], row[1]) if row else None

    def table_count(self, schema: str) -> int | None:
        """How many tables ``schema`` holds; None if there is no such schema."""
        row = self._run(
            "SELECT (SELECT count(*) FROM information_schema.tables WHERE table_schema = ?) "
            "FROM information_schema.schemata WHERE schema_name = ?",
            [schema, schema],
        ).fetchone()
        return row[0] if row else None

    def replace_schema(self, schema: str) -> None:
        self._run(f"DROP SCHEMA IF EXISTS {self._in}{quote(schema)} CASCADE")
        self._run(f"CREATE SCHEMA {self._in}{quote(schema)}")

    def create_table(self, schema: str, table: SourceTable) -> list[str]:
        columns = ", ".join(f"{quote(c.target)} {c.type.duckdb}" for c in table.columns)
        self._run(f"CREATE TABLE {self._in}{quote(schema)}.{quote(table.target)} ({columns})")
        return []

    def copy(self, schema: str, table: SourceTable) -> list[str]:
        names = [f"c{i}" for i in range(len(table.columns))]
        into = f"{self._in}{quote(schema)}.{quote(table.target)}"
        insert = f"INSERT INTO {into} SELECT {', '.join(names)} FROM _chunk"
        for rows in table.chunks():
            frame = pd.DataFrame(
                {
                    name: pd.array(values, dtype=_DTYPES[c.type.kind])
                    if c.type.kind in _DTYPES
                    else pd.Series(values, dtype=object)
                    for name, c, values in zip(names, table.columns, zip(*rows))
                }
            )
            self.conn.register("_chunk", frame)
            try:
                self._run(insert)
            finally:
                self.conn.unregister("_chunk")
        return []

    def add_primary_key(self, schema: str, table: str, columns: list[str]) -> str | None:
        """Add the key if the rows satisfy it, else say why (a failed ALTER ends a transaction)."""
        name = f"{self._in}{quote(schema)}.{quote(table)}"
        keys = ", ".join(map(quote, columns))
        nulls = " OR ".join(f"{quote(c)} IS NULL" for c in columns)
        found = self._run(
            f"SELECT (SELECT count(*) FROM {name} WHERE {nulls}), (SELECT count(*) FROM "
            f"(SELECT 1 FROM {name} GROUP BY {keys} HAVING count(*) > 1))"
        ).fetchone()
        if found[0]:
            return f"{found[0]} rows have NULL in the key"
        if found[1]:
            return f"{found[1]} key values occur more than once"
        self._run(f"ALTER TABLE {name} ADD PRIMARY KEY ({keys})")
        return None

    def grant(self, schema: str) -> None:
        """DuckDB has no roles: the evaluator opens the file read-only."""

    def record(self, schema: str, digest: str, version: int) -> None:
        self._run(
            f"INSERT INTO {self._in}{META_SCHEMA}.loaded VALUES (?, ?, ?, CAST(now() AS TIMESTAMP)) "
            "ON CONFLICT (schema_name) DO UPDATE SET source_sha256 = excluded.source_sha256, "
            "loader_version = excluded.loader_version, loaded_at = excluded.loaded_at",
            [schema, digest, version],
        )

    def finish(self) -> tuple[str, list[str]]:
        self._run("CHECKPOINT")
        return str(self.path), []

    def close(self) -> None:
        self.conn.close()
