"""harness sweep on a local process pool and on a real Ray runtime: jobs, retries, resume, records."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.sweep.backends import LocalBackend
from harness.sweep.driver import run_sweep
from harness.sweep.plan import load_plan_file, make_plan
from tests.test_eval_cli import harness

ARGS = ["-S", "size=tiny", "--limit", "8"]
FAIL_ONCE = """\
import os, pathlib
marker = pathlib.Path(os.environ["HARNESS_TEST_MARKER"])
if not marker.exists():
    marker.write_text("failed once")
    os._exit(3)
"""
SLOW_ONCE = """\
import os, pathlib, time
marker = pathlib.Path(os.environ["HARNESS_TEST_MARKER"])
if not marker.exists():
    marker.write_text("started")
    time.sleep(120)
"""


def hook(tmp_path: Path, name: str, code: str) -> dict[str, str]:
    """Environment that makes a job's process run ``code`` first (a real failure, not a fake one)."""
    folder = tmp_path / f"hook-{name}"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(code)
    return {"PYTHONPATH": str(folder), "HARNESS_TEST_MARKER": str(tmp_path / f"marker-{name}")}


def four_jobs(tmp_path: Path, retries: int = 2):
    """synth-sql and synth-code, two seeds each; the synth-code seed-1 job fails on its first try."""
    plan = make_plan(["synth-sql"], ["none"], ["gold"], [0, 1], args=ARGS, retries=retries,
                     extra_jobs=[{"suite": "synth-code", "method": "none", "model": "gold", "seed": 0,
                                  "args": ["-S", "size=8", "--allow-code-execution"]},
                                 {"suite": "synth-code", "method": "none", "model": "gold", "seed": 1,
                                  "args": ["-S", "size=8", "--allow-code-execution"],
                                  "env": hook(tmp_path, "fail", FAIL_ONCE)}])  # fmt: skip
    assert len(plan.jobs) == 4
    return plan


def records(out: Path) -> dict[str, dict]:
    """Each job's run record, without what legitimately differs between two runs (times)."""
    found = {}
    for run in sorted(p for p in out.iterdir() if (p / "results.json").exists()):
        spec = json.loads((run / "run.json").read_text())
        samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
        for sample in samples:
            sample.pop("latency_s", None)
        found[run.name] = {"spec_hash": spec["spec_hash"], "samples": samples,
                           "results": json.loads((run / "results.json").read_text())}  # fmt: skip
    return found


def attempts(out: Path) -> list[tuple[str, int, bool]]:
    return [(e["job"], e["attempt"], e["ok"]) for e in map(json.loads, (out / "sweep.jsonl").read_text().splitlines())]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    plan = four_jobs(tmp)
    report = run_sweep(plan, tmp / "out", LocalBackend(2))
    return plan, report, tmp / "out"


def test_the_local_pool_runs_every_job_and_retries_the_one_that_failed(local_sweep):
    plan, report, out = local_sweep
    assert [state.status for state in report.states] == ["done"] * 4
    failing = plan.jobs[3].name
    assert sorted(attempts(out)) == sorted([(job.name, 1, job.name != failing) for job in plan.jobs]
                                           + [(failing, 2, True)])  # fmt: skip
    assert {state.job.name: state.attempts for state in report.states}[failing] == 2
    assert "exit code 3" in next(json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()
                                 if not json.loads(line)["ok"])["error"]  # fmt: skip
    summary = json.loads((out / "sweep.json").read_text())
    assert [job["status"] for job in summary["jobs"]] == ["done"] * 4
    assert len(records(out)) == 4


def check_ray_tasks_make_the_same_run_records(tmp_path: Path) -> dict[str, dict]:
    """In a driver joined to the test's runtime ($RAY_ADDRESS): the four jobs as Ray tasks."""
    from harness.ray_runtime import connect
    from harness.sweep.backends import RayBackend

    assert connect().cluster_resources()["CPU"] == 2
    plan = four_jobs(tmp_path)
    report = run_sweep(plan, tmp_path / "out", RayBackend(None))
    assert [state.status for state in report.states] == ["done"] * 4
    assert report.backend == "ray"
    assert [a for a in attempts(tmp_path / "out") if not a[2]] == [(plan.jobs[3].name, 1, False)]
    return records(tmp_path / "out")


def test_ray_tasks_make_the_same_run_records_as_the_local_pool(local_sweep, ray_cluster, tmp_path):
    _, _, local_out = local_sweep
    assert ray_cluster.call(check_ray_tasks_make_the_same_run_records, tmp_path) == records(local_out)


def test_a_second_sweep_skips_finished_jobs_and_redoes_a_missing_one(local_sweep, tmp_path):
    plan, _, out = local_sweep
    before = len(attempts(out))
    redo = out / plan.jobs[0].name / "results.json"
    redo.unlink()
    report = run_sweep(plan, out, LocalBackend(2))
    assert [state.status for state in report.states] == ["done", "skipped", "skipped", "skipped"]
    assert attempts(out)[before:] == [(plan.jobs[0].name, 1, True)]
    assert redo.exists()


