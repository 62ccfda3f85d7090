"""Table QA: CSV tables in a locked-down DuckDB, the official WTQ answer matching, and synth-table."""

from __future__ import annotations

import collections
import hashlib
import time
from pathlib import Path

import pytest

from harness.execution.duckdb_tables import (
    load_table,
    new_engine,
    run_table_query,
    table_connection,
)
from harness.execution.table_csv import (
    TableError,
    infer_column,
    read_table_csv,
    safe_column_names,
)
from harness.metrics.table_qa import execute_denotation, result_values
from harness.metrics.wtq_eval import (
    check_denotation,
    format_answer_list,
    normalize,
    parse_answer_list,
)
from harness.options import EvalOptions
from harness.types import Example, Status

TIMEOUT_S = 1.0
SLACK_S = 3.0

MESSY = (
    '"","Team","Team","Chart-Positions\nUK","Pop. (2010)","#","Año","Date","Notes"\n'
    '"1","Ash \\"United\\"","A","1","1,234,567","7","x","2001-02-03",""\n'
    '"2","Back\\\\slash","B","—","12","","y","2002-03-04","two\nlines"\n'
    '"3","Cor City","C","3","999","9","z","","n/a"\n'
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def messy(tmp_path) -> Path:
    return write(tmp_path / "tables" / "messy.csv", MESSY)


def test_read_wtq_dialect(messy):
    header, rows = read_table_csv(messy)
    assert header[3] == "Chart-Positions\nUK"
    assert rows[0][1] == 'Ash "United"' and rows[1][1] == "Back\\slash" and rows[1][8] == "two\nlines"
    assert len(rows) == 3 and all(len(r) == len(header) for r in rows)


def test_ragged_rows_are_padded_and_bad_files_are_table_errors(tmp_path):
    header, rows = read_table_csv(write(tmp_path / "r.csv", '"A"\n"1","2"\n"3"\n'))
    assert header == ["A", ""] and rows == [["1", "2"], ["3", ""]]
    with pytest.raises(TableError, match="empty table"):
        read_table_csv(write(tmp_path / "e.csv", ""))
    bad = tmp_path / "b.csv"
    bad.write_bytes(b'"A"\n"\xff"\n')
    with pytest.raises(TableError, match="not UTF-8"):
        read_table_csv(bad)
    with pytest.raises(TableError, match="not found"):
        table_connection(tmp_path / "missing.csv")


def test_safe_unique_column_names():
    names = safe_column_names(["", "Team", "Team", "Chart-Positions\nUK", "Pop. (2010)", "#", "Año", "Date", "% won",
                               "Select", "team_2", "", "1st place", "x" * 100, "名前"])
    assert names == ["col_1", "team", "team_2", "chart_positions_uk", "pop_2010", "num", "ano", "date", "pct_won",
                     "select_", "team_2_2", "col_12", "col_1st_place", "x" * 64, "col_15"]
    assert len(set(names)) == len(names)


def test_column_typing():
    assert infer_column(["1,000", "-5", "+7", ""]) == ("BIGINT", [1000, -5, 7, None])
    assert infer_column(["1.5", "2", "—", "n/a"]) == ("DOUBLE", [1.5, 2.0, None, None])
    assert infer_column(["1,00", "2"])[0] == "VARCHAR"  # not a thousands grouping
    assert infer_column(["0", "012"])[0] == "VARCHAR"  # a leading zero would be lost
    assert infer_column(["2001-02-03", "2001-02-30"])[0] == "VARCHAR"  # no such day
    assert infer_column(["1e5", "3"])[0] == "VARCHAR"
    assert infer_column([str(2**63), "1"])[0] == "DOUBLE"


def test_load_messy_table(messy):
    engine = new_engine()
    try:
        conn, info = load_table(messy, engine)
        assert [(c.name, c.type) for c in info.columns] == [
            ("col_1", "BIGINT"), ("team", "VARCHAR"), ("team_2", "VARCHAR"), ("chart_positions_uk", "BIGINT"),
            ("pop_2010", "BIGINT"), ("num", "BIGINT"), ("ano", "VARCHAR"), ("date", "DATE"), ("notes", "VARCHAR"),
        ]
        assert info.column_map()["Team"] == "team" and info.n_rows == 3
        assert "pop_2010 BIGINT, -- Pop. (2010)" in info.schema_sql()
        result = run_table_query(conn, "SELECT sum(pop_2010), count(chart_positions_uk), max(date), "
                                 "count(notes) FROM t")
        assert result.status == "ok"
        assert result_values(result.rows) == ["1235578", "2", "2002-03-04", "2"]
        other, _ = load_table(write(messy.parent / "other.csv", '"x"\n"1"\n'), engine)
        assert run_table_query(other, "SELECT count(*) FROM t").rows == [(1,)]  # each connection has its own t
        assert run_table_query(conn, "SELECT count(*) FROM t").rows == [(3,)]
    finally:
        engine.close()


# Each must end as an error (or a timeout) and leave no file behind.
HOSTILE = [
    "COPY t TO '{tmp}/out.csv'",
    "COPY (SELECT 1) TO '{tmp}/out.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{tmp}/export'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM read_csv('{csv}')",
    "ATTACH '{tmp}/new.duckdb' AS x",
    "ATTACH ':memory:' AS x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "SET temp_directory = '{tmp}'",
    "PRAGMA threads = 4",
    "CREATE TABLE u AS SELECT * FROM t",
    "CREATE TEMP TABLE u (a INT)",
    "CREATE MACRO m(x) AS x + 1",
    "DROP TABLE t",
    "DELETE FROM t",
    "UPDATE t SET team = 'x'",
    "INSERT INTO t (team) VALUES ('x')",
    "ALTER TABLE t RENAME TO u",
    "BEGIN TRANSACTION",
    "CHECKPOINT",
    "SELECT 1; DROP TABLE t",
    "SELECT * FROM query('DROP TABLE t')",
    "PIVOT t ON team",
    "SELECT * FROM secret_frame",
    "SELECT * FROM duckdb_extensions()",
    "",
    "not sql at all",
]


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_sql_is_refused_and_leaves_files_alone(messy, tmp_path, monkeypatch, sql):
    import pandas as pd

    secret_frame = pd.DataFrame({"secret": [42]})  # a replacement scan must not find it  # noqa: F841
    monkeypatch.chdir(tmp_path)
    before = digest(messy)
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    conn, info = table_connection(messy)
    result = run_table_query(messy, sql.format(tmp=tmp_path, csv=messy), timeout_s=TIMEOUT_S)
    assert result.status == "error", result
    assert digest(messy) == before
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == listing
    again = run_table_query(messy, "SELECT count(*), count(DISTINCT team) FROM t")
    assert again.rows == [(3, 3)]  # the cached table is untouched
    assert table_connection(messy)[0] is conn


RUNAWAY = [
    "SELECT sum(a.range * b.range) FROM range(1000000000) a CROSS JOIN range(10) b",
    "SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range < 0",
    "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
]


@pytest.mark.parametrize("sql", RUNAWAY)
def test_runaway_query_is_interrupted(messy, sql):
    start = time.monotonic()
    result = run_table_query(messy, sql, timeout_s=TIMEOUT_S)
    assert result.status == "timeout" and result.error == f"timeout after {TIMEOUT_S:g} s"
    assert time.monotonic() - start < TIMEOUT_S + SLACK_S
    assert run_table_query(messy, "SELECT count(*) FROM t").rows == [(3,)]


def test_row_text_and_memory_caps(messy):
    assert run_table_query(messy, "SELECT * FROM range(5000)", max_rows=1000).error == "row cap of 1000 rows exceeded"
    assert run_table_query(messy, "SELECT * FROM range(1000)", max_rows=1000).status == "ok"
    capped = run_table_query(messy, "SELECT repeat('x', 100000) FROM range(1000)", max_text_bytes=1_000_000)
    assert capped.error == "text cap of 1000000 characters exceeded"
    # 2048 rows of 100 MB are computed at once, outside DuckDB's memory limit: the address-space cap stops it
    huge = run_table_query(messy, "SELECT repeat('x', 100000000) FROM range(3000)", timeout_s=20)
    assert huge.status == "error" and "Out of Memory" in huge.error
    assert run_table_query(messy, "SELECT count(*) FROM t").rows == [(3,)]


def test_cache_reloads_a_changed_file(tmp_path):
    path = write(tmp_path / "c.csv", '"a"\n"1"\n')
    assert run_table_query(path, "SELECT count(*) FROM t").rows == [(1,)]
    write(path, '"a"\n"1"\n"2"\n')
    assert run_table_query(path, "SELECT count(*) FROM t").rows == [(2,)]


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        (["1,000"], ["1000"], True),  # gold canonicalised as CoreNLP would
        (["1000"], ["1,000"], False),  # predictions are not: "1,000" is a string there
        (["1,000"], ["1,000"], True),
        (["2"], ["2.0"], True),
        (["2.5"], ["2.50000001"], True),
        (["3"], ["3.1"], False),
        (["Paris", "Rome"], ["Rome", "Paris"], True),  # order-insensitive
        (["Paris", "Rome"], ["Paris"], False),
        (["Paris"], ["Paris", "Paris"], True),  # duplicates collapse
        (["  New   York "], ["new york"], True),
        (["Café"], ["cafe"], True),
        (["Beyoncé [1]"], ["beyonce"], True),
        (["Hello (song)"], ["hello"], True),
        (['"Hello"'], ["hello"], True),
        (["U.S."], ["u.s"], True),
        (["1990–1995"], ["1990-1995"], True),
        (["January 5, 1990"], ["1990-01-05"], True),
        (["1990-01-05"], ["1990-01-05"], True),
        (["xx-01-05"], ["1990-01-05"], False),  # an unknown year is not a wildcard
        (["2004"], ["2004.0"], True),
        (["yes"], ["no"], False),
    ],
)
def test_check_denotation_official_cases(gold, pred, expected):
    assert check_denotation(gold, pred) is expected


