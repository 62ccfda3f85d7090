"""Unit tests for harness.metrics.bird, harness.metrics.ves and harness.metrics.features."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

from harness.metrics.bird import (
    OFFICIAL_ERROR_ROWS,
    OFFICIAL_TIMEOUT_ROWS,
    bird_exec_match,
    has_lossy_text,
    soft_f1,
    soft_f1_order_free,
)
from harness.metrics.features import sql_features
from harness.metrics.ves import (
    R_VES_REPETITIONS,
    VES_REPETITIONS,
    clean_abnormal,
    r_ves_reward,
    r_ves_score,
    r_ves_term,
    ves_score,
    ves_term,
    ves_time_ratio,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FEATURE_CASES = [
    json.loads(line)
    for line in (REPO_ROOT / "tests" / "fixtures" / "sql_features.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
]


# --- EX -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True),  # order ignored
        ([(1, "a")], [(1, "a"), (1, "a")], True),  # duplicates ignored
        ([(1, "a"), (1, "a")], [(1, "a")], True),
        ([(1, "a")], [("a", 1)], False),  # columns are not permuted
        ([(1,)], [(1.0,)], True),  # Python equality: 1 == 1.0
        ([("1",)], [(1,)], False),
        ([], [], True),
        ([], [(None,)], False),
        ([(None,)], [(None,)], True),
        ([(1,)], [(1,), (2,)], False),
    ],
)
def test_bird_exec_match(gold: list[tuple], pred: list[tuple], expected: bool) -> None:
    assert bird_exec_match(gold, pred) is expected


def test_official_sentinels_make_failures_match() -> None:
    # evaluation.py replaces a failing query's rows by a sentinel before comparing,
    # so a failing prediction "matches" a gold that fails the same way.
    assert bird_exec_match(OFFICIAL_ERROR_ROWS, OFFICIAL_ERROR_ROWS)
    assert bird_exec_match(OFFICIAL_TIMEOUT_ROWS, OFFICIAL_TIMEOUT_ROWS)
    assert not bird_exec_match(OFFICIAL_ERROR_ROWS, OFFICIAL_TIMEOUT_ROWS)
    assert bird_exec_match(OFFICIAL_ERROR_ROWS, [("error",)])


# --- Soft-F1 --------------------------------------------------------------------------

SOFT_F1_GOLDEN = [
    # (pred, gold, expected); tp/fp/fn are sums of per-pair fractions of the gold row width.
    ([(1, "a")], [(1, "a")], 1.0),
    ([], [], 1.0),  # both empty: 1.0 by definition
    ([], [(1,)], 0.0),  # tp 0
    ([(1,)], [], 0.0),  # tp 0
    ([(1, 2)], [(1, 3)], 0.5),  # tp .5 fp .5 fn .5 -> p .5 r .5
    ([(1, 1)], [(1, 2)], 0.8),  # both 1s are "in" gold: tp 1 fp 0 fn .5 -> p 1 r 2/3 -> 0.8
    ([(1,), (1,), (1,)], [(1,)], 1.0),  # deduplicated first
    ([(1.0,)], [(1,)], 1.0),  # 1.0 in (1,)
    ([(1,)], [(1,), (2,)], 2 / 3),  # gold order (1,),(2,): tp 1 fp 0 fn 1 -> p 1 r .5
    ([(1,), (2,), (3,)], [(1,)], 0.5),  # pred order (1,),(2,),(3,): tp 1 fp 2 fn 0 -> p 1/3 r 1
    ([(1, 2, 3)], [(1, 2)], 0.8),  # width 2: tp 1 fp .5 fn 0 -> p 2/3 r 1
    ([(1,)], [(1, 2)], 2 / 3),  # tp .5 fp 0 fn .5 -> p 1 r .5
    ([(None, "x")], [(None, "y")], 0.5),  # single rows: no order question
    ([("a", "b")], [("c", "d")], 0.0),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), SOFT_F1_GOLDEN)
def test_soft_f1_golden(pred: list[tuple], gold: list[tuple], expected: float) -> None:
    assert soft_f1(pred, gold) == pytest.approx(expected, abs=1e-12)
    # Every golden case pairs rows in sorted order, so the deterministic variant agrees.
    assert soft_f1_order_free(pred, gold) == pytest.approx(expected, abs=1e-12)


def test_soft_f1_pairs_rows_in_set_order() -> None:
    # Tuples of ints hash the same in every CPython process (64-bit, >= 3.8):
    # list(set(gold)) is [(6,), (1,)], so (1,) pairs with (6,) and (2,) with (1,): nothing matches.
    assert list(set([(1,), (2,)])) == [(1,), (2,)]
    assert list(set([(1,), (6,)])) == [(6,), (1,)]
    assert soft_f1([(1,), (2,)], [(1,), (6,)]) == 0.0
    # Sorted pairing: (1,)-(1,) matches, (2,)-(6,) does not: tp 1 fp 1 fn 1 -> 0.5.
    assert soft_f1_order_free([(1,), (2,)], [(1,), (6,)]) == 0.5


def _soft_f1_in_subprocess(seed: str, pred: list[tuple], gold: list[tuple]) -> tuple[float, float]:
    code = (
        "import json, sys\n"
        "from harness.metrics.bird import soft_f1, soft_f1_order_free\n"
        "pred, gold = ([tuple(r) for r in rows] for rows in json.loads(sys.argv[1]))\n"
        "print(json.dumps([soft_f1(pred, gold), soft_f1_order_free(pred, gold)]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps([pred, gold])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    official, order_free = json.loads(out.stdout)
    return official, order_free


def test_soft_f1_depends_on_string_hash_seed_and_order_free_does_not() -> None:
    # Pairing ("a",1)-("a",1), ("b",2)-("c",3) gives tp 1 fp 1 fn 1 -> 0.5; the crossed pairing gives 0.
    pred, gold = [("a", 1), ("b", 2)], [("a", 1), ("c", 3)]
    official_values, order_free_values = set(), set()
    for seed in range(40):
        official, order_free = _soft_f1_in_subprocess(str(seed), pred, gold)
        official_values.add(official)
        order_free_values.add(order_free)
        if official_values == {0.0, 0.5}:
            break
    assert official_values == {0.0, 0.5}
    assert order_free_values == {0.5}


def test_soft_f1_order_free_pairing() -> None:
    # Equal sets always score 1, whatever order the rows came in.
    rows = [(i, f"name{i}") for i in range(200)]
    assert soft_f1_order_free(rows, list(reversed(rows))) == 1.0
    # Column-permuted rows pair with each other first: all values match.
    assert (
        soft_f1_order_free([(325, "Apple"), (119, "Banana")], [("Banana", 119), ("Apple", 325)])
        == 1.0
    )
    # mini-dev README example. Apple pairs exactly (1, 0, 0); the rest, sorted,
    # pair (None, "Banana")-("Banana", 119) and (191, "Orange")-("Orange", None),
    # each (.5, .5, .5): tp 2 fp 1 fn 1 -> 2/3, what the official code gives in
    # the README's row order (its table says 0.8 by not counting the empty gold cell).
    pred = [(325, "Apple"), (191, "Orange"), (None, "Banana")]
    gold = [("Apple", 325), ("Orange", None), ("Banana", 119)]
    assert soft_f1_order_free(pred, gold) == pytest.approx(2 / 3)
    # A row whose values all appear in a gold row but with a different multiplicity is
    # not an exact pair: (1, 1) vs (1, 2) scores (1, 0, .5) as officially.
    assert soft_f1_order_free([(1, 1)], [(1, 2)]) == pytest.approx(0.8)


def test_soft_f1_order_free_is_type_aware_and_total() -> None:
    rows = [(None, 1), ("x", 2.5), (b"\x00", 3), (2, None), (1.5, "a")]
    assert soft_f1_order_free(rows, list(reversed(rows))) == 1.0
    assert soft_f1_order_free([(None,), ("a",)], [("a",), (None,)]) == 1.0


# --- On a real SQLite database ----------------------------------------------------------


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "toy.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, score REAL);
        INSERT INTO singer VALUES
          (1, 'Ann', 'France', 30, 1.0),
          (2, 'Bob', 'France', 41, 2.5),
          (3, 'Cy',  'Peru',   41, NULL),
          (4, 'Di',  NULL,     25, 4.0);
        CREATE TABLE blob_text (t TEXT);
        INSERT INTO blob_text VALUES (CAST(x'ff00' AS TEXT));
        """
    )
    conn.commit()
    conn.close()
    return path


