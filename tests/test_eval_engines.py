"""`harness load-db` then `harness eval --engine ...`: the evaluation core on a real PostgreSQL
server and on DuckDB, with verdict parity against SQLite and the hostile-SQL corpus."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.test_eval_cli import harness, samples

TIMEOUT_S = 1.0
SLACK_S = 2.0
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
REPO = Path(__file__).resolve().parents[1]


def load(suite_args: list[str], engine: str, url: str) -> str:
    proc = harness("load-db", *suite_args, "--engine", engine, "--url", url, "--reader-password", "pw")
    assert proc.returncode == 0, proc.stderr
    return re.search(r"--db-url: (\S+)", proc.stdout).group(1)


def verdicts(run: Path) -> dict[str, str]:
    return {s["id"]: s["status"] for s in samples(run)}


def evaluate(tmp_path: Path, name: str, suite_args: list[str], *extra: str) -> dict[str, str]:
    out = tmp_path / name
    proc = harness("eval", *suite_args, "--metrics", "ex", "--out", str(out), "-j", "2", *extra)
    assert proc.returncode == 0, proc.stderr
    return verdicts(out)


@pytest.fixture(scope="module")
def synth(tmp_path_factory, postgres_server):
    """synth-sql tiny, loaded into PostgreSQL (reader URL) and into a DuckDB file."""
    suite = ["--suite", "synth-sql", "-S", "size=tiny"]
    pg = load(suite, "postgresql", postgres_server.url())
    duck = load(suite, "duckdb", str(tmp_path_factory.mktemp("duck") / "synth.duckdb"))
    return suite, pg, duck


@pytest.mark.parametrize("engine", ["postgresql", "duckdb"])
def test_gold_and_saved_predictions_get_sqlite_verdicts_wherever_both_engines_run_them(synth, tmp_path, engine):
    suite, pg, duck = synth
    agrees_with_sqlite(tmp_path, suite, engine, pg if engine == "postgresql" else duck)


def test_the_same_on_mysql(tmp_path, mysql_server):
    suite = ["--suite", "synth-sql", "-S", "size=tiny"]
    agrees_with_sqlite(tmp_path, suite, "mysql", load(suite, "mysql", mysql_server.url("")))


def agrees_with_sqlite(tmp_path: Path, suite: list[str], engine: str, url: str) -> None:
    gold_sqlite = evaluate(tmp_path, "gold-sqlite", suite)
    gold_other = evaluate(tmp_path, "gold-other", suite, "--engine", engine, "--db-url", url)
    assert set(gold_sqlite.values()) == {"match"}
    # the embedded suite's gold is valid on every engine: all of it agrees
    assert gold_other == gold_sqlite
    preds = ["--predictions", str(REPO / "ci" / "predictions.sql")]
    pred_sqlite = evaluate(tmp_path, "pred-sqlite", suite, *preds)
    pred_other = evaluate(tmp_path, "pred-other", suite, *preds, "--engine", engine, "--db-url", url,
                          "--pred-dialect", "sqlite")  # fmt: skip
    ran = {"match", "mismatch"}
    both = [i for i in pred_sqlite if pred_sqlite[i] in ran and pred_other[i] in ran]
    assert len(both) >= len(pred_sqlite) * 0.8
    assert {i: pred_other[i] for i in both} == {i: pred_sqlite[i] for i in both}
    assert {"match", "mismatch"} <= set(pred_sqlite.values())  # the comparison had both kinds to agree on
    results = json.loads((tmp_path / "gold-other" / "results.json").read_text())
    run = json.loads((tmp_path / "gold-other" / "run.json").read_text())
    assert results["overall"]["metrics"]["ex"] == 1.0
    assert run["spec"]["options"]["engine"] == engine
    assert "pw" not in json.dumps(run)  # the password of --db-url is never recorded


def postgres_attacks() -> list[str]:
    return [
        "DROP TABLE customer",
        "DELETE FROM orders",
        "UPDATE customer SET age = 0",
        "INSERT INTO customer VALUES (99, 'x', 'y', 1)",
        "TRUNCATE orders",
        "CREATE TABLE pwn (x int)",
        "CREATE TEMP TABLE pwn AS SELECT * FROM customer",
        "SELECT 1; DROP TABLE customer",
        "COMMIT; DROP TABLE customer",
        "SELECT set_config('transaction_read_only', 'off', false)",
        "SET ROLE postgres",
        "COPY customer TO '/tmp/harness-eval-copy'",
        "SELECT pg_sleep(60)",
        f"{ENDLESS} SELECT count(*) FROM c",
        "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, customer f",
        f"{ENDLESS} SELECT x FROM c LIMIT 100000000",
        "SELECT name FROM customer WHERE name = 'a\x00b'",
    ]


def test_hostile_predictions_on_postgresql_end_as_errors_or_timeouts_and_write_nothing(
    tmp_path, tiny_dir, postgres_server
):
    # the other examples' gold is SQLite SQL, so predictions go through the transpiler too
    suite = ["--suite", "spider", "--data", str(tiny_dir)]
    url = load(suite, "postgresql", postgres_server.url())
    from suites.spider import load_spider

    examples = load_spider(tiny_dir).examples
    attacks = postgres_attacks()
    preds = {e.id: e.gold for e in examples}
    for example, sql in zip(examples, attacks):
        preds[example.id] = sql
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
    state = "SELECT string_agg(format('%s.%s', schemaname, relname), ',' ORDER BY 1), sum(n_live_tup) " \
            "FROM pg_stat_user_tables"  # fmt: skip
    before = postgres_server.psql(state, database="harness")
    start = time.monotonic()
    proc = harness("eval", *suite, "--predictions", str(path), "--semantics", "bird", "--metrics", "ex",
                   "--timeout", str(TIMEOUT_S), "--max-rows", "100000", "-j", "2", "--out", str(tmp_path / "run"),
                   "--engine", "postgresql", "--db-url", url, "--pred-dialect", "sqlite")  # fmt: skip
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    by_id = {s["id"]: s for s in samples(tmp_path / "run")}
    for example, sql in zip(examples, attacks):
        sample = by_id[example.id]
        assert sample["status"] in {"pred_error", "pred_timeout"}, (sql[:60], sample["status"], sample["error"])
        assert sample["latency_s"].get("pred", 0.0) < TIMEOUT_S + SLACK_S
    for example in examples[len(attacks):]:
        assert by_id[example.id]["status"] == "match", by_id[example.id]
    assert elapsed < 60
    assert postgres_server.psql(state, database="harness") == before
    assert not Path("/tmp/harness-eval-copy").exists()


def mysql_attacks() -> list[str]:
    return [
        "DROP TABLE customer",
        "DELETE FROM orders",
        "INSERT INTO customer VALUES (99, 'x', 'y', 1)",
        "SELECT 1; DROP TABLE customer",
        "SET PASSWORD = PASSWORD('owned')",
        "/*!50000 DROP TABLE customer */",
        "SELECT * FROM customer INTO OUTFILE '/tmp/harness-eval-outfile'",
        "SELECT SLEEP(60)",
        "SELECT BENCHMARK(100000000000, MD5('x'))",
        "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, customer f",
        "SELECT a.name FROM customer a, customer b, customer c, customer d, customer e",
    ]


def test_hostile_predictions_on_mysql_end_as_errors_or_timeouts_and_write_nothing(tmp_path, tiny_dir, mysql_server):
    suite = ["--suite", "spider", "--data", str(tiny_dir)]
    url = load(suite, "mysql", mysql_server.url(""))
    from suites.spider import load_spider

    examples = load_spider(tiny_dir).examples
    attacks = mysql_attacks()
    preds = {e.id: e.gold for e in examples} | {e.id: sql for e, sql in zip(examples, attacks)}
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
    state = ("SELECT GROUP_CONCAT(CONCAT(table_schema, '.', table_name) ORDER BY 1), SUM(table_rows) "
             "FROM information_schema.TABLES WHERE table_schema NOT IN ('mysql', 'sys', 'performance_schema', "
             "'information_schema')")  # fmt: skip
    before = mysql_server.sql(state)
    proc = harness("eval", *suite, "--predictions", str(path), "--semantics", "bird", "--metrics", "ex",
                   "--timeout", str(TIMEOUT_S), "--max-rows", "100000", "-j", "2", "--out", str(tmp_path / "run"),
                   "--engine", "mysql", "--db-url", url, "--pred-dialect", "sqlite")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    by_id = {s["id"]: s for s in samples(tmp_path / "run")}
    for example, sql in zip(examples, attacks):
        sample = by_id[example.id]
        assert sample["status"] in {"pred_error", "pred_timeout"}, (sql[:60], sample["status"], sample["error"])
        assert sample["latency_s"].get("pred", 0.0) < TIMEOUT_S + SLACK_S + 2.0  # + the watchdog's grace
    for example in examples[len(attacks):]:
        assert by_id[example.id]["status"] == "match", by_id[example.id]
    assert mysql_server.sql(state) == before
    assert not Path("/tmp/harness-eval-outfile").exists()


def test_engine_errors_are_clear_before_any_work(tmp_path, tiny_dir, postgres_server):
    suite = ["--suite", "spider", "--data", str(tiny_dir), "--out", str(tmp_path / "run")]
    no_url = harness("eval", *suite, "--engine", "postgresql")
    assert no_url.returncode != 0 and "needs --db-url" in no_url.stderr
    writer = harness("eval", *suite, "--engine", "postgresql", "--db-url", postgres_server.url())
    assert writer.returncode != 0 and "can write" in writer.stderr and "GRANT SELECT" in writer.stderr
    empty = tmp_path / "empty.duckdb"
    import duckdb

    duckdb.connect(str(empty)).close()
    unloaded = harness("eval", *suite, "--engine", "duckdb", "--db-url", str(empty))
    assert unloaded.returncode != 0 and "harness load-db --suite spider --engine duckdb" in unloaded.stderr
    unknown = harness("eval", *suite, "--engine", "oracle", "--db-url", "x")
    assert unknown.returncode != 0 and "unknown engine 'oracle'" in unknown.stderr
    assert not (tmp_path / "run").exists()


def test_bird_mini_dev_postgresql_gold_runs_as_written(tmp_path, postgres_server):
    """-S dialect=postgresql reads mini_dev_postgresql.json; its gold is PostgreSQL SQL, run untranspiled."""
    from tests.conftest import make_db

    root = tmp_path / "minidev"
    make_db(root / "dev_databases" / "cards" / "cards.sqlite",
            "CREATE TABLE cards (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
            "INSERT INTO cards VALUES (1, 'Ace', 2.5), (2, 'King', 4.0), (3, 'queen', 1.0);")  # fmt: skip
    entries = [  # PostgreSQL-only syntax: SQLite could not run these as written
        ("SELECT name FROM cards WHERE name ~* '^q'", "simple"),
        ("SELECT CAST(price AS NUMERIC(4, 1))::text FROM cards ORDER BY id LIMIT 1", "moderate"),
    ]
    records = [{"question_id": i, "db_id": "cards", "question": "q", "evidence": "", "SQL": sql, "difficulty": tier}
               for i, (sql, tier) in enumerate(entries)]  # fmt: skip
    (root / "mini_dev_postgresql.json").write_text(json.dumps(records))
    suite = ["--suite", "bird", "--data", str(root), "--split", "mini_dev", "-S", "dialect=postgresql"]
    url = load(suite, "postgresql", postgres_server.url())
    on_pg = evaluate(tmp_path, "pg", suite, "--engine", "postgresql", "--db-url", url)
    assert on_pg == {"0": "match", "1": "match"}
    wrong_split = harness("eval", "--suite", "bird", "--data", str(root), "-S", "dialect=postgresql")
    assert wrong_split.returncode != 0 and "for mini_dev only" in wrong_split.stderr
