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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.metrics.spider_sql import (
    AGG_OPS,
    CLAUSE_KEYWORDS,
    TABLE_TYPE,
    WHERE_OPS,
    Schema,
    SpiderParseError,
    get_sql,
    parse_tokens,
    plug_value_placeholder,
    schema_from_sqlite,
    tokenize,
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

DISABLE_VALUE = True
DISABLE_DISTINCT = True


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
# Hardness
# --------------------------------------------------------------------------


def _has_agg(unit: Any) -> bool:
    # unit[0] is an agg id for select items and col units, but the NOT flag of a
    # condition and the first letter of 'and'/'or' elsewhere: kept as in the original.
    return unit[0] != AGG_OPS.index("none")


def _count_agg(units: list[Any]) -> int:
    return len([unit for unit in units if _has_agg(unit)])


def _cond_units(sql: dict[str, Any]) -> list[Any]:
    return sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]


def _nested_sql(sql: dict[str, Any]) -> list[dict[str, Any]]:
    nested = [v for cond in _cond_units(sql) for v in (cond[3], cond[4]) if type(v) is dict]
    return nested + [sql[op] for op in ("intersect", "except", "union") if sql[op] is not None]


def _count_component1(sql: dict[str, Any]) -> int:
    count = sum(1 for key in ("where", "groupBy", "orderBy") if len(sql[key]) > 0)
    count += sql["limit"] is not None
    if len(sql["from"]["table_units"]) > 0:
        count += len(sql["from"]["table_units"]) - 1
    ao = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    count += len([tok for tok in ao if tok == "or"])
    count += len([c for c in _cond_units(sql) if c[1] == WHERE_OPS.index("like")])
    return count


def _count_others(sql: dict[str, Any]) -> int:
    agg_count = _count_agg(sql["select"][1]) + _count_agg(sql["where"][::2]) + _count_agg(sql["groupBy"])
    if len(sql["orderBy"]) > 0:
        units = sql["orderBy"][1]
        agg_count += _count_agg([u[1] for u in units if u[1]] + [u[2] for u in units if u[2]])
    agg_count += _count_agg(sql["having"])
    return (
        (agg_count > 1) + (len(sql["select"][1]) > 1) + (len(sql["where"]) > 1) + (len(sql["groupBy"]) > 1)
    )


def hardness(sql: dict[str, Any]) -> str:
    """``Evaluator.eval_hardness`` of a parsed query: easy, medium, hard or extra.

    >>> s = Schema({"t": ["a", "b"]})
    >>> hardness(get_sql(s, "SELECT a FROM t")), hardness(get_sql(s, "SELECT a, b FROM t WHERE a = 1"))
    ('easy', 'medium')
    >>> hardness(get_sql(s, "SELECT a FROM t WHERE b IN (SELECT b FROM t)"))
    'hard'
    """
    comp1, comp2, others = _count_component1(sql), len(_nested_sql(sql)), _count_others(sql)
    if comp1 <= 1 and others == 0 and comp2 == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and comp2 == 0) or (comp1 <= 2 and others < 2 and comp2 == 0):
        return "medium"
    if (
        (others > 2 and comp1 <= 2 and comp2 == 0)
        or (2 < comp1 <= 3 and others <= 2 and comp2 == 0)
        or (comp1 <= 1 and others == 0 and comp2 <= 1)
    ):
        return "hard"
    return "extra"


# --------------------------------------------------------------------------
# Exact-set match
# --------------------------------------------------------------------------


def _scores_ok(count: int, pred_total: int, label_total: int) -> bool:
    """``get_scores(...)`` has f1 == 1."""
    return pred_total == label_total and count == pred_total


def _match_select(pred: dict, label: dict) -> bool:
    pred_sel, label_sel = pred["select"][1], label["select"][1]
    label_wo_agg = [unit[1] for unit in label_sel]
    pred_total, label_total = len(pred_sel), len(label_sel)
    cnt = cnt_wo_agg = 0
    for unit in pred_sel:
        if unit in label_sel:
            cnt += 1
            label_sel.remove(unit)  # mutates the label, as the original does
        if unit[1] in label_wo_agg:
            cnt_wo_agg += 1
            label_wo_agg.remove(unit[1])
    return _scores_ok(cnt, pred_total, label_total) and _scores_ok(cnt_wo_agg, pred_total, label_total)


