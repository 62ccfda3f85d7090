"""One CSV table loaded into a locked-down in-memory DuckDB, and safe execution of untrusted SQL on it.

**Reading.** Files are read in the WikiTableQuestions CSV dialect: UTF-8 (a BOM
is dropped), comma-separated, fields in double quotes, ``\\"`` and ``\\\\``
escaped with a backslash, line breaks inside quoted fields. The first row is
the header. A row shorter than the widest row is padded with empty cells; a
header shorter than the widest row gets empty names (which become ``col_N``).

**The table is named ``t``** (``TABLE_NAME``) and its column names are made safe
and unique (``safe_column_names``): ASCII (accents dropped), lower case, every run
of other characters one ``_``; ``#`` reads ``num``, ``%`` reads ``pct``, ``&`` reads
``and``; an empty result becomes ``col_N`` (N the 1-based position), a leading
digit gets a ``col_`` prefix, a DuckDB keyword that cannot be a bare column name
gets a trailing ``_`` (``order_``); names are cut to 64 characters and repeats get
``_2``, ``_3``... ``TableInfo.columns`` keeps each original header beside its safe
name (for prompts: ``TableInfo.schema_sql()``).

**Typing** (``infer_column``), decided by us, deterministically, from all cells of
a column: an empty or blank cell is NULL (in every column); so is a placeholder
cell (only dashes, or ``n/a``) in a column typed by its other cells; a column whose other
cells are all integers (optionally with thousands commas, ``12,467``; no leading
zeros, which would lose ``007``) is BIGINT; all numbers with a decimal part
allowed is DOUBLE; all ISO dates ``YYYY-MM-DD`` is DATE; anything else, and a
column of only NULLs, is VARCHAR holding the cell text unchanged.

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
calling ``conn.interrupt()``) stops the query; rows are fetched in chunks and more
than ``max_rows`` rows, or more than ``max_text_bytes`` of text, is an error.
Work inside one DuckDB call that ignores interrupts is left to the killable
worker processes of ``harness.execution.pool``.

**Bounded memory.** ``MEMORY_LIMIT`` covers DuckDB's buffer-managed memory only:
the values of one vector (2048 rows) are allocated outside it, so
``SELECT repeat('x', 100000000) FROM range(3000)`` would ask for 200 GB and meet
the kernel's OOM killer. So on Linux, while a query runs, the process's address
space (``RLIMIT_AS``) is capped at its current size plus ``max_memory_bytes``
(4 GiB by default); DuckDB then fails with an out-of-memory error and the
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
import csv
import datetime as dt
import io
import os
import re
import sys
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from harness.execution.sqlite import (
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_TEXT_BYTES,
    DEFAULT_TIMEOUT_S,
    QueryResult,
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

TABLE_NAME = "t"
CACHE_SIZE = 512
MEMORY_LIMIT = "1GB"
DEFAULT_MAX_MEMORY_BYTES = 4 * 2**30
MAX_NAME_CHARS = 64
_FETCH_CHUNK = 256
_INSERT_ROWS = 256

# Keywords that DuckDB refuses as a bare column name (keyword_category 'reserved'
# and 'type_function' of duckdb_keywords(), DuckDB 2.0); fixed here so that names
# do not change with the installed DuckDB.
_RESERVED = frozenset(
    "all analyse analyze and anti any array as asc asof asymmetric at authorization binary both by "
    "case cast check collate collation column concurrently constraint create cross default deferrable "
    "desc describe distinct do else end except false fetch for foreign freeze from full glob group "
    "having ilike in initially inner intersect into is isnull join lambda lateral leading left like "
    "limit natural not notnull null offset on only or order outer overlaps pivot pivot_longer "
    "pivot_wider placing positional primary qualify references returning right select semi show "
    "similar some summarize symmetric table tablesample then to trailing true try_cast union unique "
    "unpack unpivot using variadic verbose when where window with".split()
)
_SYMBOL_WORDS = {"#": " num ", "%": " pct ", "&": " and "}
_INT = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*|0)")
_DECIMAL = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*|0)?\.\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT64_MAX = 2**63 - 1
_PLACEHOLDER = re.compile(r"[-‐‑‒–—−]+|n/a", re.IGNORECASE)

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


class TableError(ValueError):
    """A table file that cannot be read or loaded; the message names the file."""


@dataclass(frozen=True)
class Column:
    name: str  # the safe SQL name
    original: str  # the header text as in the file
    type: str  # BIGINT, DOUBLE, DATE or VARCHAR


@dataclass(frozen=True)
class TableInfo:
    """What was loaded: the file, its columns (safe name, original header, type) and row count."""

    path: str
    columns: tuple[Column, ...]
    n_rows: int

    def column_map(self) -> dict[str, str]:
        """Original header → safe name (a repeated header maps to its first column)."""
        mapping: dict[str, str] = {}
        for column in self.columns:
            mapping.setdefault(column.original, column.name)
        return mapping

    def schema_sql(self) -> str:
        """A CREATE TABLE statement for prompts, each column commented with its original header.

        >>> info = TableInfo("x.csv", (Column("year", "Year", "BIGINT"), Column("col_2", "", "VARCHAR")), 3)
        >>> print(info.schema_sql())
        CREATE TABLE t (
          year BIGINT, -- Year
          col_2 VARCHAR -- (empty header)
        );
        """
        lines = []
        for i, column in enumerate(self.columns):
            comma = "," if i < len(self.columns) - 1 else ""
            original = " ".join(column.original.split()) or "(empty header)"
            lines.append(f"  {column.name} {column.type}{comma} -- {original}")
        return f"CREATE TABLE {TABLE_NAME} (\n" + "\n".join(lines) + "\n);"


def safe_column_names(headers: list[str]) -> list[str]:
    """SQL-safe, unique column names for ``headers``, following the rules of the module docstring.

    >>> safe_column_names(["Year", "", "Chart-Positions\\nUK", "Film", "Film", "#", "Año", "2010", "Order"])
    ['year', 'col_2', 'chart_positions_uk', 'film', 'film_2', 'num', 'ano', 'col_2010', 'order_']
    """
    names: list[str] = []
    taken: set[str] = set()
    for position, header in enumerate(headers, 1):
        text = "".join(_SYMBOL_WORDS.get(ch, ch) for ch in header)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:MAX_NAME_CHARS].rstrip("_")
        if not base:
            base = f"col_{position}"
        elif base[0].isdigit():
            base = f"col_{base}"[:MAX_NAME_CHARS].rstrip("_")
        elif base in _RESERVED:
            base += "_"
        name, suffix = base, 1
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        taken.add(name)
        names.append(name)
    return names


def _parse_int(text: str) -> int | None:
    if not _INT.fullmatch(text):
        return None
    value = int(text.replace(",", ""))
    return value if -_INT64_MAX <= value <= _INT64_MAX else None


def _parse_number(text: str) -> float | None:
    if _INT.fullmatch(text) or _DECIMAL.fullmatch(text):
        return float(text.replace(",", ""))
    return None


def _parse_date(text: str) -> dt.date | None:
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _is_placeholder(cell: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(cell))


def infer_column(cells: list[str]) -> tuple[str, list[Any]]:
    """The column's SQL type and its values converted to it (None for an empty cell).

    A placeholder cell (only dashes, or ``n/a``) is NULL in a typed column and
    keeps its text in a VARCHAR one.

    >>> infer_column(["1,000", "25", ""])
    ('BIGINT', [1000, 25, None])
    >>> infer_column(["1.5", "2", "—"])
    ('DOUBLE', [1.5, 2.0, None])
    >>> infer_column(["007", "12", "-"])
    ('VARCHAR', ['007', '12', '-'])
    >>> infer_column(["2001-02-03", " "])[0], infer_column(["", ""])[0], infer_column(["-"])[0]
    ('DATE', 'VARCHAR', 'VARCHAR')
    """
    stripped = [c.strip() for c in cells]
    present = [c for c in stripped if c and not _is_placeholder(c)]
    if present:
        for sql_type, parse in (("BIGINT", _parse_int), ("DOUBLE", _parse_number), ("DATE", _parse_date)):
            parsed = [parse(c) for c in present]
            if all(p is not None for p in parsed):
                values = iter(parsed)
                return sql_type, [next(values) if c and not _is_placeholder(c) else None for c in stripped]
    return "VARCHAR", [c if c.strip() else None for c in cells]


def read_table_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV in the WikiTableQuestions dialect, padded to one width.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text('"A","B"\\n"say \\\\"hi\\\\"","back\\\\\\\\slash"\\n"two\\nlines"\\n', encoding="utf-8")
    >>> read_table_csv(p)
    (['A', 'B'], [['say "hi"', 'back\\\\slash'], ['two\\nlines', '']])
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise TableError(f"{path}: cannot read the table ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise TableError(f"{path}: not UTF-8 text ({e})") from e
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), escapechar="\\", doublequote=False, strict=True))
    except csv.Error as e:
        raise TableError(f"{path}: malformed CSV ({e})") from e
    if not rows:
        raise TableError(f"{path}: empty table file (no header row)")
    width = max(len(r) for r in rows)
    if width == 0:
        raise TableError(f"{path}: the header row is empty")
    padded = [r + [""] * (width - len(r)) for r in rows]
    return padded[0], padded[1:]


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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip()}"


class _Job:
    __slots__ = ("at", "conn", "fired")

    def __init__(self, conn: duckdb.DuckDBPyConnection, at: float) -> None:
        self.conn: duckdb.DuckDBPyConnection | None = conn
        self.at = at
        self.fired = False


class _Watchdog:
    """One thread per process that interrupts queries at their deadlines.

    (A ``threading.Timer`` per query costs about a millisecond to start and join,
    more than most queries on these small tables.) A job is never fired after
    ``finish`` returns.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._jobs: set[_Job] = set()
        self._thread: threading.Thread | None = None

    def start(self, conn: duckdb.DuckDBPyConnection, timeout_s: float) -> _Job:
        job = _Job(conn, time.monotonic() + timeout_s)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="duckdb-deadlines", daemon=True)
                self._thread.start()
            self._jobs.add(job)
            self._cond.notify()
        return job

    def finish(self, job: _Job) -> None:
        with self._cond:
            self._jobs.discard(job)
            job.conn = None

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for job in [j for j in self._jobs if j.at <= now]:
                    self._jobs.discard(job)
                    job.fired = True
                    if job.conn is not None:
                        job.conn.interrupt()
                    job.conn = None
                earliest = min((j.at for j in self._jobs), default=None)
                self._cond.wait(None if earliest is None else max(0.0, earliest - now))


_watchdog: _Watchdog | None = None


def _deadlines() -> _Watchdog:
    """This process's watchdog; a forked child makes its own (the parent's thread is not there)."""
    global _watchdog
    if _watchdog is None or _watchdog.pid != os.getpid():
        _watchdog = _Watchdog()
    return _watchdog


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


@contextmanager
def _address_space_cap(extra_bytes: int | None) -> Iterator[None]:
    """Cap RLIMIT_AS at the current size plus ``extra_bytes`` (Linux; a tighter existing limit stays)."""
    if extra_bytes is None or not sys.platform.startswith("linux"):
        yield
        return
    import resource

    try:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


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
    with _address_space_cap(max_memory_bytes):
        return _run(conn, sql, start, timeout_s, max_rows, max_text_bytes)


def _run(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    start: float,
    timeout_s: float | None,
    max_rows: int | None,
    max_text_bytes: int | None,
) -> QueryResult:
    watchdog = _deadlines() if timeout_s is not None else None
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
