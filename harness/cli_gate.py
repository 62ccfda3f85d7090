"""``harness baseline`` and ``harness check``: CI regression gates on run directories.

    harness baseline RUN [--max-drop 0.01] [--significance 0.05] > baseline.json
    harness check --baseline baseline.json RUN [--json report.json] [--junit report.xml]

``check`` exits 1 on a regression, 0 when the gate passes, 2 on unusable input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _parse_drops(items: list[str]) -> dict[str, dict[str, float | None]]:
    """``METRIC=DROP`` options as the baseline's per-metric policy.

    >>> _parse_drops(["ex=0.02", "error_rate=0.01"])
    {'ex': {'max_drop': 0.02}, 'error_rate': {'max_drop': 0.01}}
    """
    out: dict[str, dict[str, float | None]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            drop = float(value) if sep and name.strip() else None
        except ValueError:
            drop = None
        if drop is None:
            raise ValueError(f"--metric-drop {item!r}: expected METRIC=DROP, e.g. ex=0.02")
        out[name.strip()] = {"max_drop": drop}
    return out


def _dumps(baseline: dict) -> str:
    """Indented JSON, but each id list on one line: one id a line would make the baseline
    of a 1,000-example suite thousands of lines long.

    >>> print(_dumps({"suite": "s", "examples": {"hits": {"ex": ["1", "2"]}}}))
    {
     "suite": "s",
     "examples": {"hits": {"ex": ["1", "2"]}}
    }
    """
    head = json.dumps({k: v for k, v in baseline.items() if k != "examples"}, indent=1)
    return f'{head[:-2]},\n "examples": {json.dumps(baseline["examples"])}\n}}'


def baseline_command(
    run: Annotated[Path, typer.Argument(help="Run directory (from harness run or harness eval).")],
    max_drop: Annotated[float, typer.Option(help="Drop allowed in any metric (a rise, for error and timeout rates).")] = 0.0,
    significance: Annotated[float | None, typer.Option(help="Also require a significant drop (one-sided exact McNemar p below this) to fail.")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Metric to gate (repeatable; default: all the run's metrics).")] = None,
    metric_drop: Annotated[list[str] | None, typer.Option("--metric-drop", help="METRIC=DROP: a metric's own allowed drop, e.g. ex=0.02 (repeatable).")] = None,
) -> None:
    """Print a run's baseline (metrics per tier, tolerance policy) as JSON on stdout."""
    from harness.cli import fail
    from leaderboards.gate import make_baseline
    from leaderboards.records import RunRecordError, load_run

    try:
        record = load_run(run)
        data = make_baseline(record, metrics=metric or None, max_drop=max_drop,
                             significance=significance, per_metric=_parse_drops(metric_drop or []))
    except (RunRecordError, ValueError) as e:
        fail(str(e))
    typer.echo(_dumps(data))


def check_command(
    run: Annotated[Path, typer.Argument(help="Run directory to check.")],
    baseline: Annotated[Path, typer.Option("--baseline", help="Baseline file from harness baseline.")],
    max_drop: Annotated[float | None, typer.Option(help="Drop allowed in every metric (overrides the baseline's policy).")] = None,
    significance: Annotated[float | None, typer.Option(help="Fail only on drops significant at this level (overrides the baseline's policy).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write the report as JUnit XML here.")] = None,
) -> None:
    """Check a run against a baseline: exit 1 on a regression, 0 when it passes."""
    from harness.cli import fail
    from leaderboards.gate import check, load_baseline
    from leaderboards.records import RunRecordError, load_run

    try:
        expected = load_baseline(baseline)
        report = check(expected, load_run(run), max_drop=max_drop, significance=significance)
    except (RunRecordError, ValueError) as e:
        fail(str(e))
    try:
        if json_out is not None:
            json_out.write_text(json.dumps(report.to_json(), indent=1) + "\n")
        if junit is not None:
            junit.write_text(report.to_junit_xml())
    except OSError as e:
        fail(f"{e.filename}: cannot write the report ({e.strerror})")
    typer.echo(report.render_table())
    if not report.passed:
        raise typer.Exit(1)
