"""The SQLite engine: each database is its own file, opened read-only (see ``harness.execution.sqlite``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.engines import Engine, EngineSpec
from harness.execution.sqlite import QueryResult, connect_readonly, run_query


class SQLiteEngine(Engine):
    """Runs queries on cached read-only connections, one per database file."""

    name = "sqlite"

    def __init__(self, spec: EngineSpec | None = None) -> None:
        self._connections: dict[str, sqlite3.Connection] = {}

    def run(self, db_path: str, sql: str, *, timeout_s: float | None, max_rows: int | None) -> QueryResult:
        conn = self._connections.get(db_path)
        if conn is None:
            conn = self._connections[db_path] = connect_readonly(db_path)
        return run_query(conn, sql, timeout_s=timeout_s, max_rows=max_rows)

    def missing(self, db_paths: list[str]) -> list[str]:
        return [path for path in dict.fromkeys(db_paths) if not Path(path).is_file()]

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()
