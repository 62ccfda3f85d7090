"""The sweep driver: skip finished jobs, run the rest on a backend, retry failures a bounded
number of times, and record every attempt.

``<out>/sweep.jsonl`` gets one line per attempt as it ends (job, attempt,
status, exit code, seconds, host, error), so an interrupted sweep leaves a
record of what happened; ``<out>/sweep.json`` is rewritten with each job's
state after every attempt. Run the same sweep again to resume: finished jobs
are skipped (their run directory holds ``results.json`` and the job's key), and
an interrupted job's ``harness run`` resumes its own run directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.sweep.job import JobOutcome, is_done
from harness.sweep.plan import Job, SweepPlan

__all__ = ["JobState", "SweepReport", "run_sweep"]

SWEEP_SCHEMA_VERSION = 1


@dataclass
class JobState:
    job: Job
    run_dir: Path
    status: str = "pending"  # pending, running, retrying, done, skipped, failed
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict:
        return {"name": self.job.name, "key": self.job.key, "status": self.status, "attempts": self.attempts,
                "seconds": round(self.seconds, 3), "run_dir": str(self.run_dir), "error": self.error,
                "job": self.job.to_json()}  # fmt: skip


@dataclass
class SweepReport:
    out: Path
    backend: str
    states: list[JobState] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(state.status == status for state in self.states)

    @property
    def failed(self) -> list[JobState]:
        return [state for state in self.states if state.status == "failed"]

    def render(self) -> str:
        width = max((len(state.job.name) for state in self.states), default=3)
        lines = [f"{'job':<{width}}  status   attempts  seconds"]
        for state in self.states:
            lines.append(f"{state.job.name:<{width}}  {state.status:<8} {state.attempts:>8}  {state.seconds:7.1f}")
        lines.append(
            f"{len(self.states)} jobs on {self.backend} in {self.seconds:.1f} s: {self.count('done')} done, "
            f"{self.count('skipped')} already done, {self.count('failed')} failed"
        )
        lines += [f"  failed {state.job.name}: {state.error}" for state in self.failed]
        return "\n".join(lines)


def _write_state(out: Path, backend: str, states: list[JobState], retries: int) -> None:
    summary = {"schema_version": SWEEP_SCHEMA_VERSION, "backend": backend, "retries": retries,
               "jobs": [state.to_json() for state in states]}  # fmt: skip
    tmp = out / "sweep.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(out / "sweep.json")


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    backend: object,
    *,
    on_event: Callable[[JobState, JobOutcome | None], None] | None = None,
) -> SweepReport:
    """Run every job of ``plan`` not already done under ``out``; the report of all of them.

    ``backend`` is a :class:`~harness.sweep.backends.LocalBackend` or
    :class:`~harness.sweep.backends.RayBackend`; a failed attempt is submitted
    again until ``plan.retries`` retries are spent. Ctrl-C cancels what runs
    (its state stays "running" in sweep.json) and re-raises.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    name = getattr(backend, "name", "local")
    states = {job.key: JobState(job, out / job.name) for job in plan.jobs}
    for state in states.values():
        if is_done(state.job, state.run_dir):
            state.status = "skipped"
            if on_event:
                on_event(state, None)
    events = open(out / "sweep.jsonl", "a")
    try:
        for state in states.values():
            if state.status == "pending":
                state.status, state.attempts = "running", 1
                backend.submit(state.job, state.run_dir, 1)
        _write_state(out, name, list(states.values()), plan.retries)
        while backend.running():
            job, attempt, outcome = backend.next_done()
            state = states[job.key]
            state.seconds += outcome.seconds
            events.write(json.dumps({"time": time.time(), "job": job.name, "attempt": attempt,
                                     "ok": outcome.ok, **outcome.to_json()}) + "\n")  # fmt: skip
            events.flush()
            if outcome.ok:
                state.status, state.error = "done", None
            elif attempt <= plan.retries:
                state.status, state.attempts, state.error = "running", attempt + 1, outcome.error
                backend.submit(job, state.run_dir, attempt + 1)
            else:
                state.status, state.error = "failed", outcome.error
            _write_state(out, name, list(states.values()), plan.retries)
            if on_event:
                on_event(state, outcome)
    except BaseException:
        backend.close(cancel=True)
        raise
    finally:
        events.close()
    backend.close()
    return SweepReport(out, name, list(states.values()), time.perf_counter() - start)
