"""`harness load-db --engine mysql`: SQLite databases copied into a real MariaDB server.

The server (``mysql_server``) is shared by the whole test process, so every test
names its own databases (``mixed_<random>``) and reader accounts.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter

import pytest
from typer.testing import CliRunner

from harness.engines.loader import LOADER_VERSION, load_databases
from tests.conftest import make_db
from tests.test_load_db import ACCOUNTS, MIXED, cli_app, plain

MYSQL_TYPES = [
    "bigint",
    "varchar(64)",
    "double",
    "longblob",
    "date",
    "varchar(64)",
    "varchar(64)",
    "datetime(6)",
    "bigint",
    "double",
    "varchar(64)",
]
TEXTS = """
CREATE TABLE Words (W TEXT PRIMARY KEY, N INTEGER);
INSERT INTO Words VALUES ('a', 1), ('a ', 2), ('A', 3), ('café ☕ 𝄞', 4), ('x' || char(0) || 'y', 5);
CREATE TABLE Essays (Title TEXT PRIMARY KEY, Body TEXT);
INSERT INTO Essays VALUES (printf('%.800c', 't'), printf('%.5000c', 'b')), ('short', 'é');
CREATE TABLE Measures (Id INTEGER PRIMARY KEY, V REAL);
INSERT INTO Measures VALUES (1, 9e999), (2, -9e999), (3, 0.5);
"""


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(mysql_server) -> str:
    """The server's root URL, without a database (load-db creates one per SQLite file)."""
    return mysql_server.url(database="")


@pytest.fixture
def mixed(tmp_path):
    return make_db(tmp_path / "dbs" / f"{unique('Mixed')}.sqlite", MIXED)


def db(url: str):
    from harness.engines.mysql import connect

    return connect(url)


