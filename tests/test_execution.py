"""harness.execution: read-only SQLite execution and the killable worker pool, on real files and processes."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.execution import (
    LossyText,
    Outcome,
    QueryFailed,
    WorkerInitError,
    WorkerPool,
    connect_readonly,
    run_query,
    time_execute,
)

REPO = Path(__file__).resolve().parent.parent
COUNT_FOREVER = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
)


def build_db(path: Path, rows: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        [(i, f"name{i}", i / 2, bytes([i % 256])) for i in range(rows)],
    )
    conn.execute("INSERT INTO t VALUES (-1, CAST(X'61FF62' AS TEXT), NULL, NULL)")  # 'a\xffb'
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "db" / "db.sqlite")


# -- read-only connection ----------------------------------------------------------------


def test_rows_are_plain_python_values(db: Path) -> None:
    result = run_query(
        db,
        "SELECT id, name, score, data FROM t WHERE id IN (0, 3) ORDER BY id",
        timeout_s=5,
        max_rows=10,
    )
    assert result.status == "ok" and result.error is None
    assert result.rows == [(0, "name0", 0.0, b"\x00"), (3, "name3", 1.5, b"\x03")]
    assert type(result.rows[0][1]) is str
    assert result.elapsed_s >= 0


def test_connection_is_read_only(db: Path) -> None:
    conn = connect_readonly(db)
    try:
        for sql in ("DELETE FROM t", "PRAGMA query_only=OFF", "CREATE TEMP TABLE x(a)", "BEGIN"):
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                conn.execute(sql)

        # Read-only introspection stays possible, eponymous virtual tables included.
        def rows(sql: str) -> list[tuple] | None:
            return run_query(conn, sql, timeout_s=5, max_rows=None).rows

        assert rows("PRAGMA table_info(t)")[0][1] == "id"
        assert len(rows("SELECT * FROM pragma_table_info('t')")) == 4
        assert rows("SELECT value FROM json_each('[1,2]')") == [(1,), (2,)]
    finally:
        conn.close()
    assert run_query(db, "SELECT count(*) FROM t", timeout_s=5, max_rows=None).rows == [(101,)]


def test_error_message_names_exception(db: Path) -> None:
    result = run_query(db, "SELECT * FROM x", timeout_s=5, max_rows=10)
    assert (result.status, result.rows) == ("error", None)
    assert result.error == "OperationalError: no such table: x"


def test_invalid_utf8_becomes_lossy_text(db: Path) -> None:
    ((value,),) = run_query(db, "SELECT name FROM t WHERE id = -1", timeout_s=5, max_rows=10).rows
    assert isinstance(value, LossyText)
    # What Spider's errors="ignore" decoding gives, as far as equality and hashing can tell.
    assert value == "ab" and hash(value) == hash("ab")
    ((plain,),) = run_query(db, "SELECT name FROM t WHERE id = 1", timeout_s=5, max_rows=10).rows
    assert type(plain) is str
    assert type(pickle.loads(pickle.dumps(value))) is LossyText


def test_row_cap(db: Path) -> None:
    exact = run_query(db, "SELECT id FROM t WHERE id >= 0 LIMIT 10", timeout_s=5, max_rows=10)
    assert exact.status == "ok" and len(exact.rows) == 10
    over = run_query(db, "SELECT id FROM t WHERE id >= 0 LIMIT 11", timeout_s=5, max_rows=10)
    assert (over.status, over.rows, over.error) == ("error", None, "row cap of 10 rows exceeded")
    assert len(run_query(db, "SELECT id FROM t", timeout_s=5, max_rows=None).rows) == 101


def test_deadline_interrupts_recursive_cte(db: Path) -> None:
    start = time.perf_counter()
    result = run_query(db, COUNT_FOREVER, timeout_s=0.3, max_rows=10)
    assert result.status == "timeout" and result.rows is None
    assert "timeout" in result.error
    assert 0.3 <= result.elapsed_s < 1.5 and time.perf_counter() - start < 2.0


def test_deadline_is_cleared_after_each_query(db: Path) -> None:
    conn = connect_readonly(db)
    try:
        assert run_query(conn, COUNT_FOREVER, timeout_s=0.05, max_rows=10).status == "timeout"
        time.sleep(0.06)
        slow = "SELECT count(*) FROM t a, t b, t c"  # ~10^6 rows: well over 0.05 s of VM work
        result = run_query(conn, slow, timeout_s=None, max_rows=10)
        assert result.status == "ok" and result.rows == [(101**3,)]
    finally:
        conn.close()


def test_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "missing.sqlite"
    missing.parent.mkdir()
    with pytest.raises(FileNotFoundError, match="missing.sqlite"):
        connect_readonly(missing)
    with pytest.raises(FileNotFoundError):
        run_query(missing, "SELECT 1", timeout_s=1, max_rows=1)
    with pytest.raises(FileNotFoundError):
        time_execute(missing, "SELECT 1", timeout_s=1)
    assert list(missing.parent.iterdir()) == []
    with pytest.raises(IsADirectoryError):
        connect_readonly(missing.parent)


def test_path_needing_uri_quoting(tmp_path: Path) -> None:
    path = build_db(tmp_path / "odd dir?#%20" / "d b.sqlite")
    assert run_query(path, "SELECT count(*) FROM t", timeout_s=5, max_rows=1).rows == [(101,)]
    assert sorted(p.name for p in path.parent.iterdir()) == ["d b.sqlite"]


def test_time_execute(db: Path) -> None:
    assert 0 <= time_execute(db, "SELECT * FROM t", timeout_s=5) < 5
    with pytest.raises(QueryFailed) as error:
        time_execute(db, "SELECT * FROM nope", timeout_s=5)
    assert error.value.status == "error" and "no such table" in str(error.value)
    with pytest.raises(QueryFailed) as timeout:
        time_execute(db, COUNT_FOREVER, timeout_s=0.2)
    assert timeout.value.status == "timeout"


def _wal_db(path: Path) -> sqlite3.Connection:
    """A WAL database, with its writer still open and nothing checkpointed yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x)")
    writer.commit()
    writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    writer.commit()
    return writer


