"""`harness compare`: paired statistics, and comparisons of real runs scored by `harness eval`."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from harness.cli_compare import compare_command
from leaderboards.compare import compare_runs, render_table, to_json
from leaderboards.records import RunRecordError, load_run
from leaderboards.stats import mcnemar_exact, paired_bootstrap_ci
from tests.test_eval_cli import harness

N = 24  # synth-sql, size=tiny, dev split: 24 examples, 6 per tier
WRONG_A = {str(i) for i in range(10)}  # ids 0-9 wrong in A
WRONG_B = {"0", "1", "20", "21", "22"}  # ids 0, 1 still wrong in B; 2-9 fixed; 20-22 broken
FIXED = WRONG_A - WRONG_B
BROKEN = WRONG_B - WRONG_A


# --- stats -----------------------------------------------------------------------------------

def test_mcnemar_known_values():
    assert mcnemar_exact(0, 5) == 0.0625  # 2 * (1/2)**5
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 1) == 1.0  # 2 * 1/2, capped at 1
    # b=1, c=10: n=11, P(X <= 1) = (C(11,0) + C(11,1)) / 2**11 = 12/2048, doubled
    assert mcnemar_exact(1, 10) == 2 * (1 + 11) / 2**11
    # b=3, c=8: 2 * (1 + 11 + 55 + 165) / 2**11 = 464/2048
    assert mcnemar_exact(3, 8) == 464 / 2048


def test_mcnemar_is_symmetric_and_exact_for_large_counts():
    for b, c in [(0, 7), (2, 9), (13, 4), (40, 61)]:
        assert mcnemar_exact(b, c) == mcnemar_exact(c, b)
    # the normal approximation with continuity correction: z = (|b - c| - 1) / sqrt(b + c)
    b, c = 1500, 1600
    z = (abs(b - c) - 1) / math.sqrt(b + c)
    assert mcnemar_exact(b, c) == pytest.approx(math.erfc(z / math.sqrt(2)), abs=0.005)
    assert mcnemar_exact(0, 3000) == 0.0  # 2 / 2**3000 underflows cleanly, no OverflowError
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_bootstrap_identical_runs_and_determinism():
    same = [1, 0, 1, 1, 0] * 20
    assert paired_bootstrap_ci(same, same) == (0.0, 0.0)
    a = [1] * 60 + [0] * 40
    b = [1] * 50 + [0] * 10 + [1] * 25 + [0] * 15  # 10 broken, 25 fixed: diff +0.15
    ci = paired_bootstrap_ci(a, b, resamples=2000, seed=7)
    assert ci == paired_bootstrap_ci(a, b, resamples=2000, seed=7)
    assert ci[0] < 0.15 < ci[1] and ci[1] - ci[0] < 0.4
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap_ci([1], [1, 0])


def test_bootstrap_is_fast():
    a = [1] * 700 + [0] * 300
    b = [1] * 650 + [0] * 50 + [1] * 120 + [0] * 180
    start = time.perf_counter()
    paired_bootstrap_ci(a, b, resamples=10000)
    assert time.perf_counter() - start < 2.0


# --- real runs -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Runs of synth-sql (size tiny) scored by the real `harness eval`: the gold, A, B, a
    --limit run, another data seed, and another suite."""
    root = tmp_path_factory.mktemp("compare")
    env = {**os.environ, "HARNESS_CACHE": str(root / "cache")}

    def evaluate(name: str, *args: str) -> Path:
        out = root / name
        proc = harness("eval", "--suite", "synth-sql", "-S", "size=tiny", *args, "--out", str(out),
                       env=env)
        assert proc.returncode == 0, proc.stderr
        return out

    folders = {"gold": evaluate("gold")}
    lines = (folders["gold"] / "samples.jsonl").read_text().splitlines()
    gold = [json.loads(line) for line in lines]
    assert sorted((s["id"] for s in gold), key=int) == [str(i) for i in range(N)]
    for name, wrong in (("a", WRONG_A), ("b", WRONG_B)):
        path = root / f"{name}.jsonl"
        # alternate a failing query and a wrong result, so both statuses are exercised
        bad = ["SELECT * FROM no_such_table", "SELECT 1"]
        sql = {s["id"]: bad[int(s["id"]) % 2] if s["id"] in wrong else s["gold"] for s in gold}
        path.write_text("".join(json.dumps({"id": i, "sql": q}) + "\n" for i, q in sql.items()))
        folders[name] = evaluate(f"run-{name}", "--predictions", str(path))
    folders["limited"] = evaluate("limited", "--limit", "10")
    folders["seed3"] = evaluate("seed3", "-S", "seed=3")
    other = root / "bird"
    proc = harness("eval", "--suite", "synth-sql-bird", "-S", "size=tiny", "--out", str(other),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    folders["bird"] = other
    folders["tiers"] = {s["id"]: s["tier"] for s in gold}  # type: ignore[assignment]
    return folders


def test_compare_counts_flips_and_significance(runs):
    c = compare_runs(load_run(runs["a"]), load_run(runs["b"]), resamples=2000)
    o = c.overall
    assert c.metric == "ex" and c.suite == "synth-sql" and o.name == "all" and o.n == N
    assert o.accuracy_a == (N - len(WRONG_A)) / N == 14 / 24
    assert o.accuracy_b == (N - len(WRONG_B)) / N == 19 / 24
    assert o.difference == pytest.approx(5 / 24)
    assert set(o.fixed) == FIXED == {str(i) for i in range(2, 10)}
    assert set(o.broken) == BROKEN == {"20", "21", "22"}
    assert o.fixed == sorted(o.fixed, key=int)
    assert (o.b_only_a, o.c_only_b) == (3, 8)
    # exact McNemar, b=3, c=8: n=11, 2 * P(X <= 3) = 2 * (1 + 11 + 55 + 165) / 2**11 = 0.2265625
    assert o.p_value == 2 * (1 + 11 + 55 + 165) / 2**11 == 0.2265625
    assert o.ci_low <= o.difference <= o.ci_high and o.ci_low < o.ci_high
    again = compare_runs(load_run(runs["a"]), load_run(runs["b"]), resamples=2000)
    assert (again.overall.ci_low, again.overall.ci_high) == (o.ci_low, o.ci_high)
    assert o.gold_failures == 0
    # A against itself: nothing flips, no difference
    same = compare_runs(load_run(runs["a"]), load_run(runs["a"]), resamples=100).overall
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert same.fixed == same.broken == []


def test_tier_breakdown(runs):
    tiers: dict[str, str] = runs["tiers"]
    c = compare_runs(load_run(runs["a"]), load_run(runs["b"]), resamples=500)
    results = json.loads((runs["a"] / "results.json").read_text())
    assert [g.name for g in c.tiers] == list(results["by_tier"])
    assert list(results["by_tier"]) == ["easy", "medium", "hard", "extra"]
    for g in c.tiers:
        ids = {i for i, t in tiers.items() if t == g.name}
        assert g.n == len(ids) == 6
        assert g.accuracy_a == len(ids - WRONG_A) / 6 and g.accuracy_b == len(ids - WRONG_B) / 6
        assert set(g.fixed) == ids & FIXED and set(g.broken) == ids & BROKEN
        assert g.p_value == mcnemar_exact(len(ids & BROKEN), len(ids & FIXED))
        assert g.ci_low <= g.difference <= g.ci_high
    assert sum(g.n for g in c.tiers) == N
    assert sum(len(g.fixed) for g in c.tiers) == len(FIXED)


def test_metric_override_and_unknown_metric(runs):
    c = compare_runs(load_run(runs["a"]), load_run(runs["b"]), metric="em", resamples=100)
    assert c.metric == "em" and set(c.overall.fixed) == FIXED and set(c.overall.broken) == BROKEN
    with pytest.raises(ValueError, match="metric 'soft_f1' is not in both runs"):
        compare_runs(load_run(runs["a"]), load_run(runs["b"]), metric="soft_f1")


def test_gold_failures_count_as_wrong_in_both(runs, tmp_path):
    a = tmp_path / "a"
    shutil.copytree(runs["a"], a)
    lines = [json.loads(line) for line in (a / "samples.jsonl").read_text().splitlines()]
    for s in lines:
        if s["id"] == "23":  # right in both runs
            s["status"] = "gold_error"
    (a / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in lines))
    o = compare_runs(load_run(a), load_run(runs["b"]), resamples=100).overall
    assert o.gold_failures == 1
    assert (o.accuracy_a, o.accuracy_b) == (13 / 24, 18 / 24)
    assert set(o.fixed) == FIXED and set(o.broken) == BROKEN