def test_normalize_and_answer_lists():
    assert normalize("“Quoted”†") == "quoted"
    assert normalize("Final.") == "final"
    assert parse_answer_list(r"a\pb|c\\d|x\ny") == ["a|b", "c\\d", "x\ny"]
    assert parse_answer_list(format_answer_list(["a|b", "c\\d", "x\ny"])) == ["a|b", "c\\d", "x\ny"]


def _example(csv: Path, gold: str) -> Example:
    return Example(id="1", suite="wtq", db_id="t", question="?", gold=gold, db_paths=[str(csv)])


def test_execute_denotation_sql_and_answer(messy):
    sql = EvalOptions(semantics="denotation", timeout_s=TIMEOUT_S)
    answer = EvalOptions(semantics="denotation", prediction_kind="answer")
    ex = _example(messy, "Ash \"United\"|Cor City")
    hit = execute_denotation(ex, "SELECT team FROM t WHERE num IS NOT NULL ORDER BY num DESC", sql)
    assert hit.status is Status.MATCH and hit.pred_rows == ["Cor City", 'Ash "United"']
    assert hit.gold_rows == ['Ash "United"', "Cor City"] and "pred" in hit.latency_s
    assert execute_denotation(ex, "SELECT team FROM t", sql).status is Status.MISMATCH
    assert execute_denotation(ex, "SELECT nope FROM t", sql).status is Status.PRED_ERROR
    assert execute_denotation(ex, "DROP TABLE t", sql).status is Status.PRED_ERROR
    assert execute_denotation(ex, RUNAWAY[0], sql).status is Status.PRED_TIMEOUT
    assert execute_denotation(ex, "cor city|ASH \"UNITED\"", answer).status is Status.MATCH
    assert execute_denotation(ex, "Cor City", answer).status is Status.MISMATCH
    # a multi-column result is every cell, row-major
    pair = _example(messy, "Cor City|3")
    assert execute_denotation(pair, "SELECT team, col_1 FROM t WHERE col_1 = 3", sql).status is Status.MATCH
    big = _example(messy, "1,234,567")
    assert execute_denotation(big, "SELECT max(pop_2010) FROM t", sql).status is Status.MATCH
    assert execute_denotation(_example(messy, ""), "SELECT 1", sql).status is Status.GOLD_ERROR
    gone = _example(messy.parent / "gone.csv", "1")
    assert execute_denotation(gone, "SELECT 1", sql).status is Status.GOLD_ERROR
    with pytest.raises(ValueError, match="prediction kind"):
        execute_denotation(ex, "x", EvalOptions(prediction_kind="python"))


