"""Transpiling SQLite SQL for other engines: golden input/expected pairs, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engines.dialects import TranspileError, sqlite_names, transpile
from tests.conftest import make_db

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "transpile_sqlite.json").read_text())


@pytest.mark.parametrize("case, target", [(c, t) for c in GOLDEN["cases"] for t in ("postgres", "duckdb", "mysql")
                                          if t in c], ids=lambda v: v if isinstance(v, str) else v["why"])  # fmt: skip
def test_golden_transpilation(case, target):
    ran = transpile(case["sqlite"], source="sqlite", target=target, names=GOLDEN["names"],
                    integer_columns=GOLDEN["integer_columns"])  # fmt: skip
    assert ran == case[target]


def test_same_dialect_is_left_as_written():
    sql = 'SELECT "x" FROM t WHERE a LIKE "b"'
    assert transpile(sql, source="postgres", target="postgres") == sql


def test_without_names_a_double_quoted_word_stays_an_identifier():
    assert transpile('SELECT a FROM t WHERE b = "Bob"', source="sqlite", target="postgres") == (
        'SELECT a FROM t WHERE b = "bob"'
    )


def test_several_statements_stay_several_for_the_engine_to_refuse():
    assert transpile("SELECT 1; DROP TABLE t", source="sqlite", target="postgres") == "SELECT 1; DROP TABLE t"


@pytest.mark.parametrize("sql", ["SELECT (", "", "   ;  "])
def test_unreadable_sql_is_a_transpile_error(sql):
    with pytest.raises(TranspileError):
        transpile(sql, source="sqlite", target="postgres")


def test_names_are_read_from_the_sqlite_file(tmp_path):
    db = make_db(tmp_path / "x.sqlite", 'CREATE TABLE Singer ("Full Name" TEXT, Age INT); CREATE VIEW Old AS SELECT 1')
    assert sqlite_names(str(db)) == {"singer", "full name", "age", "old", "1"}
