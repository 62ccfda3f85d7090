"""Running one sweep job: ``harness run`` in its own process, logged, its outcome recorded.

A job is done when its run directory holds ``results.json`` and a ``job.json``
with the job's key: a later sweep skips it. A job that was interrupted left a
run directory that ``harness run`` resumes (same spec, same ``--out``), so its
finished examples are not scored again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.execution.pool import die_with_parent
from harness.sweep.plan import Job

__all__ = ["JobOutcome", "is_done", "run_job"]

LOG_TAIL_CHARS = 2000


@dataclass
class JobOutcome:
    name: str
    ok: bool
    returncode: int | None
    seconds: float
    log: str
    error: str | None = None
    host: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def is_done(job: Job, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds this job's finished run."""
    try:
        recorded = json.loads((run_dir / "job.json").read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("key") == job.key and (run_dir / "results.json").exists()


def run_job(
    job: Job, run_dir: str | Path, *, attempt: int = 1, started: Callable[[subprocess.Popen], None] | None = None
) -> JobOutcome:
    """Run ``job`` as ``python -m harness.cli run ... --out run_dir``; its output goes to ``job.log``.

    ``started`` receives the process (so a local pool can kill it when the sweep is interrupted).
    """
    import socket

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "job.log"
    env = {**os.environ, **dict(job.env), "HARNESS_SWEEP_ATTEMPT": str(attempt)}
    start = time.perf_counter()
    with open(log_path, "a") as log:
        log.write(f"\n=== attempt {attempt}: harness {' '.join(job.command(run_dir))}\n")
        log.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", *job.command(run_dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=die_with_parent,  # a cancelled Ray task or a killed sweep leaves no orphan run
        )  # fmt: skip
        if started is not None:
            started(process)
        try:
            returncode = process.wait()
        except BaseException:  # interrupted: the run stops here and resumes next time
            process.kill()
            process.wait()
            raise
    seconds = time.perf_counter() - start
    ok = returncode == 0 and (run_dir / "results.json").exists()
    if ok:
        (run_dir / "job.json").write_text(json.dumps(job.to_json(), indent=2) + "\n")
    error = None if ok else f"exit code {returncode}: {_tail(log_path)}"
    return JobOutcome(job.name, ok, returncode, seconds, str(log_path), error, socket.gethostname())


def _tail(path: Path) -> str:
    text = path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-3:])