def _rows(db_path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_exec_match_on_sqlite(db_path: Path) -> None:
    gold = _rows(db_path, "SELECT country FROM singer WHERE age > 26")
    assert bird_exec_match(
        gold, _rows(db_path, "SELECT DISTINCT country FROM singer WHERE age > 26 ORDER BY 1 DESC")
    )
    assert not bird_exec_match(
        gold, _rows(db_path, "SELECT country, age FROM singer WHERE age > 26")
    )
    # INTEGER 1 and REAL 1.0 are equal as Python values.
    assert bird_exec_match(
        _rows(db_path, "SELECT 1"), _rows(db_path, "SELECT score FROM singer WHERE id = 1")
    )


def test_soft_f1_on_sqlite(db_path: Path) -> None:
    gold = _rows(db_path, "SELECT name, age FROM singer WHERE id = 1")
    pred = _rows(
        db_path, "SELECT name, score FROM singer WHERE id = 1"
    )  # ('Ann', 1.0) vs ('Ann', 30)
    assert soft_f1(pred, gold) == 0.5  # tp .5 fp .5 fn .5
    assert (
        soft_f1(
            _rows(db_path, "SELECT name FROM singer WHERE 0"),
            _rows(db_path, "SELECT name FROM singer WHERE 0"),
        )
        == 1.0
    )


def test_default_text_decoding_raises_on_invalid_utf8(db_path: Path) -> None:
    # The premise of has_lossy_text: BIRD's plain sqlite3 turns such text into an error.
    with pytest.raises(sqlite3.OperationalError, match="decode"):
        _rows(db_path, "SELECT t FROM blob_text")


# --- has_lossy_text -----------------------------------------------------------------------


def test_has_lossy_text_with_a_stand_in_module(monkeypatch: pytest.MonkeyPatch) -> None:
    class LossyText(str):
        pass

    module = types.ModuleType("harness.execution.sqlite")
    module.LossyText = LossyText  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.execution.sqlite", module)
    assert has_lossy_text([(1, "ok"), (2, LossyText("\ufffd"))])
    assert not has_lossy_text([(1, "ok"), (2, None)])
    assert not has_lossy_text([])


def test_has_lossy_text_without_the_execution_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "harness.execution.sqlite", None)  # import raises ImportError
    assert not has_lossy_text([("text",)])


