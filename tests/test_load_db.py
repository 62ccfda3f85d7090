"""`harness load-db`: SQLite databases copied into a real PostgreSQL server and DuckDB files."""

from __future__ import annotations

import datetime
import sqlite3
import uuid

import pytest
import typer
from typer.testing import CliRunner

from harness.engines.column_types import choose_type
from harness.engines.loader import LOADER_VERSION, load_databases
from tests.conftest import make_db

MIXED = """
CREATE TABLE "Customer Accounts" (
  "Account ID" INTEGER, "Region" TEXT, "Balance" REAL, "Photo" BLOB, "Opened" DATE,
  "Closed On" DATE, "Score" INT, "Seen At" DATETIME, "Nothing" INTEGER, "Mixed", "Code",
  PRIMARY KEY ("Account ID", "Region"));
INSERT INTO "Customer Accounts" VALUES
  (1, 'North', 10.5, X'00FF10', '2020-01-31', '2021-02-03', 7, '2020-01-31 10:00:00', NULL, 1, 1.0),
  (2, 'South', -0.25, NULL, '1999-12-31', '2021-02-30', 'N/A', '2020-01-31 10:00:00.250000', NULL,
   2.5, 'x'),
  (3, 'East', 3.0, X'', NULL, NULL, NULL, NULL, NULL, NULL, 5);
CREATE TABLE Tags (Label TEXT, Weight INTEGER);
INSERT INTO Tags VALUES ('red', 1), ('red', 2), ('blue', 3);
CREATE TABLE Orders (
  Order_ID INTEGER PRIMARY KEY, "Account ID" INTEGER, Region TEXT, Tag TEXT, Ghost_ID INTEGER,
  FOREIGN KEY ("Account ID", Region) REFERENCES "Customer Accounts" ("Account ID", "Region"),
  FOREIGN KEY (Tag) REFERENCES Tags (Label),
  FOREIGN KEY (Ghost_ID) REFERENCES Ghost (id));
INSERT INTO Orders VALUES (10, 1, 'North', 'red', NULL), (11, 9, 'Nowhere', 'blue', NULL);
CREATE TABLE Notes (K TEXT PRIMARY KEY, Body TEXT);
INSERT INTO Notes VALUES ('a', 'caf' || CAST(X'E9' AS TEXT)), ('b', 'x' || char(0) || 'y'),
  (NULL, 'null key');
CREATE TABLE Dupes (Code PRIMARY KEY, V TEXT);
INSERT INTO Dupes VALUES (1, 'int'), ('1', 'text');
"""

ACCOUNTS = [
    (
        1,
        "North",
        10.5,
        b"\x00\xff\x10",
        "2020-01-31",
        "2021-02-03",
        "7",
        "2020-01-31 10:00:00",
        None,
        1.0,
        "1.0",
    ),
    (
        2,
        "South",
        -0.25,
        None,
        "1999-12-31",
        "2021-02-30",
        "N/A",
        "2020-01-31 10:00:00.250000",
        None,
        2.5,
        "x",
    ),
    (3, "East", 3.0, b"", None, None, None, None, None, None, "5"),
]
PG_TYPES = [
    "bigint",
    "text",
    "double precision",
    "bytea",
    "date",
    "text",
    "text",
    "timestamp without time zone",
    "bigint",
    "double precision",
    "text",
]
DUCKDB_TYPES = [
    "BIGINT",
    "VARCHAR",
    "DOUBLE",
    "BLOB",
    "DATE",
    "VARCHAR",
    "VARCHAR",
    "TIMESTAMP",
    "BIGINT",
    "DOUBLE",
    "VARCHAR",
]


def plain(rows) -> list[tuple]:
    """Rows with dates and timestamps as the text SQLite held (str() of each)."""

    def value(v):
        if isinstance(v, (datetime.date, datetime.datetime)):
            return str(v)
        return bytes(v) if isinstance(v, memoryview) else v

    return [tuple(value(v) for v in row) for row in rows]


@pytest.fixture
def mixed(tmp_path):
    return make_db(tmp_path / "dbs" / "Mixed_DB.sqlite", MIXED)


