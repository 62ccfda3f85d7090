"""Run every method on the embedded suites for several seeds and print RESULTS.md tables.

    python scripts/results_table.py --suites synth-sql synth-code --seeds 0 1 2 [--out runs/results]

Each row is `harness run` with the command shown beside it. Two tables per suite:
the main metric per tier, and the error rate per tier (the share of predictions
that fail to execute: ``pred_error`` or ``pred_timeout``), each as mean ± standard
deviation over the seeds. Every training method gets the same optimizer-step
budget: ``--steps-per-tier`` times the suite's number of tiers (sft's ``steps``,
curriculum's ``steps_per_stage``, mac's ``steps_per_tier``). Runs already finished
are reused (the run directory resumes and candidates are cached), so the script
can be stopped and started again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MAIN_METRIC = {"synth-sql": "ex", "synth-code": "output_acc", "synth-table": "answer_acc"}
FAILED = ("pred_error", "pred_timeout")


def methods(steps_per_tier: int, tiers: int) -> list[tuple[str, list[str]]]:
    """(label, harness run arguments) of every row, with equal step budgets."""
    total = steps_per_tier * tiers
    stage = ["-M", f"steps_per_stage={steps_per_tier}"]
    return [
        ("none", ["--method", "none"]),
        ("sft", ["--method", "sft", "-M", f"steps={total}"]),
        *[
            (f"curriculum {s}", ["--method", "curriculum", "-M", f"schedule={s}", *stage])
            for s in ("sequential", "incremental", "hybrid", "sorted")
        ],
        ("mac", ["--method", "mac", "-M", f"steps_per_tier={steps_per_tier}"]),
        # CPU-sized: 2 rounds of 256 questions x 4 samples; GRPO gets the same step count as the others
        ("codelutra", ["--method", "codelutra", "-M", "iterations=2", "-M", "questions_per_iteration=256"]),
        ("grpo", ["--method", "grpo", "-M", f"steps={total}"]),
        # SFT on the searched decompositions with the same budget, then 200 margin-aware DPO steps
        ("learnat", ["--method", "learnat", "-M", f"sft_steps={total}"]),
    ]


SQL_ONLY = {"learnat"}  # methods that decompose gold SQL


def command(suite: str, method_args: list[str], seed: int, out: Path, model: str | None) -> list[str]:
    model_args = ["--model", model] if model else []
    return ["harness", "run", "--suite", suite, *model_args, *method_args, "--seed", str(seed), "-j", "2",
            "--out", str(out)]  # fmt: skip


def suite_info(suite: str) -> tuple[list[str], str]:
    """The suite's tiers and its gold kind."""
    from harness.cli_common import load_suite

    loaded = load_suite(suite, None, split="train", suite_args=[])
    return list(loaded.tiers), loaded.gold_kind


def failed_share(group: dict[str, Any]) -> float:
    count = group["count"]
    return sum(group["status"].get(s, 0) for s in FAILED) / count if count else 0.0


def cell(values: list[float]) -> str:
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def table(rows: list[tuple[str, str, list[dict[str, Any]]]], tiers: list[str], value: Any) -> list[str]:
    lines = ["| method | " + " | ".join(tiers) + " | all | command |", "|---|" + "---:|" * (len(tiers) + 1) + "---|"]
    for label, shown, per_seed in rows:
        cells = [cell([value(r["by_tier"][t]) for r in per_seed if t in r["by_tier"]]) for t in tiers]
        cells.append(cell([value(r["overall"]) for r in per_seed]))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | `{shown}` |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", default=["synth-sql", "synth-code"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=None, help="row labels to run (default: all)")
    parser.add_argument("--model", default=None, help="base checkpoint (default: the tiny base)")
    parser.add_argument("--steps-per-tier", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("runs/results"))
    args = parser.parse_args()
    for suite in args.suites:
        metric = MAIN_METRIC.get(suite, "ex")
        tiers, gold_kind = suite_info(suite)
        rows = []
        for label, method_args in methods(args.steps_per_tier, len(tiers)):
            if (args.methods and label not in args.methods) or (label in SQL_ONLY and gold_kind != "sql"):
                continue
            per_seed = []
            for seed in args.seeds:
                out = args.out / suite / label.replace(" ", "-") / f"seed{seed}"
                cmd = command(suite, method_args, seed, out, args.model)
                started = time.monotonic()
                proc = subprocess.run([sys.executable, "-m", "harness.cli", *cmd[1:]], capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"FAILED: {' '.join(cmd)}\n{proc.stderr[-3000:]}", file=sys.stderr)
                    continue
                results = json.loads((out / "results.json").read_text())
                per_seed.append(results)
                print(f"{suite} {label} seed {seed}: {results['overall']['metrics'][metric]:.3f}, "
                      f"failed {failed_share(results['overall']):.3f} ({time.monotonic() - started:.0f} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
            shown = " ".join(command(suite, method_args, 0, Path("OUT"), args.model)).replace("--seed 0", "--seed S")
            rows.append((label, shown, per_seed))
        seeds = ", ".join(map(str, args.seeds))
        print(f"\n### {suite}: {metric} on the dev split, mean ± sd over seeds {seeds}\n")
        print("\n".join(table(rows, tiers, lambda g, m=metric: g["metrics"][m])))
        print(f"\n### {suite}: error rate (share of predictions that fail to execute), mean ± sd over seeds {seeds}\n")
        print("\n".join(table(rows, tiers, failed_share)))


if __name__ == "__main__":
    main()
