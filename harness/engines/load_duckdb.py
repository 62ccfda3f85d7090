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
from pathlib import Path
from typing import Any

from harness.engines.naming import META_SCHEMA, quote
from harness.engines.sqlite_source import SourceTable

__all__ = ["DuckDBTarget", "duckdb_path"]

_DTYPES = {"integer": "Int64", "real": "Float64"}


def duckdb_path(url: str) -> Path:
    """The file a DuckDB ``--db-url`` names: a path, or ``duckdb:///path``.

    >>> duckdb_path("duckdb:///data/suite.duckdb"), duckdb_path("suite.duckdb")
    (PosixPath('data/suite.duckdb'), PosixPath('suite.duckdb'))
    """
    if "://" not in url:
        return Path(url)
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.drivername != "duckdb" or not parsed.database or parsed.database == ":memory:":
        raise ValueError(f"{url!r}: the duckdb engine takes a file path or duckdb:///PATH")
    return Path(parsed.database)


class DuckDBTarget:
    """Loads schemas into the DuckDB file that ``url`` names (created if missing)."""

    engine = "duckdb"

    def __init__(self, url: str) -> None:
        import duckdb

        self.path = duckdb_path(url)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = duckdb.connect(str(self.path))
        except (OSError, duckdb.Error) as e:
            raise RuntimeError(f"cannot open the DuckDB file {self.path}: {e}; check the path, and that "
                               "no other process (an eval, another load-db) has it open") from e

    def _run(self, statement: str, params: list | None = None) -> Any:
        return self.conn.execute(statement, params)

    def prepare(self) -> None:
        self._run(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        self._run(f"CREATE TABLE IF NOT EXISTS {META_SCHEMA}.loaded (schema_name VARCHAR PRIMARY KEY, "
                  "source_sha256 VARCHAR NOT NULL, loader_version INTEGER NOT NULL, "
                  "loaded_at TIMESTAMP NOT NULL)")

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
        row = self._run(f"SELECT source_sha256, loader_version FROM {META_SCHEMA}.loaded "
                        "WHERE schema_name = ?", [schema]).fetchone()
        return (row[0], row[1]) if row else None

    def table_count(self, schema: str) -> int:
        return self._run("SELECT count(*) FROM information_schema.tables WHERE table_schema = ?",
                         [schema]).fetchone()[0]

    def replace_schema(self, schema: str) -> None:
        self._run(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")
        self._run(f"CREATE SCHEMA {quote(schema)}")

    def create_table(self, schema: str, table: SourceTable) -> list[str]:
        columns = ", ".join(f"{quote(c.target)} {c.type.duckdb}" for c in table.columns)
        self._run(f"CREATE TABLE {quote(schema)}.{quote(table.target)} ({columns})")
        return []

    def copy(self, schema: str, table: SourceTable) -> list[str]:
        import pandas as pd

        names = [f"c{i}" for i in range(len(table.columns))]
        insert = f"INSERT INTO {quote(schema)}.{quote(table.target)} SELECT {', '.join(names)} FROM _chunk"
        for rows in table.chunks():
            frame = pd.DataFrame({
                name: pd.array(values, dtype=_DTYPES[c.type.kind]) if c.type.kind in _DTYPES
                else pd.Series(values, dtype=object)
                for name, c, values in zip(names, table.columns, zip(*rows))
            })
            self.conn.register("_chunk", frame)
            try:
                self._run(insert)
            finally:
                self.conn.unregister("_chunk")
        return []

    def add_primary_key(self, schema: str, table: str, columns: list[str]) -> str | None:
        """Add the key when the rows satisfy it; otherwise why not (a failed ALTER would end the transaction)."""
        name = f"{quote(schema)}.{quote(table)}"
        keys = ", ".join(map(quote, columns))
        nulls = " OR ".join(f"{quote(c)} IS NULL" for c in columns)
        found = self._run(f"SELECT (SELECT count(*) FROM {name} WHERE {nulls}), "
                          f"(SELECT count(*) FROM (SELECT 1 FROM {name} GROUP BY {keys} HAVING count(*) > 1))"
                          ).fetchone()
        if found[0]:
            return f"{found[0]} rows have NULL in the key"
        if found[1]:
            return f"{found[1]} key values occur more than once"
        self._run(f"ALTER TABLE {name} ADD PRIMARY KEY ({keys})")
        return None

    def add_foreign_key(self, schema: str, table: str, columns: list[str], ref_table: str,
                        ref_columns: list[str]) -> str | None:
        return "DuckDB cannot add a foreign key to a table that exists (no ALTER TABLE ADD FOREIGN KEY)"

    def grant(self, schema: str) -> None:
        """DuckDB has no roles: the evaluator opens the file read-only."""

    def record(self, schema: str, digest: str, version: int) -> None:
        self._run(f"INSERT INTO {META_SCHEMA}.loaded VALUES (?, ?, ?, CAST(now() AS TIMESTAMP)) "
                  "ON CONFLICT (schema_name) DO UPDATE SET source_sha256 = excluded.source_sha256, "
                  "loader_version = excluded.loader_version, loaded_at = excluded.loaded_at",
                  [schema, digest, version])

    def finish(self) -> tuple[str, list[str]]:
        self._run("CHECKPOINT")
        return str(self.path), []

    def close(self) -> None:
        self.conn.close()
