"""CI regression gates: freeze a run as a baseline, then check later runs against it.

A baseline holds, for ``overall`` and every tier, each metric's value and the error and
timeout rates, plus the ids of the examples behind each 0/1 measure, so that a check can
run a paired (exact McNemar) test. A row fails when the drop exceeds its allowed drop
and, when a significance level is set, the drop is significant (one-sided p < level).
Error and timeout rates are lower-is-better: for them a rise is the drop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from leaderboards.records import RunRecord, id_order
from leaderboards.stats import mcnemar_one_sided

SCHEMA_VERSION = 1
RATES = ("error_rate", "timeout_rate")
STATUSES = {"error_rate": {"pred_error", "gold_error"}, "timeout_rate": {"pred_timeout", "gold_timeout"}}
EPS = 1e-9  # float noise: 1.0 - 0.95 must not exceed an allowed drop of 0.05


class BaselineError(ValueError):
    """A baseline that cannot be used: the message names the file and the problem."""


def _hit(sample: dict[str, Any] | None, measure: str) -> bool:
    """Whether an example counts for a measure: correct for a metric, failing for a rate.
    A sample missing from the run counts as wrong and as an error."""
    if sample is None:
        return measure == "error_rate"
    if measure in STATUSES:
        return sample["status"] in STATUSES[measure]
    return float((sample.get("scores") or {}).get(measure, 0.0)) == 1.0


def _policy(max_drop: float, significance: float | None, per_metric: dict | None = None) -> dict:
    for own in [{"max_drop": max_drop, "significance": significance}, *(per_metric or {}).values()]:
        if own.get("max_drop") is not None and own["max_drop"] < 0:
            raise ValueError(f"max_drop must be >= 0, got {own['max_drop']}")
        if own.get("significance") is not None and not 0 < own["significance"] < 1:
            raise ValueError(f"significance must be between 0 and 1, got {own['significance']}")
    return {"max_drop": max_drop, "significance": significance, "per_metric": per_metric or {}}


def make_baseline(run: RunRecord, *, metrics: list[str] | None = None, max_drop: float = 0.0,
                  significance: float | None = None,
                  per_metric: dict[str, dict[str, float | None]] | None = None) -> dict[str, Any]:
    """A JSON-ready baseline of ``run`` with its tolerance policy (see the module docs)."""
    available = list(run.results.get("metrics") or [])
    chosen = list(metrics or available)
    unknown = [m for m in [*chosen, *(per_metric or {})] if m not in [*available, *RATES]]
    if unknown:
        raise ValueError(f"{run.path}: no metric {', '.join(unknown)}; it has "
                         f"{', '.join([*available, *RATES])}")
    groups = {"overall": run.results["overall"], **run.results["by_tier"]}
    missing = [f"{n}.{k}" for n, g in groups.items() for k in ["count", *RATES, *chosen]
               if k not in g and k not in (g.get("metrics") or {})]
    if missing:
        raise ValueError(f"{run.path / 'results.json'}: no {', '.join(missing[:3])}; re-score the run")
    tiers: dict[str, list[str]] = {}
    for example_id, sample in run.samples.items():
        tiers.setdefault(sample.get("tier") or "unknown", []).append(example_id)
    binary = [m for m in chosen if all(
        float((s.get("scores") or {}).get(m, 0.0)) in (0.0, 1.0) for s in run.samples.values())]
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": run.suite,
        "data_hash": run.data_hash,
        "git_revision": run.run.get("git_revision"),
        "source_run": str(run.path),
        "metrics": chosen,
        "policy": _policy(max_drop, significance, per_metric),
        "groups": {name: {"count": g["count"], "metrics": {m: g["metrics"][m] for m in chosen},
                          **{r: g[r] for r in RATES}} for name, g in groups.items()},
        # ids of the examples where each 0/1 measure is 1 (correct; for a rate, failing)
        "examples": {
            "tiers": {t: sorted(tiers.get(t, []), key=id_order) for t in run.results["by_tier"]},
            "hits": {m: sorted((i for i, s in run.samples.items() if _hit(s, m)), key=id_order)
                     for m in [*binary, *RATES]},
        },
    }


def validate_baseline(data: Any, name: str = "baseline") -> dict[str, Any]:
    """``data`` if it is a usable baseline, else :class:`BaselineError` naming ``name``.

    >>> validate_baseline({"schema_version": 2}, "b.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    leaderboards.gate.BaselineError: b.json: not a usable baseline: schema_version 2, expected 1; ...
    """
    problem = _problem(data)
    if problem:
        raise BaselineError(f"{name}: not a usable baseline: {problem}; "
                            "regenerate it with harness baseline")
    return data


def _problem(data: Any) -> str | None:
    """What is wrong with a baseline's content, or None."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    if data.get("schema_version") != SCHEMA_VERSION:
        return f"schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
    for key, kind in [("suite", str), ("metrics", list), ("policy", dict), ("groups", dict),
                      ("examples", dict)]:
        if not isinstance(data.get(key), kind):
            return f"{key!r} missing or not a {kind.__name__}"
    if "overall" not in data["groups"]:
        return "no 'overall' group"
    for group_name, group in data["groups"].items():
        values = [group.get("count"), *(group.get(r) for r in RATES),
                  *((group.get("metrics") or {}).get(m) for m in data["metrics"])
                  ] if isinstance(group, dict) else [None]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return f"group {group_name!r} lacks its count, a rate or a metric value"
    if not all(isinstance(data["examples"].get(k), dict) for k in ("tiers", "hits")):
        return "'examples' needs 'tiers' and 'hits'"
    if not isinstance(data["policy"].get("max_drop"), (int, float)):
        return "'policy' needs a numeric 'max_drop'"
    return None


def load_baseline(path: str | Path) -> dict[str, Any]:
    """The baseline in ``path``; :class:`BaselineError` naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise BaselineError(f"{path}: cannot read the baseline ({e.strerror})") from e
    except json.JSONDecodeError as e:
        raise BaselineError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e
    return validate_baseline(data, str(path))


@dataclass
class CheckRow:
    """One (group, measure) comparison; ``reason`` explains a failure or a tolerated drop."""

    group: str
    metric: str
    baseline: float | None
    current: float | None
    allowed: float
    passed: bool = True
    reason: str = ""
    p_value: float | None = None

    @property
    def delta(self) -> float | None:
        return None if self.current is None or self.baseline is None else self.current - self.baseline

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclass
class GateReport:
    """The outcome of :func:`check`: every row, and whether the gate passed."""

    suite: str
    data_hash: str | None
    run: str
    baseline_revision: str | None
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [row for row in self.rows if not row.passed]

    def to_json(self) -> dict[str, Any]:
        rows = [{**asdict(r), "delta": r.delta, "status": r.status} for r in self.rows]
        return {"schema_version": SCHEMA_VERSION, "passed": self.passed, "suite": self.suite,
                "data_hash": self.data_hash, "run": self.run,
                "baseline_revision": self.baseline_revision,
                "regressions": len(self.failures), "rows": rows}

    def to_junit_xml(self) -> str:
        root = ET.Element("testsuites", tests=str(len(self.rows)), failures=str(len(self.failures)))
        suite = ET.SubElement(root, "testsuite", name="harness check", tests=str(len(self.rows)),
                              failures=str(len(self.failures)), errors="0", skipped="0")
        for row in self.rows:
            case = ET.SubElement(suite, "testcase", classname=f"{self.suite}.{row.group}",
                                 name=row.metric)
            if not row.passed:
                ET.SubElement(case, "failure", message=row.reason, type="regression").text = (
                    f"baseline {_fmt(row.baseline)}, current {_fmt(row.current)}, "
                    f"allowed drop {_fmt(row.allowed)}, p {_fmt(row.p_value)}")
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    def render_table(self) -> str:
        head = ["group", "metric", "baseline", "current", "delta", "allowed", "p", "status"]
        cells = [head] + [[r.group, r.metric, _fmt(r.baseline), _fmt(r.current),
                           _fmt(r.delta, signed=True), _fmt(r.allowed), _fmt(r.p_value),
                           r.status] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
        lines += [f"  {r.status} {r.group}/{r.metric}: {r.reason}" for r in self.rows if r.reason]
        n = len(self.failures)
        lines.append("PASSED" if self.passed else f"FAILED: {n} regression{'s' * (n != 1)}")
        return "\n".join(lines)


def _fmt(value: float | None, signed: bool = False) -> str:
    """
    >>> _fmt(0.5), _fmt(-0.04166, signed=True), _fmt(None), _fmt(0.000123)
    ('0.500', '-0.042', '-', '0.000123')
    """
    if value is None:
        return "-"
    return f"{value:{'+' if signed else ''}.{'3g' if 0 < abs(value) < 0.001 else '3f'}}"


def check(baseline: dict[str, Any], run: RunRecord, *, max_drop: float | None = None,
          significance: float | None = None) -> GateReport:
    """Compare ``run`` with ``baseline``; ``max_drop``/``significance`` override its policy
    (a command-line ``max_drop`` applies to every metric, per-metric overrides included)."""
    baseline = validate_baseline(baseline)
    if run.suite != baseline["suite"] or run.data_hash != baseline.get("data_hash"):
        raise ValueError(
            f"{run.path} is suite {run.suite} (data {run.data_hash}), but the baseline is suite "
            f"{baseline['suite']} (data {baseline.get('data_hash')}); a gate compares runs of "
            "the same suite data; regenerate the baseline")
    policy = baseline["policy"]
    level = significance if significance is not None else policy.get("significance")
    _policy(policy["max_drop"] if max_drop is None else max_drop, level)  # validates
    examples = baseline["examples"]
    current_groups = {"overall": run.results["overall"], **run.results["by_tier"]}
    report = GateReport(run.suite, run.data_hash, str(run.path), baseline.get("git_revision"))
    for name, base in baseline["groups"].items():
        now = current_groups.get(name)
        if now is None:
            why = f"tier {name!r} is in the baseline but absent from the run"
            report.rows.append(CheckRow(name, "count", base["count"], None, 0.0, False, why))
            continue
        tiers = examples["tiers"]
        ids = [i for t in tiers.values() for i in t] if name == "overall" else tiers.get(name, [])
        for measure in [*baseline["metrics"], *RATES]:
            own = (policy.get("per_metric") or {}).get(measure) or {}
            allowed = max_drop if max_drop is not None else own.get("max_drop", policy["max_drop"])
            sig = significance if significance is not None else own.get("significance", level)
            report.rows.append(_row(name, measure, base, now, float(allowed), sig,
                                    examples["hits"].get(measure), set(ids), run.samples))
    return report


def _row(group: str, measure: str, base: dict, now: dict, allowed: float, level: float | None,
         hits: list[str] | None, ids: set[str], samples: dict[str, dict]) -> CheckRow:
    rate = measure in RATES
    old = base[measure] if rate else base["metrics"][measure]
    new = now.get(measure) if rate else (now.get("metrics") or {}).get(measure)
    if new is None:
        return CheckRow(group, measure, old, None, allowed, False, "absent from the run")
    row = CheckRow(group, measure, old, new, allowed)
    drop = (new - old) if rate else (old - new)
    if level is not None and hits is not None:
        was = set(hits) & ids
        is_ = {i for i in ids if _hit(samples.get(i), measure)}
        worse, better = (is_ - was, was - is_) if rate else (was - is_, is_ - was)
        row.p_value = mcnemar_one_sided(len(worse), len(better))
    if drop <= allowed + EPS:
        return row
    word = "rose" if rate else "dropped"
    if level is not None and row.p_value is not None and row.p_value >= level:
        row.reason = f"{word} {abs(drop):.3f}, not significant (p={row.p_value:.3g})"
        return row
    row.passed = False
    row.reason = f"{word} {abs(drop):.3f} > allowed {allowed:.3f}"
    if row.p_value is not None:
        row.reason += f", significant (p={row.p_value:.3g} < {level})"
    elif level is not None:
        row.reason += " (no paired test: not a 0/1 measure)"
    return row
