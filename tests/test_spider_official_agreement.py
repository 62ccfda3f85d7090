"""Example-by-example agreement with test-suite-sql-eval on the real Spider dev set.

The fixture ``tests/fixtures/official/spider_dev_testsuite.jsonl`` holds the
official evaluator's per-example hardness, exact match and execution verdicts
(``evaluation.py --etype all``, no ``--plug_value``, no ``--keep_distinct``) for
the gold queries used as predictions and three published prediction files, on
the 972 dev examples whose database is present (wta_1 is missing);
``spider_dev_testsuite.README.md`` beside it says how it was made.

Here every example is scored again with :mod:`harness.metrics.spider_em` and
:mod:`harness.metrics.spider_exec`, executing with plain ``sqlite3`` as the
official ``exec_on_db`` does (text decoded with ``errors="ignore"``, every
``*.sqlite*`` file of the db folder), and each verdict must equal the
official one. The files are read as ``evaluate()`` reads them: text mode
(``\\r\\n`` is a line end), each line stripped and cut at its first tab.

Deliberate deviations: none (``DEVIATIONS`` is empty). Connections are
read-only and a query is stopped after ``TIMEOUT_S`` (the official run has
neither; no query here writes or runs long, and a stopped query would show up
as a disagreement).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from harness.metrics.spider_em import (
    load_foreign_key_maps,
    spider_exact_match,
    spider_hardness,
    spider_schema,
)
from harness.metrics.spider_exec import prepare_spider_pair, result_eq
from harness.metrics.spider_sql import prediction_from_line

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "official" / "spider_dev_testsuite.jsonl"
SYSTEMS = ("gold", "dail-sql-gpt4", "c3sql", "graphix")
TIMEOUT_S = 60.0
# (system, dev index) -> why our verdict deliberately differs from the official one.
DEVIATIONS: dict[tuple[str, int], str] = {}


def spider_dev_dir() -> Path:
    """$HARNESS_SPIDER_DEV, else ../shared/data/spider-dev next to the repository."""
    env = os.environ.get("HARNESS_SPIDER_DEV")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "spider-dev"


def _read_lines(path: Path) -> list[str]:
    with open(path) as f:  # text mode, as evaluate() opens it
        return f.readlines()


@lru_cache(maxsize=1)
def load_examples(data_dir: Path) -> list[dict[str, Any]]:
    """Dev examples whose database exists: index, db_id, db path, gold and each system's SQL."""
    gold_lines = _read_lines(data_dir / "dev_gold.sql")
    preds = {s: _read_lines(data_dir / "predictions" / f"{s}.sql") for s in SYSTEMS if s != "gold"}
    for system, lines in preds.items():
        assert len(lines) == len(gold_lines), f"{system}: {len(lines)} lines for {len(gold_lines)} examples"
        assert all(line.strip() for line in lines), f"{system}: a blank line would split the sessions"
    examples = []
    for index, line in enumerate(gold_lines):
        gold_sql, db_id = line.strip().split("\t")
        db_path = data_dir / "database" / db_id / f"{db_id}.sqlite"
        if not db_path.exists():
            continue
        sqls = {"gold": gold_sql, **{s: prediction_from_line(lines[index]) for s, lines in preds.items()}}
        examples.append({"index": index, "db_id": db_id, "db_path": db_path, "sqls": sqls})
    return examples


@pytest.fixture(scope="module")
def data_dir() -> Path:
    path = spider_dev_dir()
    if not (path / "dev.json").is_file():
        pytest.skip(f"Spider dev set not found at {path} (set HARNESS_SPIDER_DEV)")
    return path


@pytest.fixture(scope="module")
def official() -> dict[tuple[str, int], dict[str, Any]]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    return {(r["system"], r["index"]): r for r in rows}


def _report(disagreements: list[str], what: str) -> None:
    assert not disagreements, f"{len(disagreements)} {what} disagreements:\n" + "\n".join(disagreements[:40])


def test_fixture_matches_the_data(data_dir, official):
    examples = load_examples(data_dir)
    assert len(examples) == 972
    for system in SYSTEMS:
        assert sorted(i for s, i in official if s == system) == [ex["index"] for ex in examples]
    assert all(official[("gold", ex["index"])]["db_id"] == ex["db_id"] for ex in examples)


@pytest.mark.parametrize("system", SYSTEMS)
def test_hardness_and_exact_match_agree(data_dir, official, system):
    kmaps = load_foreign_key_maps(data_dir / "tables.json")
    disagreements = []
    start = time.perf_counter()
    for ex in load_examples(data_dir):
        key = (system, ex["index"])
        if key in DEVIATIONS:
            continue
        want = official[key]
        schema = spider_schema(ex["db_path"], kmaps[ex["db_id"]])
        got_hardness = spider_hardness(ex["sqls"]["gold"], schema)
        got_exact = int(spider_exact_match(ex["sqls"][system], ex["sqls"]["gold"], schema))
        if (got_hardness, got_exact) != (want["hardness"], want["exact"]):
            disagreements.append(
                f"{system} #{ex['index']}: hardness {got_hardness} vs {want['hardness']}, "
                f"exact {got_exact} vs {want['exact']}: {ex['sqls'][system]!r}"
            )
    elapsed = time.perf_counter() - start
    _report(disagreements, "hardness/EM")
    print(f"{system}: hardness+EM on {len(load_examples(data_dir))} examples in {elapsed:.2f}s")


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode(errors="ignore")  # as get_cursor_from_path
    end = time.monotonic() + TIMEOUT_S
    conn.set_progress_handler(lambda: int(time.monotonic() > end), 10_000)
    return conn


def execute(db_path: Path, sql: str) -> list[tuple] | None:
    """Rows, or None when the query raises (exec_on_db's 'exception')."""
    conn = _connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    except Exception:
        return None
    finally:
        conn.close()


_gold_rows: dict[tuple[Path, str], list[tuple] | None] = {}


def official_exec(db_path: Path, pred: str, gold: str) -> int:
    """eval_exec_match without plug_value/keep_distinct: 1 when pred agrees on every db of the folder."""
    p_str, g_str, order_matters = prepare_spider_pair(pred, gold)
    db_paths = [db_path.parent / name for name in os.listdir(db_path.parent) if ".sqlite" in name]
    for path in db_paths:
        if (path, g_str) not in _gold_rows:
            _gold_rows[(path, g_str)] = execute(path, g_str)
        gold_rows = _gold_rows[(path, g_str)]
        assert gold_rows is not None, f"gold fails on {path}: {g_str}"
        pred_rows = execute(path, p_str)
        if pred_rows is None or not result_eq(gold_rows, pred_rows, order_matters=order_matters):
            return 0
    return 1


@pytest.mark.parametrize("system", SYSTEMS)
def test_execution_agrees(data_dir, official, system):
    disagreements = []
    for ex in load_examples(data_dir):
        key = (system, ex["index"])
        if key in DEVIATIONS:
            continue
        got = official_exec(ex["db_path"], ex["sqls"][system], ex["sqls"]["gold"])
        if got != official[key]["exec"]:
            disagreements.append(f"{system} #{ex['index']}: exec {got} vs {official[key]['exec']}: {ex['sqls'][system]!r}")
    _report(disagreements, "execution")
