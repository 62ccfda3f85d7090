"""Sharded evaluation on a real Ray runtime (127.0.0.1 only, 2 CPUs): the merged run is the
unsharded one, an interrupted run resumes, a runaway example is killed inside its shard.

The runtime and its drivers live outside the pytest process (``ray_cluster``): a test body that
drives Ray is a ``check_*`` function run through ``ray_cluster.call``."""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from harness import scoring
from harness.cli_common import load_suite
from harness.evaluate import evaluate
from harness.options import EvalOptions
from harness.types import Status
from tests.test_eval_cli import harness

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
# No engine deadline stops it within the test (30 s per query): only the hard kill does.
LONG = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500000000) SELECT count(*) FROM c"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """synth-sql tiny, and saved predictions: gold, wrong answers, errors, one per kind in every shard."""
    saved = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(tmp_path_factory.getbasetemp() / "cache")  # as _isolated_cache sets it
    try:
        suite = load_suite("synth-sql", None, split="dev", suite_args=["size=tiny"])
    finally:
        os.environ.pop("HARNESS_CACHE") if saved is None else os.environ.update(HARNESS_CACHE=saved)
    golds = [ex.gold for ex in suite.examples]
    preds = {}
    for i, ex in enumerate(suite.examples):
        preds[ex.id] = {0: golds[(i + 1) % len(golds)], 1: "SELECT * FROM no_such_table"}.get(i % 5, ex.gold)
    path = tmp_path_factory.mktemp("preds") / "preds.jsonl"
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
    return suite, preds, path


def options(suite, **kw) -> EvalOptions:
    return EvalOptions(**{"semantics": suite.semantics, "metrics": tuple(suite.metrics), **kw})


def file_bytes(path: Path) -> bytes:
    """samples.jsonl exactly as written (measured times live in latency.jsonl, not here)."""
    text = path.read_bytes()
    assert b"latency_s" not in text
    return text


def lines(run: Path) -> list[str]:
    return (run / "samples.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def check_runtime_is_local_only() -> None:
    from harness.sharding import connect

    ray = connect()  # $RAY_ADDRESS: the test's runtime
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    assert ray.cluster_resources()["CPU"] == 2


def test_runtime_is_local_only(ray_cluster):
    assert ray_cluster.address.startswith("127.0.0.1:")
    ray_cluster.call(check_runtime_is_local_only)


def check_sharded_run_is_the_unsharded_run(tmp_path: Path, synth) -> None:
    suite, preds, _ = synth
    opts = options(suite)
    single = evaluate(suite, preds, opts, tmp_path / "single")
    sharded = evaluate(suite, preds, opts, tmp_path / "sharded", shards=3)
    assert sharded == single
    assert {"match", "mismatch", "pred_error"} <= set(single["overall"]["status"])
    assert (tmp_path / "sharded" / "results.json").read_bytes() == (tmp_path / "single" / "results.json").read_bytes()
    assert file_bytes(tmp_path / "sharded" / "samples.jsonl") == file_bytes(tmp_path / "single" / "samples.jsonl")
    assert [json.loads(line)["id"] for line in lines(tmp_path / "sharded")] == [ex.id for ex in suite.examples]
    run = lambda name: json.loads((tmp_path / name / "run.json").read_text())  # noqa: E731
    assert run("sharded")["spec_hash"] == run("single")["spec_hash"]  # sharding is not part of the run


def test_sharded_run_is_the_unsharded_run(tmp_path, ray_cluster, synth):
    ray_cluster.call(check_sharded_run_is_the_unsharded_run, tmp_path, synth)


def check_an_interrupted_run_resumes_to_the_same_samples(tmp_path: Path, synth, first, then) -> None:
    suite, preds, _ = synth
    opts = options(suite)
    evaluate(suite, preds, opts, tmp_path / "whole")
    cut = tmp_path / "cut"
    evaluate(suite, preds, opts, cut, shards=first)
    kept = lines(cut)[:9]
    # shards stopped part way: a few records of each in the log, the last one torn
    (cut / "samples.jsonl").write_text("".join(kept[::2]) + kept[-1][:20], encoding="utf-8")
    (cut / "results.json").unlink()
    evaluate(suite, preds, opts, cut, shards=then)
    assert file_bytes(cut / "samples.jsonl") == file_bytes(tmp_path / "whole" / "samples.jsonl")
    assert set(kept[::2]) <= set(lines(cut))  # kept records stay as they were: nothing scored twice
    assert (cut / "results.json").read_bytes() == (tmp_path / "whole" / "results.json").read_bytes()


@pytest.mark.parametrize("first, then", [(3, 3), (3, None), (None, 2)])
def test_an_interrupted_run_resumes_to_the_same_samples(tmp_path, ray_cluster, synth, first, then):
    ray_cluster.call(check_an_interrupted_run_resumes_to_the_same_samples, tmp_path, synth, first, then)


def check_runaway_predictions_end_as_timeouts_in_shards(tmp_path: Path, synth) -> None:
    suite, preds, _ = synth
    preds = dict(preds)
    for ex in suite.examples[::8]:
        preds[ex.id] = ENDLESS  # one in each of 3 shards
    opts = options(suite, timeout_s=0.5)
    evaluate(suite, preds, opts, tmp_path / "single", jobs=2)
    results = evaluate(suite, preds, opts, tmp_path / "sharded", shards=3)
    assert results["overall"]["status"]["pred_timeout"] == 3
    assert file_bytes(tmp_path / "sharded" / "samples.jsonl") == file_bytes(tmp_path / "single" / "samples.jsonl")


def test_runaway_predictions_end_as_timeouts_in_shards(tmp_path, ray_cluster, synth):
    ray_cluster.call(check_runaway_predictions_end_as_timeouts_in_shards, tmp_path, synth)


def check_a_shard_kills_an_example_past_its_hard_deadline(synth) -> None:
    from harness.sharding import score_sharded

    suite, preds, _ = synth
    preds = {**preds, suite.examples[1].id: LONG}
    opts = options(suite)
    got: list[dict] = []
    score_sharded(suite, preds, opts, [0, 1, 2, 3], shards=2, deadline_s=2.0, on_record=got.append)
    by_id = {record["id"]: record for record in got}
    assert sorted(by_id) == sorted(suite.examples[i].id for i in range(4)) and len(got) == 4
    order = [record["id"] for record in got]  # the second shard's records came in while the first ran on
    assert max(order.index(suite.examples[i].id) for i in (2, 3)) < order.index(suite.examples[1].id)
    scoring.install(suite, preds, opts)  # what the local pool writes for a killed worker
    assert by_id[suite.examples[1].id] == scoring.failed_record(
        1, Status.PRED_TIMEOUT, "killed: the example overran its hard deadline"
    )
    assert by_id[suite.examples[0].id]["status"] == "mismatch"


def test_a_shard_kills_an_example_past_its_hard_deadline(ray_cluster, synth):
    ray_cluster.call(check_a_shard_kills_an_example_past_its_hard_deadline, synth)


def check_a_failing_shard_is_an_error_that_says_how_to_resume(synth) -> None:
    from harness.sharding import ShardFailed, score_sharded

    suite, preds, _ = synth
    with pytest.raises(ShardFailed, match="run the same command again to resume"):
        score_sharded(suite, preds, options(suite, metrics=("no_such_metric",)), [0, 1], shards=2,
                      on_record=lambda record: None)


def test_a_failing_shard_is_an_error_that_says_how_to_resume(ray_cluster, synth):
    ray_cluster.call(check_a_failing_shard_is_an_error_that_says_how_to_resume, synth)


def test_cli_eval_shards(tmp_path, ray_cluster, synth):
    _, _, path = synth
    args = ["eval", "-S", "size=tiny", "--predictions", str(path)]
    address, env = ray_cluster.address, ray_cluster.env
    sharded = harness(*args, "--shards", "2", "--ray", address, "--out", str(tmp_path / "sharded"), env=env)
    assert sharded.returncode == 0, sharded.stderr
    single = harness(*args, "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    assert sharded.stdout.replace("sharded", "single") == single.stdout
    assert file_bytes(tmp_path / "sharded" / "samples.jsonl") == file_bytes(tmp_path / "single" / "samples.jsonl")
    before = (tmp_path / "sharded" / "samples.jsonl").read_bytes()
    again = harness(*args, "--out", str(tmp_path / "sharded"))  # the same run: resumes, nothing left to do
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "sharded" / "samples.jsonl").read_bytes() == before


def test_cli_run_shards(tmp_path, ray_cluster):
    address, env = ray_cluster.address, ray_cluster.env
    args = ["run", "--model", "gold", "-S", "size=tiny", "--limit", "10"]
    sharded = harness(*args, "--shards", "3", "--ray", address, "--out", str(tmp_path / "sharded"), env=env)
    assert sharded.returncode == 0, sharded.stderr
    single = harness(*args, "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    assert file_bytes(tmp_path / "sharded" / "samples.jsonl") == file_bytes(tmp_path / "single" / "samples.jsonl")
    assert (tmp_path / "sharded" / "results.json").read_bytes() == (tmp_path / "single" / "results.json").read_bytes()


@pytest.mark.parametrize("extra, message", [
    (["--shards", "0"], "--shards must be a whole number of at least 1"),
    (["--ray", "127.0.0.1:1"], "give --shards N too"),
])
def test_cli_rejects_bad_sharding_settings(tmp_path, extra, message):
    for command in ("eval", "run"):
        proc = harness(command, "-S", "size=tiny", "--out", str(tmp_path / "run"), *extra)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert not (tmp_path / "run").exists()


def test_without_ray_the_error_names_the_extra(tmp_path, monkeypatch, synth):
    suite, preds, _ = synth
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as where it is not installed
    with pytest.raises(ImportError, match=r"pip install 'sql-harness\[ray\]'"):
        evaluate(suite, preds, options(suite), tmp_path / "run", shards=2)
    assert not (tmp_path / "run").exists()


def test_joining_a_token_cluster_without_the_token_mode_says_how(tmp_path, ray_cluster):
    env = {**ray_cluster.env}
    env.pop("RAY_AUTH_MODE", None)
    proc = harness("eval", "-S", "size=tiny", "--shards", "2", "--ray", ray_cluster.address,
                   "--out", str(tmp_path / "run"), env=env)  # fmt: skip
    assert proc.returncode != 0
    assert f"cannot reach a Ray cluster at '{ray_cluster.address}'" in proc.stderr
    assert "RAY_AUTH_MODE=token" in proc.stderr


def check_a_task_that_fits_no_node_is_named() -> str:
    from harness.ray_runtime import connect, unplaceable, warn_if_unplaceable

    ray = connect()
    assert unplaceable(ray, 2) is None
    assert unplaceable(ray, 3) == unplaceable(ray, 1, 1) == "2 CPUs, 0 GPUs"
    said = io.StringIO()
    with redirect_stderr(said):
        assert not warn_if_unplaceable(ray, 2, 0, "each shard", "fewer")
        assert warn_if_unplaceable(ray, 1, 1, "job j", "give it fewer GPUs")
    return said.getvalue()


def test_a_task_that_fits_no_node_is_named(ray_cluster):
    said = ray_cluster.call(check_a_task_that_fits_no_node_is_named)
    assert said.count("\n") == 1
    assert said.startswith("warning: job j asks for 1 CPUs and 1 GPUs per task, but no node of the Ray cluster")
    assert "(nodes: 2 CPUs, 0 GPUs)" in said and said.endswith("forever otherwise: give it fewer GPUs\n")


def test_shards_wider_than_any_node_are_named_before_they_wait(tmp_path, ray_cluster, synth):
    _, _, path = synth
    line = ray_cluster.first_warning(["eval", "-S", "size=tiny", "--predictions", str(path), "--shards", "2",
                                      "-j", "3", "--out", str(tmp_path / "run")])  # fmt: skip
    assert line.startswith("warning: each shard (--jobs 3) asks for 3 CPUs per task, but no node"), line
    assert "give --jobs at most the CPUs of a node" in line
