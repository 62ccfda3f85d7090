"""Suites load from a saved `datasets` folder, with databases from a local folder."""

from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")

from harness.suite import DataError  # noqa: E402
from suites.bird import load_bird  # noqa: E402
from suites.spider import load_spider  # noqa: E402
from tests.conftest import make_db  # noqa: E402


def test_spider_from_saved_dataset(tmp_path, tiny_dir):
    records = json.loads((tiny_dir / "dev.json").read_text())
    saved = tmp_path / "saved"
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(records)}).save_to_disk(str(saved))
    suite = load_spider(saved, split="validation", db_dir=tiny_dir / "database")
    assert [e.gold for e in suite.examples] == [r["query"] for r in records]
    assert suite.examples[0].db_paths[0].endswith("shop.sqlite")
    with pytest.raises(DataError, match="no split 'dev'"):
        load_spider(saved, split="dev", db_dir=tiny_dir / "database")


def test_bird_from_saved_dataset(tmp_path):
    make_db(tmp_path / "dbs" / "cards" / "cards.sqlite", "CREATE TABLE c(id INTEGER);")
    rows = [{"question_id": 7, "db_id": "cards", "question": "q", "evidence": "e", "SQL": "SELECT 1", "difficulty": "simple"}]
    saved = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(saved))
    suite = load_bird(saved, db_dir=tmp_path / "dbs")
    assert suite.examples[0].id == "7" and suite.examples[0].evidence == "e" and suite.examples[0].tier == "simple"
