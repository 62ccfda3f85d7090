"""`harness suites` and `harness suites show`."""

from __future__ import annotations

from tests.test_eval_cli import harness


def test_suites_lists_every_registered_suite_with_size_and_tiers():
    proc = harness("suites", timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "needs --data" in lines["spider"] and "needs --data" in lines["bird"]
    assert "30 examples  easy 12, medium 9, hard 6, extra 3" in lines["tiny"]
    assert "384 examples  easy 96, medium 96, hard 96, extra 96" in lines["synth-sql"]
    for name in ("synth-code", "synth-code-completion", "synth-table", "synth-sql-bird"):
        assert "examples" in lines[name]
    assert not [line for line in lines.values() if "failed to load" in line], proc.stdout


def test_show_prints_examples_of_each_tier():
    proc = harness("suites", "show", "tiny", "--per-tier", "1")
    assert proc.returncode == 0, proc.stderr
    assert "tiers: easy 12, medium 9, hard 6, extra 3" in proc.stdout
    for tier in ("[easy]", "[medium]", "[hard]", "[extra]"):
        assert proc.stdout.count(tier) == 1
    assert "gold:     SELECT count(*) FROM customer" in proc.stdout


def test_show_unknown_suite_is_an_error():
    proc = harness("suites", "show", "nosuch")
    assert proc.returncode == 2 and "no suite named 'nosuch'" in proc.stderr