def rows(url: str, statement: str, params=None) -> list[tuple]:
    conn = db(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def test_types_values_keys_and_notes(mixed, tmp_path, admin):
    report = load_databases([mixed], "mysql", admin, reader=unique("reader"))
    [done] = report.databases
    schema = mixed.stem.lower()
    assert (done.schema, done.status, done.tables, done.rows) == (schema, "loaded", 5, 13)
    got = rows(admin, f"SELECT * FROM `{schema}`.`customer accounts` ORDER BY 1")
    assert plain(got) == ACCOUNTS
    columns = rows(
        admin,
        "SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'customer accounts' ORDER BY ORDINAL_POSITION",
        [schema],
    )
    assert [c[1].replace("(20)", "") for c in columns] == MYSQL_TYPES
    assert [c[0] for c in columns][:3] == ["account id", "region", "balance"]
    assert {c[2] for c in columns if c[1].startswith("varchar")} == {"utf8mb4_nopad_bin"}
    assert rows(admin, f"SELECT body FROM `{schema}`.notes ORDER BY k") == [
        ("null key",),
        ("caf",),
        ("x\x00y",),
    ]
    keys = rows(
        admin,
        "SELECT tc.TABLE_NAME, tc.CONSTRAINT_TYPE, "
        "GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION) "
        "FROM information_schema.TABLE_CONSTRAINTS tc JOIN information_schema.KEY_COLUMN_USAGE k "
        "ON k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME "
        "AND k.TABLE_NAME = tc.TABLE_NAME WHERE tc.TABLE_SCHEMA = %s "
        "GROUP BY 1, 2, tc.CONSTRAINT_NAME ORDER BY 1, 2",
        [schema],
    )
    assert keys == [
        ("customer accounts", "PRIMARY KEY", "account id,region"),
        ("orders", "FOREIGN KEY", "account id,region"),
        ("orders", "PRIMARY KEY", "order_id"),
    ]
    notes = "\n".join(done.notes)
    assert "customer accounts.closed on: declared DATE but holds values like '2021-02-30'" in notes
    assert "customer accounts.score: declared INT but holds text values like 'N/A'" in notes
    assert "loaded as VARCHAR(64)" in notes
    assert "notes.body: 1 text values were not valid UTF-8" in notes
    assert "NUL characters" not in notes
    assert "notes: primary key (k) left out: 1 rows have NULL in the key" in notes
    assert "dupes: primary key (code) left out: Duplicate entry '1'" in notes
    assert "orders: foreign key (tag) -> tags (label) left out: " in notes
    assert "orders: foreign key (ghost_id) -> ghost left out: table 'Ghost' does not exist" in notes
    assert not [d for (d,) in rows(admin, "SHOW DATABASES") if "__load_" in d]

    texts = make_db(tmp_path / "dbs" / f"{unique('texts')}.sqlite", TEXTS)
    done = load_databases([texts], "mysql", admin, reader=unique("reader")).databases[0]
    schema = texts.stem
    words = rows(admin, f"SELECT w, n FROM `{schema}`.words ORDER BY n")
    assert words == [("a", 1), ("a ", 2), ("A", 3), ("café ☕ 𝄞", 4), ("x\x00y", 5)]
    types = rows(
        admin,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND DATA_TYPE IN ('varchar', 'longtext') ORDER BY 1, 2",
        [schema],
    )
    assert types == [
        ("essays", "body", "longtext"),
        ("essays", "title", "longtext"),
        ("words", "w", "varchar(64)"),
    ]
    essays = rows(admin, f"SELECT LENGTH(title), LENGTH(body) FROM `{schema}`.essays ORDER BY 1")
    assert essays == [(5, 2), (800, 5000)]
    assert rows(admin, f"SELECT v FROM `{schema}`.measures ORDER BY id") == [
        (None,),
        (None,),
        (0.5,),
    ]
    notes = "\n".join(done.notes)
    assert "essays: primary key (title) left out: BLOB/TEXT column 'title'" in notes
    assert "measures.v: 2 infinite values loaded as NULL" in notes
    assert "words: primary key" not in notes  # 'a', 'a ' and 'A' are three keys, as in SQLite


def test_text_compares_byte_by_byte_through_the_engine(tmp_path, admin):
    from harness.engines import EngineSpec, open_engine

    texts = make_db(tmp_path / f"{unique('bytes')}.sqlite", TEXTS)
    report = load_databases([texts], "mysql", admin, reader=unique("reader"), reader_password="pw")
    engine = open_engine(EngineSpec("mysql", report.reader_url))
    try:
        for sql, expected in [
            ("SELECT n FROM words WHERE w = 'a'", [(1,)]),
            ("SELECT n FROM words WHERE w = 'a '", [(2,)]),
            ("SELECT count(DISTINCT w) FROM words WHERE n <= 3", [(3,)]),
            ("SELECT n FROM words WHERE w = 'x\\0y'", [(5,)]),
            ("SELECT w FROM words WHERE n = 4", [("café ☕ 𝄞",)]),
            ("SELECT n FROM words WHERE w > 'a' ORDER BY n", [(2,), (4,), (5,)]),
        ]:
            result = engine.run(str(texts), sql, timeout_s=5, max_rows=100)
            assert (result.status, result.rows) == ("ok", expected), (sql, result.error)
    finally:
        engine.close()


def test_idempotent_force_and_changed_file(mixed, tmp_path, admin):
    other = make_db(
        tmp_path / "dbs" / f"{unique('other')}.sqlite",
        "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2);",
    )
    m, o = mixed.stem.lower(), other.stem
    reader = unique("reader")
    first = load_databases([mixed, other], "mysql", admin, reader=reader)
    assert [d.status for d in first.databases] == ["loaded", "loaded"]

    def state():
        counts = rows(
            admin,
            f"SELECT (SELECT count(*) FROM `{m}`.orders), (SELECT count(*) FROM `{o}`.t), "
            "(SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (%s, %s))",
            [m, o],
        )[0]
        meta = rows(
            admin,
            "SELECT schema_name, source_sha256, loader_version, loaded_at "
            "FROM harness_meta.loaded WHERE schema_name IN (%s, %s) ORDER BY 1",
            [m, o],
        )
        return counts, meta

    before = state()
    assert [x[2] for x in before[1]] == [LOADER_VERSION] * 2
    again = load_databases([mixed, other], "mysql", admin, reader=reader)
    assert [d.status for d in again.databases] == ["up to date", "up to date"]
    assert [d.tables for d in again.databases] == [5, 1] and state() == before

    forced = load_databases([other], "mysql", admin, reader=reader, force=True)
    assert forced.databases[0].status == "loaded"
    assert state()[1][1][3] > before[1][1][3] and state()[0] == before[0]

    with sqlite3.connect(other) as conn:
        conn.execute("INSERT INTO t VALUES (3)")
    conn.close()
    changed = load_databases([mixed, other], "mysql", admin, reader=reader)
    assert [d.status for d in changed.databases] == ["up to date", "loaded"]
    assert rows(admin, f"SELECT a FROM `{o}`.t ORDER BY a") == [(1,), (2,), (3,)]
    rows(admin, f"DROP DATABASE `{o}`")  # recorded, but gone: loads again
    dropped = load_databases([mixed, other], "mysql", admin, reader=reader)
    assert [d.status for d in dropped.databases] == ["up to date", "loaded"]


def test_a_crash_leaves_no_record_and_the_next_load_loads_it(mixed, tmp_path, admin, monkeypatch):
    from harness.engines import EngineSpec
    from harness.engines.load_mysql import MySQLTarget, staging_name
    from harness.engines.mysql import MySQLEngine

    schema = mixed.stem.lower()
    reader = unique("reader")
    seed = make_db(tmp_path / f"{unique('seed')}.sqlite", "CREATE TABLE t (a INT)")
    url = load_databases([seed], "mysql", admin, reader=reader, reader_password="pw").reader_url
    engine = MySQLEngine(EngineSpec("mysql", url))

    def meta() -> list[tuple]:
        return rows(
            admin, "SELECT source_sha256 FROM harness_meta.loaded WHERE schema_name = %s", [schema]
        )

    copied: list[str] = []
    real_copy = MySQLTarget.copy

    def failing_copy(self, database, table):
        copied.append(table.name)
        if len(copied) == 2:
            raise OSError("disk went away")
        return real_copy(self, database, table)

    monkeypatch.setattr(MySQLTarget, "copy", failing_copy)
    with pytest.raises(
        RuntimeError, match=rf"{mixed.name}: loading it into schema '{schema}' failed"
    ):
        load_databases([mixed], "mysql", admin, reader=reader)
    monkeypatch.undo()
    assert meta() == [] and engine.missing([str(mixed), str(seed)]) == [schema]
    databases = {d for (d,) in rows(admin, "SHOW DATABASES")}
    assert staging_name(schema) not in databases and schema not in databases
    assert load_databases([mixed], "mysql", admin, reader=reader).databases[0].status == "loaded"
    recorded = meta()
    assert len(recorded) == 1 and engine.missing([str(mixed)]) == []

    # A failure while filling the staging database keeps the previous copy, recorded.
    with sqlite3.connect(mixed) as conn:
        conn.execute("DELETE FROM Orders")
    conn.close()
    monkeypatch.setattr(MySQLTarget, "copy", failing_copy)
    copied.clear()
    with pytest.raises(RuntimeError, match="left as it was"):
        load_databases([mixed], "mysql", admin, reader=reader)
    monkeypatch.undo()
    assert meta() == recorded and engine.missing([str(mixed)]) == []
    assert rows(admin, f"SELECT count(*) FROM `{schema}`.orders") == [(2,)]

    # A crash while swapping the new copy in: no record, so it is missing and loads again.
    def crash(self, source, database, tables):
        raise ConnectionError("server went away")

    monkeypatch.setattr(MySQLTarget, "_move", crash)
    with pytest.raises(RuntimeError, match="recorded as not loaded"):
        load_databases([mixed], "mysql", admin, reader=reader)
    monkeypatch.undo()
    assert meta() == [] and engine.missing([str(mixed)]) == [schema]
    rows(admin, f"CREATE DATABASE `{staging_name(schema)}`")  # as a killed load-db leaves it
    again = load_databases([mixed], "mysql", admin, reader=reader)
    assert again.databases[0].status == "loaded" and engine.missing([str(mixed)]) == []
    assert rows(admin, f"SELECT count(*) FROM `{schema}`.orders") == [(0,)]
    assert staging_name(schema) not in {d for (d,) in rows(admin, "SHOW DATABASES")}
    engine.close()


def test_reader_account_may_only_read(mixed, admin, mysql_server):
    import pymysql

    from harness.engines import EngineSpec, open_engine
    from harness.engines.mysql import check_read_only_account

    reader = unique("reader")
    schema = mixed.stem.lower()
    report = load_databases([mixed], "mysql", admin, reader=reader)
    assert report.reader_url.startswith(f"mysql+pymysql://{reader}:")
    assert report.reader_url.endswith(f"@127.0.0.1:{mysql_server.port}")
    conn = db(report.reader_url)
    assert check_read_only_account(conn) == []
    with conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        assert {d for (d,) in cursor.fetchall()} == {"information_schema", schema, "harness_meta"}
        cursor.execute(f"SELECT count(*) FROM `{schema}`.orders")
        assert cursor.fetchone() == (2,)
        for statement in [
            f"INSERT INTO `{schema}`.tags VALUES ('x', 1)",
            f"DELETE FROM `{schema}`.tags",
            f"UPDATE `{schema}`.tags SET weight = 0",
            f"CREATE TABLE `{schema}`.x (a int)",
            f"DROP TABLE `{schema}`.tags",
            "DELETE FROM harness_meta.loaded",
            "CREATE DATABASE y",
        ]:
            with pytest.raises(pymysql.err.OperationalError, match="denied"):
                cursor.execute(statement)
    conn.close()
    engine = open_engine(EngineSpec("mysql", report.reader_url))
    result = engine.run(
        str(mixed), "SELECT region FROM `customer accounts` ORDER BY 1", timeout_s=5, max_rows=10
    )
    assert engine.missing([str(mixed)]) == []
    engine.close()
    assert (result.status, result.rows) == ("ok", [("East",), ("North",), ("South",)])

    again = load_databases([mixed], "mysql", admin, reader=reader)  # exists: password kept
    assert again.reader_url == f"mysql+pymysql://{reader}@127.0.0.1:{mysql_server.port}"
    assert any("kept its password" in note for note in again.notes)
    third = load_databases([mixed], "mysql", admin, reader=reader, reader_password="s3cret")
    assert ":s3cret@" in third.reader_url
    db(third.reader_url).close()

    mysql_server.sql(f"CREATE USER 'writer_{reader}'@'%' IDENTIFIED BY 'x'")
    mysql_server.sql(f"GRANT SELECT, INSERT ON `{schema}`.* TO 'writer_{reader}'@'%'")
    with pytest.raises(ValueError, match="already exists with INSERT; a reader may only SELECT"):
        load_databases([mixed], "mysql", admin, reader=f"writer_{reader}")
    with pytest.raises(ValueError, match="--reader 'root' is the user loading the data"):
        load_databases([mixed], "mysql", admin, reader="root")


def test_bad_inputs_are_clear_errors(tmp_path, mixed, admin, mysql_server, monkeypatch):
    from harness.engines import load_mysql

    with pytest.raises(
        RuntimeError, match=r"cannot connect to mysql\+pymysql://me:\*\*\*@127.0.0.1:1/"
    ) as e:
        load_databases([mixed], "mysql", "mysql+pymysql://me:sekrit@127.0.0.1:1/")
    assert "sekrit" not in str(e.value)
    weak = unique("weak")
    mysql_server.sql(f"CREATE USER '{weak}'@'%' IDENTIFIED BY 'pw'")
    mysql_server.sql(f"GRANT SELECT ON *.* TO '{weak}'@'%'")
    with pytest.raises(
        RuntimeError, match="cannot set up harness_meta and the reader account"
    ) as e:
        load_databases([mixed], "mysql", mysql_server.url("", weak, "pw"), reader=unique("r"))
    assert "CREATE USER" in str(e.value) and ":pw@" not in str(e.value)
    holder = db(admin)  # another load-db of the same database, still running
    with holder.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 0)", [f"harness load-db {mixed.stem.lower()}"])
    monkeypatch.setattr(load_mysql, "LOCK_WAIT_S", 0)
    with pytest.raises(RuntimeError, match="is being loaded by another harness load-db"):
        load_databases([mixed], "mysql", admin, reader=unique("r"))
    holder.close()
    monkeypatch.undo()
    system = make_db(tmp_path / "mysql.sqlite", "CREATE TABLE t (a)")
    with pytest.raises(ValueError, match="'mysql': a MySQL system database"):
        load_databases([system], "mysql", admin, reader=unique("r"))
    long_name = "c" * 70
    wide = make_db(
        tmp_path / f"{unique('wide')}.sqlite",
        f"CREATE TABLE t ({', '.join(f'c{i} TEXT' for i in range(30))}, {long_name} INT);"
        f"INSERT INTO t (c0, c29, {long_name}) VALUES (printf('%.700c', 'x'), 'y', 1);"
        f"UPDATE t SET {', '.join(f'c{i} = c0' for i in range(1, 29))}",
    )
    [done] = load_databases([wide], "mysql", admin, reader=unique("r")).databases
    notes = "\n".join(done.notes)
    assert f"t.{long_name}: longer than 64 characters, MySQL's limit, so it was cut" in notes
    assert "loaded as LONGTEXT, not VARCHAR" in notes and "65,535-byte row limit" in notes
    got = rows(admin, f"SELECT c0 = c28, c29, `{long_name[:64]}` FROM `{wide.stem}`.t")
    assert got == [(1, "y", 1)]


