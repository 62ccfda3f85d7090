from __future__ import annotations

import json

import pytest

from harness.predictions import read_predictions
from harness.suite import DataError
from suites.bird import load_bird
from suites.spider import load_spider
from tests.conftest import make_db


def test_lines_crlf_no_final_newline_and_tab_db(tiny_dir, tmp_path):
    suite = load_spider(tiny_dir)
    n = len(suite.examples)
    body = "\r\n".join(f"SELECT {i}\tshop" for i in range(n))
    path = tmp_path / "p.sql"
    path.write_bytes(body.encode())
    preds = read_predictions(path, suite)
    assert preds["0"] == "SELECT 0" and preds[str(n - 1)] == f"SELECT {n - 1}"


def test_lines_count_mismatch_names_both_files_and_first_missing(tiny_dir, tmp_path):
    suite = load_spider(tiny_dir)
    path = tmp_path / "short.sql"
    path.write_text("SELECT 1\n" * 5)
    with pytest.raises(DataError) as err:
        read_predictions(path, suite)
    message = str(err.value)
    assert str(path) in message and "dev.json" in message and "id 5" in message


def test_lines_too_many(tiny_dir, tmp_path):
    suite = load_spider(tiny_dir)
    path = tmp_path / "long.sql"
    path.write_text("SELECT 1\n" * (len(suite.examples) + 2))
    with pytest.raises(DataError, match="2 line"):
        read_predictions(path, suite)


def test_jsonl_missing_unknown_duplicate_and_malformed(tiny_dir, tmp_path):
    suite = load_spider(tiny_dir)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": i, "sql": "SELECT 1"}) + "\n" for i in range(3)))
    with pytest.raises(DataError, match="first missing id: 3"):
        read_predictions(path, suite)
    path.write_text(json.dumps({"id": 999, "sql": "x"}) + "\n")
    with pytest.raises(DataError, match="id 999 is not an example"):
        read_predictions(path, suite)
    path.write_text('{"id": 0, "sql": "x"}\n{"id": 0, "sql": "y"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: id 0 appears twice"):
        read_predictions(path, suite)
    path.write_text('{"id": 0, "sql": "x"}\n{"id": 1, "sql": \n')
    with pytest.raises(DataError, match=r"p.jsonl:2: malformed JSON"):
        read_predictions(path, suite)


@pytest.fixture
def bird_dir(tmp_path):
    root = tmp_path / "bird"
    make_db(root / "dev_databases" / "cards" / "cards.sqlite", "CREATE TABLE c(id INTEGER, name TEXT); INSERT INTO c VALUES (1,'a'),(2,'b');")
    questions = [
        {"question_id": 0, "db_id": "cards", "question": "How many cards?", "evidence": "", "SQL": "SELECT count(*) FROM c", "difficulty": "simple"},
        {"question_id": 1, "db_id": "cards", "question": "Names?", "evidence": "name is name", "SQL": "SELECT name FROM c", "difficulty": "moderate"},
    ]
    (root / "dev.json").write_text(json.dumps(questions))
    return root


def test_bird_json_predictions(bird_dir, tmp_path):
    suite = load_bird(bird_dir)
    assert [e.tier for e in suite.examples] == ["simple", "moderate"]
    path = tmp_path / "predict_dev.json"
    path.write_text(json.dumps({"0": "SELECT 1\t----- bird -----\tcards", "1": "SELECT 2\t----- bird -----\tcards"}))
    assert read_predictions(path, suite) == {"0": "SELECT 1", "1": "SELECT 2"}
    path.write_text(json.dumps({"0": "SELECT 1\t----- bird -----\tother", "1": "SELECT 2"}))
    with pytest.raises(DataError, match="names db_id 'other'"):
        read_predictions(path, suite)
    path.write_text(json.dumps({"0": "SELECT 1\t----- bird -----\tcards"}))
    with pytest.raises(DataError, match="first missing id: 1"):
        read_predictions(path, suite)


def test_loader_errors_name_the_file(tmp_path, tiny_dir):
    with pytest.raises(DataError, match="Spider data folder not found"):
        load_spider(tmp_path / "nope")
    (tiny_dir / "dev.json").write_text('[{"db_id": "shop", "question": "q"}]')
    with pytest.raises(DataError, match=r"dev.json: entry 0 lacks field\(s\) query"):
        load_spider(tiny_dir)
    (tiny_dir / "dev.json").write_text('[{"db_id": "ghost", "question": "q", "query": "SELECT 1"}]')
    with pytest.raises(DataError, match=r"db_id 'ghost', which .*tables.json does not describe"):
        load_spider(tiny_dir)
    tables = json.loads((tiny_dir / "tables.json").read_text())
    (tiny_dir / "tables.json").write_text(json.dumps([*tables, {**tables[0], "db_id": "ghost"}]))
    with pytest.raises(DataError, match=r"ghost.sqlite does not exist.*--skip-missing-db"):
        load_spider(tiny_dir)
    suite = load_spider(tiny_dir, skip_missing_db=True)
    assert suite.examples == [] and suite.skipped == {"ghost": 1}
    (tiny_dir / "dev.json").write_text("[{,]")
    with pytest.raises(DataError, match="malformed JSON at line 1"):
        load_spider(tiny_dir)
    (tiny_dir / "dev.json").write_text("[]")
    (tiny_dir / "tables.json").write_text('[{"db_id": "x"}]')
    with pytest.raises(DataError, match="not in Spider's tables.json format"):
        load_spider(tiny_dir)


def test_spider_test_suite_instances(tiny_dir):
    import shutil

    shop = tiny_dir / "database" / "shop"
    shutil.copy(shop / "shop.sqlite", shop / "shop_variant.sqlite")
    suite = load_spider(tiny_dir)
    shop_example = next(e for e in suite.examples if e.db_id == "shop")
    assert [p.rsplit("/", 1)[1] for p in shop_example.db_paths] == ["shop.sqlite", "shop_variant.sqlite"]
