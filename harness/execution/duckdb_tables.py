"""One CSV table loaded into a locked-down in-memory DuckDB, and safe execution of untrusted SQL on it.

**Loading.** The file is read, its column names made safe and its columns typed
by :mod:`harness.execution.table_csv` (the WikiTableQuestions CSV dialect, the
naming and typing rules); ``load_table`` puts the result into DuckDB as the
table ``t`` (``TABLE_NAME``).

**Lock-down.** Each process has one in-memory DuckDB instance
(``process_engine``), opened with external access off (no file, URL or
extension can be read or written: ``read_csv``, ``COPY``, ``ATTACH`` of a file,
``INSTALL``/``LOAD`` all fail), extension autoloading off, Python replacement
scans off (a query cannot read a DataFrame from a Python variable), no temp
directory (nothing spills to disk), one thread and ``MEMORY_LIMIT``, and then
``lock_configuration`` on, so no statement can undo any of it. Each table is a
TEMP table on its own connection (cursor) of that instance: temp tables are
private to their connection, so a query sees only its own ``t``. The data is
inserted from Python values: DuckDB never opens the CSV. (One instance per table
would cost 12 ms to open and about 4 MB each; a cursor with a temp table costs
0.5 ms and the size of its data.)

**Only a single SELECT runs.** ``run_table_query`` parses the text with DuckDB's
own parser and refuses anything but exactly one statement of type SELECT (which
includes ``WITH``, ``FROM``-first, ``DESCRIBE``/``SUMMARIZE``). So CREATE, DROP,
INSERT, SET, PRAGMA, transactions... never run, and the cached copy of a table
is the same for every query; refusing them is simpler and cheaper than
reloading after each. A deadline (one watchdog thread per process
calling ``conn.interrupt()``, :mod:`harness.execution.duckdb_limits`) stops the query; rows are fetched in chunks and more
than ``max_rows`` rows, or more than ``max_text_bytes`` of text, is an error.
Work inside one DuckDB call that ignores interrupts is left to the killable
worker processes of ``harness.execution.pool``.

**Bounded memory.** ``MEMORY_LIMIT`` covers DuckDB's buffer-managed memory only:
the values of one vector (2048 rows) are allocated outside it, so
``SELECT repeat('x', 100000000) FROM range(3000)`` would ask for 200 GB and meet
the kernel's OOM killer. So on Linux, while a query runs, the process's address
space (``RLIMIT_AS``) is capped at its current size plus ``max_memory_bytes``
(4 GiB by default; ``duckdb_limits.address_space_cap``); DuckDB then fails with an out-of-memory error and the
process lives on. The limit is process-wide and restored afterwards: pass
``max_memory_bytes=None`` when other threads of the process allocate meanwhile.

**Caching.** ``table_connection`` keeps an LRU of ``CACHE_SIZE`` loaded tables per
process, keyed by the file's path, size and modification time (a changed file
is reloaded). A process forked from one that holds an instance opens its own
instead of using its parent's. A connection may serve many queries but only
one thread at a time.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import duckdb

from harness.execution.duckdb_limits import address_space_cap, deadlines
from harness.execution.sqlite import (
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_TEXT_BYTES,
    DEFAULT_TIMEOUT_S,
    QueryResult,
)
from harness.execution.table_csv import (
    TABLE_NAME,
    Column,
    TableError,
    TableInfo,
    infer_column,
    read_table_csv,
    safe_column_names,
)

__all__ = [
    "CACHE_SIZE",
    "DEFAULT_MAX_MEMORY_BYTES",
    "TABLE_NAME",
    "Column",
    "close_all",
    "TableError",
    "TableInfo",
    "infer_column",
    "load_table",
    "new_engine",
    "process_engine",
    "read_table_csv",
    "run_table_query",
    "safe_column_names",
    "table_connection",
]

CACHE_SIZE = 512
MEMORY_LIMIT = "1GB"
DEFAULT_MAX_MEMORY_BYTES = 4 * 2**30
_FETCH_CHUNK = 256
_INSERT_ROWS = 256

_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "temp_directory": "",
    "threads": 1,
    "memory_limit": MEMORY_LIMIT,
}


def new_engine() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB instance, locked down as the module docstring describes."""
    engine = duckdb.connect(":memory:", config=dict(_CONFIG))
    try:
        engine.execute("SET lock_configuration = true")
    except BaseException:
        engine.close()
        raise
    return engine


