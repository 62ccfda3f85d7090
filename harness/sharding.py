"""Sharded evaluation: score a suite's examples as Ray tasks, merged into one run.

``evaluate(..., shards=N)`` splits the examples still to score into N contiguous
shards (``split_shards``) and runs each as one Ray task. A task installs the
suite, predictions and options in its Ray worker (``scoring.install``) and scores
its examples in a ``WorkerPool`` exactly as the local path does: each example in
a forked process with the same hard deadline, a killed or crashed worker turned
into the same failed record (``evaluate.outcome_record``). Tasks are streaming
generators: a task sends its finished records back while it runs, in batches
of the records finished within ``BATCH_INTERVAL_S`` of each other, and the
driver appends them to samples.jsonl as they arrive (``ray.wait`` over all
shards), so an interrupted run loses only the examples in flight and the last
fraction of a second of work, and resumes like any other. The driver then writes samples.jsonl in suite order, so
the merged file is the one a single process writes.

Ray is an optional extra (``pip install 'sql-harness[ray]'``), imported only
here and only when shards are asked for. The suite, predictions and options
travel to the cluster once (``ray.put``), not once per task. Without an address
(``--ray`` or ``$RAY_ADDRESS``) a local runtime is started for this process,
bound to 127.0.0.1 only, without the dashboard; a runtime already initialised in
this process is reused as it is.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from harness import scoring
from harness.execution.pool import WorkerPool
from harness.options import EvalOptions
from harness.ray_runtime import connect as connect_ray
from harness.ray_runtime import import_ray, warn_if_unplaceable
from harness.suite import Suite

RAY_MISSING = "sharded evaluation (--shards) runs on Ray, which is not installed: pip install 'sql-harness[ray]'"
BATCH_INTERVAL_S = 0.25  # a shard sends its finished records once this long has passed since its last batch


def split_shards(indices: Sequence[int], shards: int) -> list[list[int]]:
    """``indices`` cut into at most ``shards`` contiguous runs, in order, sizes differing by one at most.

    The same input always gives the same split; empty shards are left out.

    >>> split_shards(range(7), 3)
    [[0, 1, 2], [3, 4], [5, 6]]
    >>> split_shards([4, 8], 3)
    [[4], [8]]
    >>> split_shards([], 2)
    []
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")
    items = list(indices)
    size, extra = divmod(len(items), shards)
    out, start = [], 0
    for n in range(shards):
        end = start + size + (1 if n < extra else 0)
        if end > start:
            out.append(items[start:end])
        start = end
    return out


def check_sharding(shards: int | None, ray_address: str | None = None) -> None:
    """Fail early, with the fix, on settings that cannot shard: a bad count, no Ray.

    Cheap enough to call before any other work (``harness run`` calls it before generating).
    """
    if shards is None:
        if ray_address is not None:
            raise ValueError("--ray names the cluster for sharded evaluation; give --shards N too")
        return
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"--shards must be a whole number of at least 1, not {shards!r}")
    _import_ray()


def _import_ray() -> Any:
    return import_ray(RAY_MISSING)


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """The ``ray`` module, connected (see :func:`harness.ray_runtime.connect`)."""
    return connect_ray(address, num_cpus=num_cpus, missing=RAY_MISSING)


def score_shard(
    suite: Suite,
    predictions: dict[str, str],
    options: EvalOptions,
    indices: list[int],
    deadline_s: float | None,
    jobs: int = 1,
) -> Iterator[list[dict[str, Any]]]:
    """Score ``suite.examples[i]`` for ``i`` in ``indices`` in a pool of ``jobs`` killable workers;
    yields the finished records in batches: whenever a record finishes ``BATCH_INTERVAL_S`` or
    more after the last batch, and at the end.

    The body of one shard's Ray task; it runs as well in a plain process.
    """
    from harness.evaluate import outcome_record

    scoring.install(suite, predictions, options)
    batch: list[dict[str, Any]] = []
    sent = time.monotonic()
    with WorkerPool(scoring.score_example, jobs=jobs) as pool:
        for index, outcome in pool.imap_unordered(((i, i) for i in indices), deadline_s=deadline_s):
            batch.append(outcome_record(index, outcome))
            if time.monotonic() - sent >= BATCH_INTERVAL_S:
                yield batch
                batch, sent = [], time.monotonic()
    if batch:
        yield batch


@functools.cache
def _shard_task() -> Any:
    ray = _import_ray()
    # A generator: Ray streams each yielded batch back while the task runs.
    return ray.remote(num_cpus=1)(score_shard)


class ShardFailed(RuntimeError):
    """A shard's task failed; the records that came back before are saved in the run."""


def score_sharded(
    suite: Suite,
    predictions: dict[str, str],
    options: EvalOptions,
    indices: Sequence[int],
    *,
    shards: int,
    on_record: Callable[[dict[str, Any]], None],
    jobs: int = 1,
    deadline_s: float | None = None,
    address: str | None = None,
) -> None:
    """Score ``indices`` in ``shards`` Ray tasks of ``jobs`` workers each; ``on_record`` gets
    every record once, in the order they come back (not suite order)."""
    check_sharding(shards, address)
    parts = split_shards(indices, shards)
    if not parts:
        return
    jobs = max(1, int(jobs))
    ray = connect(address, num_cpus=max(jobs, min(os.cpu_count() or 1, len(parts) * jobs)))
    warn_if_unplaceable(ray, jobs, 0, f"each shard (--jobs {jobs})", "give --jobs at most the CPUs of a node")
    shared = (ray.put(suite), ray.put(predictions), ray.put(options))
    task = _shard_task().options(num_cpus=jobs)
    running = [(task.remote(*shared, part, deadline_s, jobs), n) for n, part in enumerate(parts)]
    shard_of = {id(stream): n for stream, n in running}
    streams = [stream for stream, _ in running]
    seen: set[str] = set()  # a task Ray retried after its worker died sends some records again
    try:
        while streams:
            ready, streams = ray.wait(streams, num_returns=1)
            for stream in ready:
                try:
                    ref = next(stream)
                except StopIteration:
                    continue
                streams.append(stream)
                try:
                    batch = ray.get(ref)
                except ray.exceptions.RayError as e:
                    streams.remove(stream)
                    raise ShardFailed(
                        f"shard {shard_of.get(id(stream), '?')} of {len(parts)} failed: {e}\n"
                        "the examples scored so far are saved; run the same command again to resume"
                    ) from e
                for record in batch:
                    if record["id"] not in seen:
                        seen.add(record["id"])
                        on_record(record)
    finally:
        for stream in streams:  # interrupted or failed: stop the shards still running
            try:
                ray.cancel(stream, force=True)
            except Exception:
                pass
