"""Safe, read-only execution of untrusted SQL on SQLite, in the current process.

Layers of defence, each enough on its own for the case it covers:

1. **The file is opened read-only by the OS.** ``connect_readonly`` opens a
   ``file:<path>?mode=ro`` URI, so SQLite holds an ``O_RDONLY`` descriptor and
   no statement can change the database file. A missing file is an error,
   never a new empty database.
2. **``PRAGMA query_only=ON``**, so SQLite itself refuses every write, the
   temporary database included.
3. **An authorizer** (see ``_authorize``) that denies at prepare time, before a
   single VM instruction runs:

   - ``ATTACH``/``DETACH``: a read-only connection can still *create* a new
     database file through ATTACH, and ``VACUUM``/``VACUUM INTO`` (which writes a
     copy of the database anywhere) goes through an ATTACH, so it is denied too;
   - every schema or data change (CREATE/DROP/ALTER/INSERT/DELETE/REINDEX/
     ANALYZE, virtual tables) and transaction control (BEGIN/COMMIT/SAVEPOINT),
     which would at best fail later and at worst leave the shared connection
     inside an open transaction;
   - ``UPDATE`` except on the schema tables: SQLite asks for UPDATE on
     ``sqlite_master`` when it first declares an eponymous virtual table such as
     ``json_each`` or ``pragma_table_info``. Actually writing the schema needs
     ``PRAGMA writable_schema`` and a writable file, and both are refused;
   - every PRAGMA except a read-only allowlist (``table_info``, ``index_list``...),
     so ``query_only``, ``journal_mode``, ``writable_schema``,
     ``temp_store_directory`` and friends cannot be touched;
   - the functions ``load_extension``, ``readfile``, ``writefile``, ``edit`` and
     ``fts3_tokenizer`` (the last three exist only in some builds).

   Extension loading is also switched off on the connection, and the limit on
   attached databases is set to 0.
4. **Bounded work.** A deadline runs inside the engine: a progress handler,
   called every ``PROGRESS_STEPS`` VM instructions, interrupts the statement
   once it has passed. Rows are fetched in chunks and a result with more than
   ``max_rows`` rows stops with an error as soon as row ``max_rows + 1`` comes
   back. The text values of one result may hold at most ``max_text_bytes``
   bytes (counted as they are decoded, so a thousand rows of a 1 MB literal
   stop at the cap instead of taking a gigabyte; BLOB values are not counted).
   ``SQLITE_LIMIT_LENGTH`` caps any one string, blob or row at
   ``MAX_VALUE_BYTES``. Work that runs inside one VM instruction (a huge sort,
   a pathological LIKE) can overrun the deadline; for that the evaluation runs
   in worker processes that ``harness.execution.pool`` kills.

**``immutable=1`` is used only for WAL-mode databases without a ``-wal`` file.**
With plain ``mode=ro`` SQLite creates ``-wal`` and ``-shm`` files next to a
WAL-mode database (and leaves them there), which breaks the rule that nothing
appears beside a database. ``immutable=1`` avoids that, but it also turns off
locking and change detection and ignores the contents of an existing ``-wal``
file (a WAL database whose last commits are still in its ``-wal`` then reads as
it was before them). So: rollback-journal databases (Spider and BIRD ship only
these) keep ``mode=ro`` with normal locking, which stays correct even if another
process writes the file; a WAL database whose ``-wal`` is absent or empty holds
all its content in the main file and is opened ``immutable``; a WAL database with
a non-empty ``-wal`` is opened with ``mode=ro`` so that its committed content is
read (its ``-wal`` already exists, SQLite may add the ``-shm``). Evaluation
databases must not be written while an evaluation runs; ``immutable`` relies on it.

Text that is not valid UTF-8 is returned as ``LossyText``, decoded with
``errors="ignore"``. One execution then serves both official semantics: Spider's
evaluator decodes that way, BIRD's (default ``sqlite3`` decoding) fails, which the
metrics layer reproduces by treating any ``LossyText`` in a result as an error.

A connection from ``connect_readonly`` can be reused for many queries but not
shared between threads running queries at the same time.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_TEXT_BYTES",
    "DEFAULT_TIMEOUT_S",
    "LossyText",
    "QueryFailed",
    "QueryResult",
    "connect_readonly",
    "run_query",
    "time_execute",
]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_TEXT_BYTES = 256 * 1024 * 1024
MAX_VALUE_BYTES = 100_000_000
PROGRESS_STEPS = 1000
_FETCH_CHUNK = 4096

_ALLOWED_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "database_list",
        "collation_list",
        "function_list",
        "module_list",
        "pragma_list",
        "compile_options",
    }
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_SCHEMA_TABLES = frozenset(
    {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
)
_ALWAYS_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})


@dataclass(frozen=True)
class QueryResult:
    """The outcome of one query: ``status`` is ``"ok"``, ``"error"`` or ``"timeout"``.

    ``rows`` holds the rows exactly as ``sqlite3`` returns them (tuples of int,
    float, str, bytes, None) when ``status`` is ``"ok"`` and is None otherwise;
    ``error`` is the message otherwise, as ``"ExcType: message"``.
    """

    status: str
    rows: list[tuple] | None
    error: str | None
    elapsed_s: float


class LossyText(str):
    """str decoded with errors='ignore' from bytes that were not valid UTF-8.

    BIRD semantics treats these as an error, Spider's evaluator keeps the lossy
    text. It compares and hashes as the plain str it is equal to.
    """

    __slots__ = ()


class QueryFailed(Exception):
    """``time_execute``'s query failed (``status == "error"``) or ran out of time."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _TextTooLarge(Exception):
    """Raised from the text factory; sqlite3 passes it through ``fetchmany``."""


