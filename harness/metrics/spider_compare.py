"""How Spider's ``evaluate()`` compares two parses: rebuild both, then exact-set match.

Ported from taoyds/test-suite-sql-eval ``evaluation.py`` (``Evaluator.eval_exact_match``,
the ``eval_*`` component checks and the ``rebuild_*`` functions), Apache License 2.0.
Before comparing, values are dropped (``DISABLE_VALUE``), DISTINCT is dropped
(``DISABLE_DISTINCT``) and a column joined by a foreign key is replaced by the
first column of its key group when its table is in the FROM clause
(:func:`rebuild`). The comparison then checks every component (SELECT, WHERE,
GROUP BY, HAVING, ORDER BY, AND/OR, nested set operations, keywords) and the
FROM tables (:func:`exact_match_parsed`). Parsing and caching are in
:mod:`harness.metrics.spider_em`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.metrics.spider_hardness import cond_units
from harness.metrics.spider_sql import TABLE_TYPE, WHERE_OPS, Schema

if TYPE_CHECKING:
    from harness.metrics.spider_em import SpiderDatabaseSchema

__all__ = ["DISABLE_DISTINCT", "DISABLE_VALUE", "exact_match_parsed", "rebuild"]

DISABLE_VALUE = True
DISABLE_DISTINCT = True


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
    conds = cond_units(sql)
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