def test_refuses_runs_that_do_not_match(runs, tmp_path):
    a = load_run(runs["a"])
    with pytest.raises(ValueError, match="different suites") as e:
        compare_runs(a, load_run(runs["bird"]))
    assert str(runs["a"]) in str(e.value) and str(runs["bird"]) in str(e.value)
    assert "'synth-sql' vs 'synth-sql-bird'" in str(e.value)
    with pytest.raises(ValueError, match="different data versions") as e:
        compare_runs(a, load_run(runs["seed3"]))
    assert str(runs["seed3"]) in str(e.value) and a.data_hash in str(e.value)
    edited = tmp_path / "edited"
    shutil.copytree(runs["b"], edited)
    results = json.loads((edited / "results.json").read_text())
    results["suite_version"] = "0123456789ab"
    (edited / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="0123456789ab"):
        compare_runs(a, load_run(edited))
    only = r"14 examples only in .*run-a \(10, 11, 12, 13, 14, \.\.\.\)"
    with pytest.raises(ValueError, match=only) as e:
        compare_runs(a, load_run(runs["limited"]))
    assert "same split and --limit" in str(e.value)


def test_malformed_samples_line_names_file_and_line(runs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(runs["b"], broken)
    with (broken / "samples.jsonl").open("a") as f:
        f.write('{"id": "torn\n')
    with pytest.raises(RunRecordError, match=rf"samples.jsonl: line {N + 1}: not valid JSON"):
        load_run(broken)


def test_json_and_table(runs):
    c = compare_runs(load_run(runs["a"]), load_run(runs["b"]), resamples=200)
    data = json.loads(json.dumps(to_json(c)))
    assert data["schema_version"] == 1 and data["metric"] == "ex" and data["resamples"] == 200
    assert data["run_a"]["path"] == str(runs["a"]) and data["data_hash"] == c.data_hash
    assert data["overall"]["b_only_a"] == 3 and data["overall"]["c_only_b"] == 8
    assert list(data["by_tier"]) == ["easy", "medium", "hard", "extra"]
    table = render_table(c)
    header = next(line for line in table.splitlines() if line.startswith("group"))
    assert header.split()[:5] == ["group", "n", "acc", "A", "acc"] and "McNemar p" in header
    row = next(line for line in table.splitlines() if line.startswith("all "))
    cells = row.split()
    assert cells == ["all", "24", "0.583", "0.792", "+0.208", *cells[5:7], "0.2266", "8", "3"]
    assert "fixed (wrong in A, right in B): 2, 3, 4, 5, 6, 7, 8, 9" in table
    assert "broken (right in A, wrong in B): 20, 21, 22" in table


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # keeps "compare" a subcommand, as under `harness`
    app.command("compare")(compare_command)
    return app


def test_cli_prints_the_table_and_writes_json(runs, tmp_path):
    out = tmp_path / "sub" / "cmp.json"
    args = ["compare", str(runs["a"]), str(runs["b"]), "--json", str(out), "--resamples", "300",
            "--seed", "5"]
    result = CliRunner().invoke(cli_app(), args)
    assert result.exit_code == 0, result.output
    assert "McNemar p" in result.stdout and "0.2266" in result.stdout
    assert f"wrote {out}" in result.stdout
    data = json.loads(out.read_text())
    assert data["seed"] == 5 and data["overall"]["fixed"] == [str(i) for i in range(2, 10)]


def test_cli_bad_input_exits_2_with_a_message(runs, tmp_path):
    app, runner = cli_app(), CliRunner()
    result = runner.invoke(app, ["compare", str(runs["a"]), str(runs["bird"])])
    assert result.exit_code == 2 and "error: cannot compare" in result.stderr
    assert "different suites" in result.stderr
    result = runner.invoke(app, ["compare", str(runs["a"]), str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a directory" in result.stderr
    result = runner.invoke(app, ["compare", str(runs["a"]), str(runs["b"]), "--metric", "nope"])
    assert result.exit_code == 2 and "metric 'nope'" in result.stderr


def test_cli_in_a_subprocess_and_lazy_imports(runs):
    code = ("import sys, typer; from harness.cli_compare import compare_command; "
            "assert 'leaderboards' not in sys.modules; typer.run(compare_command)")
    proc = subprocess.run([sys.executable, "-c", code, str(runs["a"]), str(runs["limited"])],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "14 examples only in" in proc.stderr and not proc.stdout
