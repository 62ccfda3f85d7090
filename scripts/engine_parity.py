"""Verdict parity between SQLite and another engine on a Spider-layout suite (spider-dev by default).

For every example the gold SQL runs on SQLite as written and on the target
engine transpiled (``harness.engines.dialects``); the two results are compared
with Spider's rules (bag of rows, order only when the gold has ORDER BY). Each
difference is classified (``classify``). Then each published system's
predictions are scored on both engines, and the verdicts compared.

    python scripts/engine_parity.py                       # a throwaway PostgreSQL server
    python scripts/engine_parity.py --engine duckdb
    python scripts/engine_parity.py --json parity.json --show 5

Needs ../shared/data/spider-dev (or --data); PostgreSQL needs Debian's
postgresql package (or --url of a server where the loader may create schemas).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.engines import EngineSpec, engine_dialect, open_engine  # noqa: E402
from harness.engines.dialects import TranspileError, sqlite_schema, transpile  # noqa: E402
from harness.execution.sqlite import run_query  # noqa: E402
from harness.metrics.spider_exec import prepare_spider_pair, replace_cur_year, result_eq  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider-dev"

# (class, pattern on the target's error) — first match wins
ERROR_CLASSES = [
    ("bare column in GROUP BY", r"must appear in the GROUP BY clause|must appear in the GROUP BY|GROUP BY clause or must be part"),
    ("text compared with a number", r"operator does not exist: (text|character varying) [=<>!]+ (integer|bigint|numeric|double)"
                                    r"|operator does not exist: (integer|bigint|numeric|double precision) [=<>!]+ text"
                                    r"|Cannot compare values of type|Could not convert string"),
    ("aggregate over text", r"function (sum|avg)\(text\) does not exist|No function matches the given name and argument types '(sum|avg)\(VARCHAR\)'"),
    ("ORDER BY on a SELECT DISTINCT", r"for SELECT DISTINCT, ORDER BY expressions must appear"),
    ("text not a date", r"invalid input syntax for type timestamp|date/time field value out of range|Could not parse string"),
    ("function missing on target", r"function .* does not exist|Scalar Function with name .* does not exist"),
    ("column of a set operation", r"each (UNION|INTERSECT|EXCEPT) query must have the same number of columns"
                                  r"|(UNION|INTERSECT|EXCEPT) types .* cannot be matched"),
    ("syntax the target refuses", r"syntax error|Parser Error"),
]


def classify_error(message: str) -> str:
    for name, pattern in ERROR_CLASSES:
        if re.search(pattern, message, re.IGNORECASE):
            return name
    return "other error: " + message.split("[as ")[0][:80]


def _floats_close(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(sorted(a, key=repr), sorted(b, key=repr)):
        if len(x) != len(y):
            return False
        for u, v in zip(x, y):
            if u != v and not (isinstance(u, (int, float)) and isinstance(v, (int, float)) and abs(u - v) <= 1e-9 * max(1, abs(u))):
                return False
    return True


def classify_mismatch(gold: str, sqlite_rows: list[tuple], target_rows: list[tuple], rerun) -> str:
    upper = gold.upper()
    if "ORDER BY" in upper and Counter(sqlite_rows) == Counter(target_rows):
        return "order of ties (ORDER BY on a non-unique key)"
    if _floats_close(sqlite_rows, target_rows):
        return "floating-point rounding"
    if "LIMIT" in upper and "ORDER BY" in upper:
        unlimited = re.sub(r"\bLIMIT\s+\d+(\s+OFFSET\s+\d+)?", "", gold, flags=re.IGNORECASE)
        if unlimited != gold and rerun(unlimited):
            return "ties under ORDER BY ... LIMIT"
    if "/" in gold:
        return "integer division"
    if "LIMIT" in upper:
        return "LIMIT without a total order"
    return "other mismatch"


def as_target(sql: str, db: str, target: str) -> str:
    """``sql`` (SQLite) as the eval command runs it on ``target``."""
    schema = sqlite_schema(db)
    return transpile(sql, source="sqlite", target=target, names=schema.names, integer_columns=schema.integer_columns)


def gold_parity(examples, engine, target: str, show: int) -> dict:
    counts: Counter[str] = Counter()
    samples: dict[str, list[dict]] = {}
    for example in examples:
        db, ran = example.db_paths[0], None
        _, gold, order_matters = prepare_spider_pair(example.gold, example.gold, keep_distinct=False)
        gold = replace_cur_year(gold)
        base = run_query(db, gold, timeout_s=30, max_rows=None)
        if base.status != "ok":
            counts["gold fails on SQLite"] += 1
            continue
        try:
            ran = as_target(gold, db, target)
        except TranspileError as e:
            kind, detail = "transpilation failed", str(e)
        else:
            other = engine.run(db, ran, timeout_s=30, max_rows=None)
            if other.status != "ok":
                kind, detail = classify_error(other.error or ""), other.error
            elif result_eq(base.rows, other.rows, order_matters=order_matters):
                counts["same result"] += 1
                continue
            else:
                def rerun(sql: str, db: str = db) -> bool:
                    a = run_query(db, sql, timeout_s=30, max_rows=None)
                    b = engine.run(db, as_target(sql, db, target),
                                   timeout_s=30, max_rows=None)
                    return a.status == b.status == "ok" and result_eq(a.rows, b.rows, order_matters=False)

                kind = classify_mismatch(gold, base.rows, other.rows, rerun)
                detail = f"sqlite {base.rows[:3]} vs {target} {other.rows[:3]}"
        counts[kind] += 1
        if len(samples.setdefault(kind, [])) < show:
            samples[kind].append({"id": example.id, "db": example.db_id, "gold": example.gold, "ran": ran,
                                  "detail": detail})
    return {"counts": dict(counts.most_common()), "samples": samples}


def verdict_parity(suite, data: Path, url: str, engine_name: str, run_root: Path) -> dict:
    from harness.evaluate import evaluate
    from harness.options import EvalOptions
    from harness.predictions import read_predictions

    out = {}
    for path in sorted((data / "predictions").glob("*.sql")):
        preds = read_predictions(str(path), suite, None)
        verdicts = {}
        for engine in ("sqlite", engine_name):
            options = EvalOptions(semantics="spider", metrics=("ex",), engine=engine,
                                  db_url=None if engine == "sqlite" else url,
                                  pred_dialect="sqlite" if engine != "sqlite" else None)
            evaluate(suite, preds, options, run_root / f"{path.stem}-{engine}", jobs=1)
            rows = [json.loads(line) for line in (run_root / f"{path.stem}-{engine}" / "samples.jsonl").open()]
            verdicts[engine] = {row["id"]: row for row in rows}
        a, b = verdicts["sqlite"], verdicts[engine_name]
        same = [i for i in a if a[i]["scores"]["ex"] == b[i]["scores"]["ex"]]
        both_ran = [i for i in a if a[i]["status"] in ("match", "mismatch") and b[i]["status"] in ("match", "mismatch")]
        same_ran = [i for i in both_ran if a[i]["status"] == b[i]["status"]]
        differing = [{"id": i, "sqlite": a[i]["status"], engine_name: b[i]["status"], "error": b[i].get("error")}
                     for i in a if a[i]["scores"]["ex"] != b[i]["scores"]["ex"]]
        flips = [{"id": i, "sqlite": a[i]["status"], engine_name: b[i]["status"], "pred": a[i]["pred"],
                   "gold": a[i]["gold"]} for i in both_ran if a[i]["status"] != b[i]["status"]]
        out[path.stem] = {
            "examples": len(a),
            "ex_sqlite": sum(r["scores"]["ex"] for r in a.values()) / len(a),
            f"ex_{engine_name}": sum(r["scores"]["ex"] for r in b.values()) / len(b),
            "same_verdict": len(same),
            "ran_on_both": len(both_ran),
            "same_verdict_where_both_ran": len(same_ran),
            "differences": Counter(classify_error(d["error"] or "") if d["error"] else f"{d['sqlite']} -> {d[engine_name]}"
                                   for d in differing).most_common(),
            "flips_where_both_ran": flips,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--engine", default="postgresql", choices=["postgresql", "duckdb", "mysql"])
    parser.add_argument("--url", help="admin URL of a PostgreSQL or MySQL server (default: start a throwaway one)")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--show", type=int, default=3, help="examples kept per class")
    parser.add_argument("--skip-systems", action="store_true", help="gold parity only")
    args = parser.parse_args()
    if not (args.data / "dev.json").is_file():
        sys.exit(f"{args.data}: no Spider dev set there; pass --data")
    from harness.engines.loader import load_databases
    from suites.spider import load_spider

    suite = load_spider(args.data, split="dev", skip_missing_db=True)
    db_paths = list(dict.fromkeys(p for e in suite.examples for p in e.db_paths))
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parity-")))
        if args.engine == "postgresql" and not args.url:
            from harness.engines.local_postgres import LocalPostgres

            args.url = stack.enter_context(LocalPostgres()).url()
        if args.engine == "mysql" and not args.url:
            from harness.engines.local_mysql import LocalMySQL

            args.url = stack.enter_context(LocalMySQL()).url("")
        url = str(work / "spider.duckdb") if args.engine == "duckdb" else args.url
        report = load_databases(db_paths, args.engine, url, reader_password="parity")
        print(report.render())
        engine = open_engine(EngineSpec(args.engine, report.reader_url))
        result = {"engine": args.engine, "examples": len(suite.examples),
                  "gold": gold_parity(suite.examples, engine, engine_dialect(args.engine), args.show)}
        engine.close()
        print(json.dumps(result["gold"]["counts"], indent=1))
        if not args.skip_systems:
            result["systems"] = verdict_parity(suite, args.data, report.reader_url, args.engine, work / "runs")
            print(json.dumps(result["systems"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
