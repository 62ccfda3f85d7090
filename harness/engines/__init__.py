"""Database engines behind one interface: where a suite's SQL runs.

An engine runs one untrusted statement against one of a suite's databases and
returns a :class:`~harness.execution.sqlite.QueryResult` whose rows are plain
Python values as SQLite would give them (see :mod:`harness.engines.values`).
A database is named by its SQLite file (``Example.db_paths``); the SQLite engine
opens that file, the others look the database up by ``schema_name(db_path)`` in
a copy that ``harness load-db`` made.

=============  =========================  ====================================
engine         where the data is          how a runaway query is stopped
=============  =========================  ====================================
``sqlite``     the suite's SQLite files   progress handler inside SQLite
``duckdb``     one DuckDB file (``--db-url PATH``), one schema per database
                                          ``interrupt()`` from a watchdog
``postgresql`` a server (SQLAlchemy URL)  the server's ``statement_timeout``
``mysql``      a MySQL or MariaDB server,  the server's ``max_execution_time``
               one database per database  (``max_statement_time``), then KILL
=============  =========================  ====================================

Engines are imported only when chosen (``open_engine``), so psycopg and the
server drivers stay optional.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import import_module

from harness.execution.sqlite import QueryResult

__all__ = ["DIALECTS", "ENGINES", "Engine", "EngineSpec", "ServerEngine", "engine_dialect", "open_engine"]

ENGINES: dict[str, str] = {
    "sqlite": "harness.engines.sqlite_engine:SQLiteEngine",
    "duckdb": "harness.engines.duckdb_engine:DuckDBEngine",
    "postgresql": "harness.engines.postgres:PostgresEngine",
    "mysql": "harness.engines.mysql:MySQLEngine",
}

# The sqlglot dialect each engine's SQL is written in.
DIALECTS: dict[str, str] = {"sqlite": "sqlite", "duckdb": "duckdb", "postgresql": "postgres", "mysql": "mysql"}


@dataclass(frozen=True)
class EngineSpec:
    """Which engine runs the SQL: its name, where its data is, and an optional fixed schema.

    ``schema`` puts every database in one schema (a dump that holds all of a
    suite's tables together, as BIRD mini-dev's PostgreSQL release does);
    ``None`` means one schema per database, as ``harness load-db`` makes them.
    """

    name: str = "sqlite"
    url: str | None = None
    schema: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}; use one of {', '.join(ENGINES)}")
        if self.name != "sqlite" and not self.url:
            raise ValueError(
                f"engine {self.name!r} needs --db-url (a SQLAlchemy URL, or a .duckdb file for duckdb); "
                "`harness load-db` loads a suite's databases there and prints it"
            )

    @property
    def dialect(self) -> str:
        return DIALECTS[self.name]


def engine_dialect(name: str) -> str:
    """The sqlglot dialect of engine ``name``.

    >>> engine_dialect("postgresql")
    'postgres'
    """
    if name not in DIALECTS:
        raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    return DIALECTS[name]


class Engine(ABC):
    """Runs untrusted statements read-only, with a deadline and a row cap, on one engine."""

    name: str

    @abstractmethod
    def run(self, db_path: str, sql: str, *, timeout_s: float | None, max_rows: int | None) -> QueryResult:
        """Run ``sql`` on the database that ``db_path`` names; failures are a result, never an exception."""

    @abstractmethod
    def missing(self, db_paths: list[str]) -> list[str]:
        """The databases among ``db_paths`` this engine does not hold, as it names them."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (the engine may be used again afterwards: it reconnects)."""


class ServerEngine(Engine):
    """An engine on a server, where another session may cancel or end our query (a hostile
    prediction killing the scoring worker's connection): such a query is not its own doing, so
    it runs once more."""

    def run(self, db_path: str, sql: str, *, timeout_s: float | None, max_rows: int | None) -> QueryResult:
        result, interrupted = self._run_once(db_path, sql, timeout_s, max_rows)
        if interrupted:
            result, _ = self._run_once(db_path, sql, timeout_s, max_rows)
        return result

    @abstractmethod
    def _run_once(
        self, db_path: str, sql: str, timeout_s: float | None, max_rows: int | None
    ) -> tuple[QueryResult, bool]:
        """One try: the result, and whether another session interrupted it."""


def open_engine(spec: EngineSpec) -> Engine:
    """A new engine for ``spec`` (its module is imported only now)."""
    module, cls = ENGINES[spec.name].split(":")
    return getattr(import_module(module), cls)(spec)
