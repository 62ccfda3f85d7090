"""Score one example: execute, compare, compute metrics, tag. Runs in worker processes.

The parent sets the suite and options with ``install`` before the worker pool
forks, so each task is only an example's index.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from harness import registry
from harness.executors import get_executor
from harness.metrics.registry import ScoreContext
from harness.options import EvalOptions
from harness.suite import Suite
from harness.types import Example, Sample, Status

_state: dict[str, Any] = {}


def install(suite: Suite, predictions: dict[str, str], options: EvalOptions) -> None:
    """Make the suite, predictions and metric functions available to score_example."""
    metrics: dict[str, Callable[[ScoreContext], float]] = {
        name: registry.load("metrics", name) for name in options.metrics
    }
    from harness.metrics.features import sql_features

    _state.update(
        suite=suite,
        predictions=predictions,
        options=options,
        metrics=metrics,
        features=sql_features,
        execute=get_executor(options.semantics),
    )


def sample_hash(example: Example, pred: str) -> str:
    """Identifies what was scored: the example's id, database, gold and the prediction."""
    payload = json.dumps([example.id, example.db_id, example.gold, pred])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _describe(suite: Suite, example: Example) -> tuple[str | None, list[str]]:
    tier = example.tier
    if tier is None and suite.resolve_tier is not None:
        tier = suite.resolve_tier(example, suite.context)
    if example.features or not suite.tag_sql_features:
        return tier, example.features
    return tier, _state["features"](example.gold)


def score_example(index: int) -> dict[str, Any]:
    """Score suite.examples[index]; returns the samples.jsonl record."""
    suite: Suite = _state["suite"]
    options: EvalOptions = _state["options"]
    example = suite.examples[index]
    pred = _state["predictions"][example.id]
    tier, features = _describe(suite, example)
    execution = _state["execute"](example, pred, options)
    ctx = ScoreContext(example, pred, execution, options, suite.context)
    scores = {name: fn(ctx) for name, fn in _state["metrics"].items()}
    sample = Sample(
        id=example.id,
        db_id=example.db_id,
        tier=tier,
        features=features,
        status=execution.status,
        pred=pred,
        gold=example.gold,
        scores=scores,
        error=execution.error,
        latency_s={k: round(v, 6) for k, v in execution.latency_s.items() if not k.startswith("_")},
    )
    record = sample.to_json()
    record["hash"] = sample_hash(example, pred)
    for side, rows in (("pred_rows", execution.pred_rows), ("gold_rows", execution.gold_rows)):
        if rows is not None:
            record[side] = preview_rows(rows)
    return record


PREVIEW_ROWS, PREVIEW_CHARS = 5, 100


def preview_rows(rows: Any) -> list[list[Any]]:
    """The first rows of a result for people to read (run pages): JSON values, long text cut.

    >>> preview_rows([(1, "a" * 120, None, b"x")] * 7)[:1]
    [[1, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…', None, "b'x'"]]
    >>> len(preview_rows([(1,)] * 7)), preview_rows(["3", "4"])
    (5, [['3'], ['4']])
    """

    def value(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float)):
            return v
        text = v if isinstance(v, str) else repr(v) if isinstance(v, bytes) else str(v)
        return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"

    out = []
    for row in list(rows)[:PREVIEW_ROWS]:
        cells = row if isinstance(row, (tuple, list)) else (row,)
        out.append([value(v) for v in cells])
    return out


def failed_record(index: int, status: Status, error: str) -> dict[str, Any]:
    """The record for an example whose worker was killed or crashed: every metric 0."""
    suite: Suite = _state["suite"]
    example = suite.examples[index]
    pred = _state["predictions"][example.id]
    scores = {name: 0.0 for name in _state["metrics"]}
    tier, features = _describe(suite, example)
    sample = Sample(example.id, example.db_id, tier, features, status, pred, example.gold, scores, error)
    record = sample.to_json()
    record["hash"] = sample_hash(example, pred)
    return record
