"""The eval pipeline: score a suite's predictions in worker processes into a run directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import scoring
from harness.execution.pool import Outcome, WorkerPool
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


def outcome_record(index: int, outcome: Outcome) -> dict[str, Any]:
    """The samples.jsonl record of suite.examples[index] from its worker's outcome.

    A worker killed at its hard deadline or one that crashed gives a failed record
    (every metric 0). Used by the local pool and by every shard, so both write the
    same records. Needs ``scoring.install`` in this process.
    """
    if outcome.killed:
        return scoring.failed_record(index, Status.PRED_TIMEOUT, "killed: the example overran its hard deadline")
    if outcome.crashed is not None:
        return scoring.failed_record(index, Status.PRED_ERROR, f"worker crashed: {outcome.crashed}")
    return outcome.value


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
    shards: int | None = None,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Score every example not yet in the run directory, then write and return results.json.

    ``shards`` splits the examples into that many Ray tasks (harness.sharding), each
    running a pool of ``jobs`` workers, on the cluster at ``ray_address`` (default:
    $RAY_ADDRESS, else a local runtime). It does not change the run: samples.jsonl
    ends the same, and a sharded and an unsharded run resume each other.
    """
    if shards is not None or ray_address is not None:
        from harness.sharding import check_sharding

        check_sharding(shards, ray_address)
    store = RunStore(run_dir)
    spec = spec or {"suite": suite.name, "suite_version": suite.version, "options": recorded_options(options)}
    done = store.open_run(spec, fresh=fresh)
    records = dict(done)
    pending = [i for i, ex in enumerate(suite.examples) if ex.id not in done]
    scoring.install(suite, predictions, options)
    max_dbs = max((len(ex.db_paths) for ex in suite.examples), default=1)
    deadline_s = example_deadline(options, max_dbs)
    label = f"scoring {suite.name}" + (f" in {shards} shards" if shards else "")
    try:
        with progress_bar(len(suite.examples), len(done), label) as advance:

            def finished(record: dict[str, Any]) -> None:
                store.append(record)
                records[record["id"]] = record
                advance()

            if pending and shards:
                from harness.sharding import score_sharded

                score_sharded(suite, predictions, options, pending, shards=shards, jobs=jobs,
                              deadline_s=deadline_s, address=ray_address, on_record=finished)
            elif pending:
                with WorkerPool(scoring.score_example, jobs=jobs) as pool:
                    for index, outcome in pool.imap_unordered(((i, i) for i in pending), deadline_s=deadline_s):
                        finished(outcome_record(index, outcome))
    finally:
        store.close()
    samples = [records[ex.id] for ex in suite.examples if ex.id in records]
    if pending:  # workers and shards finish out of order: leave the log in suite order, diffable across runs
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
