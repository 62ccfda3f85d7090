"""The project's own regression gate (.ci/run): the committed predictions, scored on the
embedded synth-sql tiny suite, pass against ci/baseline.json; one changed verdict fails it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from tests.test_eval_cli import harness

PREDICTIONS = REPO / "ci" / "predictions.sql"
BASELINE = REPO / "ci" / "baseline.json"


def score(predictions: Path, out: Path) -> Path:
    proc = harness("eval", "--suite", "synth-sql", "-S", "size=tiny", "--predictions", str(predictions),
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_committed_predictions_pass_the_committed_baseline(tmp_path):
    run = score(PREDICTIONS, tmp_path / "run")
    proc = harness("check", "--baseline", str(BASELINE), str(run), "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("PASSED")
    assert 'failures="0"' in (tmp_path / "j.xml").read_text()


def test_one_right_prediction_turned_wrong_fails_the_gate(tmp_path):
    lines = PREDICTIONS.read_text().splitlines()
    lines[2] = "SELECT name FROM staff"  # example 2 matched in the baseline
    changed = tmp_path / "preds.sql"
    changed.write_text("\n".join(lines) + "\n")
    run = score(changed, tmp_path / "run")
    proc = harness("check", "--baseline", str(BASELINE), str(run))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout and "FAILED" in proc.stdout


def test_compare_and_leaderboard_through_the_cli(tmp_path):
    base = score(PREDICTIONS, tmp_path / "runs" / "base")
    lines = PREDICTIONS.read_text().splitlines()
    lines[2], lines[9] = "SELECT name FROM staff", "SELECT min(weekly_hours) FROM assignment"
    changed = tmp_path / "preds.sql"
    changed.write_text("\n".join(lines) + "\n")
    other = score(changed, tmp_path / "runs" / "other")
    proc = harness("compare", str(base), str(other), "--resamples", "500")
    assert proc.returncode == 0, proc.stderr
    assert "fixed (wrong in A, right in B): 9" in proc.stdout
    assert "broken (right in A, wrong in B): 2" in proc.stdout
    site = tmp_path / "site" / "index.html"
    proc = harness("leaderboard", "--runs", str(tmp_path / "runs"), "--html", str(site), "--md", str(tmp_path / "b.md"))
    assert proc.returncode == 0, proc.stderr
    board = (tmp_path / "b.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| ") and "synth-sql" in line]
    assert len(rows) == 2 and all("| 0.667 |" in row for row in rows)  # one fixed, one broken: same accuracy
    assert site.is_file() and len(list((site.parent / "runs").glob("*.html"))) == 2
