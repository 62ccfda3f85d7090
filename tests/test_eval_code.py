"""`harness eval` on the code suites: the opt-in for model-written code, and gold scoring."""

from __future__ import annotations

import json

from tests.test_eval_cli import harness, samples


def test_completion_needs_the_opt_in(tmp_path):
    proc = harness("eval", "--suite", "synth-code-completion", "--limit", "5", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "--allow-code-execution" in proc.stderr
    assert not (tmp_path / "r" / "samples.jsonl").exists()


def test_completion_gold_scores_perfectly_with_the_opt_in(tmp_path):
    out = tmp_path / "r"
    proc = harness(
        "eval", "--suite", "synth-code-completion", "--limit", "12", "--allow-code-execution", "-j", "2", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "next-line match" in proc.stdout and "output accuracy" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["overall"]["metrics"] == {"next_line_em": 1.0, "output_acc": 1.0}
    assert all(s["features"] is not None and "unparsed" not in s["features"] for s in samples(out))


def test_output_prediction_scores_wrong_outputs_as_mismatch(tmp_path):
    from suites.synth_code import load_synth_code

    suite = load_synth_code()
    preds = tmp_path / "p.jsonl"
    lines = [{"id": e.id, "prediction": e.gold if i % 2 == 0 else e.gold + "\n999"} for i, e in enumerate(suite.examples)]
    preds.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "r"
    proc = harness("eval", "--suite", "synth-code", "--predictions", str(preds), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    statuses = [s["status"] for s in samples(out)]
    assert statuses.count("match") == (len(lines) + 1) // 2 and statuses.count("mismatch") == len(lines) // 2
