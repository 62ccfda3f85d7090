"""The ``harness`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train and score Text-to-SQL and code models.")


@app.callback()
def _root() -> None:
    """Train and score Text-to-SQL and code models."""


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    first = max(widths[0], 20)
    for row in rows:
        cells = [row[0].ljust(first)] + [c.rjust(max(w, 8)) for c, w in zip(row[1:], widths[1:])]
        typer.echo("  ".join(cells))


@app.command("eval")
def eval_command(
    suite: Annotated[str, typer.Option(help="Suite name (see harness suites); default: the generated synth-sql.")] = "synth-sql",
    predictions: Annotated[str, typer.Option(help="Predictions file (.sql lines, BIRD .json, .jsonl), or 'gold' to score the gold SQL.")] = "gold",
    data: Annotated[str | None, typer.Option(help="Suite folder in its official layout, a saved dataset, or a dataset id.")] = None,
    split: Annotated[str, typer.Option(help="Split: dev, train, mini_dev (BIRD).")] = "dev",
    suite_arg: Annotated[list[str] | None, typer.Option("--suite-arg", "-S", help="KEY=VALUE passed to the suite loader, e.g. -S seed=3 -S size=large.")] = None,
    db_dir: Annotated[Path | None, typer.Option(help="Database folder, if not the layout's default.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes.")] = 1,
    semantics: Annotated[str | None, typer.Option(help="Execution-accuracy rules: spider or bird (default: the suite's).")] = None,
    metrics: Annotated[str | None, typer.Option(help="Comma-separated metrics: ex, em, soft_f1, ves, r_ves (default: the suite's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (default: runs/eval-<suite>-<spec hash>).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per query before it is interrupted (0: no deadline).")] = 30.0,
    max_rows: Annotated[int, typer.Option(help="Rows a query may return before it counts as an error.")] = 1_000_000,
    keep_distinct: Annotated[bool, typer.Option(help="Spider semantics: keep DISTINCT instead of removing it.")] = False,
    strict_gold: Annotated[bool, typer.Option(help="BIRD semantics: a failing gold scores 0 even when the prediction fails the same way.")] = False,
    lenient_em: Annotated[bool, typer.Option(help="Exact match: accept SQL the official Spider parser rejects.")] = False,
    soft_f1_order_free: Annotated[bool, typer.Option(help="Soft-F1 independent of set iteration order (a deviation).")] = False,
    ves_repetitions: Annotated[int | None, typer.Option(help="Timed repetitions per correct example for VES/R-VES (default: official, 10 and 100).")] = None,
    skip_missing_db: Annotated[bool, typer.Option(help="Skip examples whose database file is absent.")] = False,
    limit: Annotated[int | None, typer.Option(help="Score only the first N examples.")] = None,
    fresh: Annotated[bool, typer.Option(help="Discard an existing run in --out and start over.")] = False,
    predictions_format: Annotated[str | None, typer.Option(help="lines, bird or jsonl (default: from the file name).")] = None,
    prediction_kind: Annotated[str | None, typer.Option(help="Table QA: predictions are 'sql' (default) or 'answer' lists.")] = None,
    allow_code_execution: Annotated[bool, typer.Option(help="Allow scoring to run model-written Python (in the sandbox). Required by suites that do.")] = False,
    engine: Annotated[str, typer.Option(help="Where SQL runs: sqlite, duckdb, postgresql or mysql (see docs/engines.md).")] = "sqlite",
    db_url: Annotated[str | None, typer.Option(help="The engine's data: a read-only SQLAlchemy URL, or the .duckdb file (harness load-db prints it).")] = None,
    db_schema: Annotated[str | None, typer.Option(help="One schema holding every database (e.g. public for BIRD mini-dev's dump); default: one per database.")] = None,
    pred_dialect: Annotated[str | None, typer.Option(help="Dialect the predictions are written in, transpiled to the engine's (e.g. sqlite); default: the engine's.")] = None,
    shards: Annotated[int | None, typer.Option(help="Score in N shards, Ray tasks of --jobs workers each (pip install 'sql-harness[ray]'); the run is the same as unsharded (see docs/scale-out.md).")] = None,
    ray_address: Annotated[str | None, typer.Option("--ray", help="Ray cluster for --shards (default: $RAY_ADDRESS, else a local runtime on 127.0.0.1).")] = None,
) -> None:
    """Score saved predictions (or the gold SQL) on a suite and write a run directory."""
    from harness import registry
    from harness.cli_common import (
        command_errors,
        engine_options,
        load_suite,
        report_skipped,
        require_code_opt_in,
    )
    from harness.evaluate import evaluate
    from harness.options import EvalOptions, recorded_options
    from harness.predictions import read_predictions
    from harness.results import tier_table
    from harness.runstore import spec_hash
    from harness.sharding import check_sharding
    from harness.suite import file_digest

    try:
        check_sharding(shards, ray_address)
        loaded = load_suite(suite, data, split=split, db_dir=db_dir, skip_missing_db=skip_missing_db,
                            limit=limit, suite_args=suite_arg or [])
        require_code_opt_in(loaded, allow_code_execution)
        if predictions == "gold":
            preds = {ex.id: ex.gold for ex in loaded.examples}
            pred_digest = "gold"
            prediction_kind = prediction_kind or loaded.gold_kind
        else:
            preds = read_predictions(predictions, loaded, predictions_format)
            pred_digest = file_digest(Path(predictions))
        options = EvalOptions(
            semantics=semantics or loaded.semantics,
            metrics=tuple(m.strip() for m in metrics.split(",")) if metrics else tuple(loaded.metrics),
            timeout_s=timeout,
            max_rows=max_rows,
            keep_distinct=keep_distinct,
            strict_gold=strict_gold,
            lenient_em=lenient_em,
            soft_f1_order_free=soft_f1_order_free,
            ves_repetitions=ves_repetitions,
            allow_code_execution=allow_code_execution,
            prediction_kind=prediction_kind,
            **engine_options(engine, db_url, db_schema, loaded,
                             pred_dialect=pred_dialect or (loaded.gold_dialect if predictions == "gold" else None)),
        )
        for name in options.metrics:
            registry.load("metrics", name)

        spec = {
            "command": "eval",
            "suite": loaded.name,
            "suite_version": loaded.version,
            "data": str(Path(data).resolve()) if data and Path(data).exists() else data,
            "split": split,
            "suite_args": sorted(suite_arg or []),
            "predictions": str(Path(predictions).resolve()) if predictions != "gold" else "gold",
            "predictions_digest": pred_digest,
            "options": recorded_options(options),
            "skip_missing_db": skip_missing_db,
            "limit": limit,
        }
        run_dir = out or Path("runs") / f"eval-{loaded.name}-{spec_hash(spec)[:10]}"
        report_skipped(loaded)
        results = evaluate(loaded, preds, options, run_dir, jobs=jobs, spec=spec, fresh=fresh,
                           shards=shards, ray_address=ray_address)
    except command_errors() as e:
        fail(str(e))
        return
    print_table(tier_table(results, loaded.tiers))
    typer.echo(f"run: {run_dir}")


from harness.cli_compare import compare_command  # noqa: E402
from harness.cli_gate import baseline_command, check_command  # noqa: E402
from harness.cli_leaderboard import leaderboard_command  # noqa: E402
from harness.cli_load_db import load_db_command  # noqa: E402
from harness.cli_methods import methods_command  # noqa: E402
from harness.cli_run import run_command  # noqa: E402
from harness.cli_suites import suites_app  # noqa: E402
from harness.cli_sweep import sweep_command  # noqa: E402

app.command("run")(run_command)
app.command("methods")(methods_command)
app.add_typer(suites_app, name="suites")
app.command("compare")(compare_command)
app.command("load-db")(load_db_command)
app.command("baseline")(baseline_command)
app.command("check")(check_command)
app.command("leaderboard")(leaderboard_command)
app.command("sweep", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(sweep_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted: finished examples are saved; run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