def test_has_lossy_text_with_the_real_module() -> None:
    sqlite_module = pytest.importorskip("harness.execution.sqlite")
    lossy_text = getattr(sqlite_module, "LossyText", None)
    if lossy_text is None:
        pytest.skip("harness.execution.sqlite has no LossyText yet")
    assert has_lossy_text([(lossy_text("x"),)])
    assert not has_lossy_text([("x",)])


# --- VES and R-VES ------------------------------------------------------------------------


def test_official_repetitions() -> None:
    assert VES_REPETITIONS == 10
    assert R_VES_REPETITIONS == 100


def test_clean_abnormal_edge_cases() -> None:
    assert clean_abnormal([3.0, 3.0, 3.0]) == []  # std 0 and strict inequalities drop everything
    assert clean_abnormal([1.7]) == []
    # Ten values: no z-score can exceed 9 / sqrt(10) = 2.85, so even 1e6 stays.
    assert clean_abnormal([1.0] * 9 + [1e6]) == [1.0] * 9 + [1e6]
    # A hundred values: the outlier is dropped, in order otherwise.
    values = [1.0, 1.2] * 50
    assert clean_abnormal(values[:99] + [50.0]) == values[:99]
    assert all(isinstance(x, float) for x in clean_abnormal([1, 2, 3]))