class _TextDecoder:
    """The connection's text_factory: strict UTF-8 or LossyText, counting bytes against a budget."""

    __slots__ = ("budget",)

    def __init__(self) -> None:
        self.budget: int | None = None  # bytes left for the running query; None: no cap

    def __call__(self, data: bytes) -> str:
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise _TextTooLarge
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError:
            return LossyText(data.decode("utf-8", errors="ignore"))


def _authorize(
    action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None
) -> int:
    """The authorizer policy described in the module docstring."""
    if action in _ALWAYS_ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return (
            sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else sqlite3.SQLITE_OK
        )
    if action == sqlite3.SQLITE_PRAGMA:
        return (
            sqlite3.SQLITE_OK if (arg1 or "").lower() in _ALLOWED_PRAGMAS else sqlite3.SQLITE_DENY
        )
    if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _SCHEMA_TABLES:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _uri_options(path: Path) -> str:
    """``mode=ro``, plus ``immutable=1`` for a WAL database with nothing in its ``-wal``."""
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError:
        return "mode=ro"
    # Bytes 18 and 19 are the file format write/read versions: 2 means WAL.
    if len(header) < 20 or not header.startswith(b"SQLite format 3\x00") or header[18] != 2:
        return "mode=ro"
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return "mode=ro"
    return "mode=ro&immutable=1"


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    """Open ``db_path`` read-only with the safety settings of this module.

    Raises FileNotFoundError (IsADirectoryError for a directory) instead of
    letting SQLite create a new file.
    """
    path = Path(db_path).expanduser().absolute()
    if not path.exists():
        raise FileNotFoundError(f"SQLite database not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"SQLite database path is a directory: {path}")
    uri = f"file:{urllib.parse.quote(str(path))}?{_uri_options(path)}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.text_factory = _TextDecoder()
        if hasattr(conn, "enable_load_extension"):
            conn.enable_load_extension(False)
        if hasattr(conn, "setlimit"):  # Python 3.11+
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.execute("PRAGMA query_only=ON")
        conn.set_authorizer(_authorize)
    except BaseException:
        conn.close()
        raise
    return conn


class _Deadline:
    """A progress handler that interrupts the statement once ``timeout_s`` has passed."""

    __slots__ = ("at", "fired")

    def __init__(self, timeout_s: float) -> None:
        self.at = time.monotonic() + timeout_s
        self.fired = False

    def __call__(self) -> int:
        if time.monotonic() >= self.at:
            self.fired = True
            return 1
        return 0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _fetch(cursor: sqlite3.Cursor, max_rows: int | None) -> list[tuple] | None:
    """All rows, or None as soon as there are more than ``max_rows``."""
    if max_rows is None:
        return cursor.fetchall()
    rows: list[tuple] = []
    while True:
        chunk = cursor.fetchmany(min(_FETCH_CHUNK, max_rows + 1 - len(rows)))
        if not chunk:
            return rows
        rows.extend(chunk)
        if len(rows) > max_rows:
            return None


def run_query(
    conn_or_path: sqlite3.Connection | str | Path,
    sql: str,
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    max_text_bytes: int | None = DEFAULT_MAX_TEXT_BYTES,
) -> QueryResult:
    """Execute exactly ``sql`` (one statement) and fetch its rows, never raising for the query.

    ``conn_or_path`` is a connection (normally from ``connect_readonly``) or a
    database path, opened with ``connect_readonly`` and closed afterwards; a
    missing path raises FileNotFoundError since that is no fault of the query.
    ``timeout_s=None`` disables the deadline, ``max_rows=None`` the row cap and
    ``max_text_bytes=None`` the cap on text (which only connections from
    ``connect_readonly`` can enforce).
    """
    if isinstance(conn_or_path, sqlite3.Connection):
        return _run(conn_or_path, sql, timeout_s, max_rows, max_text_bytes)
    conn = connect_readonly(conn_or_path)
    try:
        return _run(conn, sql, timeout_s, max_rows, max_text_bytes)
    finally:
        conn.close()


def _run(
    conn: sqlite3.Connection,
    sql: str,
    timeout_s: float | None,
    max_rows: int | None,
    max_text_bytes: int | None,
) -> QueryResult:
    start = time.perf_counter()
    deadline = _Deadline(timeout_s) if timeout_s is not None else None
    if deadline is not None:
        conn.set_progress_handler(deadline, PROGRESS_STEPS)
    decoder = conn.text_factory if isinstance(conn.text_factory, _TextDecoder) else None
    if decoder is not None:
        decoder.budget = max_text_bytes
    cursor: sqlite3.Cursor | None = None
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        rows = _fetch(cursor, max_rows)
    except _TextTooLarge:
        message = f"text cap of {max_text_bytes} bytes exceeded"
        return QueryResult("error", None, message, time.perf_counter() - start)
    except Exception as exc:
        elapsed = time.perf_counter() - start
        if deadline is not None and deadline.fired and isinstance(exc, sqlite3.OperationalError):
            return QueryResult("timeout", None, f"timeout after {timeout_s:g} s", elapsed)
        return QueryResult("error", None, _describe(exc), elapsed)
    finally:
        if cursor is not None:
            try:
                cursor.close()
            except Exception:
                pass
        if deadline is not None:
            conn.set_progress_handler(None, 0)
        if decoder is not None:
            decoder.budget = None
    elapsed = time.perf_counter() - start
    if rows is None:
        return QueryResult("error", None, f"row cap of {max_rows} rows exceeded", elapsed)
    return QueryResult("ok", rows, None, elapsed)


def time_execute(
    db_path: str | Path, sql: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S, fetch: bool = False
) -> float:
    """Seconds spent in ``cursor.execute(sql)`` on a fresh read-only connection, as BIRD's VES times.

    Only ``execute`` is timed (it runs the statement up to its first row), not
    the fetch, and every call opens a new connection, so schema loading is
    included each time, as in BIRD's script. The clock is ``time.perf_counter``
    (BIRD uses ``time.time``; both measure wall time). ``fetch=True`` also times
    fetching all rows and closing the cursor, as BIRD mini-dev's R-VES does. Raises QueryFailed when
    the query fails or passes the deadline.
    """
    conn = connect_readonly(db_path)
    deadline = _Deadline(timeout_s) if timeout_s is not None else None
    try:
        if deadline is not None:
            conn.set_progress_handler(deadline, PROGRESS_STEPS)
        cursor = conn.cursor()
        start = time.perf_counter()
        try:
            cursor.execute(sql)
            if fetch:
                cursor.fetchall()
                cursor.close()
        except Exception as exc:
            if (
                deadline is not None
                and deadline.fired
                and isinstance(exc, sqlite3.OperationalError)
            ):
                raise QueryFailed("timeout", f"timeout after {timeout_s:g} s") from exc
            raise QueryFailed("error", _describe(exc)) from exc
        return time.perf_counter() - start
    finally:
        conn.close()
