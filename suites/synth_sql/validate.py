"""Checks a candidate gold query must pass: it runs, is non-empty, is deterministic, parses.

Determinism is checked two ways. Structurally: every part with an ORDER BY is run
again with its sort keys appended and without LIMIT; rows that tie on the keys
must be identical within the returned rows and across the LIMIT boundary (so no
tie is cut by LIMIT and the order of the output is total where it differs).
Empirically: the query is run again under ``PRAGMA reverse_unordered_selects``,
which makes SQLite scan in the opposite order, and must give the same result (as
a list with ORDER BY, as a bag without).

>>> import sqlite3
>>> from harness.metrics.spider_em import SpiderDatabaseSchema
>>> from harness.metrics.spider_sql import Schema
>>> conn = sqlite3.connect(":memory:")
>>> _ = conn.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score INTEGER);"
...                        "INSERT INTO t VALUES (1, 'a', 5), (2, 'b', 7), (3, 'c', 7);")
>>> schema = SpiderDatabaseSchema(Schema({"t": ["id", "name", "score"]}))
>>> check(conn, schema, Query(["name"], "t", order_by=["score"], desc=True, limit=1)).reason
'tie in ORDER BY'
>>> check(conn, schema, Query(["name"], "t", order_by=["score"], limit=1))
Verdict(ok=True, reason='', hardness='medium', rows=1)
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from harness.metrics.spider_em import (
    SpiderDatabaseSchema,
    SpiderParseError,
    spider_exact_match,
    spider_hardness,
)
from suites.synth_sql.query import Query

MAX_ROWS = 400


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    hardness: str = ""
    rows: int = 0


def is_empty(rows: list[tuple[Any, ...]]) -> bool:
    """No rows, or only NULLs (an aggregate over no rows)."""
    return all(value is None for row in rows for value in row)


def _ties_matter(query: Query, conn: sqlite3.Connection) -> bool:
    probe = conn.execute(query.probe_sql()).fetchall()
    width = len(query.select)
    shown = len(probe) if query.limit is None else min(query.limit, len(probe))
    # within the shown rows, and across the LIMIT boundary (row shown-1 vs the first cut row)
    last = shown if shown < len(probe) else shown - 1
    for i in range(last):
        same_key = probe[i][width:] == probe[i + 1][width:]
        if same_key and probe[i][:width] != probe[i + 1][:width]:
            return True
    return False


def _bag(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


def check(conn: sqlite3.Connection, schema: SpiderDatabaseSchema, query: Query) -> Verdict:
    """Run ``query`` on ``conn`` and judge it; ``hardness`` is the harness's Spider hardness."""
    sql = query.sql()
    try:
        rows = conn.execute(sql).fetchall()
    except sqlite3.Error as e:
        return Verdict(False, f"error: {e}")
    if is_empty(rows):
        return Verdict(False, "empty")
    if len(rows) > MAX_ROWS:
        return Verdict(False, "too many rows")
    if any(_ties_matter(part, conn) for part in query.ordered_parts()):
        return Verdict(False, "tie in ORDER BY")
    conn.execute("PRAGMA reverse_unordered_selects = 1")
    try:
        again = conn.execute(sql).fetchall()
    finally:
        conn.execute("PRAGMA reverse_unordered_selects = 0")
    if (again != rows) if query.order_by else (_bag(again) != _bag(rows)):
        return Verdict(False, "depends on scan order")
    try:
        level = spider_hardness(sql, schema)
    except SpiderParseError:
        return Verdict(False, "Spider parser rejects it")
    if not spider_exact_match(sql, sql, schema):
        return Verdict(False, "no exact match with itself")
    return Verdict(True, hardness=level, rows=len(rows))
