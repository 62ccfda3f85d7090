"""Hostile predictions through the whole `harness eval` pipeline: bounded, read-only, contained."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from suites.spider import load_spider
from tests.test_eval_cli import harness, samples

TIMEOUT_S = 1.0
SLACK_S = 2.0
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"


def hostile(tmp: Path) -> list[str]:
    return [
        "DROP TABLE customer",
        "DELETE FROM orders",
        "UPDATE customer SET age = 0",
        "INSERT INTO customer VALUES (99, 'x', 'y', 1)",
        "CREATE TABLE pwn(x)",
        f"ATTACH DATABASE '{tmp / 'new.db'}' AS x",
        "PRAGMA writable_schema=ON",
        "SELECT load_extension('/tmp/x')",
        "SELECT 1; DROP TABLE customer",
        f"{ENDLESS} SELECT count(*) FROM c",
        "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, customer f",  # 292M rows
        f"{ENDLESS} SELECT x FROM c LIMIT 100000000",
        "SELECT name FROM customer WHERE name = 'a\x00b'",
        "SELECT '" + "x" * 1_000_000 + "' FROM customer",
        f"VACUUM INTO '{tmp / 'copy.db'}'",
    ]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("semantics", ["bird", "spider"])
def test_hostile_predictions_end_as_errors_or_timeouts_and_touch_nothing(tmp_path, tiny_dir, semantics):
    suite = load_spider(tiny_dir)
    attacks = hostile(tmp_path)
    preds = {e.id: e.gold for e in suite.examples}
    for example, sql in zip(suite.examples, attacks):
        preds[example.id] = sql
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
    work = tmp_path / "cwd"
    work.mkdir()
    before = snapshot(tiny_dir)
    start = time.monotonic()
    proc = harness(
        "eval", "--suite", "spider", "--data", str(tiny_dir), "--predictions", str(path), "--semantics", semantics,
        "--metrics", "ex", "--timeout", str(TIMEOUT_S), "--max-rows", "100000", "-j", "2", "--out", str(tmp_path / "run"),
        cwd=work,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    by_id = {s["id"]: s for s in samples(tmp_path / "run")}
    allowed = {"pred_error", "pred_timeout"}
    for index, sql in enumerate(attacks):
        sample = by_id[str(index)]
        if semantics == "spider" and sql.startswith("SELECT 1;"):
            # the official evaluator keeps only the first statement (its remove_distinct
            # re-joins the first sqlparse statement): SELECT 1 runs, and does not match
            assert sample["status"] == "mismatch"
        elif sql.startswith("SELECT '"):
            assert sample["status"] in allowed | {"mismatch"}  # a big literal may legitimately run
        else:
            assert sample["status"] in allowed, (sql[:60], sample["status"], sample["error"])
        assert sample["latency_s"].get("pred", 0.0) < TIMEOUT_S + SLACK_S
    golds_ok = [s for k, s in by_id.items() if int(k) >= len(attacks)]
    assert all(s["status"] == "match" for s in golds_ok)
    assert elapsed < len(attacks) * (TIMEOUT_S + SLACK_S)
    assert snapshot(tiny_dir) == before  # byte-identical, and no new file beside the databases
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "copy.db").exists()
    assert sorted(p.name for p in work.iterdir()) == []