def _match_where(pred: dict, label: dict) -> bool:
    pred_conds, label_conds = list(pred["where"][::2]), list(label["where"][::2])
    label_wo_agg = [unit[2] for unit in label_conds]
    pred_total, label_total = len(pred_conds), len(label_conds)
    cnt = cnt_wo_agg = 0
    for unit in pred_conds:
        if unit in label_conds:
            cnt += 1
            label_conds.remove(unit)
        if unit[2] in label_wo_agg:
            cnt_wo_agg += 1
            label_wo_agg.remove(unit[2])
    return _scores_ok(cnt, pred_total, label_total) and _scores_ok(cnt_wo_agg, pred_total, label_total)


def _match_group(pred: dict, label: dict) -> bool:
    pred_cols = [u[1] for u in pred["groupBy"]]
    label_cols = [u[1] for u in label["groupBy"]]
    pred_total, label_total = len(pred_cols), len(label_cols)
    pred_cols = [c.split(".")[1] if "." in c else c for c in pred_cols]
    label_cols = [c.split(".")[1] if "." in c else c for c in label_cols]
    cnt = 0
    for col in pred_cols:
        if col in label_cols:
            cnt += 1
            label_cols.remove(col)
    return _scores_ok(cnt, pred_total, label_total)


def _match_having(pred: dict, label: dict) -> bool:
    pred_total, label_total = int(len(pred["groupBy"]) > 0), int(len(label["groupBy"]) > 0)
    cnt = int(
        pred_total == label_total == 1
        and [u[1] for u in pred["groupBy"]] == [u[1] for u in label["groupBy"]]
        and pred["having"] == label["having"]
    )
    return _scores_ok(cnt, pred_total, label_total)


def _match_order(pred: dict, label: dict) -> bool:
    pred_total, label_total = int(len(pred["orderBy"]) > 0), int(len(label["orderBy"]) > 0)
    cnt = int(
        len(label["orderBy"]) > 0
        and pred["orderBy"] == label["orderBy"]
        and ((pred["limit"] is None) == (label["limit"] is None))
    )
    return _scores_ok(cnt, pred_total, label_total)


def _match_and_or(pred: dict, label: dict) -> bool:
    return set(pred["where"][1::2]) == set(label["where"][1::2])


def _match_iuen(pred: dict, label: dict) -> bool:
    label_total = pred_total = cnt = 0
    for op in ("intersect", "except", "union"):
        p, g = pred[op], label[op]
        pred_total += p is not None
        label_total += g is not None
        if p is not None and g is not None:
            cnt += exact_match_parsed(p, g)
    return _scores_ok(cnt, pred_total, label_total)


def _keywords(sql: dict) -> set[str]:
    res = {kw for key, kw in (("where", "where"), ("groupBy", "group"), ("having", "having")) if len(sql[key]) > 0}
    if len(sql["orderBy"]) > 0:
        res.update((sql["orderBy"][0], "order"))
    res.update(kw for kw in ("limit", "except", "union", "intersect") if sql[kw] is not None)
    if "or" in sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]:
        res.add("or")
    conds = _cond_units(sql)
    if any(c[0] for c in conds):
        res.add("not")
    if any(c[1] == WHERE_OPS.index("in") for c in conds):
        res.add("in")
    if any(c[1] == WHERE_OPS.index("like") for c in conds):
        res.add("like")
    return res


def _match_keywords(pred: dict, label: dict) -> bool:
    pred_kw, label_kw = _keywords(pred), _keywords(label)
    return _scores_ok(len([k for k in pred_kw if k in label_kw]), len(pred_kw), len(label_kw))


_COMPONENTS = (
    _match_select, _match_where, _match_group, _match_having, _match_order, _match_and_or, _match_iuen,
    _match_keywords,
)


def exact_match_parsed(pred: dict[str, Any], label: dict[str, Any]) -> bool:
    """``Evaluator.eval_exact_match`` on two rebuilt parses (it mutates ``label``'s SELECT list).

    Every component runs, as in the original (a nested comparison mutates
    nested labels whatever came before).
    """
    ok = True
    for component in _COMPONENTS:
        ok = component(pred, label) and ok
    if not ok:
        return False
    if len(label["from"]["table_units"]) > 0:
        try:
            return sorted(label["from"]["table_units"]) == sorted(pred["from"]["table_units"])
        except TypeError:  # two subqueries in one FROM: the original crashes here
            return False
    return True