def test_wal_database_without_wal_file_creates_no_files(tmp_path: Path) -> None:
    path = tmp_path / "wal" / "db.sqlite"
    _wal_db(path).close()  # the last close checkpoints and removes -wal and -shm
    assert sorted(p.name for p in path.parent.iterdir()) == ["db.sqlite"]
    before = path.read_bytes()
    assert run_query(path, "SELECT count(*) FROM t", timeout_s=5, max_rows=1).rows == [(10,)]
    assert sorted(p.name for p in path.parent.iterdir()) == ["db.sqlite"]
    assert path.read_bytes() == before


def test_wal_database_with_pending_wal_content_is_read(tmp_path: Path) -> None:
    # immutable=1 would ignore the -wal file and not even see the table.
    writer = _wal_db(tmp_path / "wal" / "db.sqlite")
    try:
        result = run_query(
            tmp_path / "wal" / "db.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=1
        )
        assert result.rows == [(10,)], result.error
    finally:
        writer.close()


# -- worker pool ---------------------------------------------------------------------------


def _behave(item: object) -> object:
    """The pool's test function: what it does depends on the item."""
    if isinstance(item, tuple):
        action, arg = item
        if action == "sleep":
            time.sleep(arg)
            return "slept"
        if action == "exit":
            os._exit(arg)
        if action == "raise":
            raise ValueError(arg)
        if action == "segfault":
            import ctypes
            import faulthandler

            faulthandler.disable()  # pytest's handler, inherited through fork, would print a traceback
            ctypes.string_at(0)
        if action == "pid":
            return os.getpid()
        if action == "env":
            return os.environ.get(arg)
        if action == "unpicklable":
            return lambda: None
    return item * 2


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pool_returns_every_result() -> None:
    with WorkerPool(_behave, jobs=4) as pool:
        results = dict(pool.imap_unordered(((f"k{i}", i) for i in range(500)), deadline_s=10))
    assert results == {f"k{i}": Outcome(value=2 * i) for i in range(500)}


def test_pool_yields_in_completion_order() -> None:
    items = [("slow", ("sleep", 0.4)), ("fast", 1)]
    with WorkerPool(_behave, jobs=2) as pool:
        order = [key for key, _ in pool.imap_unordered(items, deadline_s=10)]
    assert order == ["fast", "slow"]


