"""The two limits on a running DuckDB query that DuckDB does not enforce itself.

**Deadlines.** ``deadlines()`` is this process's watchdog: one thread that calls
``conn.interrupt()`` on each query whose deadline has passed (``start`` a job
before the query, ``finish`` it after; ``job.fired`` tells whether it was
interrupted). A forked child makes its own watchdog.

**Address space.** ``address_space_cap(extra_bytes)`` caps ``RLIMIT_AS`` at the
process's current size plus ``extra_bytes`` while the block runs (Linux only;
a tighter existing limit stays), so an allocation outside DuckDB's
``memory_limit`` fails with an out-of-memory error instead of meeting the
kernel's OOM killer. Both serve :func:`harness.execution.duckdb_tables.run_table_query`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

__all__ = ["Job", "Watchdog", "address_space_cap", "deadlines"]


class Job:
    """One query's deadline: its connection (None once finished or fired) and whether it fired."""

    __slots__ = ("at", "conn", "fired")

    def __init__(self, conn: duckdb.DuckDBPyConnection, at: float) -> None:
        self.conn: duckdb.DuckDBPyConnection | None = conn
        self.at = at
        self.fired = False


class Watchdog:
    """One thread per process that interrupts queries at their deadlines.

    (A ``threading.Timer`` per query costs about a millisecond to start and join,
    more than most queries on these small tables.) A job is never fired after
    ``finish`` returns.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._jobs: set[Job] = set()
        self._thread: threading.Thread | None = None

    def start(self, conn: duckdb.DuckDBPyConnection, timeout_s: float) -> Job:
        job = Job(conn, time.monotonic() + timeout_s)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="duckdb-deadlines", daemon=True)
                self._thread.start()
            self._jobs.add(job)
            self._cond.notify()
        return job

    def finish(self, job: Job) -> None:
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


_watchdog: Watchdog | None = None


def deadlines() -> Watchdog:
    """This process's watchdog; a forked child makes its own (the parent's thread is not there)."""
    global _watchdog
    if _watchdog is None or _watchdog.pid != os.getpid():
        _watchdog = Watchdog()
    return _watchdog


@contextmanager
def address_space_cap(extra_bytes: int | None) -> Iterator[None]:
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
