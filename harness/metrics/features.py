"""SQL feature tags for per-feature result subsets, from a sqlglot parse (dialect ``sqlite``).

Tags (sorted in the output):

- ``aggregation``: an aggregate function (COUNT, SUM, AVG, MIN, MAX, TOTAL,
  GROUP_CONCAT, ...) not used as a window function. SQLite's two-argument ``max(a, b)`` is scalar and is
  not counted (sqlglot reads it as GREATEST).
- ``case``: ``CASE`` or ``IIF``.
- ``distinct``: ``SELECT DISTINCT`` or ``agg(DISTINCT x)``.
- ``group_by``, ``having``, ``limit``, ``like`` (also ``NOT LIKE``),
  ``window`` (``OVER``).
- ``join``: explicit ``JOIN`` or a comma join ``FROM a, b``.
- ``nested``: a SELECT inside another SELECT (in FROM, WHERE, HAVING, the
  select list) or a CTE. Parenthesised operands of a set operation are not
  nesting.
- ``order_by``: a query-level ``ORDER BY`` (not the one inside ``OVER (...)``).
- ``set_op``: ``UNION [ALL]``, ``INTERSECT``, ``EXCEPT``.
- ``unparsed`` (alone): sqlglot could not parse the text as a statement.

Spider's SQL parses as is: ``count(*)``, ``T1.name``, and double-quoted
literals such as ``name = "x"`` (sqlglot's sqlite dialect reads those as quoted
identifiers, SQLite itself falls back to a string; either way no tag changes).

>>> sql_features('SELECT T1.name, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid '
...              'WHERE T1.country = "France" GROUP BY T1.name ORDER BY count(*) DESC LIMIT 3')
['aggregation', 'group_by', 'join', 'limit', 'order_by']
>>> sql_features('SELECT a FROM t WHERE a NOT IN (SELECT b FROM u) UNION SELECT c FROM v')
['nested', 'set_op']
>>> sql_features('SELEC a FROM t')
['unparsed']
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp, parse
from sqlglot.errors import SqlglotError

UNPARSED = "unparsed"

# What a parsed statement may be; anything else (a bare expression such as
# "hello world" read as an alias, or sqlglot's Command fallback) is unparsed.
_STATEMENTS = (exp.Query, exp.DML, exp.DDL, exp.Pragma)
# SQLite aggregates that sqlglot keeps as anonymous functions.
_ANONYMOUS_AGGREGATES = frozenset({"total", "json_group_array", "json_group_object"})


def sql_features(sql: str) -> list[str]:
    """Sorted feature tags of ``sql``; ``["unparsed"]`` when it does not parse.

    >>> sql_features('SELECT DISTINCT name FROM t WHERE name LIKE "%a%"')
    ['distinct', 'like']
    >>> sql_features('SELECT 1')
    []
    """
    return list(_sql_features(sql))


@lru_cache(maxsize=16384)  # a suite repeats its gold queries
def _sql_features(sql: str) -> tuple[str, ...]:
    try:
        statements = [s for s in parse(sql, read="sqlite") if s is not None]
    except (SqlglotError, RecursionError, ValueError):
        return (UNPARSED,)
    if not statements or not all(isinstance(s, _STATEMENTS) for s in statements):
        return (UNPARSED,)
    tags: set[str] = set()
    for statement in statements:
        tags |= _statement_features(statement)
    return tuple(sorted(tags))


def _statement_features(root: exp.Expression) -> set[str]:
    tags: set[str] = set()
    for node in root.walk():
        if isinstance(node, exp.Join):
            tags.add("join")
        elif isinstance(node, exp.SetOperation):
            tags.add("set_op")
        elif isinstance(node, exp.Group):
            tags.add("group_by")
        elif isinstance(node, exp.Having):
            tags.add("having")
        elif isinstance(node, exp.Order):
            if not isinstance(node.parent, exp.Window):
                tags.add("order_by")
        elif isinstance(node, exp.Limit):
            tags.add("limit")
        elif isinstance(node, exp.Window):
            tags.add("window")
        elif isinstance(node, exp.AggFunc) or (
            isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS_AGGREGATES
        ):
            if not isinstance(node.parent, exp.Window):
                tags.add("aggregation")
        elif isinstance(node, (exp.Like, exp.ILike)):
            tags.add("like")
        elif isinstance(node, (exp.Case, exp.If)):
            tags.add("case")
        elif isinstance(node, exp.Distinct):
            tags.add("distinct")
        elif isinstance(node, exp.CTE):
            tags.add("nested")
        elif isinstance(node, exp.Select) and _inside_select(node):
            tags.add("nested")
    return tags


def _inside_select(node: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.Select):
            return True
        parent = parent.parent
    return False