def test_pool_kills_overrunning_worker_while_others_complete() -> None:
    items = [("stuck", ("sleep", 60))] + [(i, i) for i in range(50)]
    start = time.perf_counter()
    with WorkerPool(_behave, jobs=2) as pool:
        results = dict(pool.imap_unordered(items, deadline_s=0.5))
        assert results.pop("stuck") == Outcome(killed=True)
        assert results == {i: Outcome(value=2 * i) for i in range(50)}
        # The replacement worker serves the next run.
        assert dict(pool.imap_unordered([("again", 21)], deadline_s=5)) == {
            "again": Outcome(value=42)
        }
    assert time.perf_counter() - start < 5


def test_pool_reports_dead_workers_and_continues() -> None:
    items = [("exit", ("exit", 3)), ("segv", ("segfault", None))] + [(i, i) for i in range(20)]
    with WorkerPool(_behave, jobs=1) as pool:
        results = dict(pool.imap_unordered(items, deadline_s=10))
    assert results.pop("exit").crashed == "worker exited with code 3"
    assert results.pop("segv").crashed == "worker died from signal SIGSEGV"
    assert results == {i: Outcome(value=2 * i) for i in range(20)}


def test_pool_reports_exceptions_and_keeps_the_worker() -> None:
    items = [
        ("pid1", ("pid", None)),
        ("boom", ("raise", "bad item")),
        ("bad result", ("unpicklable", None)),
        ("pid2", ("pid", None)),
    ]
    with WorkerPool(_behave, jobs=1) as pool:
        results = dict(pool.imap_unordered(items, deadline_s=10))
        unsendable = dict(pool.imap_unordered([("bad item", lambda: None)], deadline_s=10))
    assert results["boom"] == Outcome(crashed="ValueError: bad item")
    assert "could not be sent" in results["bad result"].crashed
    assert results["pid1"].value == results["pid2"].value  # same worker process throughout
    assert "could not be sent" in unsendable["bad item"].crashed


def test_pool_consumes_items_lazily() -> None:
    taken = 0

    def items():
        nonlocal taken
        for i in range(2000):
            taken += 1
            yield i, i

    seen = 0
    with WorkerPool(_behave, jobs=3) as pool:
        for _ in pool.imap_unordered(items(), deadline_s=10):
            seen += 1
            assert taken - seen <= 3
    assert seen == 2000


def test_pool_initializer_runs_in_each_worker_and_failure_raises() -> None:
    with WorkerPool(
        _behave, jobs=2, initializer=os.environ.__setitem__, initargs=("HARNESS_TEST_INIT", "yes")
    ) as pool:
        results = dict(
            pool.imap_unordered(
                [(i, ("env", "HARNESS_TEST_INIT")) for i in range(4)], deadline_s=10
            )
        )
    assert results == {i: Outcome(value="yes") for i in range(4)}
    assert "HARNESS_TEST_INIT" not in os.environ
    with WorkerPool(_behave, initializer=int, initargs=("not a number",)) as pool:
        with pytest.raises(WorkerInitError, match="ValueError"):
            list(pool.imap_unordered([(1, 1)], deadline_s=10))


def test_pool_close_and_early_exit_leave_no_children() -> None:
    pool = WorkerPool(_behave, jobs=3)
    pids = {
        o.value
        for _, o in pool.imap_unordered([(i, ("pid", None)) for i in range(3)], deadline_s=10)
    }
    assert len(pids) == 3
    run = pool.imap_unordered(
        [("s1", ("sleep", 60)), ("s2", ("sleep", 60)), ("pid", ("pid", None))], deadline_s=None
    )
    key, outcome = next(run)
    assert key == "pid"
    run.close()  # abandon the two workers still sleeping: they are killed at once
    assert [pid for pid in pids if _alive(pid)] == [outcome.value]
    pool.close()
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(ValueError):
        list(pool.imap_unordered([(1, 1)], deadline_s=1))


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        from harness.execution import WorkerPool

        def fn(item):
            if item == "pid":
                return os.getpid()
            time.sleep(60)

        pool = WorkerPool(fn, jobs=2)
        pids = [o.value for _, o in pool.imap_unordered([(0, "pid"), (1, "pid")], deadline_s=10)]
        print(*set(pids), flush=True)
        for _ in pool.imap_unordered([(0, "sleep")], deadline_s=None):  # one busy, one idle
            pass
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids and all(_alive(pid) for pid in pids)
        time.sleep(0.2)  # let the sleeping item reach its worker
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        until = time.monotonic() + 5
        while any(_alive(pid) for pid in pids) and time.monotonic() < until:
            time.sleep(0.02)
        assert not any(_alive(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
