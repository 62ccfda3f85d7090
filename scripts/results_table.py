"""Run every method on the embedded suites for several seeds and write RESULTS.md rows.

    python scripts/results_table.py --suites synth-sql synth-code --seeds 0 1 2 [--out runs/results]

Each row is `harness run` with the command shown beside it; the table reports the
main metric per tier as mean ± standard deviation over the seeds. Runs already
finished are reused (the run directory resumes), so the script can be stopped and
started again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

METHODS: list[tuple[str, list[str]]] = [
    ("none", ["--method", "none"]),
    ("sft", ["--method", "sft"]),
    ("curriculum sequential", ["--method", "curriculum", "-M", "schedule=sequential"]),
    ("curriculum incremental", ["--method", "curriculum", "-M", "schedule=incremental"]),
    ("curriculum hybrid", ["--method", "curriculum", "-M", "schedule=hybrid"]),
    ("curriculum sorted", ["--method", "curriculum", "-M", "schedule=sorted"]),
    ("mac", ["--method", "mac"]),
]
MAIN_METRIC = {"synth-sql": "ex", "synth-code": "output_acc"}


def command(suite: str, method_args: list[str], seed: int, out: Path) -> list[str]:
    return ["harness", "run", "--suite", suite, *method_args, "--seed", str(seed), "-j", "2", "--out", str(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", default=["synth-sql", "synth-code"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/results"))
    args = parser.parse_args()
    for suite in args.suites:
        metric = MAIN_METRIC.get(suite, "ex")
        rows = []
        tiers: list[str] = []
        for label, method_args in METHODS:
            per_seed = []
            for seed in args.seeds:
                out = args.out / suite / label.replace(" ", "-") / f"seed{seed}"
                cmd = command(suite, method_args, seed, out)
                started = time.monotonic()
                proc = subprocess.run([sys.executable, "-m", "harness.cli", *cmd[1:]], capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"FAILED: {' '.join(cmd)}\n{proc.stderr}", file=sys.stderr)
                    continue
                results = json.loads((out / "results.json").read_text())
                tiers = list(results["by_tier"])
                per_seed.append(results)
                print(f"{suite} {label} seed {seed}: {results['overall']['metrics'][metric]:.3f} "
                      f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
            rows.append((label, method_args, per_seed))
        print(f"\n### {suite} ({metric}, dev split, mean ± sd over seeds {', '.join(map(str, args.seeds))})\n")
        print("| method | " + " | ".join(tiers) + " | all | command |")
        print("|---|" + "---|" * (len(tiers) + 2))
        for label, method_args, per_seed in rows:
            cells = []
            for tier in [*tiers, None]:
                values = [
                    (r["overall"] if tier is None else r["by_tier"][tier])["metrics"][metric] for r in per_seed
                    if tier is None or tier in r["by_tier"]
                ]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}" if values else "n/a")
            shown = " ".join(command(suite, method_args, 0, Path("OUT"))).replace("--seed 0", "--seed S")
            print(f"| {label} | " + " | ".join(cells) + f" | `{shown}` |")


if __name__ == "__main__":
    main()
