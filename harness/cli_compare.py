"""``harness compare RUN_A RUN_B``: two runs of one suite aligned by example id, with the
paired difference, its bootstrap CI, McNemar's exact test and the examples that flipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def compare_command(
    run_a: Annotated[Path, typer.Argument(help="Run directory A (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="Run directory B (the candidate); diff = B - A.")],
    metric: Annotated[str | None, typer.Option(
        help="Metric to compare (default: run A's main one, the first in results.json).")] = None,
    resamples: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 10000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Also write the comparison as JSON here.")] = None,
) -> None:
    """Compare two runs of the same suite and data, overall and per tier."""
    # Imported here: the harness package must not import other top-level packages on import.
    from harness.cli import fail
    from leaderboards.compare import compare_runs, render_table, to_json
    from leaderboards.records import RunRecordError, load_run

    try:
        comparison = compare_runs(load_run(run_a), load_run(run_b), metric=metric,
                                  resamples=resamples, seed=seed)
    except (RunRecordError, ValueError) as e:
        fail(str(e))
    typer.echo(render_table(comparison))
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(to_json(comparison), indent=2) + "\n")
        except OSError as e:
            fail(f"{json_out}: cannot write the JSON ({e})")
        typer.echo(f"wrote {json_out}")