def test_cli_loads_a_suite_and_prints_the_reader_url(tiny_dir, admin):
    suite = ["load-db", "--suite", "spider", "--data", str(tiny_dir), "--engine", "mysql"]
    args = [*suite, "--db-url", admin, "--reader", unique("reader"), "--reader-password", "pw"]
    result = CliRunner().invoke(cli_app(), [*args, "--force"])  # the server is shared: force
    assert result.exit_code == 0, result.output
    assert "school" in result.stdout and "shop" in result.stdout and "2 loaded" in result.stdout
    line = [x for x in result.stdout.splitlines() if x.startswith("read-only URL")][0]
    assert line.startswith("read-only URL for harness eval --engine mysql --db-url: ")
    url = line.split("--db-url: ")[1]
    for path in sorted(tiny_dir.glob("database/*/*.sqlite")):
        with sqlite3.connect(path) as source:
            tables = source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in tables.fetchall():
                expected = source.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2').fetchall()
                query = f"SELECT * FROM `{path.stem}`.`{table.lower()}` ORDER BY 1, 2"
                assert plain(rows(url, query)) == expected, (path, table)
        source.close()
    again = CliRunner().invoke(cli_app(), args)
    assert again.exit_code == 0 and "2 up to date" in again.stdout
    bad = CliRunner().invoke(cli_app(), [*suite, "--db-url", "mysql+pymysql://u:pw@127.0.0.1:1/"])
    assert bad.exit_code == 2 and "error: cannot connect to mysql+pymysql://u:***@" in bad.stderr


