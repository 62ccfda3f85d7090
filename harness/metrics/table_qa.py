"""Table QA scoring: a prediction's denotation against the gold answer list (semantics ``denotation``).

An example's ``db_paths[0]`` is the table's CSV file and its ``gold`` the answer
list in WikiTableQuestions' ``targetValue`` form (values joined by ``|``, with the
TSV escapes). The gold never executes. ``options.prediction_kind`` says what a
prediction is:

- ``"sql"`` (the default): a query run on the table as ``t`` in DuckDB
  (``harness.execution.duckdb_tables``: locked down, one SELECT only, deadline
  ``timeout_s``, row cap ``max_rows``). Its denotation is **every cell of the
  result, row by row, left to right** (``result_values``): a one-column result
  gives its values, a one-row result its fields; the evaluator then treats them
  as a set, as it does the gold list.
- ``"answer"``: the answer itself, in the ``targetValue`` form.

The lists are compared with the official evaluator's rules
(``harness.metrics.wtq_eval.check_denotation``, gold canonicalised as documented
there). Status: MATCH / MISMATCH; PRED_ERROR (refused or failing SQL, row cap);
PRED_TIMEOUT; GOLD_ERROR when the gold answer is empty or the table cannot be
loaded (missing or unreadable file), since then no prediction can be judged.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from harness.options import EvalOptions
from harness.types import Example, Execution, Status

PREDICTION_KINDS = ("sql", "answer")


def cell_text(value: Any) -> str:
    """The answer string of one result cell.

    >>> [cell_text(v) for v in (None, 3, 2.0, 2.5, dt.date(1990, 1, 5), dt.datetime(1990, 1, 5), "x")]
    ['', '3', '2', '2.5', '1990-01-05', '1990-01-05', 'x']
    >>> cell_text(decimal.Decimal("12.50")), cell_text(True)
    ('12.50', 'true')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def result_values(rows: list[tuple]) -> list[str]:
    """A result's denotation: every cell, row-major, as answer strings.

    >>> result_values([("Paris", 3), ("Rome", None)])
    ['Paris', '3', 'Rome', '']
    """
    return [cell_text(v) for row in rows for v in row]


def execute_denotation(example: Example, pred: str, options: EvalOptions) -> Execution:
    """Judge ``pred`` (SQL or an answer list, per ``options.prediction_kind``) against the gold answers."""
    from harness.metrics.wtq_eval import check_denotation, parse_answer_list

    kind = options.prediction_kind or "sql"
    if kind not in PREDICTION_KINDS:
        raise ValueError(f"prediction kind {kind!r} is not one of {', '.join(PREDICTION_KINDS)} for table QA")
    if not isinstance(example.gold, str) or not example.gold.strip():
        return Execution(Status.GOLD_ERROR, error=f"example {example.id}: empty gold answer")
    gold = parse_answer_list(example.gold)
    latency: dict[str, float] = {}
    if kind == "answer":
        values = parse_answer_list(pred or "")
    else:
        from harness.execution.duckdb_tables import TableError, run_table_query

        if not example.db_paths:
            return Execution(Status.GOLD_ERROR, gold_rows=gold, error=f"example {example.id}: no table file")
        try:
            result = run_table_query(
                example.db_paths[0], pred or "", timeout_s=options.timeout_s or None, max_rows=options.max_rows or None
            )
        except TableError as e:
            return Execution(Status.GOLD_ERROR, gold_rows=gold, error=str(e))
        latency["pred"] = result.elapsed_s
        if result.status != "ok":
            status = Status.PRED_TIMEOUT if result.status == "timeout" else Status.PRED_ERROR
            return Execution(status, gold_rows=gold, error=result.error, latency_s=latency)
        values = result_values(result.rows or [])
    status = Status.MATCH if check_denotation(gold, values) else Status.MISMATCH
    return Execution(status, gold_rows=gold, pred_rows=values, latency_s=latency)