# --- synth-table -----------------------------------------------------------------


def test_synth_table_is_deterministic_and_seeded(tmp_path):
    from suites.synth_table import generate

    def tree(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}

    generate(tmp_path / "a", seed=3, size="small")
    generate(tmp_path / "b", seed=3, size="small")
    generate(tmp_path / "c", seed=4, size="small")
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_synth_table_suite(tmp_path):
    from suites.synth_table import load_synth_table

    suites = {split: load_synth_table(split=split, size="small") for split in ("train", "dev", "test")}
    tables = {split: {e.db_id for e in s.examples} for split, s in suites.items()}
    assert not (tables["train"] & tables["dev"]) and not (tables["train"] & tables["test"])
    assert not (tables["dev"] & tables["test"])
    dev = suites["dev"]
    assert dev.name == "synth-table" and dev.tiers == ["easy", "medium", "hard"]
    assert (dev.task, dev.semantics, dev.gold_kind, dev.metrics) == ("table-qa", "denotation", "answer", ["answer_acc"])
    assert dev.tag_sql_features is False and dev.runs_model_code is False
    every = [e for s in suites.values() for e in s.examples]
    tiers = collections.Counter(e.tier for e in every)
    assert all(tiers[t] >= 0.25 * len(every) for t in dev.tiers), tiers
    assert len({e.metadata["family"] for e in every}) >= 15
    sql = EvalOptions(semantics="denotation", timeout_s=5.0)
    answer = EvalOptions(semantics="denotation", prediction_kind="answer")
    for e in every:  # the gold answers are what the hidden SQL returns, both ways of scoring
        assert e.suite == "synth-table" and e.metadata["sql"].startswith("SELECT")
        assert execute_denotation(e, e.metadata["sql"], sql).status is Status.MATCH, e
        assert execute_denotation(e, e.gold, answer).status is Status.MATCH, e


