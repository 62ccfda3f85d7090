"""synth-sql: determinism, valid and deterministic golds, tier balance, split hygiene, loaders, CLI."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from suites.bird import load_bird
from suites.spider import load_spider
from suites.synth_sql import (
    BIRD_DIFFICULTY,
    build,
    export_bird,
    export_spider,
    load_synth_sql,
    load_synth_sql_bird,
)

REPO = Path(__file__).resolve().parent.parent
SPLIT_FILES = {"train": "train_spider.json", "dev": "dev.json", "test": "test.json", "pretrain": "pretrain.json"}
TIERS = ("easy", "medium", "hard", "extra")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    return {"spider": export_spider(root / "spider", seed=0, size="tiny"),
            "bird": export_bird(root / "bird", seed=0, size="tiny")}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_the_same_bytes_in_another_process(exported, tmp_path):
    script = ("import sys; from suites.synth_sql import export_spider, export_bird; "
              "export_spider(sys.argv[1] + '/spider', 0, 'tiny'); export_bird(sys.argv[1] + '/bird', 0, 'tiny')")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=REPO, env=env)
    for kind, folder in exported.items():
        mine, theirs = _files(folder), _files(tmp_path / kind)
        assert sorted(mine) == sorted(theirs)
        assert [name for name in mine if mine[name] != theirs[name]] == []
    assert any(name.endswith(".sqlite") for name in _files(exported["spider"]))


def test_a_different_seed_gives_different_databases(exported, tmp_path):
    other = _files(export_spider(tmp_path / "seed1", seed=1, size="tiny"))
    mine = _files(exported["spider"])
    databases = {data for name, data in mine.items() if name.endswith(".sqlite")}
    assert not databases & {data for name, data in other.items() if name.endswith(".sqlite")}
    assert other["dev.json"] != mine["dev.json"]


def _top_level_order(sql: str) -> tuple[str, list[str], bool, int | None] | None:
    """(probe SQL, order keys, desc, limit) for a query whose outermost SELECT has ORDER BY."""
    at = sql.rfind(" ORDER BY ")
    if at < 0 or sql[:at].count("(") != sql[:at].count(")") or re.search(r" (INTERSECT|EXCEPT|UNION) ", sql):
        return None
    tail = re.fullmatch(r"(.*?)(?: LIMIT (\d+))?", sql[at + len(" ORDER BY "):])
    assert tail is not None
    keys = [k.removesuffix(" DESC") for k in tail.group(1).split(", ")]
    head = sql.index(" FROM ")
    probe = f"{sql[:head]}, {', '.join(keys)}{sql[head:at]} ORDER BY {tail.group(1)}"
    return probe, keys, tail.group(1).endswith(" DESC"), int(tail.group(2)) if tail.group(2) else None


def _order_is_determined(conn: sqlite3.Connection, sql: str) -> bool:
    found = _top_level_order(sql)
    if found is None:
        return True
    probe, keys, _, limit = found
    rows = conn.execute(probe).fetchall()
    width = len(rows[0]) - len(keys) if rows else 0
    shown = len(rows) if limit is None else min(limit, len(rows))
    pairs = range(shown if shown < len(rows) else shown - 1)
    return not any(rows[i][width:] == rows[i + 1][width:] and rows[i][:width] != rows[i + 1][:width] for i in pairs)


def test_every_gold_runs_with_a_deterministic_mostly_non_empty_result(exported):
    root = exported["spider"]
    total = non_empty = 0
    for name in SPLIT_FILES.values():
        for record in json.loads((root / name).read_text()):
            db = root / "database" / record["db_id"] / f"{record['db_id']}.sqlite"
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            sql = record["query"]
            rows = conn.execute(sql).fetchall()
            conn.execute("PRAGMA reverse_unordered_selects = 1")
            reversed_rows = conn.execute(sql).fetchall()
            if _top_level_order(sql) is not None:
                assert rows == reversed_rows, sql
            else:
                assert sorted(rows, key=repr) == sorted(reversed_rows, key=repr), sql
            assert _order_is_determined(conn, sql), sql
            conn.close()
            total += 1
            non_empty += any(v is not None for row in rows for v in row)
            assert record["evidence"], record
    assert total >= 100
    assert non_empty / total >= 0.9


def test_hardness_is_balanced_by_the_harness_classifier(exported):
    for split, name in SPLIT_FILES.items():
        suite = load_spider(exported["spider"], split="train" if split == "train" else name)
        tiers = Counter(suite.resolve_tier(ex, suite.context) for ex in suite.examples)
        assert set(tiers) == set(TIERS), (split, tiers)
        assert min(tiers.values()) >= 0.15 * len(suite.examples), (split, tiers)


def test_splits_never_share_a_database(exported):
    root = exported["spider"]
    dbs = {split: {r["db_id"] for r in json.loads((root / name).read_text())} for split, name in SPLIT_FILES.items()}
    assert all(dbs.values())
    splits = list(dbs)
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            assert not dbs[a] & dbs[b], (a, b)
    bird = exported["bird"]
    folders = {s: {p.name for p in (bird / f"{s}_databases").iterdir()} for s in ("train", "dev", "test")}
    assert folders == {s: dbs[s] for s in ("train", "dev", "test")}


def test_tables_json_describes_the_database_files(exported):
    root = exported["spider"]
    nulls = 0
    for entry in json.loads((root / "tables.json").read_text()):
        conn = sqlite3.connect(root / "database" / entry["db_id"] / f"{entry['db_id']}.sqlite")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert tables == entry["table_names_original"]
        columns = [[t, r[1]] for t, table in enumerate(tables) for r in conn.execute(f"PRAGMA table_info({table})")]
        assert [[-1, "*"], *columns] == entry["column_names_original"]
        assert len(entry["column_types"]) == len(columns) + 1 and entry["primary_keys"] and entry["foreign_keys"]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for t, table in enumerate(tables):
            for _, col in (c for c in columns if c[0] == t):
                nulls += conn.execute(f"SELECT count(*) FROM {table} WHERE {col} IS NULL").fetchone()[0]
        conn.close()
    assert nulls > 0


def test_exports_load_with_the_spider_and_bird_loaders(exported):
    spider, bird = exported["spider"], exported["bird"]
    for split in ("train", "dev"):
        suite = load_bird(bird, split=split)
        assert suite.examples and {ex.tier for ex in suite.examples} == {"simple", "moderate", "challenging"}
        assert all(ex.evidence for ex in suite.examples)
    dev = load_spider(spider, split="dev")
    bird_dev = json.loads((bird / "dev.json").read_text())
    assert [r["SQL"] for r in bird_dev] == [ex.gold for ex in dev.examples]
    assert [r["difficulty"] for r in bird_dev] == [BIRD_DIFFICULTY[dev.resolve_tier(ex, dev.context)]
                                                  for ex in dev.examples]
    gold = (spider / "dev_gold.sql").read_text().splitlines()
    assert gold == [f"{ex.gold}\t{ex.db_id}" for ex in dev.examples]


def test_registered_loaders_generate_into_the_cache(tmp_path):
    suite = load_synth_sql(split="test", size="tiny", seed=3)
    assert suite.name == "synth-sql" and {ex.suite for ex in suite.examples} == {"synth-sql"}
    pretrain = load_synth_sql(split="pretrain", size="tiny", seed=3)
    assert pretrain.examples and not {ex.db_id for ex in pretrain.examples} & {ex.db_id for ex in suite.examples}
    again = load_synth_sql(split="test", size="tiny", seed=3, limit=5)
    assert [ex.gold for ex in again.examples] == [ex.gold for ex in suite.examples[:5]]
    for split in ("train", "dev", "test"):
        bird = load_synth_sql_bird(split=split, size="tiny", seed=3)
        assert bird.name == "synth-sql-bird" and bird.examples and all(ex.evidence for ex in bird.examples)


def test_default_size_generates_in_under_30_seconds():
    start = time.perf_counter()
    data = build(seed=11, size="default")
    assert time.perf_counter() - start < 30
    assert len(data.databases) >= 40 and sum(len(items) for items in data.splits.values()) >= 3000


@pytest.mark.parametrize("suite, metrics", [("synth-sql", ("ex", "em")), ("synth-sql-bird", ("ex", "soft_f1"))])
def test_harness_eval_scores_the_gold_perfectly(tmp_path, suite, metrics):
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "harness.cli", "eval", "--suite", suite, "--out", str(out)],
                   check=True, cwd=REPO, env=env, capture_output=True)
    results = json.loads((out / "results.json").read_text())
    assert {m: results["overall"]["metrics"][m] for m in metrics} == {m: 1.0 for m in metrics}
    counts = {tier: r["count"] for tier, r in results["by_tier"].items()}
    total = results["overall"]["count"]
    assert total >= 300
    if suite == "synth-sql":
        assert set(counts) == set(TIERS) and min(counts.values()) >= 0.15 * total, counts
