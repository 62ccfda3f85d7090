"""``harness sweep``: the cross product of suites, methods, models and seeds as ``harness run`` jobs,
on a local process pool or, with ``--ray``, as Ray tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated flag values, in order.

    >>> _split(["a,b", "c"])
    ['a', 'b', 'c']
    """
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def sweep_command(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML sweep file (suites, methods, models, seeds, args, resources, retries, jobs); flags add to it.")] = None,
    suite: Annotated[list[str] | None, typer.Option(help="Suites (repeat or comma-separate).")] = None,
    method: Annotated[list[str] | None, typer.Option(help="Methods, e.g. none,sft,mac.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Models (as harness run --model takes them); default: harness run's default.")] = None,
    seed: Annotated[list[str] | None, typer.Option(help="Seeds (default: 0).")] = None,
    out: Annotated[Path, typer.Option(help="Sweep folder: one run directory per job, sweep.json, sweep.jsonl.")] = Path("runs/sweep"),
    workers: Annotated[int | None, typer.Option(help="Local pool: jobs at once (default: half the cores).")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Ray cluster address (or env RAY_ADDRESS); 'local' starts a Ray runtime on this machine.")] = None,
    retries: Annotated[int | None, typer.Option(help="Retries of a failed job before it is reported (default: 2).")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPUs per job (Ray schedules by it; default 1).")] = None,
    gpus: Annotated[float | None, typer.Option(help="GPUs per job (Ray schedules by it; default 0).")] = None,
    dry_run: Annotated[bool, typer.Option(help="List the jobs and whether each is done; run nothing.")] = False,
) -> None:
    """Run many ``harness run`` jobs; arguments after ``--`` go to every job (e.g. ``-- -S size=tiny``).

    Jobs already done (same content hash) are skipped, failed ones retried, and an
    interrupted sweep resumes when run again. Results land in ordinary run
    directories: ``harness leaderboard --runs OUT`` shows them.
    """
    from harness.cli import fail
    from harness.sweep.backends import open_backend
    from harness.sweep.driver import run_sweep
    from harness.sweep.job import is_done
    from harness.sweep.plan import load_plan_file, make_plan

    try:
        settings = load_plan_file(config) if config else {
            "suites": [], "methods": [], "models": [], "seeds": [], "args": [], "suite_args": {}, "env": {},
            "cpus": 1.0, "gpus": 0.0, "retries": 2, "extra_jobs": []}  # fmt: skip
        settings["suites"] += _split(suite)
        settings["methods"] += _split(method)
        settings["models"] += _split(model)
        settings["seeds"] += [int(s) for s in _split(seed)]
        settings["seeds"] = settings["seeds"] or [0]
        settings["args"] += list(ctx.args)
        for name, value in (("cpus", cpus), ("gpus", gpus), ("retries", retries)):
            if value is not None:
                settings[name] = value
        if not settings["suites"] and settings["extra_jobs"]:  # only explicit jobs
            plan = make_plan(["-"], ["-"], [], [0], **_rest(settings), where=str(config or "sweep"))
            plan.jobs = [job for job in plan.jobs if job.suite != "-"]
        else:
            plan = make_plan(settings["suites"], settings["methods"] or ["none"], settings["models"],
                             settings["seeds"], **_rest(settings), where=str(config or "sweep"))  # fmt: skip
        if dry_run:
            for job in plan.jobs:
                state = "done" if is_done(job, out / job.name) else "to run"
                typer.echo(f"{job.name}  {state}  harness {' '.join(job.command(out / job.name))}")
            typer.echo(f"{len(plan.jobs)} jobs")
            return
        backend = open_backend(ray, workers)
    except (ValueError, FileNotFoundError, ImportError, ConnectionError) as e:
        fail(str(e))
        return

    def show(state, outcome) -> None:
        if outcome is None:
            typer.echo(f"skip   {state.job.name} (done)", err=True)
        elif outcome.ok:
            typer.echo(f"done   {state.job.name} in {outcome.seconds:.1f} s", err=True)
        else:
            verb = "retry " if state.status == "running" else "FAILED"
            typer.echo(f"{verb} {state.job.name}: {outcome.error}", err=True)

    typer.echo(f"sweep: {len(plan.jobs)} jobs on {backend.name} into {out}", err=True)
    report = run_sweep(plan, out, backend, on_event=show)
    typer.echo(report.render())
    typer.echo(f"leaderboard: harness leaderboard --runs {out}")
    if report.failed:
        raise typer.Exit(1)


def _rest(settings: dict) -> dict:
    return {key: settings[key] for key in ("args", "suite_args", "env", "cpus", "gpus", "retries", "extra_jobs")}
