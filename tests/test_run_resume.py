"""`harness run` with a real (tiny, randomly initialised) transformers model: a run killed half
way and restarted ends with the same samples as an uninterrupted one, regenerating nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from runners.tiny_models import build_tiny_causal_lm  # noqa: E402
from tests.test_eval_cli import harness  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("model") / "tiny", n_positions=2048)


def run_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", "--suite", "spider", "--data", str(data), "--model", str(model), "--runner", "transformers", "--method", "none",
        "-R", "device=cpu", "--sample-rows", "0", "--max-new-tokens", "12", "--batch-size", "2",
        "--out", str(out), *extra,
    ]


def comparable(out: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return {r["id"]: {k: v for k, v in r.items() if k != "latency_s"} for r in records}


def generations(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]


def test_killed_run_resumes_to_the_same_samples(tmp_path, tiny_dir, tiny_model):
    whole = tmp_path / "whole"
    proc = harness(*run_args(tiny_model, tiny_dir, whole, "--no-cache"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    n = len(generations(whole))
    assert n == 30

    cut = tmp_path / "cut"
    args = [sys.executable, "-m", "harness.cli", *run_args(tiny_model, tiny_dir, cut, "--no-cache")]
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = cut / "generations.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.exists() and log.read_text().count("\n") >= 10):
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    done_before = log.read_text().count("\n")
    assert 10 <= done_before < n, "the run finished before it could be killed"

    proc = harness(*run_args(tiny_model, tiny_dir, cut, "--no-cache"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = generations(cut)
    assert len(records) == n and len({r["id"] for r in records}) == n  # nothing generated twice
    assert {r["id"]: r["texts"] for r in records} == {r["id"]: r["texts"] for r in generations(whole)}
    assert comparable(cut) == comparable(whole)
    # the same file, line for line, but for the measured latencies
    strip = [{k: v for k, v in json.loads(line).items() if k != "latency_s"} for line in (cut / "samples.jsonl").read_text().splitlines()]
    assert strip == [{k: v for k, v in json.loads(line).items() if k != "latency_s"} for line in (whole / "samples.jsonl").read_text().splitlines()]


def test_greedy_generations_are_served_from_the_cache(tmp_path, tiny_dir, tiny_model):
    first, second = tmp_path / "first", tmp_path / "second"
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}
    assert harness(*run_args(tiny_model, tiny_dir, first, "--limit", "6"), env=env, timeout=600).returncode == 0
    assert harness(*run_args(tiny_model, tiny_dir, second, "--limit", "6"), env=env, timeout=600).returncode == 0
    assert not any(r["cached"] for r in generations(first))
    assert all(r["cached"] for r in generations(second))
    assert [r["texts"] for r in generations(first)] == [r["texts"] for r in generations(second)]
