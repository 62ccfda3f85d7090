"""The PostgreSQL engine: untrusted SQL on a real server, which enforces the limits itself.

Layers of defence, each enough on its own for the case it covers:

1. **A role without write rights.** On connecting, the engine refuses a role
   that is a superuser, may create roles or databases, may create anything in a
   schema or the database, or holds INSERT, UPDATE, DELETE or TRUNCATE on any
   table (``check_read_only_role``). ``harness load-db`` creates such a role
   (``harness_reader``) and prints its URL.
2. **A read-only transaction per query.** Each query runs inside
   ``BEGIN READ ONLY`` ... ``ROLLBACK``: the server refuses every write, temporary
   tables and sequences included, and nothing a query does outlives it.
3. **One statement, and only one.** The query goes over the extended protocol
   (``Cursor.stream``), for which the server refuses a string holding several
   statements, so ``SELECT 1; COMMIT; ...`` cannot end the read-only transaction.
4. **A deadline the server enforces.** ``SET LOCAL statement_timeout`` before
   each query: the server cancels it at the deadline even when the client is
   gone (a killed worker process), so a runaway query never outlives its
   budget. ``idle_in_transaction_session_timeout`` ends a session whose client
   vanished mid-transaction.
5. **Bounded results.** Rows are streamed; the query is cancelled as soon as
   row ``max_rows + 1`` or ``DEFAULT_MAX_TEXT_BYTES`` of text has arrived.

``search_path`` is set per query to the database's schema (``schema_name``, or
the fixed schema of the ``EngineSpec``), with ``pg_catalog`` first as always.
Values are made SQLite's (``harness.engines.values``). SQL holding a NUL is
refused (libpq would send it cut at the NUL). Session advisory locks, which
outlive a rollback, are dropped after each query. A query cancelled or ended by
another session (say another worker's hostile ``pg_terminate_backend``) runs
once more. Connection trouble is an ``error`` result and the next query reconnects.
"""

from __future__ import annotations

import time
from typing import Any

from harness.engines import EngineSpec, ServerEngine
from harness.engines.naming import quote, schema_name
from harness.engines.values import normalise_row
from harness.execution.sqlite import DEFAULT_MAX_TEXT_BYTES, QueryResult

__all__ = ["PostgresEngine", "check_read_only_role", "connect", "libpq_url", "safe_url"]

_TIMEOUT_SQLSTATE = "57014"  # query_canceled: statement_timeout, or our own cancel
_READ_ONLY_GRANTS = """\
  CREATE ROLE harness_reader LOGIN PASSWORD '...';
  GRANT CONNECT ON DATABASE <db> TO harness_reader;
  GRANT USAGE ON SCHEMA <schema> TO harness_reader;
  GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO harness_reader;
(`harness load-db --engine postgresql` does this for the databases it loads)"""


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a libpq connection URL (the driver part dropped).

    >>> libpq_url("postgresql+psycopg://reader:pw@127.0.0.1:5432/harness")
    'postgresql://reader:pw@127.0.0.1:5432/harness'
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"{parsed.render_as_string()}: not a PostgreSQL URL (postgresql://user:password@host/db)")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


_ACCEPTED = ("postgresql", "postgresql+psycopg")