# --------------------------------------------------------------------------
# Rebuilding (values dropped, DISTINCT dropped, foreign keys unified)
# --------------------------------------------------------------------------


def _rebuild_condition_val(condition: list[Any]) -> list[Any]:
    res = []
    for idx, it in enumerate(condition):
        if idx % 2 == 0:
            not_op, op_id, val_unit, val1, val2 = it
            val1 = _rebuild_sql_val(val1) if type(val1) is dict else None
            val2 = _rebuild_sql_val(val2) if type(val2) is dict else None
            it = (not_op, op_id, val_unit, val1, val2)
        res.append(it)
    return res


def _rebuild_sql_val(sql: dict[str, Any] | None) -> dict[str, Any] | None:
    if sql is None or not DISABLE_VALUE:
        return sql
    sql["from"]["conds"] = _rebuild_condition_val(sql["from"]["conds"])
    sql["having"] = _rebuild_condition_val(sql["having"])
    sql["where"] = _rebuild_condition_val(sql["where"])
    for op in ("intersect", "except", "union"):
        sql[op] = _rebuild_sql_val(sql[op])
    return sql


def _valid_col_units(table_units: list[Any], schema: Schema) -> list[str]:
    prefixes = [unit[1][:-2] for unit in table_units if unit[0] == TABLE_TYPE["table_unit"]]
    return [v for v in schema.idMap.values() if "." in v and v[: v.index(".")] in prefixes]


def _rebuild_sql_col(valid: list[str], sql: dict[str, Any] | None, kmap: dict[str, str]) -> dict[str, Any] | None:
    if sql is None:
        return sql

    def col_unit(cu: Any) -> Any:
        if cu is None:
            return cu
        agg_id, col_id, distinct = cu
        if col_id in kmap and col_id in valid:
            col_id = kmap[col_id]
        return agg_id, col_id, None if DISABLE_DISTINCT else distinct

    def val_unit(vu: Any) -> Any:
        return vu if vu is None else (vu[0], col_unit(vu[1]), col_unit(vu[2]))

    def condition(cond: list[Any]) -> list[Any]:
        for idx in range(0, len(cond), 2):
            not_op, op_id, vu, val1, val2 = cond[idx]
            cond[idx] = (not_op, op_id, val_unit(vu), val1, val2)
        return cond

    distinct, items = sql["select"]
    sql["select"] = (None if DISABLE_DISTINCT else distinct, [(agg, val_unit(vu)) for agg, vu in items])
    # table units hold a table id string or a dict, never a col-unit tuple: left as they are
    sql["from"]["conds"] = condition(sql["from"]["conds"])
    sql["where"] = condition(sql["where"])
    sql["groupBy"] = [col_unit(cu) for cu in sql["groupBy"]]
    if sql["orderBy"]:
        sql["orderBy"] = (sql["orderBy"][0], [val_unit(vu) for vu in sql["orderBy"][1]])
    sql["having"] = condition(sql["having"])
    for op in ("intersect", "except", "union"):
        sql[op] = _rebuild_sql_col(valid, sql[op], kmap)
    return sql


def rebuild(sql: dict[str, Any], db: SpiderDatabaseSchema) -> dict[str, Any]:
    """What ``evaluate()`` does to both parses before comparing them (in place)."""
    valid = _valid_col_units(sql["from"]["table_units"], db.schema)
    sql = _rebuild_sql_val(sql)
    return _rebuild_sql_col(valid, sql, db.kmap)


# --------------------------------------------------------------------------
# Lenient parse
# --------------------------------------------------------------------------

_IDENT = re.compile(r"[a-z_][a-z0-9_]*$")
_RESERVED = set(CLAUSE_KEYWORDS) | {
    "join", "on", "as", "and", "or", "not", "in", "like", "between", "is", "null", "having", "by", "asc", "desc",
    "left", "right", "inner", "outer", "cross", "natural", "full", "using", "distinct", "exists", "case", "when",
    "then", "else", "end", "offset",
} | set(AGG_OPS)
_JOIN_MODIFIERS = {"left", "right", "inner", "outer", "cross", "natural", "full"}


