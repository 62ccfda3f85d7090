"""Scoring speed of `harness eval` on Spider dev against the floor, measured side by side.

The floor executes each gold and predicted query once and compares nothing
(benchmarks/floor_exec.py). Both run as fresh processes, start-up included,
alternating, several rounds; the table reports medians and the ratio to the floor.

    python benchmarks/bench_spider_eval.py [--rounds 5] [--jobs 2] [--large 20000]
        [--official DIR --official-python PY]

Needs the real Spider dev set (../shared/data/spider-dev or $HARNESS_SPIDER_DEV).
With ``--official``, a checkout of test-suite-sql-eval (not part of this project;
its Python needs nltk, sqlparse and NLTK's punkt data via $NLTK_DATA) is timed
too, side by side, with ``--etype exec`` and ``--etype all``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return elapsed


def repeated_suite(data: Path, predictions: Path, size: int, into: Path) -> tuple[Path, Path]:
    """A Spider-layout folder whose dev.json and predictions repeat the originals to ``size``."""
    examples = json.loads((data / "dev.json").read_text())
    preds = predictions.read_text().splitlines()
    keep = [(e, p) for e, p in zip(examples, preds) if (data / "database" / e["db_id"]).is_dir()]
    rows = [keep[i % len(keep)] for i in range(size)]
    into.mkdir(parents=True)
    (into / "dev.json").write_text(json.dumps([e for e, _ in rows]))
    shutil.copy(data / "tables.json", into / "tables.json")
    os.symlink(data / "database", into / "database")
    big_preds = into / "preds.sql"
    big_preds.write_text("\n".join(p for _, p in rows) + "\n")
    return into, big_preds


def official_inputs(data: Path, predictions: Path, into: Path) -> tuple[Path, Path]:
    """Gold and prediction files in the official line format, examples without a database left out."""
    examples = json.loads((data / "dev.json").read_text())
    with open(predictions) as f:  # text mode, as the official evaluator reads it
        preds = f.readlines()
    keep = [(e, p) for e, p in zip(examples, preds) if (data / "database" / e["db_id"]).is_dir()]
    gold, pred = into / "gold.txt", into / "pred.sql"
    gold.write_text("".join(f"{e['query']}\t{e['db_id']}\n" for e, _ in keep))
    pred.write_text("".join(p if p.endswith("\n") else p + "\n" for _, p in keep))
    return gold, pred


def measure_official(official: Path, python: str, data: Path, predictions: Path, rounds: int, tmp: Path) -> dict[str, float]:
    gold, pred = official_inputs(data, predictions, tmp)
    times: dict[str, list[float]] = {"exec": [], "all": []}
    for _ in range(rounds):
        for etype in times:
            times[etype].append(timed([
                python, str(official / "evaluation.py"), "--gold", str(gold), "--pred", str(pred),
                "--db", str(data / "database"), "--table", str(data / "tables.json"), "--etype", etype,
            ]))
    return {etype: statistics.median(t) for etype, t in times.items()}


def measure(data: Path, predictions: Path, jobs: int, rounds: int, out: Path) -> dict[str, float]:
    floor_cmd = [sys.executable, str(REPO / "benchmarks" / "floor_exec.py"), str(data), str(predictions)]
    ours_cmd = [
        sys.executable, "-m", "harness.cli", "eval", "--suite", "spider", "--data", str(data),
        "--predictions", str(predictions), "--skip-missing-db", "-j", str(jobs), "--out", str(out), "--fresh",
    ]
    floor, ours = [], []
    for _ in range(rounds):
        floor.append(timed(floor_cmd))
        ours.append(timed(ours_cmd))
    f, o = statistics.median(floor), statistics.median(ours)
    return {"floor_s": f, "ours_s": o, "ratio": o / f}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("HARNESS_SPIDER_DEV") or REPO.parent / "shared" / "data" / "spider-dev")
    parser.add_argument("--system", default="dail-sql-gpt4")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--large", type=int, default=20000, help="examples in the repeated case (0: skip)")
    parser.add_argument("--official", type=Path, help="a test-suite-sql-eval checkout to time beside ours")
    parser.add_argument("--official-python", default=sys.executable, help="the Python to run it with")
    args = parser.parse_args()
    data = Path(args.data)
    predictions = data / "predictions" / f"{args.system}.sql"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cases = [("spider dev, 972 examples", data, predictions, args.rounds)]
        if args.large:
            big, big_preds = repeated_suite(data, predictions, args.large, tmp_path / "large")
            cases.append((f"repeated to {args.large} examples", big, big_preds, max(1, args.rounds // 2)))
        print("| case | measured | floor (s) | time (s) | ratio to floor |")
        print("|---|---|---|---|---|")
        for label, case_data, case_preds, rounds in cases:
            r = measure(case_data, case_preds, args.jobs, rounds, tmp_path / "run")
            print(f"| {label} | harness eval -j {args.jobs} (EX, EM, hardness, features) | {r['floor_s']:.2f} | {r['ours_s']:.2f} | {r['ratio']:.2f}x |", flush=True)
            if args.official and case_data == data:
                o = measure_official(args.official, args.official_python, data, predictions, rounds, tmp_path)
                for etype, what in (("exec", "EX"), ("all", "EX, EM, hardness")):
                    print(f"| {label} | official test-suite-sql-eval --etype {etype} ({what}) | {r['floor_s']:.2f} | {o[etype]:.2f} | {o[etype] / r['floor_s']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
