"""The built-in per-example metrics, registered under the ``harness.metrics`` entry points.

A metric is a function ``(ScoreContext) -> float`` run inside a scoring worker
after execution; results average them over examples (per tier, per feature).
VES and R-VES store per-example sqrt(ratio)*100 and reward*100, so their mean is
the official score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.metrics.execution_accuracy import Execution, timed_repetitions
from harness.types import Example, Status


@dataclass(frozen=True)
class EvalOptions:
    """Plain keyword configuration of one evaluation (recorded in run.json)."""

    semantics: str = "spider"
    metrics: tuple[str, ...] = ("ex",)
    timeout_s: float = 30.0
    max_rows: int = 1_000_000
    keep_distinct: bool = False
    lenient_em: bool = False
    soft_f1_order_free: bool = False
    ves_repetitions: int = 100


@dataclass
class ScoreContext:
    example: Example
    pred: str
    execution: Execution
    options: EvalOptions
    suite_context: dict[str, Any]


def execution_accuracy(ctx: ScoreContext) -> float:
    """1 when the prediction's result matches the gold's under the chosen semantics."""
    return 1.0 if ctx.execution.status is Status.MATCH else 0.0


def exact_match(ctx: ScoreContext) -> float:
    """Spider exact-set match; needs a suite that provides a schema (tables.json)."""
    from harness.metrics.spider_em import spider_exact_match

    schema_for = ctx.suite_context.get("schema_for")
    if schema_for is None:
        raise ValueError(f"metric 'em' needs a schema, and suite {ctx.example.suite!r} provides none")
    schema = schema_for(ctx.example, ctx.suite_context)
    return 1.0 if spider_exact_match(ctx.pred, ctx.example.gold, schema, lenient=ctx.options.lenient_em) else 0.0


def soft_f1_metric(ctx: ScoreContext) -> float:
    """BIRD mini-dev Soft-F1 on the result rows; 0 when either query fails."""
    from harness.metrics.bird import soft_f1, soft_f1_order_free

    ex = ctx.execution
    if ex.status not in (Status.MATCH, Status.MISMATCH):
        return 0.0
    score = soft_f1_order_free if ctx.options.soft_f1_order_free else soft_f1
    return float(score(ex.pred_rows or [], ex.gold_rows or []))


def _time_ratio(ctx: ScoreContext) -> float:
    if ctx.execution.status is not Status.MATCH or ctx.options.ves_repetitions < 1:
        return 0.0
    from harness.metrics.ves import ves_time_ratio

    cached = ctx.execution.latency_s.get("_ves_ratio")
    if cached is None:
        gold_times, pred_times = timed_repetitions(
            ctx.example.db_paths[0], ctx.pred, ctx.example.gold, ctx.options.ves_repetitions, ctx.options.timeout_s
        )
        cached = ves_time_ratio(gold_times, pred_times)
        ctx.execution.latency_s["_ves_ratio"] = cached
    return cached


def ves_metric(ctx: ScoreContext) -> float:
    """Valid Efficiency Score term: sqrt(gold time / pred time) * 100 for correct predictions."""
    return math.sqrt(_time_ratio(ctx)) * 100


def r_ves_metric(ctx: ScoreContext) -> float:
    """Reward-based VES term (BIRD mini-dev): the reward bucket of the time ratio, * 100."""
    from harness.metrics.ves import r_ves_reward

    return r_ves_reward(_time_ratio(ctx)) * 100
