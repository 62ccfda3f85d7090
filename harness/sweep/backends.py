"""Where sweep jobs run: a local pool of processes, or Ray tasks on a cluster.

Both take ``submit(job, run_dir, attempt)`` and hand finished jobs back from
``next_done()``; neither retries on its own (the sweep driver does, a bounded
number of times, and says so). Ray is imported only by ``RayBackend``.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from harness.sweep.job import JobOutcome, run_job
from harness.sweep.plan import Job

__all__ = ["LocalBackend", "RayBackend", "open_backend"]



def _failed(job: Job, error: BaseException) -> JobOutcome:
    return JobOutcome(job.name, False, None, 0.0, "", f"{type(error).__name__}: {error}")


class LocalBackend:
    """Up to ``workers`` jobs at once, each ``harness run`` in its own process."""

    name = "local"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("--workers must be 1 or more")
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep-job")
        self._running: dict[Future, tuple[Job, int]] = {}
        self._processes: set[subprocess.Popen] = set()

    def submit(self, job: Job, run_dir: Path, attempt: int) -> None:
        future = self._pool.submit(run_job, job, run_dir, attempt=attempt, started=self._processes.add)
        self._running[future] = (job, attempt)

    def running(self) -> int:
        return len(self._running)

    def next_done(self) -> tuple[Job, int, JobOutcome]:
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        job, attempt = self._running.pop(future)
        try:
            return job, attempt, future.result()
        except Exception as e:  # the job could not even start (no such interpreter, disk full)
            return job, attempt, _failed(job, e)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for process in list(self._processes):
                if process.poll() is None:
                    process.kill()
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class RayBackend:
    """Each job a Ray task that asks for the job's CPUs and GPUs; Ray places it on the cluster."""

    name = "ray"

    def __init__(self, address: str | None) -> None:
        from harness.ray_runtime import connect

        self.ray = connect(address)
        self._task = self.ray.remote(max_retries=0)(run_job)
        self._running: dict[Any, tuple[Job, int]] = {}
        self._sizes_seen: set[tuple[float, float]] = set()

    def submit(self, job: Job, run_dir: Path, attempt: int) -> None:
        from harness.ray_runtime import warn_if_unplaceable

        if (job.cpus, job.gpus) not in self._sizes_seen:
            self._sizes_seen.add((job.cpus, job.gpus))
            warn_if_unplaceable(self.ray, job.cpus, job.gpus, f"job {job.name}",
                                "give the jobs resources a node has (resources: in the sweep file, --cpus/--gpus)")
        ref = self._task.options(num_cpus=job.cpus, num_gpus=job.gpus).remote(job, str(run_dir), attempt=attempt)
        self._running[ref] = (job, attempt)

    def running(self) -> int:
        return len(self._running)

    def next_done(self) -> tuple[Job, int, JobOutcome]:
        (ref,), _ = self.ray.wait(list(self._running), num_returns=1)
        job, attempt = self._running.pop(ref)
        try:
            return job, attempt, self.ray.get(ref)
        except Exception as e:  # the worker died (out of memory, node lost) or the task failed to start
            return job, attempt, _failed(job, e)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._running:
                self.ray.cancel(ref, force=True)
        self._running.clear()


def open_backend(ray_address: str | None, workers: int | None) -> LocalBackend | RayBackend:
    """Ray when an address is given (``--ray`` or ``RAY_ADDRESS``), else the local pool."""
    address = ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        return RayBackend(address)
    return LocalBackend(workers or max(1, (os.cpu_count() or 1) // 2))
