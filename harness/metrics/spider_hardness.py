"""Spider hardness of a parsed query, as test-suite-sql-eval's ``Evaluator.eval_hardness``.

Ported from taoyds/test-suite-sql-eval ``evaluation.py`` (``eval_hardness`` and
the ``count_*`` helpers), Apache License 2.0. It counts components of a parse
from :func:`harness.metrics.spider_sql.get_sql`, with the original's quirks (a
NOT condition and an AND/OR of HAVING count as aggregations). The string-level
API with caching is :func:`harness.metrics.spider_em.spider_hardness`.
"""

from __future__ import annotations

from typing import Any

from harness.metrics.spider_sql import AGG_OPS, WHERE_OPS

__all__ = ["cond_units", "hardness"]


def _has_agg(unit: Any) -> bool:
    # unit[0] is an agg id for select items and col units, but the NOT flag of a
    # condition and the first letter of 'and'/'or' elsewhere: kept as in the original.
    return unit[0] != AGG_OPS.index("none")


def _count_agg(units: list[Any]) -> int:
    return len([unit for unit in units if _has_agg(unit)])


def cond_units(sql: dict[str, Any]) -> list[Any]:
    """The conditions of FROM, WHERE and HAVING (the AND/OR between them left out)."""
    return sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]


def _nested_sql(sql: dict[str, Any]) -> list[dict[str, Any]]:
    nested = [v for cond in cond_units(sql) for v in (cond[3], cond[4]) if type(v) is dict]
    return nested + [sql[op] for op in ("intersect", "except", "union") if sql[op] is not None]


def _count_component1(sql: dict[str, Any]) -> int:
    count = sum(1 for key in ("where", "groupBy", "orderBy") if len(sql[key]) > 0)
    count += sql["limit"] is not None
    if len(sql["from"]["table_units"]) > 0:
        count += len(sql["from"]["table_units"]) - 1
    ao = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    count += len([tok for tok in ao if tok == "or"])
    count += len([c for c in cond_units(sql) if c[1] == WHERE_OPS.index("like")])
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

    >>> from harness.metrics.spider_sql import Schema, get_sql
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