@pytest.fixture
def pg_url(postgres_server):
    """A fresh database on the session's server (schemas and the meta table are per database)."""
    name = "load_" + uuid.uuid4().hex[:10]
    postgres_server.psql(f"CREATE DATABASE {name}")
    return postgres_server.url(name)


def pg(url: str):
    from harness.engines.load_postgres import connect

    return connect(url)


def reader_name() -> str:
    return "reader_" + uuid.uuid4().hex[:8]


def test_choose_type_rules():
    assert choose_type("INTEGER", [1, None, 2]).on("postgresql") == "BIGINT"
    assert choose_type("", [1, 2.5]).kind == "real" and choose_type("", [1, 2.5]).reason is None
    assert (
        choose_type("INTEGER", [1, 2.5]).reason == "declared INTEGER but holds real values like 2.5"
    )
    assert choose_type("BLOB", [b"x"]).on("duckdb") == "BLOB"
    assert choose_type("datetime", ["2020-01-01T10:00:00"]).kind == "text"
    assert choose_type("TIMESTAMP", ["2020-01-01 10:00:00+02:00"]).kind == "text"
    assert choose_type("TIMESTAMP", ["2020-01-01 10:00:00.123456"]).kind == "timestamp"
    assert choose_type("DATE", ["20200101"]).kind == "text"
    assert choose_type("VARCHAR(3)", [b"\x00", "a"]).reason.startswith(
        "declared VARCHAR(3) but holds blob"
    )
    kinds = [choose_type(t, [None]).kind for t in ("BIGINT", "FLOAT", "DATE", "BLOB", "")]
    assert kinds == ["integer", "real", "text", "blob", "text"]


def test_postgresql_copy_types_keys_and_notes(mixed, pg_url):
    report = load_databases([mixed], "postgresql", pg_url, reader=reader_name())
    [done] = report.databases
    assert (done.schema, done.status, done.tables, done.rows) == ("mixed_db", "loaded", 5, 13)
    conn = pg(pg_url)
    rows = conn.execute('SELECT * FROM mixed_db."customer accounts" ORDER BY 1').fetchall()
    assert plain(rows) == ACCOUNTS
    types = [
        r[0]
        for r in conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'mixed_db' "
            "AND table_name = 'customer accounts' ORDER BY ordinal_position"
        )
    ]
    assert types == PG_TYPES
    names = [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'mixed_db' "
            "AND table_name = 'customer accounts' ORDER BY ordinal_position"
        )
    ]
    assert names[:3] == ["account id", "region", "balance"]
    assert conn.execute("SELECT body FROM mixed_db.notes ORDER BY k").fetchall() == [
        ("caf",),
        ("xy",),
        ("null key",),
    ]
    assert conn.execute("SELECT code, v FROM mixed_db.dupes ORDER BY v").fetchall() == [
        ("1", "int"),
        ("1", "text"),
    ]
    keys = conn.execute(
        "SELECT tc.table_name, tc.constraint_type, "
        "string_agg(k.column_name, ',' ORDER BY k.ordinal_position) "
        "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage k "
        "USING (constraint_schema, constraint_name) WHERE tc.table_schema = 'mixed_db' "
        "GROUP BY 1, 2, tc.constraint_name ORDER BY 1, 2"
    ).fetchall()
    assert keys == [
        ("customer accounts", "PRIMARY KEY", "account id,region"),
        ("orders", "FOREIGN KEY", "account id,region"),
        ("orders", "PRIMARY KEY", "order_id"),
    ]
    notes = "\n".join(done.notes)
    assert "customer accounts.closed on: declared DATE but holds values like '2021-02-30'" in notes
    assert "customer accounts.score: declared INT but holds text values like 'N/A'" in notes
    assert "loaded as TEXT" in notes
    assert "notes.body: 1 text values were not valid UTF-8" in notes
    assert "notes.body: NUL characters removed from 1 values" in notes
    assert "notes: primary key (k) left out" in notes and "null" in notes.lower()
    assert "dupes: primary key (code) left out" in notes and "duplicate" in notes
    assert (
        "orders: foreign key (tag) -> tags (label) left out: there is no unique constraint" in notes
    )
    assert "orders: foreign key (ghost_id) -> ghost left out: table 'Ghost' does not exist" in notes
    assert "mixed_db: " in report.render() and "loaded" in report.render()
    conn.close()


