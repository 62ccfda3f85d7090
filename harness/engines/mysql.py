"""The MySQL engine (MySQL 8 or MariaDB): untrusted SQL on a real server, which enforces the limits.

Layers of defence, each enough on its own for the case it covers:

1. **An account without write rights.** On connecting, the engine reads the
   account's ``SHOW GRANTS`` and refuses it if it holds anything beyond
   SELECT, SHOW VIEW, SHOW DATABASES and USAGE (``check_read_only_account``):
   INSERT, CREATE, FILE, EXECUTE, GRANT OPTION, a role, ... ``harness load-db
   --engine mysql`` creates such an account (``harness_reader``).
2. **A read-only transaction per query.** ``START TRANSACTION READ ONLY`` ...
   ``ROLLBACK``: the server refuses writes to tables.
3. **One query, and only a query.** The driver connects without
   ``CLIENT_MULTI_STATEMENTS``, so ``SELECT 1; DROP ...`` is a syntax error, and
   a statement that does not begin with SELECT, WITH, VALUES or TABLE is refused
   before it is sent (``refusal``): MySQL lets any account change its own
   password (``SET PASSWORD``, ``ALTER USER``) or kill its own other sessions
   (``KILL``), outside any transaction. So are executable comments (``/*! */``),
   which MySQL runs as SQL.
4. **A deadline the server enforces.** ``max_statement_time`` (MariaDB, every
   statement) or ``max_execution_time`` (MySQL, read-only SELECTs) is set before
   each query. A watchdog sends ``KILL QUERY`` at the deadline plus a grace
   period, for what MySQL's limit does not cover.
5. **Bounded results.** Rows are streamed (an unbuffered cursor); past row
   ``max_rows`` or ``DEFAULT_MAX_TEXT_BYTES`` of text the query is killed and
   the connection dropped.
6. **Nothing carries over.** After each query the session is reset
   (``COM_RESET_CONNECTION``): user variables, ``SET SESSION`` changes,
   temporary tables and ``GET_LOCK`` locks are gone before the next query.

Each database is a MySQL database (``schema_name(db_path)``, or the fixed
``EngineSpec.schema``), made current per query. Text compares as SQLite's does,
byte by byte and without padding: the connection's collation is the server's
binary no-pad one (``utf8mb4_0900_bin`` on MySQL 8, ``utf8mb4_nopad_bin`` on
MariaDB), the collation ``harness load-db`` gives text columns. Values are made
SQLite's (``harness.engines.values``).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from harness.engines import EngineSpec, ServerEngine
from harness.engines.naming import META_SCHEMA, schema_name
from harness.engines.postgres import safe_url
from harness.engines.values import normalise_row
from harness.execution.sqlite import DEFAULT_MAX_TEXT_BYTES, QueryResult

__all__ = ["MySQLEngine", "check_read_only_account", "connect", "no_pad_collation", "error_message", "refusal", "rights_beyond_reading", "safe_url"]

_ACCEPTED = ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql")
_READ_RIGHTS = {"SELECT", "SHOW VIEW", "SHOW DATABASES", "USAGE"}
_TIMEOUT_CODES = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_INTERRUPTED = 1317  # KILL QUERY: ours at the deadline, or another session's
_LOST = {2006, 2013, 2014}  # gone away, lost during query, out of sync
_GRACE_S = 2.0
_COM_RESET_CONNECTION = 0x1F
_READ_ONLY_GRANTS = """\
  CREATE USER 'harness_reader'@'%' IDENTIFIED BY '...';
  GRANT SELECT ON `<database>`.* TO 'harness_reader'@'%';
