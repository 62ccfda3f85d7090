"""The MySQL engine on a real MariaDB server: read-only account, server deadlines, hostile SQL, values."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from harness.engines import EngineSpec, open_engine

TIMEOUT_S = 1.0
SLACK_S = 2.0 + 2.0  # the watchdog's grace, then the usual slack
OUTFILE = Path("/tmp/harness-mysql-outfile")


@pytest.fixture(scope="module")
def server(mysql_server):
    """Database ``db`` (table ``t``: 1000 rows, ``v``: typed values) and a read-only account ``reader``."""
    run = mysql_server.sql
    run("CREATE DATABASE IF NOT EXISTS db")
    run("CREATE TABLE IF NOT EXISTS db.t (id BIGINT PRIMARY KEY, name VARCHAR(20) COLLATE utf8mb4_nopad_bin)")
    run("DELETE FROM db.t")
    run("INSERT INTO db.t WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 999) "
        "SELECT n, CONCAT('n', n) FROM g")  # fmt: skip
    run("CREATE TABLE IF NOT EXISTS db.v (b BOOLEAN, n DECIMAL(6, 2), d DATE, ts DATETIME, tm TIME, f DOUBLE, "
        "bl BLOB, bits BIT(3))")  # fmt: skip
    run("DELETE FROM db.v")
    run("INSERT INTO db.v VALUES (TRUE, 2.50, '2020-01-02', '2020-01-02 03:04:05', '01:00:30', 0.5, X'00FF', b'101')")
    run("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'pw'")
    run("GRANT SELECT ON db.* TO 'reader'@'%'")
    return mysql_server


def reader_url(server) -> str:
    return server.url("", user="reader", password="pw")


def reader_engine(server, schema: str | None = "db"):
    return open_engine(EngineSpec("mysql", reader_url(server), schema))


def table_state(server) -> list[tuple]:
    return server.sql("SELECT count(*), sum(id), GROUP_CONCAT(name ORDER BY id) FROM db.t") + server.sql(
        "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.TABLES WHERE table_schema = 'db'"
    ) + server.sql("SELECT GROUP_CONCAT(user ORDER BY user), GROUP_CONCAT(authentication_string) FROM mysql.user")


def test_values_come_back_as_sqlite_would_give_them(server):
    engine = reader_engine(server)
    result = engine.run("any/db.sqlite", "SELECT b, n, d, ts, tm, f, bl, 1 > 0, (SELECT avg(id) FROM t) FROM v",
                        timeout_s=5, max_rows=10)  # fmt: skip
    assert result.status == "ok", result.error
    assert result.rows == [(1, 2.5, "2020-01-02", "2020-01-02 03:04:05", 3630.0, 0.5, b"\x00\xff", 1, 499.5)]
    engine.close()


def test_text_compares_byte_by_byte_without_padding_as_in_sqlite(server):
    engine = reader_engine(server)
    result = engine.run("db.sqlite", "SELECT 'A' = 'a', 'a ' = 'a', name = 'N1', name = 'n1' FROM t WHERE id = 1",
                        timeout_s=5, max_rows=10)  # fmt: skip
    assert result.rows == [(0, 0, 0, 1)], result
    engine.close()


def test_the_database_comes_from_the_database_file_name(server):
    engine = reader_engine(server, schema=None)
    assert engine.run("folder/DB.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=10).rows == [(1000,)]
    assert engine.missing(["x/db.sqlite", "x/absent.sqlite"]) == ["absent"]
    engine.close()


def test_a_database_load_db_did_not_finish_counts_as_missing():
    """With harness_meta present, a database without its row there is half-loaded (own server:
    the loader's tests share the session's)."""
    from harness.engines.local_mysql import LocalMySQL

    with LocalMySQL() as own:
        for statement in ("CREATE DATABASE harness_meta", "CREATE TABLE harness_meta.loaded (schema_name VARCHAR(64))",
                          "CREATE DATABASE db", "CREATE DATABASE half", "CREATE USER 'reader'@'%' IDENTIFIED BY 'pw'",
                          "GRANT SELECT ON db.* TO 'reader'@'%'", "GRANT SELECT ON half.* TO 'reader'@'%'",
                          "GRANT SELECT ON harness_meta.* TO 'reader'@'%'"):  # fmt: skip
            own.sql(statement)
        engine = reader_engine(own, schema=None)
        assert engine.missing(["db.sqlite", "half.sqlite"]) == ["db", "half"]
        own.sql("INSERT INTO harness_meta.loaded VALUES ('db')")
        assert engine.missing(["db.sqlite", "half.sqlite"]) == ["half"]
        engine.close()


def test_an_account_that_can_do_more_than_read_is_refused_with_the_grants_to_use(server):
    engine = open_engine(EngineSpec("mysql", server.url(), "db"))
    with pytest.raises(PermissionError, match="(?s)ALL PRIVILEGES.*GRANT SELECT ON `<database>`"):
        engine.missing(["db.sqlite"])
    server.sql("CREATE USER IF NOT EXISTS 'deleter'@'%' IDENTIFIED BY 'pw'")
    server.sql("GRANT SELECT, DELETE ON db.* TO 'deleter'@'%'")
    result = open_engine(EngineSpec("mysql", server.url("", "deleter", "pw"), "db")).run(
        "db.sqlite", "SELECT 1", timeout_s=5, max_rows=10)  # fmt: skip
    assert result.status == "error" and "can do more than read (DELETE)" in result.error


def test_a_bad_url_is_a_clear_error_without_the_password(server):
    engine = open_engine(EngineSpec("mysql", f"mysql+pymysql://reader:secret@127.0.0.1:{server.port}/"))
    with pytest.raises(RuntimeError, match="cannot connect to mysql\\+pymysql://reader:\\*\\*\\*@") as info:
        engine.missing(["db.sqlite"])
    assert "secret" not in str(info.value)
    with pytest.raises(ValueError, match="takes mysql:// or mysql\\+pymysql:// URLs, not postgresql"):
        open_engine(EngineSpec("mysql", "postgresql://u:p@h/db")).missing(["db.sqlite"])


HOSTILE = {
    "drop": "DROP TABLE t",
    "delete": "DELETE FROM t",
    "update": "UPDATE t SET name = 'x'",
    "insert": "INSERT INTO t VALUES (5000, 'x')",
    "replace": "REPLACE INTO t VALUES (1, 'x')",
    "truncate": "TRUNCATE t",
    "rename": "RENAME TABLE t TO u",
    "create_table": "CREATE TABLE u (a int)",
    "create_temp_table": "CREATE TEMPORARY TABLE u AS SELECT * FROM t",
    "create_index": "CREATE INDEX i ON t (name)",
    "alter": "ALTER TABLE t RENAME TO u",
    "two_statements": "SELECT 1; DROP TABLE t",
    "commit_then_drop": "COMMIT; DROP TABLE t",
    "cte_delete": "WITH d AS (SELECT 1) DELETE FROM t",
    "select_into_outfile": f"SELECT * FROM t INTO OUTFILE '{OUTFILE}'",
    "select_into_dumpfile": f"SELECT name FROM t LIMIT 1 INTO DUMPFILE '{OUTFILE}'",
    "load_data": "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
    "set_password": "SET PASSWORD = PASSWORD('owned')",
    "alter_user": "ALTER USER CURRENT_USER() IDENTIFIED BY 'owned'",
    "executable_comment": "/*!50000 SET PASSWORD = PASSWORD('owned') */",
    "hint": "SELECT /*+ MAX_EXECUTION_TIME(0) */ SLEEP(30)",
    "grant": "GRANT ALL ON *.* TO CURRENT_USER()",
    "create_user": "CREATE USER 'x'@'%'",
    "set_global": "SET GLOBAL max_connections = 1",
    "set_session": "SET SESSION sql_mode = 'ANSI_QUOTES'",
    "lock_tables": "LOCK TABLES t WRITE",
    "kill": "KILL 1",
    "handler": "HANDLER t OPEN",
    "do_sleep": "DO SLEEP(30)",
    "sleep": "SELECT SLEEP(30)",
    "benchmark": "SELECT BENCHMARK(100000000000, MD5('a'))",
    "cartesian": "SELECT count(*) FROM t a, t b, t c, t d",
    "endless_rows": "SELECT a.id FROM t a, t b, t c",
    "huge_text": "SELECT REPEAT('x', 10000000) FROM t a, t b",
    "nul_byte": "SELECT 1\x00; DROP TABLE t",
    "lone_surrogate": "SELECT '\ud800'",
    "deep_nesting": "SELECT " + "(" * 50_000 + "1" + ")" * 50_000,
}
MUST_TIME_OUT = {"sleep", "benchmark", "cartesian"}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_sql_fails_in_bounded_time_and_writes_nothing(server, name):
    engine = reader_engine(server)
    before = table_state(server)
    start = time.perf_counter()
    result = engine.run("db.sqlite", HOSTILE[name], timeout_s=TIMEOUT_S, max_rows=100_000)
    elapsed = time.perf_counter() - start
    assert result.status == ("timeout" if name in MUST_TIME_OUT else result.status), result
    assert result.status in ("error", "timeout"), (name, result)
    assert result.rows is None
    assert elapsed < TIMEOUT_S + SLACK_S
    assert table_state(server) == before
    assert not OUTFILE.exists()
    # the same engine goes on (its session reset), and the account still logs in with its password
    after = engine.run("db.sqlite", "SELECT count(*), CURRENT_USER(), @@SESSION.sql_mode LIKE '%ANSI_QUOTES%' FROM t",
                       timeout_s=TIMEOUT_S, max_rows=10)  # fmt: skip
    assert after.rows == [(1000, "reader@%", 0)], after
    engine.close()
    fresh = reader_engine(server)
    assert fresh.run("db.sqlite", "SELECT 1", timeout_s=TIMEOUT_S, max_rows=10).rows == [(1,)]
    fresh.close()


def test_reading_a_server_file_gives_nothing(server):
    engine = reader_engine(server)
    assert engine.run("db.sqlite", "SELECT LOAD_FILE('/etc/passwd')", timeout_s=5, max_rows=10).rows == [(None,)]
    engine.close()


def test_nothing_a_query_leaves_in_its_session_reaches_the_next(server):
    one, two = reader_engine(server), reader_engine(server)
    assert one.run("db.sqlite", "SELECT @x := 5, GET_LOCK('harness', 0)", timeout_s=5, max_rows=10).rows == [(5, 1)]
    assert one.run("db.sqlite", "SELECT @x", timeout_s=5, max_rows=10).rows == [(None,)]
    assert two.run("db.sqlite", "SELECT GET_LOCK('harness', 0)", timeout_s=5, max_rows=10).rows == [(1,)]
    one.close(), two.close()


def test_a_query_whose_connection_was_killed_runs_again_on_a_new_one(server):
    victim = reader_engine(server)
    assert victim.run("db.sqlite", "SELECT 1", timeout_s=5, max_rows=10).status == "ok"
    server.sql(f"KILL CONNECTION {victim._conn.thread_id()}")
    assert victim.run("db.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=10).rows == [(1000,)]
    victim.close()


def test_row_cap_stops_the_stream_and_the_engine_goes_on(server):
    engine = reader_engine(server)
    start = time.perf_counter()
    result = engine.run("db.sqlite", "SELECT a.id FROM t a, t b, t c", timeout_s=30, max_rows=500)
    assert result.status == "error" and "row cap of 500" in result.error
    assert time.perf_counter() - start < 5  # not drained: the query was killed
    assert engine.run("db.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=10).rows == [(1000,)]
    running = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE info LIKE 'SELECT a.id FROM t a%'"
    deadline = time.monotonic() + SLACK_S
    while server.sql(running) != [(0,)]:
        assert time.monotonic() < deadline, "the capped query kept running on the server"
        time.sleep(0.05)
    engine.close()


def _run_forever(url: str) -> None:
    engine = open_engine(EngineSpec("mysql", url, "db"))
    engine.run("db.sqlite", "SELECT SLEEP(600)", timeout_s=2.0, max_rows=10)


def test_the_server_stops_a_runaway_query_whose_client_was_killed(server):
    """A killed scoring worker leaves its query on the server; max_statement_time ends it there."""
    child = multiprocessing.get_context("spawn").Process(target=_run_forever, args=(reader_url(server),))
    child.start()
    active = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE info = 'SELECT SLEEP(600)'"
    deadline = time.monotonic() + 30
    while server.sql(active) != [(1,)]:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.05)
    os.kill(child.pid, 9)
    child.join()
    killed_at = time.monotonic()
    while server.sql(active) != [(0,)]:
        assert time.monotonic() - killed_at < 2.0 + SLACK_S, "the server kept running the query"
        time.sleep(0.05)
