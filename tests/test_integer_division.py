"""SQLite's integer division on the other engines: each query, transpiled from SQLite, returns
SQLite's rows on DuckDB, PostgreSQL and MariaDB (databases copied by `load_databases`)."""

from __future__ import annotations

import pytest

from harness.engines import EngineSpec
from harness.engines.dialects import sqlite_schema
from harness.engines.loader import load_databases
from harness.execution.sqlite import run_query
from harness.metrics.execution_accuracy import QueryRunner
from tests.conftest import make_db

NUMBERS = """
CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b int, r REAL, label TEXT);
INSERT INTO t VALUES (1, 7, 2, 7.0, 'x'), (2, -7, 2, -7.5, 'y'), (3, 5, 0, 2.5, 'z'), (4, NULL, 3, NULL, 'w'),
                     (5, 9, -4, 1.0, 'v'), (6, 2, 3, 0.5, 'u');
CREATE TABLE u (id INTEGER, k BIGINT);
INSERT INTO u VALUES (1, 3), (2, 4), (3, 5), (5, 2), (6, 7);
"""

QUERIES = [
    "SELECT a / b FROM t ORDER BY id",  # truncation toward zero, x / 0 is NULL, NULL stays NULL
    "SELECT SUM(IIF(a > 1, 1, 0)) / COUNT(*) FROM t",  # BIRD's share of rows: 0 in SQLite
    "SELECT SUM(CASE WHEN a > 1 THEN 1 ELSE 0 END) * 100 / COUNT(*) FROM t",
    "SELECT SUM(a) / COUNT(a) FROM t",
    "SELECT CAST(SUM(a) AS REAL) / COUNT(a) FROM t",  # a real division stays one
    "SELECT r / 2 FROM t ORDER BY id",
    "SELECT avg(a) / 2 FROM t",
    "SELECT -7 / 2, 7 / 2, 7 / 0, 7.0 / 2, 7 / 2.0",
    "SELECT T1.a / T2.k FROM t AS T1 JOIN u AS T2 ON T1.id = T2.id ORDER BY T1.id",
    "SELECT id FROM t WHERE a / 2 = 3 ORDER BY id",
    "SELECT a / 2 / 2, (a + 1) / 2, a % 4 / 2, length(label) / 2 FROM t ORDER BY id",
    "SELECT (SELECT max(k) FROM u) / 2, (SELECT count(*) FROM u) / (SELECT count(*) FROM t)",
    "SELECT label, count(*) / 2 FROM t GROUP BY label ORDER BY label",
]


@pytest.fixture(scope="module")
def numbers(tmp_path_factory) -> str:
    return str(make_db(tmp_path_factory.mktemp("nums") / "nums" / "nums.sqlite", NUMBERS))


def engine_url(engine: str, db: str, request, tmp_path) -> str:
    if engine == "duckdb":
        url = str(tmp_path / "nums.duckdb")
    else:
        server = request.getfixturevalue("postgres_server" if engine == "postgresql" else "mysql_server")
        url = server.url() if engine == "postgresql" else server.url("")
    return load_databases([db], engine, url, reader_password="pw").reader_url


@pytest.mark.parametrize("engine", ["duckdb", "postgresql", "mysql"])
def test_queries_return_sqlite_rows_on_every_engine(numbers, engine, request, tmp_path):
    runner = QueryRunner(timeout_s=10, max_rows=None, engine=EngineSpec(engine, engine_url(engine, numbers, request,
                                                                                              tmp_path)))  # fmt: skip
    for sql in QUERIES:
        expected = run_query(numbers, sql, timeout_s=10, max_rows=None)
        assert expected.status == "ok", (sql, expected.error)
        got = runner.run(numbers, sql, dialect="sqlite")
        assert got.status == "ok", (sql, got.error)
        assert [tuple(row) for row in got.rows] == [tuple(row) for row in expected.rows], sql


def test_the_schema_names_integer_columns_by_declared_affinity(numbers):
    schema = sqlite_schema(numbers)
    assert schema.integer_columns == {"t": {"id", "a", "b"}, "u": {"id", "k"}}
    assert {"t", "u", "label", "r"} <= schema.names