def test_idempotent_force_and_changed_file(mixed, tmp_path, pg_url):
    other = make_db(
        tmp_path / "dbs" / "other.sqlite", "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2);"
    )
    reader = reader_name()
    first = load_databases([mixed, other], "postgresql", pg_url, reader=reader)
    assert [d.status for d in first.databases] == ["loaded", "loaded"]
    conn = pg(pg_url)

    def state():
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM mixed_db.orders), (SELECT count(*) FROM other.t), "
            "(SELECT count(*) FROM information_schema.tables WHERE table_schema "
            "IN ('mixed_db', 'other'))"
        ).fetchone()
        meta = conn.execute(
            "SELECT schema_name, source_sha256, loader_version, loaded_at "
            "FROM harness_meta.loaded ORDER BY 1"
        ).fetchall()
        return counts, meta

    before = state()
    assert [m[2] for m in before[1]] == [LOADER_VERSION] * 2
    again = load_databases([mixed, other], "postgresql", pg_url, reader=reader)
    assert [d.status for d in again.databases] == ["up to date", "up to date"]
    assert [d.tables for d in again.databases] == [5, 1] and state() == before
    assert "up to date" in again.render()

    forced = load_databases([other], "postgresql", pg_url, reader=reader, force=True)
    assert forced.databases[0].status == "loaded"
    assert state()[1][1][3] > before[1][1][3] and state()[0] == before[0]

    with sqlite3.connect(other) as db:
        db.execute("INSERT INTO t VALUES (3)")
    db.close()
    changed = load_databases([mixed, other], "postgresql", pg_url, reader=reader)
    assert [d.status for d in changed.databases] == ["up to date", "loaded"]
    assert conn.execute("SELECT a FROM other.t ORDER BY a").fetchall() == [(1,), (2,), (3,)]
    conn.execute("DROP SCHEMA other CASCADE")  # recorded, but gone: loads again
    dropped = load_databases([mixed, other], "postgresql", pg_url, reader=reader)
    assert [d.status for d in dropped.databases] == ["up to date", "loaded"]
    conn.close()


def test_failed_load_keeps_the_previous_schema(mixed, tmp_path, pg_url, monkeypatch):
    from harness.engines.sqlite_source import SourceTable

    reader = reader_name()
    load_databases([mixed], "postgresql", pg_url, reader=reader)
    conn = pg(pg_url)
    before = conn.execute("SELECT * FROM harness_meta.loaded").fetchall()
    with sqlite3.connect(mixed) as db:
        db.execute("DELETE FROM Orders")
    db.close()
    real_chunks = SourceTable.chunks

    def failing(self, size=20_000):
        if self.name == "Orders":
            raise OSError("disk went away")
        yield from real_chunks(self, size)

    monkeypatch.setattr(SourceTable, "chunks", failing)
    with pytest.raises(
        RuntimeError, match="Mixed_DB.sqlite: loading it into schema 'mixed_db' failed"
    ):
        load_databases([mixed], "postgresql", pg_url, reader=reader)
    assert conn.execute("SELECT count(*) FROM mixed_db.orders").fetchone() == (2,)
    assert conn.execute("SELECT * FROM harness_meta.loaded").fetchall() == before
    monkeypatch.undo()
    assert (
        load_databases([mixed], "postgresql", pg_url, reader=reader).databases[0].status == "loaded"
    )
    assert conn.execute("SELECT count(*) FROM mixed_db.orders").fetchone() == (0,)
    conn.close()


