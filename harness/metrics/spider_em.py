"""Spider exact-set match (EM) and hardness, as test-suite-sql-eval's ``evaluation.py``.

Ported from taoyds/test-suite-sql-eval ``evaluation.py`` (``Evaluator``, the
``rebuild_*`` functions and ``build_foreign_key_map``), Apache License 2.0.
SQL is parsed by :mod:`harness.metrics.spider_sql` (``process_sql.py``).

Official behaviour reproduced:

- the prediction is scored as ``evaluate()`` scores a line of the prediction
  file: ``" value "`` becomes ``" 1 "`` first; a prediction the parser rejects
  is replaced by an empty SQL structure, which never matches (EM 0);
- values are ignored (``DISABLE_VALUE``) and so is DISTINCT
  (``DISABLE_DISTINCT``); a column joined by a foreign key is replaced by the
  first column of its key group (from ``tables.json``) when its table is in
  the FROM clause;
- hardness counts components of the parsed gold, with the original's quirks
  (a NOT condition and an AND/OR of HAVING count as aggregations);
- a gold the parser rejects is an error (:class:`SpiderParseError`): the
  official script crashes there. Where it would crash on a malformed
  *prediction* parse (a condition list holding ``'and'`` in place of a
  condition), EM is False: the one deliberate departure.

The named option ``lenient`` ("lenient parse", off by default) parses a query
the official parser rejects after a few rewrites of valid SQL into the subset
it accepts: LEFT/RIGHT/INNER/OUTER/CROSS/NATURAL/FULL JOIN as JOIN; double-quoted or
back-quoted identifiers unquoted; table aliases without AS and ``t AS t``;
column aliases in the SELECT list dropped (and replaced by their expression in
GROUP BY, HAVING and ORDER BY); literal IN-lists reduced to one value (values are ignored
anyway); ``IS [NOT] NULL``; ``<>``. It applies to prediction and gold alike,
only when the official parse fails, so it never changes a verdict the
official parser reaches.

This module holds the string-level API (parsing, the gold cache, the database
schema and foreign-key map); the ported machinery is split by concept:
:mod:`harness.metrics.spider_hardness` (hardness of a parse),
:mod:`harness.metrics.spider_compare` (rebuild and exact-set comparison of two
parses) and :mod:`harness.metrics.spider_lenient` (the lenient rewrites).

>>> schema = SpiderDatabaseSchema(Schema({"singer": ["singer_id", "name", "age"]}), {})
>>> spider_exact_match("SELECT name FROM singer WHERE age > 30", "select name from singer where age > 40", schema)
True
>>> spider_hardness("SELECT name FROM singer ORDER BY age DESC LIMIT 1", schema)
'medium'
>>> spider_exact_match("SELECT s.name FROM singer s", "SELECT name FROM singer", schema)
False
>>> spider_exact_match("SELECT s.name FROM singer s", "SELECT name FROM singer", schema, lenient=True)
True
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.metrics.spider_compare import exact_match_parsed, rebuild
from harness.metrics.spider_hardness import hardness
from harness.metrics.spider_lenient import lenient_tokens
from harness.metrics.spider_sql import (
    Schema,
    SpiderParseError,
    get_sql,
    parse_tokens,
    plug_value_placeholder,
    schema_from_sqlite,
)

__all__ = [
    "SpiderDatabaseSchema",
    "SpiderParseError",
    "build_foreign_key_map",
    "empty_sql",
    "exact_match_parsed",
    "hardness",
    "load_foreign_key_maps",
    "parse_spider_sql",
    "rebuild",
    "spider_exact_match",
    "spider_hardness",
    "spider_schema",
]


@dataclass
class SpiderDatabaseSchema:
    """What EM needs about one database: its parsed schema and its foreign-key map."""

    schema: Schema
    kmap: dict[str, str] = field(default_factory=dict)
    db_path: str | None = None


def build_foreign_key_map(entry: dict[str, Any]) -> dict[str, str]:
    """Map each foreign-key column to the first column (by index) of its key group.

    >>> entry = {"table_names_original": ["A", "B"], "column_names_original": [[-1, "*"], [0, "id"], [1, "a_id"]],
    ...          "foreign_keys": [[2, 1]]}
    >>> build_foreign_key_map(entry)
    {'__a.id__': '__a.id__', '__b.a_id__': '__a.id__'}
    """
    tables = entry["table_names_original"]
    cols = [
        f"__{tables[t].lower()}.{c.lower()}__" if t >= 0 else "__all__" for t, c in entry["column_names_original"]
    ]
    key_sets: list[set[int]] = []
    for key1, key2 in entry["foreign_keys"]:
        # the first group holding either key, else a new one (groups are never merged)
        group = next((s for s in key_sets if key1 in s or key2 in s), None)
        if group is None:
            group = set()
            key_sets.append(group)
        group.update((key1, key2))
    kmap = {}
    for group in key_sets:
        ordered = sorted(group)
        for idx in ordered:
            kmap[cols[idx]] = cols[ordered[0]]
    return kmap


def load_foreign_key_maps(tables_json: str | Path) -> dict[str, dict[str, str]]:
    """``build_foreign_key_map_from_json``: db_id -> foreign-key map, from tables.json."""
    with open(tables_json) as f:
        return {entry["db_id"]: build_foreign_key_map(entry) for entry in json.load(f)}


def spider_schema(db_path: str | Path, kmap: dict[str, str]) -> SpiderDatabaseSchema:
    """The schema of a SQLite file read as ``get_schema`` does (cached per path), with its kmap."""
    return SpiderDatabaseSchema(schema_from_sqlite(db_path), kmap, str(db_path))


def empty_sql() -> dict[str, Any]:
    """The structure ``evaluate()`` scores in place of a prediction that does not parse."""
    return {
        "except": None, "from": {"conds": [], "table_units": []}, "groupBy": [], "having": [],
        "intersect": None, "limit": None, "orderBy": [], "select": [False, []], "union": None, "where": [],
    }


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def parse_spider_sql(sql: str, schema: SpiderDatabaseSchema, *, lenient: bool = False) -> dict[str, Any] | None:
    """The official parse of ``sql``, or None when the official parser rejects it.

    With ``lenient``, a rejected query is rewritten (see the module docstring) and parsed again.

    >>> db = SpiderDatabaseSchema(Schema({"t": ["a"]}))
    >>> parse_spider_sql("SELECT a FROM t WHERE a IS NOT NULL", db) is None
    True
    >>> parse_spider_sql("SELECT a FROM t WHERE a IS NOT NULL", db, lenient=True)["where"]
    [(True, 10, (0, (0, '__t.a__', False), None), '"null"', None)]
    """
    try:
        return get_sql(schema.schema, sql)
    except Exception:  # the official evaluator catches everything here
        if not lenient:
            return None
    try:
        return parse_tokens(schema.schema, lenient_tokens(sql, schema.schema))
    except Exception:
        return None


_GOLD_CACHE_SIZE = 8192
_gold_cache: dict[tuple[Any, str, bool], tuple[Any, ...]] = {}


def _analyse_gold(
    gold_sql: str, schema: SpiderDatabaseSchema, lenient: bool
) -> tuple[str | SpiderParseError, dict[str, Any] | SpiderParseError]:
    """(hardness, rebuilt parse) of a gold, each an error instead when it fails; cached.

    One parse serves both: hardness reads it, then ``rebuild`` rewrites it in place.
    The official comparison consumes the gold parse as it goes (it removes
    matched units from the gold's lists), so the cache keeps a pickled copy and
    every call gets a fresh one.
    """
    # a schema without a file is keyed by identity; the entry keeps it alive so the id stays unique
    key = (schema.db_path or id(schema), gold_sql, lenient)
    hit = _gold_cache.get(key)
    if hit is not None:
        return hit[0], pickle.loads(hit[1]) if isinstance(hit[1], bytes) else hit[1]
    sql = parse_spider_sql(gold_sql, schema, lenient=lenient)
    level: str | SpiderParseError
    rebuilt: dict[str, Any] | SpiderParseError
    if sql is None:
        level = rebuilt = SpiderParseError(f"gold SQL does not parse: {gold_sql!r}")
    else:
        try:
            level = hardness(sql)
        except (IndexError, TypeError):
            level = SpiderParseError(f"the official hardness crashes on this gold: {gold_sql!r}")
        try:
            rebuilt = rebuild(sql, schema)
        except (IndexError, TypeError, ValueError):
            rebuilt = SpiderParseError(f"the official evaluator crashes on this gold: {gold_sql!r}")
    if len(_gold_cache) >= _GOLD_CACHE_SIZE:
        _gold_cache.pop(next(iter(_gold_cache)))
    frozen = pickle.dumps(rebuilt) if isinstance(rebuilt, dict) else rebuilt
    _gold_cache[key] = (level, frozen, schema)
    return level, rebuilt


def spider_hardness(gold_sql: str, schema: SpiderDatabaseSchema, *, lenient: bool = False) -> str:
    """Hardness of a gold query; :class:`SpiderParseError` if it does not parse.

    Also raised for a parse the official ``eval_hardness`` crashes on (a
    malformed condition list such as ``ON a = b AND JOIN ...`` gives one).
    """
    level, _ = _analyse_gold(gold_sql, schema, lenient)
    if isinstance(level, SpiderParseError):
        raise level
    return level


def spider_exact_match(pred_sql: str, gold_sql: str, schema: SpiderDatabaseSchema, *, lenient: bool = False) -> bool:
    """Exact-set match of a prediction against the gold, as the official ``evaluate()``.

    Raises :class:`SpiderParseError` when the gold does not parse (or its
    parse cannot be rebuilt). Where the official code would crash while
    rebuilding or comparing a malformed prediction parse (a condition list
    with ``'and'`` where a condition belongs), this returns False.
    """
    if schema.db_path is None:
        return _exact_match(pred_sql, gold_sql, schema, lenient)
    key = (schema.db_path, pred_sql, gold_sql, lenient)
    verdict = _verdict_cache.get(key)
    if verdict is None:
        verdict = _exact_match(pred_sql, gold_sql, schema, lenient)
        if len(_verdict_cache) >= _GOLD_CACHE_SIZE:
            _verdict_cache.pop(next(iter(_verdict_cache)))
        _verdict_cache[key] = verdict
    return verdict


_verdict_cache: dict[tuple[str, str, str, bool], bool] = {}


def _exact_match(pred_sql: str, gold_sql: str, schema: SpiderDatabaseSchema, lenient: bool) -> bool:
    _, gold = _analyse_gold(gold_sql, schema, lenient)
    if isinstance(gold, SpiderParseError):
        raise gold
    pred = parse_spider_sql(plug_value_placeholder(pred_sql), schema, lenient=lenient)
    try:
        return exact_match_parsed(rebuild(pred if pred is not None else empty_sql(), schema), gold)
    except (IndexError, TypeError, ValueError):
        return False
