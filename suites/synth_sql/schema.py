"""Domain templates (specs) and the concrete databases generated from them.

A :class:`DomainSpec` describes a family of databases: tables with naming
variants, optional columns and value distributions. :func:`suites.synth_sql.data.instantiate`
draws one :class:`Database` from it; the database knows its DDL, its Spider
``tables.json`` entry, the Spider parser's schema and its SQLite bytes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from harness.metrics.spider_em import SpiderDatabaseSchema, build_foreign_key_map
from harness.metrics.spider_sql import Schema

# Column kinds: pk (integer id), fk (integer id of a parent row), label (a unique text
# name of the row), cat (text from a small list), code (a short code whose meaning the
# evidence explains), int, real (multiples of 0.25, so sums are exact), date (ISO text).
KINDS = ("pk", "fk", "label", "cat", "code", "int", "real", "date")
NUMERIC = ("int", "real")


@dataclass(frozen=True)
class Adjective:
    """A word the questions use for a numeric range: 'senior' for ``age > 60``."""

    word: str
    op: str
    value: float


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table template.

    ``phrase`` is how questions name it ("salary"); for a foreign key it is the
    relation from the child to the parent ("working in"). ``choices`` holds the
    values of a ``cat`` column (most common first) or ``(code, meaning)`` pairs of
    a ``code`` column; ``low``/``high``/``step`` bound numbers (years for dates).
    """

    key: str
    kind: str
    phrase: str
    names: tuple[str, ...] = ()
    gen: str = ""
    choices: tuple[Any, ...] = ()
    low: float = 0
    high: float = 0
    step: float = 1
    normal: bool = False
    optional: bool = False
    nulls: float = 0.0
    ref: str = ""
    adjectives: tuple[Adjective, ...] = ()

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


@dataclass(frozen=True)
class TableSpec:
    """A table template. ``link`` phrases a table with two foreign keys as a relation
    between its two parents: (first parent -> second, second -> first), e.g.
    ("enrolled in", "taken by")."""

    key: str
    names: tuple[str, ...]
    singular: str
    plural: str
    columns: tuple[ColumnSpec, ...]
    rows: tuple[int, int]
    link: tuple[str, str] | None = None
    optional: bool = False


@dataclass(frozen=True)
class DomainSpec:
    name: str
    tables: tuple[TableSpec, ...]


@dataclass
class Column:
    spec: ColumnSpec
    name: str
    ref: str = ""  # fk: the referenced table's name in this database

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def phrase(self) -> str:
        return self.spec.phrase

    @property
    def nullable(self) -> bool:
        return self.spec.nulls > 0

    @property
    def sql_type(self) -> str:
        return {"pk": "INTEGER", "fk": "INTEGER", "int": "INTEGER", "real": "REAL"}.get(self.kind, "TEXT")

    @property
    def spider_type(self) -> str:
        return "number" if self.sql_type != "TEXT" else ("time" if self.kind == "date" else "text")


@dataclass
class Table:
    spec: TableSpec
    name: str
    columns: list[Column]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def singular(self) -> str:
        return self.spec.singular

    @property
    def plural(self) -> str:
        return self.spec.plural

    @property
    def pk(self) -> Column:
        return next(c for c in self.columns if c.kind == "pk")

    @property
    def label(self) -> Column | None:
        return next((c for c in self.columns if c.kind == "label"), None)

    def values(self, column: Column) -> list[Any]:
        """The column's non-NULL values, in row order."""
        i = self.columns.index(column)
        return [row[i] for row in self.rows if row[i] is not None]

    def foreign_keys(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "fk"]


@dataclass
class Database:
    db_id: str
    domain: str
    tables: list[Table]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def ddl(self) -> list[str]:
        """CREATE TABLE statements, parents first.

        >>> from suites.synth_sql.data import instantiate
        >>> from suites.synth_sql.domains import DOMAINS
        >>> import random
        >>> db = instantiate(DOMAINS["school"], "school_1", random.Random(1))
        >>> print(db.ddl()[0].splitlines()[0])
        CREATE TABLE teacher (
        """
        statements = []
        for table in self.tables:
            lines = []
            for col in table.columns:
                extra = " PRIMARY KEY" if col.kind == "pk" else ("" if col.nullable else " NOT NULL")
                lines.append(f"  {col.name} {col.sql_type}{extra}")
            for col in table.foreign_keys():
                lines.append(f"  FOREIGN KEY ({col.name}) REFERENCES {col.ref}({self.table(col.ref).pk.name})")
            statements.append(f"CREATE TABLE {table.name} (\n" + ",\n".join(lines) + "\n)")
        return statements

    def connect(self) -> sqlite3.Connection:
        """A fresh in-memory database holding the rows, inserted in a fixed order."""
        conn = sqlite3.connect(":memory:")
        conn.execute("PRAGMA page_size = 4096")
        for statement in self.ddl():
            conn.execute(statement)
        for table in self.tables:
            marks = ", ".join("?" * len(table.columns))
            conn.executemany(f"INSERT INTO {table.name} VALUES ({marks})", table.rows)
        conn.commit()
        return conn

    def sqlite_bytes(self) -> bytes:
        """The database file: the same rows give the same bytes (no timestamps in SQLite files)."""
        conn = self.connect()
        try:
            return conn.serialize()
        finally:
            conn.close()

    def tables_json(self) -> dict[str, Any]:
        """This database's entry of Spider's ``tables.json``."""
        columns: list[list[Any]] = [[-1, "*"]]
        types = ["text"]
        index: dict[tuple[str, str], int] = {}
        for t, table in enumerate(self.tables):
            for col in table.columns:
                index[(table.name, col.name)] = len(columns)
                columns.append([t, col.name])
                types.append(col.spider_type)
        foreign = [
            [index[(table.name, col.name)], index[(col.ref, self.table(col.ref).pk.name)]]
            for table in self.tables
            for col in table.foreign_keys()
        ]
        return {
            "db_id": self.db_id,
            "table_names_original": [t.name for t in self.tables],
            "table_names": [t.name.replace("_", " ") for t in self.tables],
            "column_names_original": columns,
            "column_names": [[t, name.replace("_", " ")] for t, name in columns],
            "column_types": types,
            "primary_keys": [index[(t.name, t.pk.name)] for t in self.tables],
            "foreign_keys": foreign,
        }

    def spider_schema(self) -> SpiderDatabaseSchema:
        """What the official parser reads from the file, with the kmap ``tables.json`` gives."""
        schema = Schema({t.name.lower(): [c.name.lower() for c in t.columns] for t in self.tables})
        return SpiderDatabaseSchema(schema, build_foreign_key_map(self.tables_json()))