def test_reader_role_may_only_read(mixed, pg_url, postgres_server):
    import psycopg

    from harness.engines import EngineSpec, open_engine
    from harness.engines.postgres import check_read_only_role

    reader = reader_name()
    report = load_databases([mixed], "postgresql", pg_url, reader=reader)
    assert (
        report.reader_url.startswith(f"postgresql+psycopg://{reader}:")
        and "@127.0.0.1" in report.reader_url
    )
    flags = postgres_server.psql(
        f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolconfig "
        f"FROM pg_roles WHERE rolname = '{reader}'"
    ).strip()
    assert flags == "f|f|f|t|{default_transaction_read_only=on,statement_timeout=60s}"
    conn = pg(report.reader_url)
    assert check_read_only_role(conn) == []
    assert conn.execute("SELECT count(*) FROM mixed_db.orders").fetchone() == (2,)
    assert conn.execute("SELECT count(*) FROM harness_meta.loaded").fetchone() == (1,)
    for statement in [
        "INSERT INTO mixed_db.tags VALUES ('x', 1)",
        "CREATE TABLE mixed_db.x (a int)",
        "CREATE TEMP TABLE x (a int)",
        "DROP TABLE mixed_db.tags",
        "DELETE FROM harness_meta.loaded",
        "CREATE TABLE public.x (a int)",
    ]:
        with pytest.raises(psycopg.Error):
            conn.execute(statement)
    conn.execute(
        "SET default_transaction_read_only = off"
    )  # the role may lift it: privileges still hold
    for statement in [
        "INSERT INTO mixed_db.tags VALUES ('x', 1)",
        "UPDATE mixed_db.tags SET weight = 0",
        "TRUNCATE mixed_db.tags",
        "CREATE TABLE mixed_db.x (a int)",
        "DROP TABLE mixed_db.tags",
        "CREATE SCHEMA y",
    ]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    conn.close()
    engine = open_engine(EngineSpec("postgresql", report.reader_url))
    result = engine.run(
        str(mixed), 'SELECT region FROM "customer accounts" ORDER BY 1', timeout_s=5, max_rows=10
    )
    engine.close()
    assert result.status == "ok", result.error
    assert result.rows == [("East",), ("North",), ("South",)]

    again = load_databases(
        [mixed], "postgresql", pg_url, reader=reader
    )  # role exists: password kept
    assert (
        again.reader_url
        == f"postgresql+psycopg://{reader}@127.0.0.1:{postgres_server.port}/{pg_url.split('/')[-1]}"
    )
    assert any("kept its password" in note for note in again.notes)
    third = load_databases([mixed], "postgresql", pg_url, reader=reader, reader_password="s3cret")
    conn = pg(third.reader_url)
    assert ":s3cret@" in third.reader_url and conn.execute("SELECT 1").fetchone() == (1,)
    conn.close()
    postgres_server.psql(f"CREATE ROLE super_{reader} SUPERUSER LOGIN")
    with pytest.raises(ValueError, match="already exists with SUPERUSER"):
        load_databases([mixed], "postgresql", pg_url, reader=f"super_{reader}")


def test_duckdb_copy_round_trips(mixed, tmp_path, monkeypatch):
    import duckdb

    target = tmp_path / "out" / "suite.duckdb"
    report = load_databases([mixed], "duckdb", str(target))
    assert report.reader_url == str(target) and report.databases[0].rows == 13
    conn = duckdb.connect(str(target), read_only=True)
    assert (
        plain(conn.execute('SELECT * FROM mixed_db."customer accounts" ORDER BY 1').fetchall())
        == ACCOUNTS
    )
    types = [
        r[0]
        for r in conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'mixed_db' "
            "AND table_name = 'customer accounts' ORDER BY ordinal_position"
        ).fetchall()
    ]
    assert types == DUCKDB_TYPES
    assert conn.execute("SELECT body FROM mixed_db.notes ORDER BY k").fetchall() == [
        ("caf",),
        ("x\x00y",),
        ("null key",),
    ]
    keys = conn.execute(
        "SELECT table_name, constraint_type FROM information_schema.table_constraints "
        "WHERE table_schema = 'mixed_db' AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') "
        "ORDER BY 1, 2"
    ).fetchall()
    assert keys == [("customer accounts", "PRIMARY KEY"), ("orders", "PRIMARY KEY")]
    conn.close()
    notes = "\n".join(report.databases[0].notes)
    assert "dupes: primary key (code) left out: 1 key values occur more than once" in notes
    assert "notes: primary key (k) left out: 1 rows have NULL in the key" in notes
    assert "2 foreign keys left out: DuckDB cannot add them" in notes
    assert "orders: foreign key (ghost_id) -> ghost left out: table 'Ghost' does not exist" in notes
    assert "NUL characters" not in notes
    again = load_databases([mixed], "duckdb", f"duckdb:///{target}")
    assert again.databases[0].status == "up to date"

    from harness.engines.sqlite_source import SourceTable

    with sqlite3.connect(mixed) as db:
        db.execute("DELETE FROM Orders")
    db.close()
    monkeypatch.setattr(SourceTable, "chunks", lambda self, size=0: iter([[(1,)] * 3]))
    with pytest.raises(RuntimeError, match="left as it was"):
        load_databases([mixed], "duckdb", str(target))
    monkeypatch.undo()
    conn = duckdb.connect(str(target), read_only=True)
    assert conn.execute("SELECT count(*) FROM mixed_db.orders").fetchone() == (2,)
    conn.close()


