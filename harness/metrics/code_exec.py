"""Executors and a metric for the code suites: output prediction, CRUXEval, line completion.

- ``output`` (:func:`execute_output`): the model predicts what a program
  prints; gold is the printed text. Both sides are compared line by line after
  :func:`normalize_output` (trailing whitespace of each line and trailing blank
  lines dropped; a Markdown code fence around the prediction removed). No code
  runs.
- ``cruxeval`` (:func:`execute_cruxeval`): CRUXEval output prediction. The
  sandbox runs ``{code}`` followed by ``assert f({input}) == ({prediction})``.
  The official script instead asserts ``{gold output} == {prediction}``; the two
  agree whenever ``f`` is deterministic (all 800 gold outputs of the real set
  match under ours), and running ``f`` also checks the gold. As in the official
  script, a prediction that contains ``f({input})`` itself is wrong.
- ``completion`` (:func:`execute_completion`): line-level completion. The
  sandbox runs ``question + line + metadata["suffix"]`` and its printed output
  is compared with ``metadata["output"]`` as ``output`` compares. ``line`` is
  the first non-blank line of the prediction (inside a code fence if there is
  one); a line given without indentation takes the gold line's indentation, so
  a model that answers ``x += 1`` for ``    x += 1`` is judged on the code.

The two executors that run model-written code call
:func:`harness.execution.python.code_execution_allowed` first, and use
``options.timeout_s`` as the wall-clock limit of one program.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from harness.execution.python import ProgramResult, code_execution_allowed, run_python
from harness.options import EvalOptions
from harness.types import Example, Execution, Status

if TYPE_CHECKING:
    from harness.metrics.registry import ScoreContext

DEFAULT_TIMEOUT_S = 30.0  # when options.timeout_s is 0 ("no deadline" for SQL), a program still gets one


def strip_code_fence(text: str) -> str:
    """Drop a Markdown fence line (```lang) at the start and a closing ``` at the end.

    >>> strip_code_fence("```text\\n1\\n2\\n```\\n")
    '1\\n2'
    >>> strip_code_fence("1\\n2\\n")
    '1\\n2\\n'
    """
    stripped = text.strip("\n")
    lines = stripped.split("\n")
    if not lines or not lines[0].lstrip().startswith("```"):
        return text
    lines = lines[1:]
    if lines and lines[-1].strip() == "```":
        lines = lines[:-1]
    return "\n".join(lines)


def normalize_output(text: str, *, strip_fence: bool = False) -> list[str]:
    """Printed output as compared: lines without trailing whitespace, no trailing blank lines.

    >>> normalize_output("1  \\n\\n2\\r\\n\\n\\n")
    ['1', '', '2']
    >>> normalize_output("```\\n3\\n```", strip_fence=True)
    ['3']
    """
    if strip_fence:
        text = strip_code_fence(text)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _timeout(options: EvalOptions) -> float:
    return options.timeout_s if options.timeout_s and options.timeout_s > 0 else DEFAULT_TIMEOUT_S


def _failed(result: ProgramResult) -> Status:
    return Status.PRED_TIMEOUT if result.status == "timeout" else Status.PRED_ERROR


def execute_output(example: Example, pred: str, options: EvalOptions) -> Execution:
    """Exact match of the printed values (see the module docstring); runs nothing."""
    gold_lines = normalize_output(example.gold)
    pred_lines = normalize_output(pred, strip_fence=True)
    status = Status.MATCH if pred_lines == gold_lines else Status.MISMATCH
    return Execution(status, gold_rows=gold_lines, pred_rows=pred_lines)


def execute_cruxeval(example: Example, pred: str, options: EvalOptions) -> Execution:
    """Run ``assert f(input) == (pred)`` after the function: MATCH, MISMATCH, PRED_ERROR or PRED_TIMEOUT."""
    code_execution_allowed(options)
    code, call_input = example.metadata["code"], example.metadata["input"]
    expr = pred.strip()
    outcome = Execution(Status.MATCH, gold_rows=[example.gold], pred_rows=[expr])
    if f"f({call_input})" in expr:
        outcome.status, outcome.error = Status.MISMATCH, "the prediction calls f on the input"
        return outcome
    try:
        ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        # checked here so that text such as "1) or (True" cannot change the assertion
        outcome.status, outcome.error = Status.PRED_ERROR, f"not a Python expression: {type(e).__name__}: {e}"
        return outcome
    result = run_python(f"{code}\nassert f({call_input}) == (\n{expr}\n)\n", timeout_s=_timeout(options))
    outcome.latency_s["pred"] = result.elapsed_s
    if result.status == "ok":
        return outcome
    last_line = result.stderr.strip().splitlines()[-1:] or [""]
    if result.status == "error" and last_line[0].startswith("AssertionError"):
        outcome.status = Status.MISMATCH
    else:
        outcome.status, outcome.error = _failed(result), result.error
    return outcome


def completed_program(example: Example, pred: str) -> str:
    """The prefix, the predicted line (indented like the gold when it has no indentation), the suffix.

    >>> ex = Example("0", "s", "", "for i in range(2):\\n", "    print(i)", metadata={"suffix": "\\nprint(9)\\n"})
    >>> completed_program(ex, "print(i)")
    'for i in range(2):\\n    print(i)\\nprint(9)\\n'
    """
    lines = [line for line in strip_code_fence(pred).split("\n") if line.strip()]
    line = lines[0].rstrip() if lines else ""
    if line and line == line.lstrip():
        gold = example.gold
        line = gold[: len(gold) - len(gold.lstrip())] + line
    prefix, suffix = example.question, example.metadata.get("suffix", "")
    if prefix and not prefix.endswith("\n"):
        prefix += "\n"
    if suffix and not suffix.startswith("\n"):
        suffix = "\n" + suffix
    return prefix + line + (suffix or "\n")


def execute_completion(example: Example, pred: str, options: EvalOptions) -> Execution:
    """Run the completed program and compare its output with ``metadata["output"]``."""
    code_execution_allowed(options)
    gold_lines = normalize_output(example.metadata["output"])
    result = run_python(completed_program(example, pred), timeout_s=_timeout(options))
    pred_lines = normalize_output(result.stdout)
    outcome = Execution(Status.MATCH, gold_rows=gold_lines, pred_rows=pred_lines,
                        latency_s={"pred": result.elapsed_s})
    if result.status != "ok":
        outcome.status, outcome.error = _failed(result), result.error
    elif pred_lines != gold_lines:
        outcome.status = Status.MISMATCH
    return outcome


def next_line_exact_match(ctx: ScoreContext) -> float:
    """1 when the predicted line equals the gold line, surrounding whitespace aside (``next_line_em``)."""
    return 1.0 if ctx.pred.strip() == ctx.example.gold.strip() else 0.0
