"""The wtq loader on small files in the official layout, and on the real WikiTableQuestions when present."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

from harness.execution.duckdb_tables import load_table, new_engine
from harness.metrics.table_qa import execute_denotation
from harness.options import EvalOptions
from harness.suite import DataError
from harness.types import Status
from suites.wtq import load_wtq

REPO = Path(__file__).resolve().parent.parent
HEADER = "id\tutterance\tcontext\ttargetValue\n"


def real_wtq() -> Path | None:
    """The real dataset beside the checkout (or at $HARNESS_WTQ), or None."""
    path = Path(os.environ.get("HARNESS_WTQ") or REPO.parent / "shared" / "data" / "wtq")
    return path if (path / "random-split-1-dev.tsv").is_file() and (path / "csv").is_dir() else None


def table(rows: int) -> str:
    return '"Name","Score"\n' + "".join(f'"n{i}","{i}"\n' for i in range(rows))


@pytest.fixture
def wtq_dir(tmp_path) -> Path:
    root = tmp_path / "wtq"
    (root / "csv" / "200-csv").mkdir(parents=True)
    for name, rows in (("0", 3), ("1", 15), ("2", 40)):
        (root / "csv" / "200-csv" / f"{name}.csv").write_text(table(rows), encoding="utf-8")
    (root / "random-split-1-dev.tsv").write_text(
        HEADER
        + "nt-1\twhich name has score 2?\tcsv/200-csv/0.csv\tn2\n"
        + "nt-2\tnames with score above 12? a\\pb\tcsv/200-csv/1.csv\tn13|n14\n"
        + "nt-3\thow many names?\tcsv/200-csv/2.csv\t40\n",
        encoding="utf-8",
    )
    (root / "random-split-1-train.tsv").write_text(HEADER + "nt-9\tq\tcsv/200-csv/0.csv\tn0\n", encoding="utf-8")
    (root / "pristine-unseen-tables.tsv").write_text(HEADER + "nu-0\tq\tcsv/200-csv/1.csv\t1\n", encoding="utf-8")
    return root


def test_load_official_layout(wtq_dir):
    suite = load_wtq(wtq_dir)
    assert (suite.name, suite.semantics, suite.metrics, suite.task) == ("wtq", "denotation", ["answer_acc"], "table-qa")
    assert (suite.gold_kind, suite.tag_sql_features, suite.runs_model_code) == ("answer", False, False)
    assert suite.tiers == ["small", "medium", "large"]
    assert [e.id for e in suite.examples] == suite.source_ids == ["nt-1", "nt-2", "nt-3"]
    assert suite.source == str(wtq_dir / "random-split-1-dev.tsv")
    first, second, third = suite.examples
    assert (first.suite, first.db_id, first.gold, first.tier) == ("wtq", "csv/200-csv/0.csv", "n2", "small")
    assert first.db_paths == [str((wtq_dir / "csv/200-csv/0.csv").absolute())]
    assert second.question == "names with score above 12? a|b" and second.tier == "medium"
    assert third.tier == "large"
    assert [e.id for e in load_wtq(wtq_dir, split="test").examples] == ["nu-0"]
    assert [e.id for e in load_wtq(wtq_dir, split="train").examples] == ["nt-9"]
    assert len(load_wtq(wtq_dir, limit=2).examples) == 2
    sql = EvalOptions(semantics="denotation")
    assert execute_denotation(first, "SELECT name FROM t WHERE score = 2", sql).status is Status.MATCH
    assert execute_denotation(second, "SELECT name FROM t WHERE score > 12", sql).status is Status.MATCH
    assert execute_denotation(third, "SELECT count(*) FROM t", sql).status is Status.MATCH
    assert suite.context["table_info_for"](first, suite.context).column_map() == {"Name": "name", "Score": "score"}


def test_version_follows_the_tables(wtq_dir):
    before = load_wtq(wtq_dir).version
    (wtq_dir / "csv/200-csv/2.csv").write_text(table(41), encoding="utf-8")
    assert load_wtq(wtq_dir).version != before


def test_data_subfolder_and_extra_columns(tmp_path, wtq_dir):
    data = wtq_dir / "data"
    data.mkdir()
    (data / "custom.tsv").write_text(
        "id\tutterance\tcontext\ttargetValue\ttier\tsql\n"
        "a\tq\tcsv/200-csv/0.csv\tn1\thard\tSELECT name FROM t WHERE score = 1\n",
        encoding="utf-8",
    )
    for root in (wtq_dir, data):
        suite = load_wtq(root, split="custom")
        assert suite.tiers == ["hard"] and suite.examples[0].tier == "hard"
        assert suite.examples[0].metadata == {"sql": "SELECT name FROM t WHERE score = 1"}
        assert Path(suite.examples[0].db_paths[0]).is_file()


def test_missing_table_is_an_error_or_skipped(wtq_dir):
    tsv = wtq_dir / "random-split-1-dev.tsv"
    tsv.write_text(tsv.read_text(encoding="utf-8") + "nt-4\tq\tcsv/200-csv/99.csv\tx\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"random-split-1-dev\.tsv:5: example nt-4 uses table 'csv/200-csv/99\.csv'"):
        load_wtq(wtq_dir)
    suite = load_wtq(wtq_dir, skip_missing_db=True)
    assert [e.id for e in suite.examples] == ["nt-1", "nt-2", "nt-3"]
    assert suite.source_ids[-1] == "nt-4" and suite.skipped == {"csv/200-csv/99.csv": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER + "nt-1\tq\tcsv/200-csv/0.csv\n", r"\.tsv:2: 3 tab-separated fields, expected 4"),
        (HEADER + "nt-1\tq\tcsv/200-csv/0.csv\tn1\n\nnt-2\tq\tcsv/200-csv/0.csv\ta\tb\n", r"\.tsv:4: 5 tab-separated"),
        ("id\tquestion\tcontext\ttargetValue\n", r"\.tsv:1: header lacks column\(s\) utterance"),
        (HEADER + "nt-1\tq\tcsv/200-csv/0.csv\tn1\nnt-1\tq\tcsv/200-csv/0.csv\tn1\n", r"\.tsv:3: repeated id 'nt-1'"),
    ],
)
def test_malformed_tsv_names_file_and_line(wtq_dir, content, message):
    (wtq_dir / "random-split-1-dev.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_wtq(wtq_dir)


def test_bad_inputs(tmp_path, wtq_dir):
    with pytest.raises(DataError, match="needs --data"):
        load_wtq(None)
    with pytest.raises(DataError, match="not found"):
        load_wtq(tmp_path / "nowhere")
    with pytest.raises(DataError, match="split 'nope' not found"):
        load_wtq(wtq_dir, split="nope")
    (wtq_dir / "csv/200-csv/0.csv").write_bytes(b'"A"\n"\xff"\n')
    with pytest.raises(DataError, match=r"random-split-1-dev\.tsv:2: .*not UTF-8"):
        load_wtq(wtq_dir)


# --- the real dataset ----------------------------------------------------------

needs_real = pytest.mark.skipif(real_wtq() is None, reason="WikiTableQuestions not found (set HARNESS_WTQ)")


@needs_real
def test_real_wtq_every_table_loads_into_duckdb():
    root = real_wtq()
    contexts = set()
    for split in ("train", "dev", "test"):
        contexts |= {e.db_id for e in load_wtq(root, split=split).examples}
    engine = new_engine()
    failed, types = [], collections.Counter()
    try:
        for context in sorted(contexts):
            try:
                conn, info = load_table(root / context, engine)
            except Exception as e:  # report every failure, not only the first
                failed.append(f"{context}: {e}")
                continue
            types.update(c.type for c in info.columns)
            assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == info.n_rows
            conn.close()
    finally:
        engine.close()
    assert not failed, failed[:5]
    assert len(contexts) > 2000 and types["BIGINT"] > 0 and types["DOUBLE"] > 0


@needs_real
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_real_wtq_gold_answers_score_100_percent(split):
    suite = load_wtq(real_wtq(), split=split)
    assert len(suite.examples) == len(suite.source_ids) > 2000
    tiers = collections.Counter(e.tier for e in suite.examples)
    assert all(tiers[t] > 0.2 * len(suite.examples) for t in suite.tiers), tiers
    options = EvalOptions(semantics="denotation", prediction_kind="answer")
    statuses = collections.Counter(execute_denotation(e, e.gold, options).status for e in suite.examples)
    assert statuses == {Status.MATCH: len(suite.examples)}