def test_synth_table_default_size_generates_fast(tmp_path):
    from suites.synth_table import generate

    start = time.monotonic()
    counts = generate(tmp_path / "d", seed=0, size="default")
    assert time.monotonic() - start < 30
    assert counts["train"] > 1000 and counts["dev"] > 300 and counts["test"] > 300


def _query_in_child(path: str) -> list:
    return run_table_query(path, "SELECT count(*) FROM t", timeout_s=TIMEOUT_S).rows


def test_workers_forked_after_the_parent_used_duckdb_do_not_hang(messy):
    """A parent that loaded a table (e.g. to build prompts) then forks scoring workers:
    each worker opens its own DuckDB instance and answers (it used to hang until killed)."""
    from harness.execution.pool import WorkerPool

    parent_rows = run_table_query(messy, "SELECT count(*) FROM t", timeout_s=TIMEOUT_S).rows
    with WorkerPool(_query_in_child, jobs=2) as pool:
        outcomes = dict(pool.imap_unordered([(i, str(messy)) for i in range(4)], deadline_s=20))
    assert all(not o.killed and o.crashed is None for o in outcomes.values()), outcomes
    assert [o.value for o in outcomes.values()] == [parent_rows] * 4
    assert run_table_query(messy, "SELECT count(*) FROM t", timeout_s=TIMEOUT_S).rows == parent_rows