def bag(result_rows: list[tuple]) -> Counter:
    """Rows as a multiset (the engine keeps 30 decimals of AVG and /, so reals agree exactly)."""
    return Counter(tuple(row) for row in result_rows)


def test_gold_of_the_synth_sql_suite_runs_on_the_loaded_copy(admin):
    from harness.cli_common import load_suite
    from harness.engines import EngineSpec
    from harness.execution.sqlite import run_query
    from harness.metrics.execution_accuracy import QueryRunner

    suite = load_suite("synth-sql", None, split="dev", suite_args=["size=tiny"])
    paths = list(dict.fromkeys(p for e in suite.examples for p in e.db_paths))
    report = load_databases(
        paths, "mysql", admin, reader=unique("reader"), reader_password="pw", force=True
    )
    assert [d.status for d in report.databases] == ["loaded"] * len(paths)
    runner = QueryRunner(10.0, 10_000, EngineSpec("mysql", report.reader_url))
    try:
        for example in suite.examples:
            result = runner.run(example.db_paths[0], example.gold, suite.gold_dialect)
            assert result.status == "ok", (example.id, example.gold, result.error)
            expected = run_query(example.db_paths[0], example.gold)
            assert bag(result.rows) == bag(expected.rows), (example.id, example.gold)
    finally:
        runner.engine.close()
