"""`harness run --method none` end to end with the runners that need no model: gold and replay."""

from __future__ import annotations

import json

import pytest

from suites.spider import load_spider
from tests.test_eval_cli import harness, samples


@pytest.mark.parametrize(
    ("suite", "extra", "metrics"),
    [
        ("synth-sql", ["-S", "size=tiny"], {"ex": 1.0, "em": 1.0}),
        ("synth-code", [], {"output_acc": 1.0}),
        ("synth-table", ["-S", "size=small"], {"answer_acc": 1.0}),
    ],
)
def test_gold_runner_scores_perfectly(tmp_path, suite, extra, metrics):
    out = tmp_path / "run"
    proc = harness("run", "--suite", suite, "--model", "gold", "--limit", "40", "-j", "2", "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "results.json").read_text())["overall"]["metrics"] == metrics
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["method"]["name"] == "none" and run["spec"]["runner"]["name"] == "gold"
    generations = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    count = json.loads((out / "results.json").read_text())["overall"]["count"]
    assert len(generations) == count == min(40, count) and all(g["error"] is None for g in generations)


def test_replay_runner_scores_a_predictions_file_like_eval(tmp_path, tiny_dir):
    suite = load_spider(tiny_dir)
    path = tmp_path / "preds.jsonl"
    preds = {e.id: (e.gold if int(e.id) % 3 else "SELECT 1") for e in suite.examples}
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
    ran = harness("run", "--suite", "spider", "--data", str(tiny_dir), "--model", str(path), "--out", str(tmp_path / "run"))
    assert ran.returncode == 0, ran.stderr
    scored = harness("eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(path), "--out", str(tmp_path / "eval"))
    assert scored.returncode == 0, scored.stderr
    by_run = {s["id"]: (s["status"], s["scores"]) for s in samples(tmp_path / "run")}
    by_eval = {s["id"]: (s["status"], s["scores"]) for s in samples(tmp_path / "eval")}
    assert by_run == by_eval
    assert sum(1 for status, _ in by_run.values() if status == "match") == sum(1 for k in preds if int(k) % 3)


def test_unknown_method_and_runner_are_clear_errors(tmp_path):
    proc = harness("run", "--method", "nosuch", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "no trainer named 'nosuch'" in proc.stderr
    proc = harness("run", "--method", "sft", "--model", "gold", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "runner 'gold' cannot load one" in proc.stderr
    proc = harness("run", "--runner", "nosuch", "--model", "gold", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "no runner named 'nosuch'" in proc.stderr
    proc = harness("run", "--model", "tiny:0", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "write tiny:STEPS with a positive number" in proc.stderr


def test_code_suite_refuses_without_opt_in_before_generating(tmp_path):
    out = tmp_path / "r"
    proc = harness("run", "--suite", "synth-code-completion", "--model", "gold", "--limit", "3", "--out", str(out))
    assert proc.returncode == 2 and "--allow-code-execution" in proc.stderr
    assert not (out / "generations.jsonl").exists()


def test_openai_runner_end_to_end_against_a_local_server(tmp_path):
    from tests.openai_test_server import OpenAITestServer

    out = tmp_path / "run"
    with OpenAITestServer() as server:
        proc = harness(
            "run", "--suite", "synth-code", "--model", server.base_url, "-R", "served_model=tiny-coder",
            "--limit", "5", "--max-new-tokens", "8", "--out", str(out), "--no-cache",
        )
        received = list(server.received)
    assert proc.returncode == 0, proc.stderr
    assert len(received) == 5 and {r.body["model"] for r in received} == {"tiny-coder"}
    assert all(r.path.endswith("/chat/completions") for r in received)
    generations = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert all(g["texts"][0].startswith("[0]") for g in generations)  # the server's answer, extracted
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["runner"]["name"] == "openai" and run["spec"]["runner"]["config"]["model"] == "tiny-coder"
    assert "api_key" not in json.dumps(run)


def test_a_tiny_base_folder_is_prompted_as_it_was_pretrained(tmp_path):
    """`--model <tiny base folder> --method none` prompts with the options recorded in tiny_base.json
    (no sample rows), as `--model tiny` does; a folder without the record gets the harness default."""
    pytest.importorskip("transformers")
    from runners.tiny_models import build_tiny_causal_lm
    from trainers.tiny_base import RECORD

    recorded = build_tiny_causal_lm(tmp_path / "based", arch="gpt2", n_layer=1, n_embd=32, vocab_size=300,
                                    n_positions=512, chat_template=False)  # fmt: skip
    (recorded / RECORD).write_text(json.dumps({"prompt": {"sample_rows": 0}}))
    plain = build_tiny_causal_lm(tmp_path / "plain", arch="gpt2", n_layer=1, n_embd=32, vocab_size=300,
                                 n_positions=512, chat_template=False)  # fmt: skip
    for folder, rows in ((recorded, 0), (plain, 3)):
        out = tmp_path / f"run-{folder.name}"
        proc = harness("run", "--suite", "synth-sql", "-S", "size=tiny", "--model", str(folder), "--method", "none",
                       "--limit", "2", "--max-new-tokens", "4", "--out", str(out))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert json.loads((out / "run.json").read_text())["spec"]["prompt"]["sample_rows"] == rows


def test_sample_rows_given_to_run_reaches_the_training_method(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from runners.tiny_models import build_tiny_causal_lm

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    folder = build_tiny_causal_lm(tmp_path / "m", arch="gpt2", n_layer=1, n_embd=32, vocab_size=300,
                                  n_positions=1024, chat_template=False)  # fmt: skip
    out = tmp_path / "run"
    proc = harness("run", "--suite", "synth-sql", "-S", "size=tiny", "--model", str(folder), "--method", "sft",
                   "-M", "steps=1", "--sample-rows", "1", "--limit", "2", "--max-new-tokens", "4",
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((out / "run.json").read_text())["spec"]
    assert spec["method"]["config"]["sample_rows"] == 1 and spec["prompt"]["sample_rows"] == 1


def test_a_trained_candidate_is_prompted_in_the_dialect_it_learned_and_its_sql_transpiled(tmp_path, monkeypatch):
    """`--engine duckdb` with a method: the candidate learned the suite's SQLite gold, so the prompt
    asks for SQLite and its SQL is transpiled for DuckDB (asking it for DuckDB would not change
    what it writes)."""
    pytest.importorskip("transformers")
    from runners.tiny_models import build_tiny_causal_lm

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    suite = ["--suite", "synth-sql", "-S", "size=tiny"]
    duck = tmp_path / "synth.duckdb"
    assert harness("load-db", *suite, "--engine", "duckdb", "--url", str(duck)).returncode == 0
    folder = build_tiny_causal_lm(tmp_path / "m", arch="gpt2", n_layer=1, n_embd=32, vocab_size=300,
                                  n_positions=1024, chat_template=False)  # fmt: skip
    common = [*suite, "--model", str(folder), "--limit", "2", "--max-new-tokens", "4", "--engine", "duckdb",
              "--db-url", str(duck)]  # fmt: skip
    runs = {}
    for method, extra in (("sft", ["-M", "steps=1"]), ("none", [])):
        proc = harness("run", *common, "--method", method, *extra, "--out", str(tmp_path / method))
        assert proc.returncode == 0, proc.stderr
        runs[method] = (proc.stderr, json.loads((tmp_path / method / "run.json").read_text())["spec"])
    said, spec = runs["sft"]
    assert "the sft candidate learned sqlite SQL, so it is prompted for sqlite and its SQL is transpiled for duckdb" in said
    assert spec["prompt"]["dialect"] == "sqlite" and spec["options"]["pred_dialect"] == "sqlite"
    said, spec = runs["none"]  # a base without a record of what it learned: asked for the engine's dialect
    assert "prompted for" not in said  # (a tiny base, pretrained here, has that record: see the README)
    assert spec["prompt"]["dialect"] == "duckdb" and spec["options"]["pred_dialect"] is None
