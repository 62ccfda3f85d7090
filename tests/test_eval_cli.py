"""End to end: the real `harness eval` command in a subprocess, on generated databases."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suites.spider import load_spider

SLOW = (
    "SELECT name FROM customer WHERE (SELECT count(*) FROM (WITH RECURSIVE c(x) AS "
    "(SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 400000) SELECT x FROM c)) > 0"
)


def harness(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def samples(run_dir: Path) -> list[dict]:
    """samples.jsonl's records, each with its measured ``latency_s`` from latency.jsonl."""
    from harness.runstore import RunStore

    return RunStore(run_dir).samples()


def test_gold_scores_perfectly_and_writes_the_run(tmp_path, tiny_dir):
    out = tmp_path / "run"
    proc = harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", "gold", "--out", str(out), "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert "count" in proc.stdout and "execution" in proc.stdout and "exact match" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    n = len(load_spider(tiny_dir).examples)
    assert results["overall"]["count"] == n
    assert results["overall"]["metrics"] == {"ex": 1.0, "em": 1.0}
    assert set(results["by_tier"]) <= {"easy", "medium", "hard", "extra"} and len(results["by_tier"]) >= 3
    assert "join" in results["by_feature"]
    run = json.loads((out / "run.json").read_text())
    assert run["schema_version"] == 1 and "git_revision" in run and run["versions"]["sqlite"]
    ids = [s["id"] for s in samples(out)]
    assert sorted(ids, key=int) == [str(i) for i in range(n)]
    first = samples(out)[0]
    assert {"id", "db_id", "tier", "features", "status", "pred", "gold", "scores", "error", "hash"} <= set(first)


def test_statuses_and_test_suite_semantics(tmp_path, tiny_dir):
    shop = tiny_dir / "database" / "shop"
    variant = shop / "shop_variant.sqlite"
    shutil.copy(shop / "shop.sqlite", variant)
    with sqlite3.connect(shop / "shop.sqlite") as original:
        older = [r[0] for r in original.execute("SELECT name FROM customer WHERE age > 40")]
    conn = sqlite3.connect(variant)
    conn.execute("UPDATE customer SET age = 41 WHERE age <= 40")
    conn.commit()
    conn.close()
    suite = load_spider(tiny_dir)
    preds = {e.id: e.gold for e in suite.examples}
    preds["0"] = "SELECT count(*) FROM no_such_table"
    preds["1"] = "SELECT name FROM product WHERE price > 0"  # matches gold on every instance
    # hard-codes the answer on shop.sqlite, so it is wrong on the variant
    names = ", ".join(f"'{n}'" for n in older)
    preds["2"] = f"SELECT name FROM customer WHERE name IN ({names})"
    preds["3"] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
    out = tmp_path / "run"
    proc = harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(path), "--out", str(out), "--timeout", "1")
    assert proc.returncode == 0, proc.stderr
    by_id = {s["id"]: s for s in samples(out)}
    assert by_id["0"]["status"] == "pred_error" and "no such table" in by_id["0"]["error"]
    assert by_id["1"]["status"] == "match"
    assert by_id["2"]["status"] == "mismatch"  # right on shop.sqlite, wrong on the variant
    assert by_id["3"]["status"] == "pred_timeout"
    results = json.loads((out / "results.json").read_text())
    assert results["overall"]["status"]["pred_error"] == 1
    assert results["overall"]["timeout_rate"] == pytest.approx(1 / len(preds))


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path, tiny_dir):
    suite = load_spider(tiny_dir)
    path = tmp_path / "slow.jsonl"
    path.write_text("".join(json.dumps({"id": e.id, "sql": SLOW}) + "\n" for e in suite.examples))
    out = tmp_path / "run"
    args = ["eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(path), "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    samples_path = out / "samples.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if samples_path.exists() and samples_path.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = samples_path.read_text().count("\n")
    assert 3 <= partial < len(suite.examples), "the run finished before it could be killed"
    with samples_path.open("a") as f:
        f.write('{"id": "torn')  # a line cut off mid-write
    done = harness(*args)
    assert done.returncode == 0, done.stderr
    ids = [s["id"] for s in samples(out)]
    assert len(ids) == len(set(ids)) == len(suite.examples)
    assert json.loads((out / "results.json").read_text())["overall"]["count"] == len(suite.examples)


def test_reusing_a_run_dir_with_other_inputs_is_refused(tmp_path, tiny_dir):
    out = tmp_path / "run"
    assert harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--out", str(out)).returncode == 0
    other = tmp_path / "p.sql"
    other.write_text("SELECT 1\n" * len(load_spider(tiny_dir).examples))
    proc = harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(other), "--out", str(out))
    assert proc.returncode == 2 and "different spec" in proc.stderr
    proc = harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(other), "--out", str(out), "--fresh")
    assert proc.returncode == 0, proc.stderr


def test_bad_inputs_exit_2_naming_the_file(tmp_path, tiny_dir):
    missing = tmp_path / "nope.sql"
    proc = harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(missing), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and str(missing) in proc.stderr
    proc = harness("eval", "--suite", "nosuch", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "no suite named 'nosuch'" in proc.stderr
    assert "available: bird, cruxeval, spider, synth-code" in proc.stderr


def test_default_suite_runs_without_arguments(tmp_path):
    proc = harness("eval", "-j", "2", cwd=tmp_path, env={**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert "run: runs/eval-synth-sql-" in proc.stdout
    results = json.loads(next((tmp_path / "runs").glob("eval-synth-sql-*/results.json")).read_text())
    assert results["overall"]["metrics"] == {"ex": 1.0, "em": 1.0}


def test_spider_without_data_says_what_to_pass(tmp_path):
    proc = harness("eval", "--suite", "spider", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "needs --data" in proc.stderr


def test_suite_args_reach_the_loader(tmp_path):
    out = tmp_path / "r"
    proc = harness("eval", "--suite", "synth-sql", "-S", "size=tiny", "-S", "seed=3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "run.json").read_text())["spec"]["suite_args"] == ["seed=3", "size=tiny"]
    proc = harness("eval", "--suite", "synth-sql", "-S", "colour=blue", "--out", str(tmp_path / "r2"))
    assert proc.returncode == 2 and "does not take that --suite-arg" in proc.stderr
