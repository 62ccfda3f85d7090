"""The leaderboard table: one flat row per run, and its Markdown and CSV exports.

Rows share one set of keys (see :func:`leaderboard_rows`), so a list of rows is a table:
identity columns (``run``, ``method``, ``model``, ``suite``, ``date``, ``git_revision``),
the main metric (``metric`` names it, ``accuracy`` holds it), ``tier:<name>`` for every
tier any run has, then ``em`` / ``ves`` where some run measured them, then the error and
timeout rates. Missing values are ``None``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from leaderboards.records import RunRecord

#: Tier names in their natural order; other tiers follow in the order first seen.
TIER_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")
#: Secondary metrics shown when measured (BIRD's VES is on a 0-100+ scale, not a rate).
OPTIONAL_METRICS = ("em", "ves", "r_ves")
RATES = ("error_rate", "timeout_rate")


def main_metric(metrics: Sequence[str]) -> str | None:
    """The metric a leaderboard ranks by: ``ex`` where measured, else the suite's first.

    >>> main_metric(["em", "ex"]), main_metric(["output_acc"]), main_metric([])
    ('ex', 'output_acc', None)
    """
    if "ex" in metrics:
        return "ex"
    return metrics[0] if metrics else None


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the last path part, more parts where two runs would share one.

    >>> run_names([Path("r/sql/mac/seed0"), Path("r/code/mac/seed0"), Path("r/sql/sft/seed1")])
    ['sql/mac/seed0', 'code/mac/seed0', 'seed1']
    """
    depth = [1] * len(paths)
    while True:
        names = ["/".join(p.parts[-d:]) for p, d in zip(paths, depth)]
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            return names
        grew = False
        for i, (path, name) in enumerate(zip(paths, names)):
            if name in clashes and depth[i] < len(path.parts):
                depth[i] += 1
                grew = True
        if not grew:  # identical paths: number them
            return [f"{n}#{i}" if n in clashes else n for i, n in enumerate(names)]


def _metric(section: dict[str, Any] | None, name: str | None) -> float | None:
    if not section or name is None:
        return None
    value = (section.get("metrics") or {}).get(name)
    return float(value) if isinstance(value, (int, float)) else None


def _rate(section: dict[str, Any], key: str) -> float | None:
    value = section.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _ordered_tiers(runs: Iterable[RunRecord]) -> list[str]:
    seen: list[str] = []
    for run in runs:
        seen += [t for t in run.results.get("by_tier", {}) if t not in seen]
    known = [t for t in TIER_ORDER if t in seen]
    return known + [t for t in seen if t not in known]


def _model(run: RunRecord) -> str:
    if run.model:
        return run.model
    predictions = run.spec.get("predictions")  # `harness eval`: the predictions file is the model
    return Path(str(predictions)).name if predictions else ""


def leaderboard_rows(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per run, sorted by suite, then main-metric accuracy (best first), then name."""
    names = run_names([r.path for r in runs])
    labels = method_labels(runs)
    tiers = _ordered_tiers(runs)
    optional = [m for m in OPTIONAL_METRICS if any(
        _metric(r.results.get("overall"), m) is not None for r in runs)]
    rows = []
    for name, label, run in zip(names, labels, runs):
        overall = run.results.get("overall") or {}
        metric = main_metric(list(run.results.get("metrics") or overall.get("metrics") or []))
        row: dict[str, Any] = {
            "run": name,
            "method": label,
            "model": _model(run),
            "suite": run.suite,
            "date": run.run.get("created"),
            "git_revision": run.run.get("git_revision"),
            "metric": metric,
            "count": overall.get("count"),
            "accuracy": _metric(overall, metric),
        }
        by_tier = run.results.get("by_tier") or {}
        row.update({f"tier:{t}": _metric(by_tier.get(t), metric) for t in tiers})
        row.update({m: _metric(overall, m) for m in optional})
        row.update({k: _rate(overall, k) for k in RATES})
        rows.append(row)
    rows.sort(key=lambda r: (r["suite"], -(r["accuracy"] or 0.0), r["run"]))
    return rows


def method_labels(runs: Sequence[RunRecord]) -> list[str]:
    """Each run's method, with the options that tell runs of that method apart (not the seed),
    e.g. ``curriculum schedule=hybrid`` beside ``curriculum schedule=sorted``."""
    configs = [_config(run) for run in runs]
    varying: dict[str, list[str]] = {}
    for method in {run.method for run in runs}:
        same = [c for r, c in zip(runs, configs) if r.method == method]
        keys = sorted({k for c in same for k in c if k != "seed"})
        varying[method] = [k for k in keys if len({repr(c.get(k)) for c in same}) > 1]
    return [
        " ".join([run.method, *(f"{k}={config.get(k)}" for k in varying[run.method])])
        for run, config in zip(runs, configs)
    ]


def _config(run: RunRecord) -> dict[str, Any]:
    method = run.spec.get("method")
    config = method.get("config") if isinstance(method, dict) else None
    return config if isinstance(config, dict) else {}


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The table's columns: every key of the rows, in order of first appearance."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def format_value(key: str, value: Any) -> str:
    """A cell as people read it: rates with 3 decimals, VES with 2, short revisions and paths.

    >>> format_value("accuracy", 0.0625), format_value("ves", 105.7172), format_value("em", None)
    ('0.062', '105.72', '')
    >>> format_value("git_revision", "5ec4eb2f8bfec2ac345dede1b4672e7797ecca06")
    '5ec4eb2f8bfe'
    >>> format_value("model", "/root/.cache/tiny-base-v1"), format_value("model", "org/model")
    ('tiny-base-v1', 'org/model')
    """
    if value is None:
        return ""
    if key == "git_revision":
        return str(value)[:12]
    if key == "date":
        return str(value).replace("T", " ")
    if key == "model" and str(value).startswith("/"):
        return Path(str(value)).name  # a local checkpoint: its folder names it
    if isinstance(value, float):
        return f"{value:.2f}" if key in ("ves", "r_ves") else f"{value:.3f}"
    return str(value)


def _md_cell(text: str) -> str:
    # a pipe or newline in a model name would otherwise split the row
    return re.sub(r"[\r\n]+", " ", text).replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned.

    >>> print(to_markdown([{"run": "a|b", "accuracy": 0.5, "em": None}]), end="")
    | run | accuracy | em |
    | --- | ---: | ---: |
    | a\\|b | 0.500 |  |
    """
    keys = columns(rows)
    if not keys:
        return ""
    numeric = {k for k in keys if all(isinstance(r.get(k), (int, float, type(None))) for r in rows)}
    numeric -= {"run", "method", "model", "suite", "date", "git_revision", "metric"}
    lines = [
        "| " + " | ".join(_md_cell(k) for k in keys) + " |",
        "| " + " | ".join("---:" if k in numeric else "---" for k in keys) + " |",
    ]
    for row in rows:
        cells = [_md_cell(format_value(k, row.get(k))) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with full-precision values; an empty cell where a value is missing.

    >>> print(to_csv([{"run": "a", "accuracy": 0.0625, "em": None}]), end="")
    run,accuracy,em
    a,0.0625,
    """
    keys = columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in keys})
    return buffer.getvalue()
