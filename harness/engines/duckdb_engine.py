"""The DuckDB engine: a suite's databases as schemas of one DuckDB file, opened read-only.

``harness load-db --engine duckdb --url FILE`` writes the file; evaluation opens
it with ``read_only=True`` and the lock-down of ``harness.execution.duckdb_tables``
(external access off, so no file, URL or extension can be read or written;
extension autoloading and Python replacement scans off; one thread; a memory
limit; ``lock_configuration``). Each schema gets its own cursor whose
``search_path`` is that schema. A query must be exactly one SELECT (DuckDB's own
parser decides), has a deadline fired by ``interrupt()``, a row cap, a text cap
and an address-space cap, all as for tables (``run_table_query``).

A DuckDB file may be opened read-only by many processes at once, so every
scoring worker opens its own instance; one made before a fork is not reused
after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.engines import Engine, EngineSpec
from harness.engines.naming import schema_name
from harness.engines.values import normalise_rows
from harness.execution.sqlite import QueryResult

__all__ = ["DuckDBEngine", "duckdb_path"]


def duckdb_path(url: str) -> Path:
    """The file of a DuckDB ``--db-url``: a path, or ``duckdb:///path``.

    >>> str(duckdb_path("duckdb:////data/suite.duckdb"))
    '/data/suite.duckdb'
    >>> str(duckdb_path("suite.duckdb"))
    'suite.duckdb'
    """
    return Path(url.removeprefix("duckdb:///")) if url.startswith("duckdb:///") else Path(url)


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.path = duckdb_path(spec.url or "")
        self._instance: tuple[int, Any] | None = None
        self._cursors: dict[str, Any] = {}

    def _open(self) -> Any:
        import duckdb

        from harness.execution.duckdb_tables import _CONFIG

        if not self.path.is_file():
            raise FileNotFoundError(
                f"{self.path}: no DuckDB file; make it with `harness load-db --engine duckdb --url {self.path}`"
            )
        instance = duckdb.connect(str(self.path), read_only=True, config=dict(_CONFIG))
        try:
            instance.execute("SET lock_configuration = true")
        except BaseException:
            instance.close()
            raise
        return instance

    def _database(self) -> Any:
        """This process's instance, opened on first use and anew after a fork."""
        if self._instance is None or self._instance[0] != os.getpid():
            self._instance, self._cursors = (os.getpid(), self._open()), {}
        return self._instance[1]

    def _cursor(self, schema: str) -> Any:
        database = self._database()
        cursor = self._cursors.get(schema)
        if cursor is None:
            cursor = database.cursor()
            cursor.execute("SET search_path = '" + schema.replace("'", "''") + "'")
            self._cursors[schema] = cursor
        return cursor

    def run(self, db_path: str, sql: str, *, timeout_s: float | None, max_rows: int | None) -> QueryResult:
        from harness.execution.duckdb_tables import run_table_query

        cursor = self._cursor(self.spec.schema or schema_name(db_path))
        result = run_table_query(cursor, sql, timeout_s=timeout_s, max_rows=max_rows)
        if result.rows is None:
            return result
        return QueryResult(result.status, normalise_rows(result.rows), result.error, result.elapsed_s)

    def missing(self, db_paths: list[str]) -> list[str]:
        held = {name for (name,) in self._database().execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        wanted = [self.spec.schema] if self.spec.schema else [schema_name(path) for path in db_paths]
        return [name for name in dict.fromkeys(wanted) if name not in held]

    def close(self) -> None:
        if self._instance is not None and self._instance[0] == os.getpid():
            self._instance[1].close()
        self._instance, self._cursors = None, {}