(`harness load-db --engine mysql` does this for the databases it loads)"""


_QUERY_WORDS = {"SELECT", "WITH", "VALUES", "TABLE"}
_LEADING = re.compile(r"\s+|--[^\n]*|#[^\n]*|/\*.*?\*/|\(", re.S)


def refusal(sql: str) -> str | None:
    """Why ``sql`` is not sent to the server (None: it is a query).

    >>> refusal("  /* plan */ (SELECT 1) UNION SELECT 2") is None
    True
    >>> refusal("SET PASSWORD = PASSWORD('x')")
    'only queries run here (SELECT, WITH, VALUES, TABLE), not SET'
    >>> refusal("/*!50000 KILL 7 */ SELECT 1")
    'executable comments (/*! ... */) are not run'
    """
    if re.search(r"/\*[!+]|/\*M!", sql):
        return "executable comments (/*! ... */) are not run"
    start = 0
    while found := _LEADING.match(sql, start):
        start = found.end()
    word = re.match(r"[A-Za-z_]+", sql[start:])
    if word is None or word.group(0).upper() not in _QUERY_WORDS:
        shown = word.group(0).upper() if word else "nothing"
        return f"only queries run here (SELECT, WITH, VALUES, TABLE), not {shown}"
    return None


def _parse(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ValueError(f"{url!r} is not a database URL; use mysql+pymysql://USER:PASSWORD@HOST:PORT/DB") from e
    if parsed.drivername not in _ACCEPTED:
        raise ValueError(
            f"{safe_url(url)}: the mysql engine takes mysql:// or mysql+pymysql:// URLs, not {parsed.drivername}://"
        )
    return parsed


def connect(url: str, *, database: str | None = None) -> Any:
    """An autocommit PyMySQL connection (one statement per call, no LOCAL INFILE) for ``url``."""
    try:
        import pymysql
    except ImportError as e:
        raise RuntimeError("the mysql engine needs PyMySQL: pip install 'sql-harness[mysql]'") from e
    parsed = _parse(url)
    options: dict[str, Any] = {"unix_socket": parsed.query["unix_socket"]} if "unix_socket" in parsed.query else {}
    try:
        return pymysql.connect(
            host=parsed.host or "127.0.0.1", port=parsed.port or 3306, user=parsed.username or "",
            password=parsed.password or "", database=database or parsed.database, charset="utf8mb4",
            autocommit=True, connect_timeout=10, local_infile=False, **options,
        )  # fmt: skip
    except pymysql.Error as e:
        raise RuntimeError(
            f"cannot connect to {safe_url(url)}: {error_message(e)}\ncheck that the server is running and "
            "reachable, the user and password, and that the database in the URL exists"
        ) from e


def no_pad_collation(conn: Any) -> str:
    """The server's binary, no-pad utf8mb4 collation: text compared byte by byte, as SQLite does."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT COLLATION_NAME FROM information_schema.COLLATIONS"
            " WHERE COLLATION_NAME IN ('utf8mb4_0900_bin', 'utf8mb4_nopad_bin')"
        )
        found = {name for (name,) in cursor.fetchall()}
    for name in ("utf8mb4_0900_bin", "utf8mb4_nopad_bin"):
        if name in found:
            return name
    return "utf8mb4_bin"  # older servers: binary, but 'a ' = 'a'


def _privileges(grant: str) -> list[str]:
    """The privileges one ``SHOW GRANTS`` line gives (a role's name for ``GRANT role TO ...``).

    >>> _privileges("GRANT SELECT, INSERT (`a`, `b`) ON `shop`.* TO `u`@`%`")
    ['SELECT', 'INSERT']
    >>> _privileges("GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*AB' WITH GRANT OPTION")
    ['USAGE', 'GRANT OPTION']
    >>> _privileges("GRANT `loader` TO `u`@`%`")
    ['role `loader`']
    """
    found = re.match(r"GRANT (.+?) ON (.+) TO ", grant)
    if found is None:
        role = re.match(r"GRANT (.+?) TO ", grant)
        return [f"role {role.group(1)}"] if role else []
    rights = [right.strip().upper() for right in re.sub(r"\([^)]*\)", "", found.group(1)).split(",")]
    return rights + (["GRANT OPTION"] if grant.rstrip().endswith("WITH GRANT OPTION") else [])


def rights_beyond_reading(grants: list[str]) -> list[str]:
    """What ``SHOW GRANTS`` lines give beyond reading; empty for a read-only account.

    >>> rights_beyond_reading(["GRANT USAGE ON *.* TO `r`@`%`", "GRANT SELECT, DELETE ON `db`.* TO `r`@`%`"])
    ['DELETE']
    """
    rights = [right for grant in grants if grant.startswith("GRANT ") for right in _privileges(grant)]
    return list(dict.fromkeys(right for right in rights if right not in _READ_RIGHTS))


