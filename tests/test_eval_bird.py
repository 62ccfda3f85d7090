"""`harness eval --suite bird` end to end on a generated BIRD-layout folder."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_db
from tests.test_eval_cli import harness, samples

QUESTIONS = [
    ("SELECT count(*) FROM card", "SELECT count(*) FROM card", "simple"),
    ("SELECT name FROM card WHERE power > 2", "SELECT name FROM card WHERE power >= 3", "moderate"),
    ("SELECT name FROM card ORDER BY power", "SELECT name FROM card ORDER BY power DESC", "simple"),  # sets: equal
    ("SELECT name, power FROM card", "SELECT power, name FROM card", "challenging"),  # column order matters in BIRD
    ("SELECT name FROM card", "SELECT nme FROM card", "simple"),
    ("SELECT missing FROM card", "SELECT also_missing FROM card", "moderate"),  # both fail
    ("SELECT missing FROM card", "SELECT name FROM card", "moderate"),  # gold fails only
    ("SELECT label FROM tag", "SELECT label FROM tag", "simple"),  # invalid UTF-8: an error for BIRD
]


@pytest.fixture
def bird_dir(tmp_path):
    root = tmp_path / "bird"
    make_db(
        root / "dev_databases" / "cards" / "cards.sqlite",
        "CREATE TABLE card(id INTEGER PRIMARY KEY, name TEXT, power INTEGER);"
        "INSERT INTO card VALUES (1,'ant',1),(2,'bee',3),(3,'cat',5),(4,'dog',3);"
        "CREATE TABLE tag(label TEXT); INSERT INTO tag VALUES (CAST(X'FF41' AS TEXT));",
    )
    dev = [
        {"question_id": i, "db_id": "cards", "question": f"q{i}", "evidence": "", "SQL": gold, "difficulty": tier}
        for i, (gold, _, tier) in enumerate(QUESTIONS)
    ]
    (root / "dev.json").write_text(json.dumps(dev))
    preds = {str(i): f"{pred}\t----- bird -----\tcards" for i, (_, pred, _) in enumerate(QUESTIONS)}
    (root / "predict_dev.json").write_text(json.dumps(preds))
    return root


def run_bird(tmp_path, bird_dir, *extra: str) -> dict[str, dict]:
    out = tmp_path / "run"
    proc = harness(
        "eval", "--suite", "bird", "--data", str(bird_dir), "--predictions", str(bird_dir / "predict_dev.json"),
        "--out", str(out), "--fresh", *extra,
    )
    assert proc.returncode == 0, proc.stderr
    assert "simple" in proc.stdout and "execution" in proc.stdout
    return {s["id"]: s for s in samples(out)}


def test_bird_statuses_scores_and_official_gold_failure_rule(tmp_path, bird_dir):
    by_id = run_bird(tmp_path, bird_dir)
    status = {k: v["status"] for k, v in by_id.items()}
    ex = {k: v["scores"]["ex"] for k, v in by_id.items()}
    assert status == {
        "0": "match", "1": "match", "2": "match", "3": "mismatch", "4": "pred_error",
        "5": "gold_error", "6": "gold_error", "7": "gold_error",
    }
    # the official script compares [('error',)] placeholders: a prediction failing like its gold "matches"
    assert ex == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 0.0, "4": 0.0, "5": 1.0, "6": 0.0, "7": 1.0}
    assert by_id["0"]["scores"]["soft_f1"] == 1.0
    assert 0.0 <= by_id["3"]["scores"]["soft_f1"] <= 1.0
    assert by_id["4"]["scores"]["soft_f1"] == 0.0
    assert by_id["1"]["tier"] == "moderate"


def test_strict_gold_scores_failing_gold_zero(tmp_path, bird_dir):
    by_id = run_bird(tmp_path, bird_dir, "--strict-gold")
    assert by_id["5"]["scores"]["ex"] == 0.0 and by_id["7"]["scores"]["ex"] == 0.0


def test_ves_and_r_ves_score_correct_predictions_only(tmp_path, bird_dir):
    by_id = run_bird(tmp_path, bird_dir, "--metrics", "ex,ves,r_ves", "--ves-repetitions", "3")
    for key in ("0", "1", "2"):
        assert by_id[key]["scores"]["ves"] > 0 and by_id[key]["scores"]["r_ves"] > 0
    for key in ("3", "4"):
        assert by_id[key]["scores"]["ves"] == 0 and by_id[key]["scores"]["r_ves"] == 0
    # R-VES terms are sqrt(reward) * 100 for a reward bucket in {0.25, 0.5, 0.75, 1, 1.25}
    allowed = {round((r ** 0.5) * 100, 6) for r in (0.25, 0.5, 0.75, 1.0, 1.25)}
    assert round(by_id["0"]["scores"]["r_ves"], 6) in allowed
