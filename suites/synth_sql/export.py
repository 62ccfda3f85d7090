"""Write a generated dataset in Spider's and BIRD's official layouts.

Spider layout (``export_spider``)::

    tables.json  train_spider.json  dev.json  test.json  pretrain.json
    train_gold.sql  dev_gold.sql  test_gold.sql          ("SQL<TAB>db_id" lines)
    database/<db_id>/<db_id>.sqlite                      (every split's databases)

BIRD layout (``export_bird``), for each of train, dev and test::

    <split>.json  <split>_tables.json  <split>_gold.sql (and dev.sql, as BIRD ships it)
    <split>_databases/<db_id>/<db_id>.sqlite
    <split>_databases/<db_id>/database_description/<table>.csv

BIRD difficulty is mapped from the measured Spider hardness: easy and medium are
``simple``, hard is ``moderate``, extra is ``challenging``. Every file is written
from sorted, fixed data, so the same seed and size give byte-identical folders.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.metrics.word_tokenize import word_tokenize
from suites.synth_sql.generate import Dataset, Item, build
from suites.synth_sql.schema import Database

VERSION = "v1"
BIRD_DIFFICULTY = {"easy": "simple", "medium": "simple", "hard": "moderate", "extra": "challenging"}
SPIDER_FILES = {"train": "train_spider.json", "dev": "dev.json", "test": "test.json", "pretrain": "pretrain.json"}
BIRD_SPLITS = ("train", "dev", "test")
_SQL_TOKEN = re.compile(r"'[^']*'|\d+(?:\.\d+)?|\w+(?:\.\w+)?|[<>!]=|\S")


def query_tokens(sql: str) -> list[str]:
    """Spider-style ``query_toks``: keywords, qualified names and quoted values kept whole.

    >>> query_tokens("SELECT T1.name FROM a AS T1 WHERE T1.x >= 2.5 AND y = 'New York'")
    ['SELECT', 'T1.name', 'FROM', 'a', 'AS', 'T1', 'WHERE', 'T1.x', '>=', '2.5', 'AND', 'y', '=', "'New York'"]
    """
    return _SQL_TOKEN.findall(sql)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_gold(path: Path, items: list[Item]) -> None:
    path.write_text("".join(f"{item.query}\t{item.db_id}\n" for item in items), encoding="utf-8")


def _write_db(root: Path, db: Database) -> None:
    folder = root / db.db_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{db.db_id}.sqlite").write_bytes(db.sqlite_bytes())


def spider_record(item: Item) -> dict[str, Any]:
    return {
        "db_id": item.db_id,
        "question": item.question,
        "query": item.query,
        "evidence": item.evidence,
        "question_toks": word_tokenize(item.question),
        "query_toks": query_tokens(item.query),
    }


def export_spider(folder: str | Path, seed: int = 0, size: str = "default") -> Path:
    """Write the dataset for (seed, size) into ``folder`` in Spider's layout; returns the folder."""
    data = build(seed, size)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    _write_json(root / "tables.json", [db.tables_json() for db in _ordered(data)])
    for split, name in SPIDER_FILES.items():
        _write_json(root / name, [spider_record(item) for item in data.splits[split]])
        if split != "pretrain":
            _write_gold(root / f"{split}_gold.sql", data.splits[split])
    for db in _ordered(data):
        _write_db(root / "database", db)
    return root


def bird_record(index: int, item: Item) -> dict[str, Any]:
    return {
        "question_id": index,
        "db_id": item.db_id,
        "question": item.question,
        "evidence": item.evidence,
        "SQL": item.query,
        "difficulty": BIRD_DIFFICULTY[item.hardness],
    }


def export_bird(folder: str | Path, seed: int = 0, size: str = "default") -> Path:
    """Write the train, dev and test splits for (seed, size) into ``folder`` in BIRD's layout."""
    data = build(seed, size)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for split in BIRD_SPLITS:
        items = data.splits[split]
        _write_json(root / f"{split}.json", [bird_record(i, item) for i, item in enumerate(items)])
        _write_gold(root / f"{split}_gold.sql", items)
        if split == "dev":
            _write_gold(root / "dev.sql", items)
        dbs = [data.databases[db_id] for db_id in data.split_dbs[split]]
        _write_json(root / f"{split}_tables.json", [db.tables_json() for db in dbs])
        for db in dbs:
            _write_db(root / f"{split}_databases", db)
            _write_descriptions(root / f"{split}_databases" / db.db_id / "database_description", db)
    return root


def _write_descriptions(folder: Path, db: Database) -> None:
    """BIRD's per-table CSV: column names, a description, the format and what coded values mean."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in db.tables:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["original_column_name", "column_name", "column_description", "data_format",
                         "value_description"])
        for col in table.columns:
            parent = db.table(col.ref).singular if col.ref else ""
            described = {"pk": f"unique id of the {table.singular}",
                         "fk": f"id of the {parent} (references the {col.ref} table)"}
            meaning = "; ".join(f"{code}: {word}" for code, word in col.spec.choices) if col.kind == "code" else ""
            writer.writerow([col.name, col.phrase if col.kind not in ("pk", "fk") else col.name.replace("_", " "),
                             described.get(col.kind, f"{col.phrase} of the {table.singular}"),
                             "integer" if col.sql_type == "INTEGER" else "real" if col.sql_type == "REAL" else "text",
                             meaning])
        (folder / f"{table.name}.csv").write_text(out.getvalue(), encoding="utf-8")


def _ordered(data: Dataset) -> list[Database]:
    return [data.databases[db_id] for split in ("train", "dev", "test", "pretrain") for db_id in data.split_dbs[split]]


def cached_export(kind: str, seed: int = 0, size: str = "default") -> Path:
    """The exported folder for ``kind`` ("spider" or "bird") in the cache, written atomically on first use."""
    from suites.tiny import cache_dir

    writer: Callable[[Path, int, str], Path] = {"spider": export_spider, "bird": export_bird}[kind]
    name = f"synth-sql-{VERSION}-seed{seed}-{size}" if kind == "spider" else f"synth-sql-bird-{VERSION}-seed{seed}-{size}"
    folder = cache_dir() / name
    if not (folder / "dev.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".synth-sql-", dir=folder.parent))
        try:
            writer(staging, seed, size)
            try:
                os.replace(staging, folder)
            except OSError:  # another process won the race
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder
