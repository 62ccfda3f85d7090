"""Two runs of one suite, side by side: accuracies aligned by example id, the paired
difference with a bootstrap CI, McNemar's exact test and the examples that flipped,
overall and per tier."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from leaderboards.records import RunRecord, id_order
from leaderboards.stats import mcnemar_exact, paired_bootstrap_ci

GOLD_FAILURES = frozenset({"gold_error", "gold_timeout"})
SHOWN_IDS = 20


@dataclass
class GroupComparison:
    """One group (a tier, or ``all``). ``b_only_a``: right in A only; ``c_only_b``: right
    in B only; ``fixed``/``broken``: their ids (wrong in A right in B / right in A wrong in B)."""

    name: str
    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    ci_low: float
    ci_high: float
    b_only_a: int
    c_only_b: int
    p_value: float
    fixed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    gold_failures: int = 0


@dataclass
class Comparison:
    """Run A against run B (``difference`` is B - A) on one suite and metric."""

    run_a: RunRecord
    run_b: RunRecord
    metric: str
    resamples: int
    seed: int
    confidence: float
    overall: GroupComparison
    tiers: list[GroupComparison] = field(default_factory=list)

    @property
    def suite(self) -> str:
        return self.run_a.suite

    @property
    def data_hash(self) -> str | None:
        return self.run_a.data_hash


def run_metrics(run: RunRecord) -> list[str]:
    """The metrics a run scored, main metric first."""
    listed = run.results.get("metrics")
    if isinstance(listed, list) and listed:
        return [str(m) for m in listed]
    return list((run.results.get("overall") or {}).get("metrics") or {})


def correct(sample: dict[str, Any], metric: str) -> int:
    """1 when ``scores[metric] >= 1`` and the gold ran, else 0 (a missing score is 0).

    >>> correct({"status": "match", "scores": {"ex": 1.0}}, "ex"), correct({"status": "x"}, "ex")
    (1, 0)
    >>> correct({"status": "gold_error", "scores": {"ex": 1.0}}, "ex")
    0
    """
    if sample.get("status") in GOLD_FAILURES:
        return 0
    score = (sample.get("scores") or {}).get(metric)
    return int(isinstance(score, (int, float)) and score >= 1.0)


def _check_comparable(a: RunRecord, b: RunRecord, metric: str | None) -> str:
    """The metric to compare on; ValueError naming both runs when they are not comparable."""
    what = f"cannot compare {a.path} and {b.path}"
    if a.suite != b.suite:
        raise ValueError(f"{what}: different suites ({a.suite!r} vs {b.suite!r})")
    if a.data_hash != b.data_hash:
        raise ValueError(f"{what}: different data versions of suite {a.suite!r} "
                         f"({a.data_hash!r} vs {b.data_hash!r}); score both on the same data")
    metrics_a, metrics_b = run_metrics(a), run_metrics(b)
    chosen = metric or (metrics_a[0] if metrics_a else None)
    if chosen is None:
        raise ValueError(f"{what}: {a.path / 'results.json'} lists no metrics; pass --metric")
    if chosen not in metrics_a or chosen not in metrics_b:
        raise ValueError(f"{what}: metric {chosen!r} is not in both runs "
                         f"({', '.join(metrics_a) or 'none'} vs {', '.join(metrics_b) or 'none'})")
    only_a = sorted(set(a.samples) - set(b.samples), key=id_order)
    only_b = sorted(set(b.samples) - set(a.samples), key=id_order)
    for ids, run in ((only_a, a), (only_b, b)):
        if ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ValueError(f"{what}: {len(ids)} examples only in {run.path} ({shown}); "
                             "compare runs of the same split and --limit")
    if not a.samples:
        raise ValueError(f"{what}: no samples to compare")
    return chosen


def compare_group(name: str, ids: list[str], a: RunRecord, b: RunRecord, metric: str, *,
                  resamples: int, seed: int, confidence: float) -> GroupComparison:
    """Compare the examples ``ids`` (a gold failure in either run counts as wrong in both)."""
    scores_a: list[int] = []
    scores_b: list[int] = []
    fixed: list[str] = []
    broken: list[str] = []
    gold_failures = 0
    for example_id in ids:
        sample_a, sample_b = a.samples[example_id], b.samples[example_id]
        if sample_a.get("status") in GOLD_FAILURES or sample_b.get("status") in GOLD_FAILURES:
            gold_failures += 1
            x = y = 0
        else:
            x, y = correct(sample_a, metric), correct(sample_b, metric)
        scores_a.append(x)
        scores_b.append(y)
        if x and not y:
            broken.append(example_id)
        elif y and not x:
            fixed.append(example_id)
    n = len(ids)
    low, high = paired_bootstrap_ci(scores_a, scores_b, resamples=resamples, confidence=confidence,
                                    seed=seed)
    acc_a, acc_b = sum(scores_a) / n, sum(scores_b) / n
    return GroupComparison(name, n, acc_a, acc_b, acc_b - acc_a, low, high, len(broken), len(fixed),
                           mcnemar_exact(len(broken), len(fixed)), fixed, broken, gold_failures)


def compare_runs(a: RunRecord, b: RunRecord, *, metric: str | None = None, resamples: int = 10000,
                 seed: int = 0, confidence: float = 0.95) -> Comparison:
    """Compare run A with run B, overall and per tier (in results.json's tier order)."""
    chosen = _check_comparable(a, b, metric)
    ids = sorted(a.samples, key=id_order)
    by_tier: dict[str, list[str]] = {}
    for example_id in ids:
        by_tier.setdefault(a.samples[example_id].get("tier") or "unknown", []).append(example_id)
    listed = [t for t in a.results.get("by_tier", {}) if t in by_tier]
    order = listed + sorted(t for t in by_tier if t not in listed)
    options = {"resamples": resamples, "seed": seed, "confidence": confidence}
    tiers = [compare_group(t, by_tier[t], a, b, chosen, **options) for t in order]
    overall = compare_group("all", ids, a, b, chosen, **options)
    return Comparison(a, b, chosen, resamples, seed, confidence, overall, tiers)


def _run_json(run: RunRecord) -> dict[str, Any]:
    return {"path": str(run.path), "label": run.label, "method": run.method, "model": run.model}


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data (``schema_version`` 1)."""
    return {
        "schema_version": 1,
        "run_a": _run_json(comparison.run_a),
        "run_b": _run_json(comparison.run_b),
        "suite": comparison.suite,
        "data_hash": comparison.data_hash,
        "metric": comparison.metric,
        "resamples": comparison.resamples,
        "seed": comparison.seed,
        "confidence": comparison.confidence,
        "overall": asdict(comparison.overall),
        "by_tier": {group.name: asdict(group) for group in comparison.tiers},
    }


def format_p(p: float) -> str:
    """A p-value, four decimals or, below 0.0001, scientific.

    >>> format_p(0.0625), format_p(1.0), format_p(1.2e-7)
    ('0.0625', '1.0000', '1.2e-07')
    """
    return f"{p:.4f}" if p >= 0.0001 else f"{p:.1e}"


def format_ids(ids: list[str], limit: int = SHOWN_IDS) -> str:
    """The first ``limit`` ids, then how many more.

    >>> format_ids([str(i) for i in range(23)], limit=3)
    '0, 1, 2 ... and 20 more'
    """
    if not ids:
        return "none"
    more = f" ... and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _describe(run: RunRecord) -> str:
    model = f", model {run.model}" if run.model else ""
    return f"{run.path} (method {run.method}{model})"


def render_table(comparison: Comparison) -> str:
    """A plain-text table (one row per tier, then ``all``) and the flipped ids."""
    c = comparison
    ci = f"{round(c.confidence * 100)}% CI"
    rows = [["group", "n", "acc A", "acc B", "diff", ci, "McNemar p", "fixed", "broken"]]
    for g in [*c.tiers, c.overall]:
        rows.append([g.name, str(g.n), f"{g.accuracy_a:.3f}", f"{g.accuracy_b:.3f}",
                     f"{g.difference:+.3f}", f"[{g.ci_low:+.3f}, {g.ci_high:+.3f}]",
                     format_p(g.p_value), str(g.c_only_b), str(g.b_only_a)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"A: {_describe(c.run_a)}",
        f"B: {_describe(c.run_b)}",
        f"suite {c.suite} (data {c.data_hash}), metric {c.metric}, diff = B - A, "
        f"{c.resamples} paired bootstrap resamples (seed {c.seed})",
        "",
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    lines.append("")
    if c.overall.gold_failures:
        lines.append(f"gold failures (counted wrong in both runs): {c.overall.gold_failures}")
    lines.append(f"fixed (wrong in A, right in B): {format_ids(c.overall.fixed)}")
    lines.append(f"broken (right in A, wrong in B): {format_ids(c.overall.broken)}")
    return "\n".join(lines)
