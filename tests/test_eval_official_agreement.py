"""`harness eval` itself, end to end, agrees with the official evaluators on real Spider dev.

The metric modules are checked against the recorded official verdicts in
test_spider_official_agreement.py and test_bird_official_agreement.py; this
runs the whole pipeline (loader, prediction reader, worker pool, read-only
execution, run directory) and compares its samples.jsonl with the same fixtures.
Skips when the Spider dev data is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, spider_dev_path
from tests.test_eval_cli import harness, samples

FIXTURES = REPO / "tests" / "fixtures" / "official"
SYSTEMS = ("gold", "dail-sql-gpt4", "c3sql", "graphix")
DATA = spider_dev_path()
# The BIRD fixture fed each prediction line whole to BIRD's JSON format; a .sql lines
# file is read as the Spider evaluator reads it, cut at the first TAB. Line 771 of
# c3sql.sql has TABs inside its SQL, so the two inputs differ there (not the rules).
INPUT_DIFFERS = {("c3sql", "770")}
pytestmark = pytest.mark.skipif(DATA is None, reason="Spider dev data not found (../shared/data/spider-dev)")


def official(name: str) -> dict[tuple[str, str], dict]:
    rows = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
    return {(r["system"], str(r["index"])): r for r in rows}


def run_eval(tmp_path: Path, system: str, *args: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    preds = "gold" if system == "gold" else str(DATA / "predictions" / f"{system}.sql")
    out = tmp_path / system
    proc = harness(
        "eval", "--suite", "spider", "--data", str(DATA), "--predictions", preds, "--skip-missing-db",
        "-j", "2", "--out", str(out), *args, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped 62 examples with a missing database: wta_1 (62)" in proc.stderr
    return {s["id"]: s for s in samples(out)}


@pytest.mark.parametrize("system", SYSTEMS)
def test_spider_semantics_ex_em_and_hardness(tmp_path, system):
    expected = official("spider_dev_testsuite.jsonl")
    ours = run_eval(tmp_path, system)
    assert len(ours) == 972
    diffs = []
    for key, s in ours.items():
        o = expected[(system, key)]
        got = (s["tier"], int(s["scores"]["ex"]), int(s["scores"]["em"]))
        want = (o["hardness"], o["exec"], o["exact"])
        if got != want:
            diffs.append(f"#{key}: ours {got} official {want}: {s['pred']!r}")
    assert not diffs, f"{len(diffs)} disagreements:\n" + "\n".join(diffs[:20])


@pytest.mark.parametrize("system", SYSTEMS)
def test_bird_semantics_ex_and_soft_f1(tmp_path, system):
    expected = official("spider_dev_bird.jsonl")
    # Soft-F1 pairs rows in set iteration order, which depends on string hashing
    # (see harness.metrics.bird.soft_f1): the fixture was recorded with
    # PYTHONHASHSEED=0, so use it too. hash(None) still differs per process, so
    # results holding NULLs may pair differently: allow a few of those.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    ours = run_eval(tmp_path, system, "--semantics", "bird", "--metrics", "ex,soft_f1", env=env)
    ours = {k: s for k, s in ours.items() if (system, k) not in INPUT_DIFFERS}
    ex_diffs = [k for k, s in ours.items() if int(s["scores"]["ex"]) != expected[(system, k)]["ex"]]
    assert not ex_diffs, f"EX disagrees on {ex_diffs[:20]}"
    f1_diffs = [k for k, s in ours.items() if s["scores"]["soft_f1"] != pytest.approx(expected[(system, k)]["soft_f1"])]
    assert len(f1_diffs) <= 5, f"Soft-F1 disagrees on {len(f1_diffs)} examples: {f1_diffs[:20]}"
    ours_mean = sum(s["scores"]["soft_f1"] for s in ours.values()) / len(ours)
    official_mean = sum(expected[(system, k)]["soft_f1"] for k in ours) / len(ours)
    assert ours_mean == pytest.approx(official_mean, abs=0.01)