def _parse(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ValueError(
            f"{url!r} is not a database URL; use postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
        ) from e
    if parsed.drivername not in _ACCEPTED:
        raise ValueError(
            f"{safe_url(url)}: the postgresql engine takes postgresql:// or "
            f"postgresql+psycopg:// URLs, not {parsed.drivername}://"
        )
    if not parsed.database:
        raise ValueError(f"{safe_url(url)}: the URL names no database; add /DBNAME at its end")
    return parsed


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for messages and records.

    >>> safe_url("postgresql+psycopg://me:secret@db:5432/harness")
    'postgresql+psycopg://me:***@db:5432/harness'
    """
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL that does not parse is shown cut before any '@'
        return url.rsplit("@", 1)[-1]


def connect(url: str) -> Any:
    """An autocommit psycopg connection for a SQLAlchemy PostgreSQL URL, or a clear error."""
    try:
        import psycopg
    except ImportError as e:
        raise RuntimeError("the postgresql engine needs psycopg: pip install 'sql-harness[postgres]'") from e
    parsed = _parse(url)
    try:
        return psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise RuntimeError(
            f"cannot connect to {safe_url(url)}: {' '.join(str(e).split())}\ncheck that the server "
            "is running and reachable, the user and password, and that the database "
            f"{parsed.database!r} exists (create it with `createdb {parsed.database}`)"
        ) from e


def check_read_only_role(conn: Any) -> list[str]:
    """What the connected role may write (empty when it is read-only)."""
    row = conn.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, has_database_privilege(current_database(), 'CREATE')"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    rights = [name for name, held in zip(("superuser", "CREATEROLE", "CREATEDB", "CREATE on the database"), row)
              if held]  # fmt: skip
    rights += [
        f"CREATE on schema {name}"
        for (name,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'CREATE')"
            " AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname LIMIT 5"
        )
    ]
    rights += [
        f"{privilege} on {name}"
        for name, privilege in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname), p.privilege"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,"
            " unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT LIKE 'pg\\_%'"
            " AND n.nspname <> 'information_schema' AND has_table_privilege(c.oid, p.privilege)"
            " ORDER BY 1, 2 LIMIT 5"
        )
    ]
    return rights


class PostgresEngine(ServerEngine):
    """Runs queries on one connection to the server of ``spec.url``, as a read-only role."""

    name = "postgresql"

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self._conn: Any = None

    def _connection(self) -> Any:
        """The open connection, made (and its role checked) on first use or after a broken one."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> Any:
        conn = connect(self.spec.url)
        try:
            rights = check_read_only_role(conn)
            if rights:
                raise PermissionError(
                    f"{safe_url(self.spec.url)}: the role {conn.info.user!r} can write ({', '.join(rights)}); "
                    f"model-written SQL must run as a role without write rights, such as:\n{_READ_ONLY_GRANTS}"
                )
            conn.execute("SET idle_in_transaction_session_timeout = '60s'")
        except BaseException:
            conn.close()
            raise
        return conn

    def _run_once(
        self, db_path: str, sql: str, timeout_s: float | None, max_rows: int | None
    ) -> tuple[QueryResult, bool]:
        import psycopg

        start = time.perf_counter()
        if "\x00" in sql:  # libpq would send the text up to the NUL and run that
            return QueryResult("error", None, "ValueError: the SQL text holds a NUL character", 0.0), False

        def failed(status: str, error: str, interrupted: bool = False) -> tuple[QueryResult, bool]:
            return QueryResult(status, None, error, time.perf_counter() - start), interrupted

        try:
            conn = self._connection()
        except (RuntimeError, PermissionError, ValueError) as e:
            return failed("error", f"{type(e).__name__}: {e}")
        try:
            cursor = conn.cursor()
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {int((timeout_s or 0) * 1000)}")
            cursor.execute(f"SET LOCAL search_path = {quote(self.spec.schema or schema_name(db_path))}")
            rows, error = _fetch(cursor, sql, max_rows)
        except psycopg.errors.QueryCanceled as e:
            if "statement timeout" in (e.diag.message_primary or "") and timeout_s:
                return failed("timeout", f"timeout after {timeout_s:g} s (statement_timeout)")
            return failed("error", f"QueryCanceled: {_first_line(e)}", interrupted=True)
        except psycopg.errors.AdminShutdown as e:
            return failed("error", f"AdminShutdown: {_first_line(e)}", interrupted=True)
        except psycopg.Error as e:
            return failed("error", f"{type(e).__name__}: {_first_line(e)}")
        except (ValueError, UnicodeError) as e:  # text the driver cannot send (a NUL, a lone surrogate)
            return failed("error", f"{type(e).__name__}: {_first_line(e)}")
        finally:
            self._end_transaction(conn)
        if error is not None:
            return failed("error", error)
        return QueryResult("ok", rows, None, time.perf_counter() - start), False

    def _end_transaction(self, conn: Any) -> None:
        """Roll back, and drop session-level advisory locks (which outlive a rollback)."""
        import psycopg

        if conn.closed or conn.broken:
            self._conn = None
            return
        try:
            conn.execute("ROLLBACK")
            conn.execute("SELECT pg_advisory_unlock_all()")
        except psycopg.Error:
            conn.close()
            self._conn = None

    def missing(self, db_paths: list[str]) -> list[str]:
        held = {name for (name,) in self._connection().execute("SELECT nspname FROM pg_namespace")}
        wanted = [self.spec.schema] if self.spec.schema else [schema_name(path) for path in db_paths]
        return [name for name in dict.fromkeys(wanted) if name not in held]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _fetch(cursor: Any, sql: str, max_rows: int | None) -> tuple[list[tuple] | None, str | None]:
    """Stream the rows of ``sql``, stopping (the server cancels the rest) at either cap."""
    rows: list[tuple] = []
    text_bytes = 0
    for row in cursor.stream(sql):
        rows.append(normalise_row(row))
        if max_rows is not None and len(rows) > max_rows:
            return None, f"row cap of {max_rows} rows exceeded"
        text_bytes += sum(len(value) for value in row if isinstance(value, str))
        if text_bytes > DEFAULT_MAX_TEXT_BYTES:
            return None, f"text cap of {DEFAULT_MAX_TEXT_BYTES} bytes exceeded"
    return rows, None
