"""The same sweep on the local process pool and on Ray, side by side; and wall-time estimates for
a full method-by-suite table on N GPUs from the per-job costs a sweep measured.

    python benchmarks/bench_sweep.py compare --jobs 8 --rounds 3
    python benchmarks/bench_sweep.py estimate /path/to/sweep --suites 4 --seeds 3 --gpus 8,64

``compare`` runs ``harness sweep`` of ``--jobs`` scoring jobs (synth-sql, gold
answers, one seed each, so each is its own run) into fresh folders, alternating
the local pool (``--workers``) and ``--ray local`` (a Ray runtime with this
machine's CPUs, its start-up included) round by round, and reports medians and
the ratio Ray / local.

``estimate`` reads ``sweep.json`` of a finished sweep (one job per method),
takes each method's measured seconds as its job cost, multiplies the jobs out
to ``--suites`` x ``--seeds`` per method, scales by ``--scale`` (the ratio of
a full training budget to the measured one), and schedules them longest first
onto each GPU count (one job per GPU): the makespan is the estimate.
"""

from __future__ import annotations

import argparse
import heapq
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def compare(jobs: int, rounds: int, workers: int, size: str) -> None:
    """Whole ``harness sweep`` commands, as a user runs them (Ray's start-up included), alternating."""
    seeds = ",".join(str(seed) for seed in range(jobs))
    backends = {"local": ["--workers", str(workers)], "ray": ["--ray", "local"]}
    times: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(rounds):
        for name, flags in backends.items():
            folder = Path(tempfile.mkdtemp(prefix=f"bench-sweep-{name}-"))
            command = [sys.executable, "-m", "harness.cli", "sweep", "--suite", "synth-sql", "--method", "none",
                       "--model", "gold", "--seed", seeds, "--out", str(folder), "--retries", "0", *flags,
                       "--", "-S", f"size={size}"]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            times[name].append(time.perf_counter() - start)
            assert done.returncode == 0 and f"{jobs} done" in done.stdout, done.stdout + done.stderr
            shutil.rmtree(folder)
    local, ray = statistics.median(times["local"]), statistics.median(times["ray"])
    print("rounds (s):", {name: [round(t, 2) for t in values] for name, values in times.items()})
    print(f"{jobs} jobs (synth-sql size={size}, gold answers), median of {rounds} rounds")
    print("| backend | seconds | per job | ratio to local pool |")
    print("|---|---:|---:|---:|")
    print(f"| `harness sweep --workers {workers}` (local process pool) | {local:.2f} | {local / jobs:.2f} | 1.00x |")
    print(f"| `harness sweep --ray local` (Ray runtime, this machine's CPUs) | {ray:.2f} | {ray / jobs:.2f} "
          f"| {ray / local:.2f}x |")


def makespan(costs: list[float], slots: int) -> float:
    """Longest-processing-time-first list scheduling of ``costs`` onto ``slots``.

    >>> makespan([4, 3, 3, 2], 2)
    6.0
    """
    loads = [0.0] * slots
    heapq.heapify(loads)
    for cost in sorted(costs, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + cost)
    return max(loads)


def estimate(sweep: Path, suites: int, seeds: int, gpus: list[int], scale: float) -> None:
    summary = json.loads((sweep / "sweep.json").read_text())
    per_method = {job["job"]["method"]: job["seconds"] for job in summary["jobs"] if job["status"] == "done"}
    costs = [seconds * scale for seconds in per_method.values() for _ in range(suites * seeds)]
    print(f"measured job cost per method (sweep {sweep.name}), x{scale:g} for the full budget:")
    for method, seconds in per_method.items():
        print(f"  {method:<12} {seconds:8.1f} s measured, {seconds * scale / 60:8.1f} min scaled")
    total = sum(costs)
    print(f"{len(costs)} jobs ({len(per_method)} methods x {suites} suites x {seeds} seeds), "
          f"{total / 3600:.1f} job-hours in all, one job per GPU")
    print("| GPUs | estimated wall time | bound: longest job | bound: total / GPUs |")
    print("|---:|---:|---:|---:|")
    for count in gpus:
        span = makespan(costs, count)
        print(f"| {count} | {span / 3600:.2f} h | {max(costs) / 3600:.2f} h | {total / count / 3600:.2f} h |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("compare")
    one.add_argument("--jobs", type=int, default=8)
    one.add_argument("--rounds", type=int, default=3)
    one.add_argument("--workers", type=int, default=2)
    one.add_argument("--size", default="default")
    two = commands.add_parser("estimate")
    two.add_argument("sweep", type=Path)
    two.add_argument("--suites", type=int, default=4)
    two.add_argument("--seeds", type=int, default=3)
    two.add_argument("--gpus", default="8,64")
    two.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    if args.command == "compare":
        compare(args.jobs, args.rounds, args.workers, args.size)
    else:
        estimate(args.sweep, args.suites, args.seeds, [int(n) for n in args.gpus.split(",")], args.scale)


if __name__ == "__main__":
    main()