def test_ves_time_ratio() -> None:
    # ratios 2, 2, 4: mean 8/3, nothing dropped
    assert ves_time_ratio([2.0, 2.0, 4.0], [1.0, 1.0, 1.0]) == pytest.approx(8 / 3)
    # ratios with one far outlier among 100: dropped, mean of the rest is (49 + 58.8 + 1.1) / 99 = 1.1
    gold = [1.0, 1.2] * 49 + [1.1, 500.0]
    assert ves_time_ratio(gold, [1.0] * 100) == pytest.approx(1.1)
    # Where the official code raises (and scores 0): zero prediction time, nothing kept, no timings.
    assert ves_time_ratio([1.0, 2.0], [0.0, 1.0]) == 0.0
    assert ves_time_ratio([1.0, 1.0], [2.0, 2.0]) == 0.0
    assert ves_time_ratio([], []) == 0.0
    with pytest.raises(ValueError):
        ves_time_ratio([1.0], [1.0, 2.0])


def test_ves_score() -> None:
    assert ves_term(4.0) == 200.0
    # sqrt terms: 100, 200, 0, 50 -> mean 87.5 over all four examples
    assert ves_score([1.0, 4.0, 0.0, 0.25]) == 87.5
    with pytest.raises(ValueError):
        ves_score([])


@pytest.mark.parametrize(
    ("ratio", "reward"),
    [
        (0, 0),
        (0.0, 0),
        (1e-9, 0.25),
        (0.2499, 0.25),
        (0.25, 0.5),
        (0.4999, 0.5),
        (0.5, 0.75),
        (0.9999, 0.75),
        (1, 1),
        (1.9999, 1),
        (2, 1.25),
        (1e9, 1.25),
    ],
)
def test_r_ves_reward_buckets(ratio: float, reward: float) -> None:
    assert r_ves_reward(ratio) == reward


def test_r_ves_score() -> None:
    # rewards 1.25, 0 -> (sqrt(1.25) * 100 + 0) / 2
    assert r_ves_score([2.0, 0.0]) == pytest.approx(math.sqrt(1.25) * 50)
    assert r_ves_term(1.0) == 100.0
    assert r_ves_score([1.0, 1.5, 1.99]) == 100.0
    with pytest.raises(ValueError):
        r_ves_score([])


# --- SQL features -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", FEATURE_CASES, ids=[c["sql"][:50] or "<empty>" for c in FEATURE_CASES]
)
def test_sql_features_table(case: dict) -> None:
    assert sql_features(case["sql"]) == case["tags"]


def test_sql_features_sorted_and_known() -> None:
    known = {
        "aggregation",
        "case",
        "distinct",
        "group_by",
        "having",
        "join",
        "like",
        "limit",
        "nested",
        "order_by",
        "set_op",
        "unparsed",
        "window",
    }
    for case in FEATURE_CASES:
        tags = sql_features(case["sql"])
        assert tags == sorted(set(tags))
        assert set(tags) <= known
        assert tags == ["unparsed"] or "unparsed" not in tags


def test_sql_features_spider_gold_all_parse() -> None:
    data_dir = Path(
        os.environ.get("HARNESS_SPIDER_DEV", REPO_ROOT.parent / "shared" / "data" / "spider-dev")
    )
    gold_file = data_dir / "dev_gold.sql"
    if not gold_file.exists():
        pytest.skip(f"Spider dev not found at {data_dir}")
    sqls = [
        line.split("\t")[0]
        for line in gold_file.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    tags = [sql_features(sql) for sql in sqls]
    assert len(sqls) == 1034
    assert not [sql for sql, t in zip(sqls, tags, strict=True) if t == ["unparsed"]]
    assert tags == [sql_features(sql) for sql in sqls]  # deterministic