_engine: tuple[int, duckdb.DuckDBPyConnection] | None = None
_engine_lock = threading.Lock()


def process_engine() -> duckdb.DuckDBPyConnection:
    """This process's locked-down DuckDB instance, created on first use (and anew after a fork)."""
    global _engine
    with _engine_lock:
        if _engine is None or _engine[0] != os.getpid():
            _engine = (os.getpid(), new_engine())
        return _engine[1]


def load_table(
    path: str | Path, engine: duckdb.DuckDBPyConnection | None = None
) -> tuple[duckdb.DuckDBPyConnection, TableInfo]:
    """A new connection to ``engine`` (default: ``process_engine()``) holding the CSV as table ``t``.

    ``t`` is a TEMP table, private to the returned connection: other
    connections of the same engine cannot see it, and closing the connection
    drops it. Raises TableError when the file cannot be read or loaded.
    """
    header, rows = read_table_csv(path)
    names = safe_column_names(header)
    typed = [infer_column([row[i] for row in rows]) for i in range(len(header))]
    columns = tuple(Column(n, h, t) for n, h, (t, _) in zip(names, header, typed))
    conn = (engine or process_engine()).cursor()
    try:
        conn.execute(
            f"CREATE TEMP TABLE {TABLE_NAME} (" + ", ".join(f'"{c.name}" {c.type}' for c in columns) + ")"
        )
        values = [v for _, v in typed]
        placeholder = "(" + ", ".join("?" * len(columns)) + ")"
        for start in range(0, len(rows), _INSERT_ROWS):
            chunk = range(start, min(start + _INSERT_ROWS, len(rows)))
            params = [col[r] for r in chunk for col in values]
            conn.execute(f"INSERT INTO {TABLE_NAME} VALUES " + ", ".join([placeholder] * len(chunk)), params)
    except duckdb.Error as e:
        conn.close()
        raise TableError(f"{path}: DuckDB could not load the table ({type(e).__name__}: {e})") from e
    return conn, TableInfo(str(path), columns, len(rows))


class _TableCache:
    """Per-process LRU of loaded tables keyed by (absolute path, size, mtime)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pid = os.getpid()
        self.entries: OrderedDict[tuple[str, int, int], tuple[duckdb.DuckDBPyConnection, TableInfo]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, path: str | Path) -> tuple[duckdb.DuckDBPyConnection, TableInfo]:
        resolved = Path(path).expanduser().absolute()
        try:
            stat = resolved.stat()
        except OSError as e:
            raise TableError(f"{resolved}: table file not found") from e
        key = (str(resolved), stat.st_size, stat.st_mtime_ns)
        with self.lock:
            if self.pid != os.getpid():  # forked: the parent's connections are not ours to use
                self.entries = OrderedDict()
                self.pid = os.getpid()
            hit = self.entries.get(key)
            if hit is not None:
                self.entries.move_to_end(key)
                return hit
        loaded = load_table(resolved)
        with self.lock:
            self.entries[key] = loaded
            while len(self.entries) > self.size:
                _, (old, _) = self.entries.popitem(last=False)
                old.close()
        return loaded


_cache = _TableCache(CACHE_SIZE)


def table_connection(path: str | Path) -> tuple[duckdb.DuckDBPyConnection, TableInfo]:
    """The cached connection and TableInfo for the CSV at ``path`` (TableError if unreadable)."""
    return _cache.get(path)


def close_all() -> None:
    """Close this process's cached tables and its engine (run at exit; a later query starts afresh)."""
    global _engine
    with _cache.lock:
        if _cache.pid == os.getpid():
            for conn, _ in _cache.entries.values():
                conn.close()
        _cache.entries = OrderedDict()
        _cache.pid = os.getpid()
    with _engine_lock:
        if _engine is not None and _engine[0] == os.getpid():
            _engine[1].close()
        _engine = None


