"""Aggregate samples into results.json: overall, per tier and per SQL feature."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

import harness
from harness.types import Status

ERROR_STATUSES = {Status.PRED_ERROR.value, Status.GOLD_ERROR.value}
TIMEOUT_STATUSES = {Status.PRED_TIMEOUT.value, Status.GOLD_TIMEOUT.value}


def confidence_interval(values: list[float], z: float = 1.96) -> tuple[float, float]:
    """95% interval of a mean: Wilson for 0/1 scores, normal approximation otherwise.

    >>> [round(x, 3) for x in confidence_interval([1.0] * 8 + [0.0] * 2)]
    [0.49, 0.943]
    """
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    mean = sum(values) / n
    if all(v in (0.0, 1.0) for v in values):
        denom = 1 + z * z / n
        centre = (mean + z * z / (2 * n)) / denom
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / denom
        return (max(0.0, centre - half), min(1.0, centre + half))
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    half = z * math.sqrt(var / n)
    return (mean - half, mean + half)


def summarize(samples: list[dict[str, Any]], metrics: Iterable[str]) -> dict[str, Any]:
    """Counts, metric means with intervals, and error and timeout rates of a group.

    >>> s = summarize([{"status": "match", "scores": {"ex": 1.0}}, {"status": "pred_error", "scores": {"ex": 0.0}}], ["ex"])
    >>> s["count"], s["metrics"]["ex"], s["error_rate"]
    (2, 0.5, 0.5)
    """
    n = len(samples)
    statuses = Counter(s["status"] for s in samples)
    out: dict[str, Any] = {"count": n, "metrics": {}, "ci95": {}}
    for metric in metrics:
        values = [float(s["scores"].get(metric, 0.0)) for s in samples]
        out["metrics"][metric] = sum(values) / n if n else 0.0
        out["ci95"][metric] = list(confidence_interval(values))
    out["status"] = dict(sorted(statuses.items()))
    out["error_rate"] = sum(statuses[k] for k in ERROR_STATUSES) / n if n else 0.0
    out["timeout_rate"] = sum(statuses[k] for k in TIMEOUT_STATUSES) / n if n else 0.0
    return out


def aggregate(
    samples: list[dict[str, Any]], metrics: list[str], tiers: list[str], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """results.json: overall, by tier (the suite's order first), by feature."""
    by_tier: dict[str, list[dict[str, Any]]] = {}
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        by_tier.setdefault(sample.get("tier") or "unknown", []).append(sample)
        for feature in sample.get("features") or []:
            by_feature.setdefault(feature, []).append(sample)
    tier_order = [t for t in tiers if t in by_tier] + sorted(t for t in by_tier if t not in tiers)
    return {
        "schema_version": harness.SCHEMA_VERSION,
        **(extra or {}),
        "metrics": metrics,
        "overall": summarize(samples, metrics),
        "by_tier": {t: summarize(by_tier[t], metrics) for t in tier_order},
        "by_feature": {f: summarize(by_feature[f], metrics) for f in sorted(by_feature)},
    }


METRIC_LABELS = {
    "ex": "execution", "em": "exact match", "soft_f1": "soft-f1", "ves": "ves", "r_ves": "r-ves",
    "output_acc": "output accuracy", "answer_acc": "answer accuracy", "next_line_em": "next-line match",
}


def tier_table(results: dict[str, Any], tiers: list[str]) -> list[list[str]]:
    """The official scripts' table: a count row, then one row per metric, tiers then 'all'.

    Rates are shown as the official scripts show them (fractions with 3 decimals);
    VES-style scores are already on a 0-100 scale.
    """
    columns = [t for t in tiers if t in results["by_tier"]] + [t for t in results["by_tier"] if t not in tiers]
    groups = [results["by_tier"][t] for t in columns] + [results["overall"]]
    rows = [["", *columns, "all"], ["count", *(str(g["count"]) for g in groups)]]
    for metric in results["metrics"]:
        rows.append([METRIC_LABELS.get(metric, metric), *(f"{g['metrics'][metric]:.3f}" for g in groups)])
    rows.append(["error rate", *(f"{g['error_rate']:.3f}" for g in groups)])
    rows.append(["timeout rate", *(f"{g['timeout_rate']:.3f}" for g in groups)])
    return rows
