"""The built-in per-example metrics, registered under the ``harness.metrics`` entry points.

A metric is a function ``(ScoreContext) -> float`` run inside a scoring worker
after execution; results average them over examples (per tier, per feature).
VES and R-VES store their official per-example terms (sqrt(ratio)*100 and
sqrt(reward)*100), so their mean is the official score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.metrics.execution_accuracy import timed_repetitions
from harness.options import EvalOptions
from harness.types import Example, Execution, Status


@dataclass
class ScoreContext:
    example: Example
    pred: str
    execution: Execution
    options: EvalOptions
    suite_context: dict[str, Any]


def execution_accuracy(ctx: ScoreContext) -> float:
    """1 when the prediction's result matches the gold's under the chosen semantics."""
    return 1.0 if ctx.execution.status is Status.MATCH or ctx.execution.official_match else 0.0


def exact_match(ctx: ScoreContext) -> float:
    """Spider exact-set match; needs a suite that provides a schema (tables.json)."""
    from harness.metrics.spider_em import SpiderParseError, spider_exact_match

    schema_for = ctx.suite_context.get("schema_for")
    if schema_for is None:
        raise ValueError(f"metric 'em' needs a schema, and suite {ctx.example.suite!r} provides none")
    schema = schema_for(ctx.example, ctx.suite_context)
    try:
        matched = spider_exact_match(ctx.pred, ctx.example.gold, schema, lenient=ctx.options.lenient_em)
    except SpiderParseError:
        return 0.0  # the official evaluator crashes on such a gold; its tier reads 'unparsed'
    return 1.0 if matched else 0.0


def soft_f1_metric(ctx: ScoreContext) -> float:
    """BIRD mini-dev Soft-F1 on the result rows; 0 when either query fails."""
    from harness.metrics.bird import soft_f1, soft_f1_order_free

    ex = ctx.execution
    if ex.status not in (Status.MATCH, Status.MISMATCH):
        return 0.0
    score = soft_f1_order_free if ctx.options.soft_f1_order_free else soft_f1
    return float(score(ex.pred_rows or [], ex.gold_rows or []))


def _time_ratio(ctx: ScoreContext, *, default_repetitions: int, fetch: bool) -> float:
    """gold time / predicted time, cleaned of outliers, for a correct prediction; else 0."""
    if ctx.execution.status is not Status.MATCH:
        return 0.0
    from harness.execution.sqlite import QueryFailed
    from harness.metrics.ves import ves_time_ratio

    repetitions = ctx.options.ves_repetitions or default_repetitions
    try:
        gold_times, pred_times = timed_repetitions(
            ctx.example.db_paths[0], ctx.pred, ctx.example.gold, repetitions, ctx.options.timeout_s or None, fetch=fetch,
            options=ctx.options,
        )
    except QueryFailed:
        return 0.0  # the official scripts score any failure during timing as 0
    return ves_time_ratio(gold_times, pred_times)


def ves_metric(ctx: ScoreContext) -> float:
    """VES term (BIRD evaluation_ves.py): sqrt(gold time / pred time) * 100, timing execute only."""
    from harness.metrics.ves import VES_REPETITIONS, ves_term

    return ves_term(_time_ratio(ctx, default_repetitions=VES_REPETITIONS, fetch=False))


def r_ves_metric(ctx: ScoreContext) -> float:
    """R-VES term (BIRD mini-dev): sqrt(reward bucket of the time ratio) * 100, timing execute+fetch."""
    from harness.metrics.ves import R_VES_REPETITIONS, r_ves_term

    return r_ves_term(_time_ratio(ctx, default_repetitions=R_VES_REPETITIONS, fetch=True))
