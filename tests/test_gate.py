"""CI regression gates: ``harness baseline`` / ``harness check`` on real scored runs."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from harness.cli_gate import baseline_command, check_command
from leaderboards.gate import check, load_baseline, make_baseline
from leaderboards.records import load_run
from leaderboards.stats import mcnemar_one_sided
from tests.test_eval_cli import harness

TINY = ["--suite", "synth-sql", "-S", "size=tiny"]
WRONG = "SELECT 1"  # runs, and returns the wrong rows
BROKEN = "SELECT * FROM no_such_table"  # a pred_error

app = typer.Typer()
app.command("baseline")(baseline_command)
app.command("check")(check_command)


def cli(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def scored(root: Path, name: str, changes: dict[str, str] | None = None, suite: list[str] = TINY) -> Path:
    """A run directory from the real ``harness eval``: the gold SQL, with ``changes`` by id."""
    out = root / name
    preds = "gold"
    if changes:
        gold = {s["id"]: s["gold"] for s in load_run(root / "gold").samples.values()}
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": i, "sql": changes.get(i, sql)}) + "\n"
                                for i, sql in gold.items()))
        preds = str(path)
    proc = harness("eval", *suite, "--predictions", preds, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gate")
    out = {"gold": scored(root, "gold")}
    out["gold2"] = scored(root, "gold2")
    ids = sorted(load_run(out["gold"]).samples, key=int)
    out["one"] = scored(root, "one", {"0": WRONG})
    out["mix"] = scored(root, "mix", {"0": WRONG, "1": WRONG})
    out["swap"] = scored(root, "swap", {"1": WRONG, "2": WRONG})  # 0 fixed, 2 broken
    out["bad"] = scored(root, "bad", {i: WRONG for i in ids[:12]})
    out["err"] = scored(root, "err", {"0": BROKEN, "1": BROKEN})
    out["seed3"] = scored(root, "seed3", suite=[*TINY, "-S", "seed=3"])
    out["bird"] = scored(root, "bird", suite=["--suite", "synth-sql-bird", "-S", "size=tiny"])
    for name, folder in out.items():
        if name not in ("seed3", "bird"):
            proc = cli("baseline", folder)
            assert proc.exit_code == 0, proc.output
            (root / f"{name}.baseline.json").write_text(proc.stdout)
    return out


def baseline_of(runs: dict[str, Path], name: str) -> Path:
    return runs[name].parent / f"{name}.baseline.json"


def test_baseline_stdout_is_exactly_the_baseline_json(runs):
    proc = cli("baseline", runs["mix"], "--max-drop", "0.01", "--significance", "0.05",
               "--metric", "ex", "--metric-drop", "error_rate=0.02")
    assert proc.exit_code == 0, proc.output
    data = json.loads(proc.stdout)
    assert data["schema_version"] == 1 and data["suite"] == "synth-sql" and data["metrics"] == ["ex"]
    assert data["data_hash"] == load_run(runs["mix"]).results["suite_version"]
    assert data["git_revision"] == json.loads((runs["mix"] / "run.json").read_text())["git_revision"]
    assert data["policy"] == {"max_drop": 0.01, "significance": 0.05,
                              "per_metric": {"error_rate": {"max_drop": 0.02}}}
    overall = data["groups"]["overall"]
    assert overall["count"] == 24 and overall["metrics"]["ex"] == pytest.approx(22 / 24)
    assert set(data["groups"]) == {"overall", "easy", "medium", "hard", "extra"}
    hits = data["examples"]["hits"]
    assert "0" not in hits["ex"] and "1" not in hits["ex"] and len(hits["ex"]) == 22
    assert hits["error_rate"] == [] and sum(map(len, data["examples"]["tiers"].values())) == 24
    assert data == make_baseline(load_run(runs["mix"]), metrics=["ex"], max_drop=0.01,
                                 significance=0.05, per_metric={"error_rate": {"max_drop": 0.02}})
    with pytest.raises(ValueError, match="no metric exx"):
        make_baseline(load_run(runs["mix"]), per_metric={"exx": {"max_drop": 0.1}})


def test_identical_and_improved_runs_pass(runs):
    for name, against in [("gold", "gold2"), ("gold", "gold"), ("mix", "gold"), ("mix", "one")]:
        proc = cli("check", "--baseline", baseline_of(runs, name), runs[against])
        assert proc.exit_code == 0, (name, against, proc.output)
        assert proc.stdout.rstrip().endswith("PASSED") and "FAIL" not in proc.stdout


def test_clear_regression_fails_with_all_reports(runs, tmp_path):
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    proc = cli("check", "--baseline", baseline_of(runs, "gold"), runs["bad"],
               "--significance", "0.05", "--json", report, "--junit", junit)
    assert proc.exit_code == 1, proc.output
    assert "FAIL" in proc.stdout and proc.stdout.rstrip().splitlines()[-1].startswith("FAILED: ")
    data = json.loads(report.read_text())
    assert data["passed"] is False and data["regressions"] >= 2
    failed = {(r["group"], r["metric"]) for r in data["rows"] if r["status"] == "FAIL"}
    assert {("overall", "ex"), ("overall", "em")} <= failed
    row = next(r for r in data["rows"] if (r["group"], r["metric"]) == ("overall", "ex"))
    assert row["baseline"] == 1.0 and row["current"] == 0.5 and row["delta"] == -0.5
    assert row["p_value"] == pytest.approx(0.5**12)
    suite = ET.fromstring(junit.read_text()).find("testsuite")
    assert suite.get("name") == "harness check"
    cases = suite.findall("testcase")
    assert len(cases) == len(data["rows"]) == 5 * 4  # 5 groups x (ex, em, error, timeout)
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == int(suite.get("failures")) == data["regressions"]
    assert {(c.get("classname"), c.get("name")) for c in failures} == {
        (f"synth-sql.{g}", m) for g, m in failed}
    assert "dropped 0.500" in failures[0].find("failure").get("message")


def test_one_flipped_example_fails_strict_and_passes_with_tolerance(runs):
    strict = cli("check", "--baseline", baseline_of(runs, "gold"), runs["one"])
    assert strict.exit_code == 1 and "FAILED: 4 regressions" in strict.stdout  # ex, em x2
    # one example of a 6-example tier is a 0.167 drop there (0.042 overall)
    for extra in (["--max-drop", "0.2"], ["--significance", "0.05"]):
        loose = cli("check", "--baseline", baseline_of(runs, "gold"), runs["one"], *extra)
        assert loose.exit_code == 0, (extra, loose.output)
    tier = next(r for r in check(load_baseline(baseline_of(runs, "gold")), load_run(runs["one"]),
                                 significance=0.05).rows if r.group == "hard" and r.metric == "ex")
    assert tier.passed and tier.p_value == 0.5 and "not significant" in tier.reason


def test_noise_both_ways_passes_with_significance_only(runs):
    proc = cli("check", "--baseline", baseline_of(runs, "mix"), runs["swap"])
    assert proc.exit_code == 1  # a tier lost an example: strict mode fails it
    proc = cli("check", "--baseline", baseline_of(runs, "mix"), runs["swap"], "--significance", "0.05")
    assert proc.exit_code == 0, proc.output
    report = check(load_baseline(baseline_of(runs, "mix")), load_run(runs["swap"]), significance=0.05)
    overall = next(r for r in report.rows if r.group == "overall" and r.metric == "ex")
    assert overall.delta == 0 and overall.p_value == mcnemar_one_sided(1, 1) == 0.75


def test_policy_in_the_baseline_is_used_and_overridden(runs, tmp_path):
    loose = tmp_path / "loose.json"
    loose.write_text(cli("baseline", runs["gold"], "--max-drop", "0.2").stdout)
    assert cli("check", "--baseline", loose, runs["one"]).exit_code == 0
    assert cli("check", "--baseline", loose, runs["one"], "--max-drop", "0").exit_code == 1
    per = tmp_path / "per.json"
    per.write_text(cli("baseline", runs["gold"], "--metric-drop", "em=0.2").stdout)
    report = check(load_baseline(per), load_run(runs["one"]))
    assert {r.metric for r in report.rows if not r.passed} == {"ex"}


def test_rising_error_rate_fails(runs, tmp_path):
    report = tmp_path / "r.json"
    proc = cli("check", "--baseline", baseline_of(runs, "mix"), runs["err"], "--max-drop", "0.05",
               "--json", report)
    assert proc.exit_code == 1, proc.output
    rows = json.loads(report.read_text())["rows"]
    assert {r["metric"] for r in rows if r["status"] == "FAIL"} == {"error_rate"}
    overall = next(r for r in rows if r["group"] == "overall" and r["metric"] == "error_rate")
    assert overall["delta"] == pytest.approx(2 / 24) and "rose 0.083" in overall["reason"]
    assert cli("check", "--baseline", baseline_of(runs, "mix"), runs["err"],
               "--max-drop", "0.5").exit_code == 0


def test_other_suite_or_data_is_refused(runs):
    for other, word in [("seed3", "data"), ("bird", "synth-sql-bird")]:
        proc = cli("check", "--baseline", baseline_of(runs, "gold"), runs[other])
        assert proc.exit_code == 2 and proc.stdout == "", proc.output
        assert "the baseline is suite synth-sql" in proc.stderr and word in proc.stderr


def test_bad_baselines_and_runs_are_refused_naming_the_file(runs, tmp_path):
    good = json.loads(baseline_of(runs, "gold").read_text())
    broken = tmp_path / "broken.json"
    for text in ["{not json", json.dumps({**good, "schema_version": 7}),
                 json.dumps({**good, "groups": {"overall": {"count": 3}}}), "[]"]:
        broken.write_text(text)
        proc = cli("check", "--baseline", broken, runs["gold"])
        assert proc.exit_code == 2 and str(broken) in proc.stderr, proc.output
    proc = cli("check", "--baseline", tmp_path / "absent.json", runs["gold"])
    assert proc.exit_code == 2 and "absent.json" in proc.stderr
    proc = cli("check", "--baseline", baseline_of(runs, "gold"), tmp_path)
    assert proc.exit_code == 2 and "run.json" in proc.stderr
    proc = cli("baseline", runs["gold"], "--metric", "nope")
    assert proc.exit_code == 2 and "no metric nope" in proc.stderr and proc.stdout == ""


def test_a_tier_missing_from_the_run_fails(runs):
    baseline = load_baseline(baseline_of(runs, "gold"))
    run = load_run(runs["gold2"])
    del run.results["by_tier"]["hard"]
    report = check(baseline, run)
    assert not report.passed
    [row] = report.failures
    assert row.group == "hard" and "absent from the run" in row.reason
    assert "FAILED: 1 regression" in report.render_table()


def test_without_per_example_data_a_row_falls_back_to_the_allowed_drop(runs):
    baseline = load_baseline(baseline_of(runs, "gold"))
    del baseline["examples"]["hits"]["em"]  # as for a metric that is not 0/1, e.g. soft_f1
    report = check(baseline, load_run(runs["one"]), significance=0.05)
    assert {(r.group, r.metric) for r in report.failures} == {("overall", "em"), ("hard", "em")}
    assert all(r.p_value is None and "no paired test" in r.reason for r in report.failures)
