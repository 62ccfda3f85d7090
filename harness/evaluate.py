"""The eval pipeline: score a suite's predictions in worker processes into a run directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import scoring
from harness.execution.pool import WorkerPool
from harness.options import EvalOptions, recorded_options
from harness.results import aggregate
from harness.runstore import RunStore
from harness.suite import Suite
from harness.types import Status

KILL_SLACK_S = 10.0


def example_deadline(options: EvalOptions, n_databases: int) -> float | None:
    """Wall-clock budget of one example before its worker is killed.

    Every query already has an engine deadline; this is the hard stop behind it.
    """
    if not options.timeout_s:
        return None
    queries = 2 * max(1, n_databases)
    if "ves" in options.metrics:
        queries += 2 * (options.ves_repetitions or 10)
    if "r_ves" in options.metrics:
        queries += 2 * (options.ves_repetitions or 100)
    return queries * options.timeout_s + KILL_SLACK_S


@contextmanager
def progress_bar(total: int, done: int, label: str) -> Iterator[Any]:
    """A rich progress bar on a terminal; silent otherwise (logs stay clean)."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total, completed=done)
        yield lambda: progress.advance(task)


def evaluate(
    suite: Suite,
    predictions: dict[str, str],
    options: EvalOptions,
    run_dir: str | Path,
    *,
    jobs: int = 1,
    spec: dict[str, Any] | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Score every example not yet in the run directory, then write and return results.json."""
    store = RunStore(run_dir)
    spec = spec or {"suite": suite.name, "suite_version": suite.version, "options": recorded_options(options)}
    done = store.open_run(spec, fresh=fresh)
    records = dict(done)
    pending = [i for i, ex in enumerate(suite.examples) if ex.id not in done]
    scoring.install(suite, predictions, options)
    max_dbs = max((len(ex.db_paths) for ex in suite.examples), default=1)
    try:
        with progress_bar(len(suite.examples), len(done), f"scoring {suite.name}") as advance:
            if pending:
                with WorkerPool(scoring.score_example, jobs=jobs) as pool:
                    for index, outcome in pool.imap_unordered(
                        ((i, i) for i in pending), deadline_s=example_deadline(options, max_dbs)
                    ):
                        if outcome.killed:
                            record = scoring.failed_record(
                                index, Status.PRED_TIMEOUT, "killed: the example overran its hard deadline"
                            )
                        elif outcome.crashed is not None:
                            record = scoring.failed_record(index, Status.PRED_ERROR, f"worker crashed: {outcome.crashed}")
                        else:
                            record = outcome.value
                        store.append(record)
                        records[record["id"]] = record
                        advance()
    finally:
        store.close()
    samples = [records[ex.id] for ex in suite.examples if ex.id in records]
    if pending:  # workers finish out of order: leave the finished log in suite order, diffable across runs
        store.rewrite_samples(samples)
    results = aggregate(
        samples,
        list(options.metrics),
        suite.tiers,
        extra={"suite": suite.name, "suite_version": suite.version, "semantics": options.semantics,
               "skipped": suite.skipped},
    )
    store.write_results(results)
    return results