def check_read_only_account(conn: Any) -> list[str]:
    """What the connected account may do beyond reading (empty when it is read-only)."""
    with conn.cursor() as cursor:
        cursor.execute("SHOW GRANTS")
        return rights_beyond_reading([row[0] for row in cursor.fetchall()])


class MySQLEngine(ServerEngine):
    """Runs queries on one connection to the server of ``spec.url``, as a read-only account."""

    name = "mysql"

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self._conn: Any = None
        self._session = ""

    def _connection(self) -> Any:
        """The open connection, made (and its account checked) on first use or after a dropped one."""
        if self._conn is None or not self._conn.open:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> Any:
        conn = connect(self.spec.url)
        try:
            rights = check_read_only_account(conn)
            if rights:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT CURRENT_USER()")
                    (account,) = cursor.fetchone()
                raise PermissionError(
                    f"{safe_url(self.spec.url)}: the account {account!r} can do more than read "
                    f"({', '.join(rights[:6])}); model-written SQL must run as an account that may only "
                    f"SELECT, such as:\n{_READ_ONLY_GRANTS}"
                )
            with conn.cursor() as cursor:
                cursor.execute("SELECT VERSION()")
                mariadb = "mariadb" in cursor.fetchone()[0].lower()
            self._deadline = "max_statement_time" if mariadb else "max_execution_time"
            self._collation = no_pad_collation(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _settings(self, timeout_s: float | None) -> str:
        seconds = timeout_s or 0
        limit = f"{seconds:.3f}" if self._deadline == "max_statement_time" else str(int(seconds * 1000))
        # div_precision_increment: AVG and / of integers keep 30 decimals, not 4 (SQLite gives a double)
        return (f"SET NAMES utf8mb4 COLLATE {self._collation}, SESSION {self._deadline} = {limit},"
                " SESSION div_precision_increment = 30")

    def _run_once(
        self, db_path: str, sql: str, timeout_s: float | None, max_rows: int | None
    ) -> tuple[QueryResult, bool]:
        import pymysql

        start = time.perf_counter()

        def failed(status: str, error: str, interrupted: bool = False) -> tuple[QueryResult, bool]:
            return QueryResult(status, None, error, time.perf_counter() - start), interrupted

        if why := refusal(sql):
            return failed("error", f"refused: {why}")
        try:
            conn = self._connection()
        except (RuntimeError, PermissionError, ValueError) as e:
            return failed("error", f"{type(e).__name__}: {e}")
        watchdog = _Watchdog(self.spec.url, conn.thread_id(), timeout_s)
        try:
            conn.select_db(self.spec.schema or schema_name(db_path))
            with conn.cursor() as setup:
                setup.execute(self._settings(timeout_s))
                setup.execute("START TRANSACTION READ ONLY")
            watchdog.start()
            rows, error = _fetch(conn, sql, max_rows, time.perf_counter() + timeout_s + _GRACE_S if timeout_s else None)
        except pymysql.Error as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else None
            if code in _TIMEOUT_CODES or (code == _INTERRUPTED and watchdog.fired):
                return failed("timeout", f"timeout after {timeout_s:g} s ({self._deadline})")
            if code in _LOST:  # the connection was killed or dropped: once more, on a new one
                self._drop()
            return failed("error", f"{type(e).__name__}: {error_message(e)}", interrupted=code in _LOST | {_INTERRUPTED})
        except _ClientDeadline:
            return failed("timeout", f"timeout after {timeout_s:g} s (rows still arriving)")
        except (ValueError, UnicodeError) as e:  # text the driver cannot send (a lone surrogate)
            return failed("error", f"{type(e).__name__}: {error_message(e)}")
        finally:
            watchdog.cancel()
            self._end_query()
        if error is not None:
            return failed("error", error)
        if timeout_s and watchdog.ran_for() >= timeout_s:  # some functions (BENCHMARK) end early, not fail
            return failed("timeout", f"timeout after {timeout_s:g} s ({self._deadline})")
        return QueryResult("ok", rows, None, time.perf_counter() - start), False

    def _end_query(self) -> None:
        """Roll back and reset the session; a connection that cannot be reset is dropped."""
        conn = self._conn
        if conn is None or not conn.open:
            self._conn = None
            return
        try:
            if conn._result is not None and conn._result.unbuffered_active:  # a capped stream
                conn._result.unbuffered_active = False  # else the driver reads every remaining row
                _kill(self.spec.url, conn.thread_id(), connection=True)
                self._drop()
                return
            with conn.cursor() as cursor:
                cursor.execute("ROLLBACK")
            conn._execute_command(_COM_RESET_CONNECTION, b"")
            conn._read_ok_packet()
        except Exception:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn._force_close()
            except Exception:
                pass
            self._conn = None

    def missing(self, db_paths: list[str]) -> list[str]:
        """Databases the account cannot see, and those ``harness load-db`` began but did not finish."""
        wanted = [self.spec.schema] if self.spec.schema else [schema_name(path) for path in db_paths]
        with self._connection().cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            held = {name for (name,) in cursor.fetchall()}
            if META_SCHEMA in held and not self.spec.schema:
                cursor.execute(f"SELECT schema_name FROM {META_SCHEMA}.loaded")
                held &= {name for (name,) in cursor.fetchall()}
        return [name for name in dict.fromkeys(wanted) if name not in held]

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


class _Watchdog:
    """Sends ``KILL QUERY`` for a connection once its deadline and a grace period have passed."""

    def __init__(self, url: str, thread_id: int, timeout_s: float | None) -> None:
        self.fired = False
        self._started = self._ended = 0.0
        self._timer = threading.Timer(timeout_s + _GRACE_S, self._fire) if timeout_s else None
        self._url, self._thread_id = url, thread_id

    def start(self) -> None:
        self._started = time.perf_counter()
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        _kill(self._url, self._thread_id, connection=False)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._ended = time.perf_counter()

    def ran_for(self) -> float:
        """Seconds from ``start`` to ``cancel``: how long the query itself ran."""
        return self._ended - self._started


def _kill(url: str, thread_id: int, *, connection: bool) -> None:
    """``KILL [QUERY] thread_id`` from a second connection (an account may kill its own threads)."""
    try:
        side = connect(url)
    except RuntimeError:
        return
    try:
        with side.cursor() as cursor:
            cursor.execute(f"KILL {'CONNECTION' if connection else 'QUERY'} {int(thread_id)}")
    except Exception:
        pass  # already ended
    finally:
        side.close()


def error_message(exc: BaseException, limit: int | None = 500) -> str:
    """A driver error's message on one line, without PyMySQL's ``(code, text)`` wrapping.

    >>> error_message(OSError(1146, "Table 'db.x'\\n doesn't exist"))
    "Table 'db.x' doesn't exist"
    """
    args = getattr(exc, "args", ())
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc)
    return " ".join(text.split())[:limit]


class _ClientDeadline(Exception):
    """The rows kept coming past the deadline and its grace (the server had finished the query)."""


def _fetch(conn: Any, sql: str, max_rows: int | None, deadline: float | None) -> tuple[list[tuple] | None, str | None]:
    """Stream the rows of ``sql``; stop at either cap or ``deadline`` (the caller then kills the query)."""
    import pymysql

    cursor = pymysql.cursors.SSCursor(conn)
    cursor.execute(sql)
    rows: list[tuple] = []
    text_bytes = 0
    error = None
    while error is None and (row := cursor.fetchone()) is not None:
        rows.append(normalise_row(row))
        text_bytes += sum(len(value) for value in row if isinstance(value, str))
        if max_rows is not None and len(rows) > max_rows:
            error = f"row cap of {max_rows} rows exceeded"
        elif text_bytes > DEFAULT_MAX_TEXT_BYTES:
            error = f"text cap of {DEFAULT_MAX_TEXT_BYTES} bytes exceeded"
        elif deadline is not None and time.perf_counter() > deadline:
            error = "deadline"
    if error is None:
        return rows, None
    cursor.connection = None  # else closing the cursor reads every remaining row; the query is killed instead
    if error == "deadline":
        raise _ClientDeadline
    return None, error