atexit.register(close_all)


def _close_before_fork() -> None:
    # A child forked from a process holding a DuckDB instance hangs when it opens its own
    # (e.g. table prompts built in the parent, then scoring workers forked). The parent
    # reopens lazily; skipped if another thread holds a lock (never block inside fork).
    if _cache.lock.acquire(blocking=False):
        _cache.lock.release()
        if _engine_lock.acquire(blocking=False):
            _engine_lock.release()
            close_all()


os.register_at_fork(before=_close_before_fork)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip()}"



def _single_select(conn: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """None when ``sql`` is exactly one SELECT statement; otherwise why it is refused."""
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as e:
        return _describe(e)
    if len(statements) != 1:
        return f"PermissionError: exactly one SQL statement is allowed, got {len(statements)}"
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        return f"PermissionError: only SELECT statements may run, got {kind.name}"
    return None


def _text_size(row: tuple) -> int:
    return sum(len(v) for v in row if isinstance(v, (str, bytes)))



def run_table_query(
    table: str | Path | duckdb.DuckDBPyConnection,
    sql: str,
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    max_text_bytes: int | None = DEFAULT_MAX_TEXT_BYTES,
    max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES,
) -> QueryResult:
    """Run untrusted ``sql`` on a table (a CSV path, loaded through the cache, or a connection).

    Never raises for the query: a refused statement, a DuckDB error, a passed
    deadline, too many rows or too much text give ``status`` "error" or
    "timeout". A table that cannot be loaded raises TableError, since that is
    no fault of the query. ``None`` switches a limit off. Text is counted in
    characters; ``max_memory_bytes`` is the address-space headroom described
    in the module docstring.
    """
    conn = table if isinstance(table, duckdb.DuckDBPyConnection) else table_connection(table)[0]
    start = time.perf_counter()
    refused = _single_select(conn, sql)
    if refused is not None:
        return QueryResult("error", None, refused, time.perf_counter() - start)
    with address_space_cap(max_memory_bytes):
        return _run(conn, sql, start, timeout_s, max_rows, max_text_bytes)


def _run(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    start: float,
    timeout_s: float | None,
    max_rows: int | None,
    max_text_bytes: int | None,
) -> QueryResult:
    watchdog = deadlines() if timeout_s is not None else None
    job = watchdog.start(conn, timeout_s) if watchdog is not None and timeout_s is not None else None
    rows: list[tuple] = []
    text_left = max_text_bytes
    failure: str | None = None
    try:
        conn.execute(sql)
        while failure is None:
            want = _FETCH_CHUNK if max_rows is None else min(_FETCH_CHUNK, max_rows + 1 - len(rows))
            chunk = conn.fetchmany(want)
            if not chunk:
                break
            rows.extend(chunk)
            if max_rows is not None and len(rows) > max_rows:
                failure = f"row cap of {max_rows} rows exceeded"
            elif text_left is not None:
                text_left -= sum(_text_size(r) for r in chunk)
                if text_left < 0:
                    failure = f"text cap of {max_text_bytes} characters exceeded"
    except Exception as exc:
        elapsed = time.perf_counter() - start
        if job is not None and job.fired and isinstance(exc, duckdb.InterruptException):
            return QueryResult("timeout", None, f"timeout after {timeout_s:g} s", elapsed)
        return QueryResult("error", None, _describe(exc), elapsed)
    finally:
        if watchdog is not None and job is not None:
            watchdog.finish(job)
    if failure is not None:
        _close_result(conn)
        return QueryResult("error", None, failure, time.perf_counter() - start)
    return QueryResult("ok", rows, None, time.perf_counter() - start)


def _close_result(conn: duckdb.DuckDBPyConnection) -> None:
    """Drop the rest of a streaming result left behind by a cap, so it holds no memory in the cache."""
    try:
        conn.execute("SELECT 1").fetchall()
    except Exception:
        pass