def test_bad_inputs_are_clear_errors(tmp_path, mixed, pg_url):
    twin = make_db(tmp_path / "elsewhere" / "mixed_db.sqlite", "CREATE TABLE t (a)")
    with pytest.raises(
        ValueError, match=r"Mixed_DB.sqlite and .*elsewhere/mixed_db.sqlite would both load"
    ):
        load_databases([mixed, twin], "duckdb", str(tmp_path / "x.duckdb"))
    with pytest.raises(
        RuntimeError, match=r"cannot connect to postgresql\+psycopg://me:\*\*\*@127.0.0.1:1/x"
    ) as e:
        load_databases([mixed], "postgresql", "postgresql+psycopg://me:sekrit@127.0.0.1:1/x")
    assert "sekrit" not in str(e.value)
    with pytest.raises(RuntimeError, match="database 'nope' exists"):
        load_databases([mixed], "postgresql", pg_url.rsplit("/", 1)[0] + "/nope")
    with pytest.raises(ValueError, match="use one of postgresql, duckdb"):
        load_databases([mixed], "sqlite", "x")
    with pytest.raises(FileNotFoundError, match="gone.sqlite"):
        load_databases([tmp_path / "gone.sqlite"], "duckdb", str(tmp_path / "x.duckdb"))


def cli_app() -> typer.Typer:
    from harness.cli_load_db import load_db_command

    app = typer.Typer()
    app.callback()(lambda: None)  # keeps "load-db" a subcommand, as under `harness`
    app.command("load-db")(load_db_command)
    return app


def test_cli_loads_a_suite_and_prints_the_reader_url(tiny_dir, pg_url, tmp_path):
    suite = ["load-db", "--suite", "spider", "--data", str(tiny_dir)]
    args = [*suite, "--engine", "postgresql", "--db-url", pg_url, "--reader", reader_name()]
    result = CliRunner().invoke(cli_app(), args)
    assert result.exit_code == 0, result.output
    assert "school" in result.stdout and "shop" in result.stdout and "2 loaded" in result.stdout
    line = [x for x in result.stdout.splitlines() if x.startswith("read-only URL")][0]
    assert line.startswith("read-only URL for harness eval --engine postgresql --db-url: ")
    conn = pg(line.split("--db-url: ")[1])
    for db in sorted(tiny_dir.glob("database/*/*.sqlite")):
        with sqlite3.connect(db) as source:
            tables = source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in tables.fetchall():
                expected = source.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2').fetchall()
                query = f'SELECT * FROM {db.stem}."{table.lower()}" ORDER BY 1, 2'
                assert plain(conn.execute(query).fetchall()) == expected, (db, table)
        source.close()
    conn.close()
    again = CliRunner().invoke(cli_app(), args)
    assert again.exit_code == 0 and "2 up to date" in again.stdout

    out = tmp_path / "tiny.duckdb"
    result = CliRunner().invoke(cli_app(), [*suite, "--engine", "duckdb", "--url", str(out)])
    assert result.exit_code == 0, result.output
    assert f"read-only URL for harness eval --engine duckdb --db-url: {out}" in result.stdout

    bad = CliRunner().invoke(cli_app(), [*suite, "--db-url", "postgresql://u@127.0.0.1:1/x"])
    assert (
        bad.exit_code == 2 and "error: cannot connect to postgresql://u@127.0.0.1:1/x" in bad.stderr
    )
    missing = CliRunner().invoke(cli_app(), suite)
    assert missing.exit_code == 2 and "--db-url is required" in missing.stderr