def _unquote_identifiers(sql: str, schema: Schema) -> str:
    names = set(schema.schema) | {c for cols in schema.schema.values() for c in cols}

    def repl(m: re.Match[str]) -> str:
        inner = m.group(2)
        qualified = sql[m.end() : m.end() + 1] == "." or sql[m.start() - 1 : m.start()] == "."
        return inner if m.group(1) == "`" or inner.lower() in names or qualified else m.group(0)

    return re.sub(r'(["`])([A-Za-z_][A-Za-z0-9_]*)\1', repl, sql)


def _close(toks: list[str], i: int) -> int:
    """Index of the ')' closing the '(' at i (or len(toks))."""
    depth = 0
    for j in range(i, len(toks)):
        depth += {"(": 1, ")": -1}.get(toks[j], 0)
        if depth == 0:
            return j
    return len(toks)


def _is_literal(tok: str) -> bool:
    if '"' in tok:
        return True
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _select_aliases(toks: list[str]) -> list[str]:
    """Drop column aliases from every SELECT list; later uses get the aliased expression."""
    out: list[str] = []
    aliases: dict[str, list[str]] = {}
    i = 0
    while i < len(toks):
        out.append(toks[i])
        if toks[i] != "select":
            i += 1
            continue
        depth, item = 0, []
        i += 1
        while i < len(toks) and not (depth == 0 and toks[i] in CLAUSE_KEYWORDS):
            tok = toks[i]
            depth += {"(": 1, ")": -1}.get(tok, 0)
            if depth < 0:
                break
            if depth == 0 and tok == ",":
                out.extend(_strip_alias(item, aliases) + [","])
                item = []
            else:
                item.append(tok)
            i += 1
        out.extend(_strip_alias(item, aliases))
    if not aliases:
        return out
    # an alias stands for its expression in GROUP BY, HAVING and ORDER BY
    res: list[str] = []
    active = False
    for tok in out:
        if tok == "having" or (tok == "by" and res and res[-1] in ("group", "order")):
            active = True
        elif tok in CLAUSE_KEYWORDS or tok in ("on", "join"):
            active = False
        res.extend(aliases[tok] if active and tok in aliases else [tok])
    return res


def _strip_alias(item: list[str], aliases: dict[str, list[str]]) -> list[str]:
    if len(item) >= 3 and item[-2] == "as" and _IDENT.match(item[-1]):
        aliases[item[-1]] = item[:-2]
        return item[:-2]
    if len(item) >= 2 and _IDENT.match(item[-1]) and item[-1] not in _RESERVED and (
        item[-2] == ")" or (_IDENT.match(item[-2].replace(".", "_")) and item[-2] not in _RESERVED)
    ):
        aliases[item[-1]] = item[:-1]
        return item[:-1]
    return item


def _lenient_tokens(sql: str, schema: Schema) -> list[str]:
    toks = tokenize(_unquote_identifiers(sql, schema))
    toks = [t for t in toks if t != "`"]
    out: list[str] = []
    i, in_from = 0, False
    while i < len(toks):
        tok, nxt = toks[i], toks[i + 1] if i + 1 < len(toks) else None
        if tok in ("from", "join"):
            in_from = True
        elif tok == "on" or tok in CLAUSE_KEYWORDS:
            in_from = False
        if tok in _JOIN_MODIFIERS and nxt in _JOIN_MODIFIERS | {"join"}:
            i += 1
            continue
        if tok == "<" and nxt == ">":
            out.append("!=")
            i += 2
            continue
        if tok == "is" and nxt == "not" and i + 2 < len(toks) and toks[i + 2] == "null":
            out += ["not", "is", '"null"']
            i += 3
            continue
        if tok == "null" and out and out[-1] == "is":
            out.append('"null"')
            i += 1
            continue
        if tok == "(" and out and out[-1] == "in" and nxt is not None and _is_literal(nxt):
            end = _close(toks, i)
            if all(_is_literal(t) or t == "," for t in toks[i + 1 : end]):
                out.append(nxt)
                i = end + 1
                continue
        if tok in schema.schema and in_from and out and out[-1] in ("from", "join", ","):
            out.append(tok)
            if nxt == "as" and i + 2 < len(toks) and toks[i + 2] == tok:
                i += 3  # "t AS t"
                continue
            if nxt is not None and _IDENT.match(nxt) and nxt not in _RESERVED and nxt not in schema.schema:
                out.append("as")
            i += 1
            continue
        out.append(tok)
        i += 1
    return _select_aliases(out)


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
        return parse_tokens(schema.schema, _lenient_tokens(sql, schema.schema))
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
