"""Executors of the code suites on tiny hand-made examples, and a run through evaluate()."""

from __future__ import annotations

import json

import pytest

from harness.executors import get_executor
from harness.metrics.code_exec import (
    completed_program,
    execute_completion,
    execute_output,
    next_line_exact_match,
    normalize_output,
)
from harness.metrics.registry import ScoreContext
from harness.options import EvalOptions
from harness.types import Example, Execution, Status

ALLOWED = EvalOptions(allow_code_execution=True, timeout_s=5.0)
PROGRAM_LINES = ["total = 0", "for i in range(4):", "    total += i", "print(total)", "print('done')"]


def output_example(gold: str) -> Example:
    return Example(id="0", suite="synth-code", db_id="", question="print(1)\nprint(2)\n", gold=gold)


def completion_example(k: int) -> Example:
    """Missing line ``k`` of PROGRAM_LINES, in synth-code's layout (suffix starts with a newline)."""
    return Example(
        id=str(k), suite="synth-code-completion", db_id="",
        question="".join(line + "\n" for line in PROGRAM_LINES[:k]),
        gold=PROGRAM_LINES[k],
        metadata={"suffix": "\n" + "\n".join(PROGRAM_LINES[k + 1:]) + "\n", "output": "6\ndone\n"},
    )


@pytest.mark.parametrize(
    "pred",
    ["1\n2\n", "1\n2", "1   \n2\t\n\n\n", "```\n1\n2\n```", "```text\n1\n2\n```\n", "1\r\n2\r\n"],
)
def test_output_matches_up_to_trailing_whitespace_and_a_fence(pred):
    outcome = execute_output(output_example("1\n2\n"), pred, EvalOptions())
    assert outcome.status is Status.MATCH and outcome.pred_rows == ["1", "2"] == outcome.gold_rows


@pytest.mark.parametrize("pred", ["1\n3\n", "2\n1\n", " 1\n2\n", "1\n\n2\n", "12\n", ""])
def test_output_mismatches(pred):
    assert execute_output(output_example("1\n2\n"), pred, EvalOptions()).status is Status.MISMATCH


def test_output_needs_no_opt_in_and_runs_nothing():
    outcome = execute_output(output_example("hi\n"), "__import__('os').system('echo hi')", EvalOptions())
    assert outcome.status is Status.MISMATCH and outcome.latency_s == {}


def test_normalize_keeps_leading_blank_lines():
    assert normalize_output("\n\nx  \n") == ["", "", "x"]


def test_executors_are_registered_under_their_semantics():
    assert get_executor("output") is execute_output
    assert get_executor("completion") is execute_completion
    assert get_executor("cruxeval").__name__ == "execute_cruxeval"


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gold_line_completes_the_program(k):
    example = completion_example(k)
    assert completed_program(example, example.gold) == "\n".join(PROGRAM_LINES) + "\n"
    outcome = execute_completion(example, example.gold, ALLOWED)
    assert outcome.status is Status.MATCH and outcome.pred_rows == ["6", "done"]


@pytest.mark.parametrize(
    ("pred", "status"),
    [
        ("total += i", Status.MATCH),  # takes the gold line's indentation
        ("    total += i  # add", Status.MATCH),
        ("```python\n    total += i\n```", Status.MATCH),
        ("\n\n    total += i\nprint('extra')\n", Status.MATCH),  # only the first line counts
        ("    total += 2 * i", Status.MISMATCH),
        ("    total += i +", Status.PRED_ERROR),
        ("    total += undefined", Status.PRED_ERROR),
        ("    import os; os.system('echo hi')", Status.PRED_ERROR),
        ("    while True: pass", Status.PRED_TIMEOUT),
    ],
)
def test_completion_predictions(pred, status):
    outcome = execute_completion(completion_example(2), pred, EvalOptions(allow_code_execution=True, timeout_s=1.0))
    assert outcome.status is status, outcome.error
    assert outcome.gold_rows == ["6", "done"]


def test_completion_needs_the_opt_in():
    with pytest.raises(PermissionError, match="--allow-code-execution"):
        execute_completion(completion_example(2), "    total += i", EvalOptions())


@pytest.mark.parametrize(
    ("pred", "score"),
    [("    total += i", 1.0), ("total += i", 1.0), ("  total += i  \n", 1.0), ("total+=i", 0.0), ("", 0.0)],
)
def test_next_line_exact_match(pred, score):
    ctx = ScoreContext(completion_example(2), pred, Execution(Status.MISMATCH), ALLOWED, {})
    assert next_line_exact_match(ctx) == score


def test_cruxeval_through_evaluate(tmp_path):
    from harness.evaluate import evaluate
    from suites.cruxeval import load_cruxeval

    data = tmp_path / "cruxeval.jsonl"
    rows = [
        {"code": "def f(x):\n    return x * 2", "input": "21", "output": "42", "id": "a"},
        {"code": "def f(s):\n    return s[::-1]", "input": "'abc'", "output": "'cba'", "id": "b"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = load_cruxeval(data)
    options = EvalOptions(semantics="cruxeval", metrics=("output_acc",), allow_code_execution=True, timeout_s=5.0)
    results = evaluate(suite, {"a": "42", "b": "'abc'"}, options, tmp_path / "run", jobs=2)
    assert results["overall"]["count"] == 2 and results["overall"]["metrics"]["output_acc"] == 0.5
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert {s["id"]: s["status"] for s in samples} == {"a": "match", "b": "mismatch"}
