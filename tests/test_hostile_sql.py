"""Hostile predictions end as an error or a timeout, in bounded time, leaving every file untouched."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.execution import Outcome, WorkerPool, connect_readonly, run_query

TIMEOUT_S = 1.0
SLACK_S = 2.0
RECURSE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c)"
CARTESIAN = "SELECT count(*) FROM t a, t b, t c, t d, t e"

FAILS = {"error", "timeout"}


@dataclass(frozen=True)
class Case:
    sql: str  # "{tmp}" stands for the test's temporary folder
    statuses: frozenset[str] = frozenset(FAILS)
    max_rows: int | None = 1_000_000
    must_not_exist: tuple[str, ...] = ()  # paths relative to {tmp}


CASES = {
    "drop_table": Case("DROP TABLE t"),
    "delete": Case("DELETE FROM t"),
    "update": Case("UPDATE t SET name = 'x'"),
    "insert": Case("INSERT INTO t VALUES (5000, 'x')"),
    "replace": Case("REPLACE INTO t VALUES (1, 'x')"),
    "create_table": Case("CREATE TABLE u (a)"),
    "create_temp_table": Case("CREATE TEMP TABLE u AS SELECT * FROM t"),
    "create_index": Case("CREATE INDEX i ON t(name)"),
    "drop_index": Case("DROP INDEX t_name"),
    "alter_table": Case("ALTER TABLE t RENAME TO u"),
    "attach_absolute": Case("ATTACH DATABASE '{tmp}/new.db' AS x", must_not_exist=("new.db",)),
    "attach_relative": Case("ATTACH DATABASE 'new.db' AS x", must_not_exist=("cwd/new.db",)),
    "attach_memory": Case("ATTACH DATABASE ':memory:' AS x"),
    "writable_schema": Case("PRAGMA writable_schema=ON"),
    "query_only_off": Case("PRAGMA query_only=OFF"),
    "journal_mode_wal": Case("PRAGMA journal_mode=WAL"),
    "temp_store_directory": Case("PRAGMA temp_store_directory='{tmp}'"),
    "optimize": Case("PRAGMA optimize"),
    "load_extension": Case("SELECT load_extension('x')"),
    "two_statements": Case("SELECT 1; DROP TABLE t"),
    "begin_exclusive": Case("BEGIN EXCLUSIVE"),
    "analyze": Case("ANALYZE"),
    "reindex": Case("REINDEX t"),
    "vacuum": Case("VACUUM"),
    "vacuum_into": Case("VACUUM INTO '{tmp}/copy.db'", must_not_exist=("copy.db",)),
    "recursive_rows": Case(f"{RECURSE} SELECT x FROM c", max_rows=100_000),
    "recursive_count": Case(f"{RECURSE} SELECT count(*) FROM c", statuses=frozenset({"timeout"})),
    "recursive_sorted": Case(
        f"{RECURSE} SELECT x FROM c ORDER BY x DESC", statuses=frozenset({"timeout"})
    ),
    "cartesian_5": Case(CARTESIAN, statuses=frozenset({"timeout"})),
    "hundred_million_rows": Case(f"{RECURSE} SELECT x FROM c LIMIT 100000000"),
    "nul_byte": Case("SELECT 1\x00; DROP TABLE t"),
    "lone_surrogate": Case("SELECT '\ud800'"),
    "deep_nesting": Case("SELECT " + "(" * 50_000 + "1" + ")" * 50_000),
    "huge_blob": Case("SELECT hex(zeroblob(1000000000))"),
    # A thousand rows of a 1 MB literal: stopped by the text cap, or fine; never a hang or crash.
    "megabyte_literal": Case(
        "SELECT '" + "x" * 1_000_000 + "' FROM t", statuses=frozenset({"ok", "error"})
    ),
}


def _build(path: Path, rows: int = 1000) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(rows)])
    conn.execute("CREATE INDEX t_name ON t (name)")
    conn.commit()
    conn.close()


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("template") / "db.sqlite"
    _build(path)
    return path.read_bytes()


@pytest.fixture
def db(tmp_path: Path, template_db: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp/db/db.sqlite``, with the working directory set to the empty ``tmp/cwd``."""
    (tmp_path / "db").mkdir()
    (tmp_path / "cwd").mkdir()
    path = tmp_path / "db" / "db.sqlite"
    path.write_bytes(template_db)
    monkeypatch.chdir(tmp_path / "cwd")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_sql(name: str, db: Path, tmp_path: Path) -> None:
    case = CASES[name]
    sql = case.sql.replace("{tmp}", str(tmp_path))
    before = _snapshot(db.parent)
    start = time.perf_counter()
    result = run_query(db, sql, timeout_s=TIMEOUT_S, max_rows=case.max_rows)
    elapsed = time.perf_counter() - start
    assert result.status in case.statuses, result
    assert (result.rows is None) == (result.status != "ok")
    assert elapsed < TIMEOUT_S + SLACK_S
    assert _snapshot(db.parent) == before
    assert list((tmp_path / "cwd").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "db"]
    for relative in case.must_not_exist:
        assert not (tmp_path / relative).exists()


def test_hostile_sql_leaves_a_shared_connection_usable(db: Path, tmp_path: Path) -> None:
    """One connection through every hostile case, then an ordinary query still works."""
    before = _snapshot(db.parent)
    conn = connect_readonly(db)
    try:
        for name, case in CASES.items():
            if "timeout" in case.statuses:
                continue  # covered above; keep this test fast
            sql = case.sql.replace("{tmp}", str(tmp_path))
            assert (
                run_query(conn, sql, timeout_s=TIMEOUT_S, max_rows=case.max_rows).status
                in case.statuses
            ), name
        result = run_query(
            conn, "SELECT count(*), max(name) FROM t", timeout_s=TIMEOUT_S, max_rows=10
        )
        assert result.rows == [(1000, "n999")]
        assert not conn.in_transaction
    finally:
        conn.close()
    assert _snapshot(db.parent) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "db"]


def _run_without_deadline(job: tuple[str, str]) -> str:
    """Executes with the engine deadline disabled: only the pool's kill can stop it."""
    db_path, sql = job
    result = run_query(db_path, sql, timeout_s=None, max_rows=None)
    return result.status


def test_pool_kills_query_with_no_engine_deadline(db: Path, tmp_path: Path) -> None:
    before = _snapshot(db.parent)
    jobs = [
        ("cartesian", (str(db), CARTESIAN)),
        ("recursive", (str(db), f"{RECURSE} SELECT count(*) FROM c")),
        ("drop", (str(db), "DROP TABLE t")),
        ("fine", (str(db), "SELECT count(*) FROM t")),
    ]
    start = time.perf_counter()
    with WorkerPool(_run_without_deadline, jobs=2) as pool:
        results = dict(pool.imap_unordered(jobs, deadline_s=TIMEOUT_S))
    assert time.perf_counter() - start < TIMEOUT_S + SLACK_S
    assert results == {
        "cartesian": Outcome(killed=True),
        "recursive": Outcome(killed=True),
        "drop": Outcome(value="error"),
        "fine": Outcome(value="ok"),
    }
    assert _snapshot(db.parent) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "db"]
    assert list((tmp_path / "cwd").iterdir()) == []