def test_a_job_that_keeps_failing_is_reported_after_its_retries(tmp_path):
    plan = make_plan(["no-such-suite"], ["none"], ["gold"], [0], retries=1)
    report = run_sweep(plan, tmp_path / "out", LocalBackend(1))
    (state,) = report.states
    assert state.status == "failed" and state.attempts == 2
    assert "no-such-suite" in state.error and "job.log" not in state.error
    assert "1 failed" in report.render()


def test_the_cli_sweep_then_leaderboard_over_it(tmp_path):
    out = tmp_path / "sweep"
    done = harness("sweep", "--suite", "synth-sql", "--method", "none", "--model", "gold", "--seed", "0,1",
                   "--out", str(out), "--workers", "2", "--", *ARGS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 jobs on local" in done.stdout and "2 done" in done.stdout
    again = harness("sweep", "--suite", "synth-sql", "--method", "none", "--model", "gold", "--seed", "0,1",
                    "--out", str(out), "--", *ARGS)  # fmt: skip
    assert "2 already done" in again.stdout
    board = harness("leaderboard", "--runs", str(out), "--md", str(tmp_path / "board.md"))
    assert board.returncode == 0, board.stderr
    assert (tmp_path / "board.md").read_text().count("synth-sql") >= 2
    failed = harness("sweep", "--suite", "no-such-suite", "--model", "gold", "--out", str(tmp_path / "bad"),
                     "--retries", "0")  # fmt: skip
    assert failed.returncode == 1 and "FAILED" in failed.stderr and "1 failed" in failed.stdout


def test_a_sweep_file_gives_the_jobs_and_its_errors_name_the_file_and_line(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("suites: [synth-sql]\nmethods: [none]\nmodels: [gold]\nseeds: [0, 1, 2]\n"
                      "args: [-S, size=tiny]\nresources: {cpus: 2, gpus: 1}\nretries: 1\n")  # fmt: skip
    plan = make_plan(**{k: v for k, v in load_plan_file(config).items() if k not in ("suites", "methods", "models",
                     "seeds")}, suites=["synth-sql"], methods=["none"], models=["gold"], seeds=[0, 1, 2])  # fmt: skip
    assert [(job.seed, job.cpus, job.gpus, job.args) for job in plan.jobs] == [
        (seed, 2.0, 1.0, ("-S", "size=tiny")) for seed in (0, 1, 2)]  # fmt: skip
    listed = harness("sweep", "--config", str(config), "--out", str(tmp_path / "out"), "--dry-run")
    assert listed.returncode == 0 and "3 jobs" in listed.stdout and listed.stdout.count("to run") == 3
    config.write_text("suites: [synth-sql\nmethods: [none]\n")
    bad = harness("sweep", "--config", str(config), "--out", str(tmp_path / "out"))
    assert bad.returncode != 0 and f"{config} line 2" in bad.stderr
    config.write_text("suites: [synth-sql]\nmodel: [gold]\n")
    bad = harness("sweep", "--config", str(config), "--out", str(tmp_path / "out"))
    assert "unknown keys ['model']" in bad.stderr


def _harness_runs(out: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-f", "--", f"{out}/"], capture_output=True, text=True)
    return found.stdout.split()


def test_an_interrupted_sweep_leaves_no_job_running_and_resumes(tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "sweep.yaml"
    env = hook(tmp_path, "slow", SLOW_ONCE)
    config.write_text(json.dumps({"args": ARGS, "jobs": [
        {"suite": "synth-sql", "method": "none", "model": "gold", "seed": 0, "env": env}]}))  # fmt: skip
    command = [sys.executable, "-m", "harness.cli", "sweep", "--config", str(config), "--out", str(out)]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not Path(env["HARNESS_TEST_MARKER"]).exists():
        assert time.monotonic() < deadline and sweep.poll() is None, "the job never started"
        time.sleep(0.1)
    assert _harness_runs(out)
    sweep.send_signal(signal.SIGINT)
    assert sweep.wait(30) == 130
    deadline = time.monotonic() + 10
    while _harness_runs(out):
        assert time.monotonic() < deadline, "the job's process outlived the sweep"
        time.sleep(0.1)
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "1 done" in again.stdout


def test_jobs_that_fit_no_node_are_named_before_they_wait(tmp_path, ray_cluster):
    line = ray_cluster.first_warning(["sweep", "--suite", "synth-sql", "--model", "gold", "--gpus", "1",
                                      "--ray", ray_cluster.address, "--out", str(tmp_path / "out")])  # fmt: skip
    assert line.startswith("warning: job synth-sql"), line
    assert "asks for 1 CPUs and 1 GPUs per task, but no node of the Ray cluster has that many now" in line
    assert "(nodes: 2 CPUs, 0 GPUs)" in line and "--cpus/--gpus" in line
