"""The PostgreSQL engine on a real server: read-only role, server deadlines, hostile SQL, values."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from harness.engines import EngineSpec, open_engine

TIMEOUT_S = 1.0
SLACK_S = 2.0
RECURSE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
WRITES = "SELECT count(*), sum(id), string_agg(name, ',' ORDER BY id) FROM db.t"


@pytest.fixture(scope="module")
def server(postgres_server):
    """Schema ``db`` (table ``t``: 1000 rows, ``v``: typed values) and a read-only role ``reader``."""
    postgres_server.psql(
        """
        CREATE SCHEMA db;
        CREATE TABLE db.t (id bigint PRIMARY KEY, name text);
        INSERT INTO db.t SELECT g, 'n' || g FROM generate_series(0, 999) g;
        CREATE TABLE db.v (b boolean, n numeric, d date, ts timestamp, f double precision);
        INSERT INTO db.v VALUES (true, 2.50, '2020-01-02', '2020-01-02 03:04:05', 0.5);
        DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN
          CREATE ROLE reader LOGIN PASSWORD 'pw'; END IF; END $$;
        GRANT USAGE ON SCHEMA db TO reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA db TO reader;
        """,
        database="harness",
    )
    return postgres_server


def reader_engine(server, schema: str = "db"):
    return open_engine(EngineSpec("postgresql", server.url(user="reader", password="pw"), schema))


def table_state(server) -> str:
    return server.psql(WRITES, database="harness") + server.psql(
        "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE nspname IN ('db', 'public')",
        database="harness",
    )


def test_values_come_back_as_sqlite_would_give_them(server):
    engine = reader_engine(server)
    result = engine.run("any/db.sqlite", "SELECT b, n, d, ts, f, 1 > 0, (SELECT avg(id) FROM t) FROM v", timeout_s=5, max_rows=10)
    assert result.status == "ok", result.error
    assert result.rows == [(1, 2.5, "2020-01-02", "2020-01-02 03:04:05", 0.5, 1, 499.5)]
    engine.close()


def test_the_schema_comes_from_the_database_file_name(server):
    engine = open_engine(EngineSpec("postgresql", server.url(user="reader", password="pw")))
    assert engine.run("folder/DB.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=10).rows == [(1000,)]
    assert engine.missing(["x/db.sqlite", "x/absent.sqlite"]) == ["absent"]
    engine.close()


def test_a_role_that_can_write_is_refused_with_the_grants_to_use(server):
    engine = open_engine(EngineSpec("postgresql", server.url(), "db"))
    with pytest.raises(PermissionError, match="(?s)superuser.*GRANT SELECT ON ALL TABLES"):
        engine.missing(["db.sqlite"])
    result = engine.run("db.sqlite", "SELECT 1", timeout_s=5, max_rows=10)
    assert result.status == "error" and "can write" in result.error


def test_a_bad_url_is_a_clear_error_without_the_password(server):
    engine = open_engine(EngineSpec("postgresql", f"postgresql://reader:secret@127.0.0.1:{server.port}/nodb"))
    with pytest.raises(RuntimeError, match="cannot connect to postgresql://reader:\\*\\*\\*@") as info:
        engine.missing(["db.sqlite"])
    assert "secret" not in str(info.value)


HOSTILE = {
    "drop": "DROP TABLE t",
    "delete": "DELETE FROM t",
    "update": "UPDATE t SET name = 'x'",
    "insert": "INSERT INTO t VALUES (5000, 'x')",
    "truncate": "TRUNCATE t",
    "create_table": "CREATE TABLE u (a int)",
    "create_temp_table": "CREATE TEMP TABLE u AS SELECT * FROM t",
    "create_index": "CREATE INDEX i ON t (name)",
    "alter": "ALTER TABLE t RENAME TO u",
    "two_statements": "SELECT 1; DROP TABLE t",
    "commit_then_drop": "COMMIT; DROP TABLE t",
    "select_into": "SELECT * INTO u FROM t",
    "cte_delete": "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d",
    "read_write_again": "SELECT set_config('transaction_read_only', 'off', false), count(*) FROM t",
    "become_superuser": "SELECT set_config('role', 'postgres', false)",
    "set_role": "SET ROLE postgres",
    "session_authorization": "SET SESSION AUTHORIZATION postgres",
    "copy_to_file": "COPY t TO '/tmp/harness-pg-copy'",
    "copy_to_program": "COPY t TO PROGRAM 'touch /tmp/harness-pg-program'",
    "read_server_file": "SELECT pg_read_file('/etc/passwd')",
    "large_object": "SELECT lo_import('/etc/passwd')",
    "extension": "CREATE EXTENSION dblink",
    "notify": "NOTIFY harness",
    "sleep": "SELECT pg_sleep(30)",
    "recursive_count": f"{RECURSE} SELECT count(*) FROM c",
    "cartesian": "SELECT count(*) FROM t a, t b, t c, t d",
    "endless_rows": f"{RECURSE} SELECT x FROM c",
    "nul_byte": "SELECT 1\x00; DROP TABLE t",
    "lone_surrogate": "SELECT '\ud800'",
    "deep_nesting": "SELECT " + "(" * 50_000 + "1" + ")" * 50_000,
    "huge_text": "SELECT repeat('x', 100000000) FROM t",
}
MUST_TIME_OUT = {"sleep", "recursive_count", "cartesian"}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_sql_fails_in_bounded_time_and_writes_nothing(server, name):
    engine = reader_engine(server)
    before = table_state(server)
    start = time.perf_counter()
    result = engine.run("db.sqlite", HOSTILE[name], timeout_s=TIMEOUT_S, max_rows=100_000)
    elapsed = time.perf_counter() - start
    assert result.status == ("timeout" if name in MUST_TIME_OUT else result.status)
    assert result.status in ("error", "timeout"), (name, result)
    assert result.rows is None
    assert elapsed < TIMEOUT_S + SLACK_S
    assert table_state(server) == before
    assert not Path("/tmp/harness-pg-copy").exists() and not Path("/tmp/harness-pg-program").exists()
    # the same connection goes on: no open transaction, no changed setting, no new role
    after = engine.run("db.sqlite", "SELECT count(*), current_user, current_setting('transaction_read_only')"
                       " FROM t", timeout_s=TIMEOUT_S, max_rows=10)  # fmt: skip
    assert after.rows == [(1000, "reader", "on")], after
    engine.close()


def test_an_advisory_lock_does_not_outlive_its_query(server):
    one, two = reader_engine(server), reader_engine(server)
    assert one.run("db.sqlite", "SELECT pg_advisory_lock(7)", timeout_s=5, max_rows=10).status == "ok"
    assert two.run("db.sqlite", "SELECT pg_advisory_lock(7)", timeout_s=1, max_rows=10).status == "ok"
    one.close(), two.close()


def test_a_query_cancelled_by_another_session_is_run_again(server):
    victim, attacker = reader_engine(server), reader_engine(server)
    assert victim.run("db.sqlite", "SELECT 1", timeout_s=5, max_rows=10).status == "ok"
    pid = victim._conn.info.backend_pid
    killed = attacker.run("db.sqlite", f"SELECT pg_terminate_backend({pid})", timeout_s=5, max_rows=10)
    assert killed.rows == [(1,)]
    assert victim.run("db.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=10).rows == [(1000,)]
    victim.close(), attacker.close()


def test_row_cap_stops_the_stream(server):
    engine = reader_engine(server)
    result = engine.run("db.sqlite", "SELECT * FROM t a, t b", timeout_s=10, max_rows=500)
    assert result.status == "error" and "row cap of 500" in result.error
    assert engine.run("db.sqlite", "SELECT count(*) FROM t", timeout_s=5, max_rows=10).rows == [(1000,)]
    engine.close()


def _run_forever(url: str) -> None:
    engine = open_engine(EngineSpec("postgresql", url, "db"))
    engine.run("db.sqlite", "SELECT pg_sleep(600)", timeout_s=2.0, max_rows=10)


def test_the_server_stops_a_runaway_query_whose_client_was_killed(server):
    """A killed scoring worker leaves its query on the server; statement_timeout ends it there."""
    child = multiprocessing.get_context("spawn").Process(target=_run_forever,
                                                         args=(server.url(user="reader", password="pw"),))
    child.start()
    active = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'"
    deadline = time.monotonic() + 30
    while server.psql(active).strip() != "1":
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.05)
    os.kill(child.pid, 9)
    child.join()
    killed_at = time.monotonic()
    while server.psql(active).strip() != "0":
        assert time.monotonic() - killed_at < 2.0 + SLACK_S, "the server kept running the query"
        time.sleep(0.05)
