"""Spider execution-accuracy semantics, as test-suite-sql-eval's ``exec_eval.py``.

Ported from taoyds/test-suite-sql-eval ``exec_eval.py`` and ``parse.py``
(``remove_distinct``), Apache License 2.0. Executing is left to the caller;
this module holds what the official code does to the two queries before it
runs them (:func:`prepare_spider_pair`) and how it compares the results
(:func:`result_eq`, arguments in the official order: gold rows first).

Reproduced on purpose, because the official verdicts depend on them:

- DISTINCT is removed (unless ``keep_distinct``) by re-joining ``sqlparse``'s
  tokens of the *first* statement only, so ``"q1; q2"`` runs as ``"q1;"``
  (with ``keep_distinct`` the whole string runs, and sqlite3 rejects two
  statements);
- row order matters only when the processed gold contains the substring
  ``order by`` (lower-cased), anywhere: in a subquery or a string literal too,
  but not ``ORDER  BY`` with two spaces or a line break;
- rows compare as bags, up to a permutation of the columns; ``1`` and ``1.0``
  are equal (Python equality), ``None`` equals only ``None``.

>>> prepare_spider_pair("SELECT DISTINCT name FROM t WHERE a > = value ", "SELECT name FROM t ORDER BY a")
('SELECT  name FROM t WHERE a >= 1 ', 'SELECT name FROM t ORDER BY a', True)
>>> result_eq([(1, "a"), (2, "b")], [("b", 2.0), ("a", 1)], order_matters=False)
True
>>> result_eq([(1, "a"), (2, "b")], [("b", 2.0), ("a", 1)], order_matters=True)
False
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import product

from harness.metrics.spider_sql import plug_value_placeholder

__all__ = [
    "multiset_eq",
    "order_matters",
    "postprocess",
    "prepare_spider_pair",
    "quick_rej",
    "remove_distinct",
    "replace_cur_year",
    "result_eq",
]


def postprocess(query: str) -> str:
    """Join comparison operators split by a space.

    >>> postprocess("a > = 1 AND b < = 2 AND c ! = 3")
    'a >= 1 AND b <= 2 AND c != 3'
    """
    return query.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")


@lru_cache(maxsize=8192)
def remove_distinct(sql: str) -> str:
    """Drop every ``distinct`` token of the first statement (``parse.remove_distinct``).

    The official code takes ``sqlparse.parse(sql)[0].flatten()``; grouping never
    changes the leaf tokens, so lexing and splitting statements without grouping
    gives the same string ten times faster, and a string with no ``distinct``, no
    ``;`` and no ``go`` (sqlparse also splits on GO) is one statement returned as is.
    For a string with no statement (empty or blank) the input is returned; the
    official code raises there, but such a prediction cannot reach it.

    >>> remove_distinct("SELECT count(DISTINCT name) FROM t; SELECT 2")
    'SELECT count( name) FROM t; '
    >>> remove_distinct("SELECT 'distinct' FROM t")
    "SELECT 'distinct' FROM t"
    >>> remove_distinct("SELECT 1 GO SELECT 2")
    'SELECT 1 GO '
    """
    lowered = sql.lower()
    if ";" not in sql and "distinct" not in lowered and "go" not in lowered:
        return sql
    from sqlparse.engine import FilterStack

    for statement in FilterStack().run(sql):
        return "".join(tok.value for tok in statement.flatten() if tok.value.lower() != "distinct")
    return sql


def replace_cur_year(query: str) -> str:
    """``YEAR(CURDATE())`` (MySQL) becomes 2020, as the official ``exec_on_db`` does.

    >>> replace_cur_year("SELECT * FROM t WHERE y < year ( CURDATE ( ) ) - 5")
    'SELECT * FROM t WHERE y < 2020- 5'
    """
    return re.sub(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", "2020", query, flags=re.IGNORECASE)


def order_matters(gold_sql: str, *, keep_distinct: bool = False) -> bool:
    """Whether row order counts: ``'order by' in gold.lower()`` after the official normalisation.

    >>> order_matters("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)")
    True
    >>> order_matters("SELECT a FROM t ORDER  BY a")
    False
    """
    gold = postprocess(gold_sql)
    if not keep_distinct:
        gold = remove_distinct(gold)
    return "order by" in gold.lower()


def prepare_spider_pair(pred: str, gold: str, keep_distinct: bool = False) -> tuple[str, str, bool]:
    """The prediction and gold the official evaluator executes, and whether order matters.

    Applies, in the official order: ``" value "`` -> ``" 1 "`` on the prediction
    (``evaluate()``), :func:`postprocess`, :func:`remove_distinct` unless
    ``keep_distinct``, then :func:`replace_cur_year` (done at execution time in
    the original; it never changes ``order_matters`` and applying it twice is harmless).
    """
    p_str, g_str = postprocess(plug_value_placeholder(pred)), postprocess(gold)
    if not keep_distinct:
        p_str, g_str = remove_distinct(p_str), remove_distinct(g_str)
    matters = "order by" in g_str.lower()
    return replace_cur_year(p_str), replace_cur_year(g_str), matters


def _sort_key(value: object) -> str:
    # str(type(x)) as in the original; a str subclass (our LossyText) is keyed as the
    # plain str the official decoding produces.
    return str(value) + str(str if isinstance(value, str) else type(value))


def _unorder_row(row: tuple) -> tuple:
    return tuple(sorted(row, key=_sort_key))


def quick_rej(result1: list[tuple], result2: list[tuple], order_matters: bool) -> bool:
    """A necessary condition for equivalence: the same (bag, when order matters: list) of sorted rows.

    Despite its name it returns True when the results may still be equivalent.
    """
    s1 = [_unorder_row(row) for row in result1]
    s2 = [_unorder_row(row) for row in result2]
    return s1 == s2 if order_matters else set(s1) == set(s2)


def multiset_eq(l1: list, l2: list) -> bool:
    """Whether two lists hold the same elements with the same multiplicities.

    >>> multiset_eq([1, 1, 2], [1, 2, 2]), multiset_eq([1, 2, 1], [1, 1, 2])
    (False, True)
    """
    if len(l1) != len(l2):
        return False
    counts: defaultdict[object, int] = defaultdict(int)
    for e in l1:
        counts[e] += 1
    for e in l2:
        counts[e] -= 1
        if counts[e] < 0:
            return False
    return True


def _constraint_permutations(tab1_sets_by_columns: list[set], result2: list[tuple]) -> Iterator[tuple[int, ...]]:
    """Candidate column mappings (gold column i <- pred column perm[i]).

    The official code samples 20 pred rows with the global ``random`` and drops
    a candidate ``j`` for gold column ``i`` when a sampled row's value in
    column ``j`` is not among the values of gold column ``i``. That pruning can
    never drop a mapping under which the results are equal: equal bags of rows
    (or equal lists) mean every pred value of column perm[i] equals (``==``, so
    also hashes as) some gold value of column i, so it is in that column's set.
    The rows sampled therefore only change how many candidates are tried, never
    the verdict, and a private ``Random(0)`` makes the work reproducible.
    (NaN, the one value not equal to itself, never comes back from SQLite.)
    """
    num_cols = len(result2[0])
    constraints = [set(range(num_cols)) for _ in range(num_cols)]
    if num_cols > 3:
        rng = random.Random(0)
        for _ in range(20):
            row = rng.choice(result2)
            for tab1_col in range(num_cols):
                for tab2_col in set(constraints[tab1_col]):
                    if row[tab2_col] not in tab1_sets_by_columns[tab1_col]:
                        constraints[tab1_col].remove(tab2_col)
    return product(*constraints)


def _same_sort_keys(result1: list[tuple], result2: list[tuple]) -> bool:
    """Equal rows whose values have the same ``_sort_key`` too (1 == 1.0 and 0.0 == -0.0 do not)."""
    for row1, row2 in zip(result1, result2):
        for a, b in zip(row1, row2):
            if type(a) is not type(b) or (type(a) is float and repr(a) != repr(b)):
                return False
    return True


def result_eq(gold_rows: Iterable[tuple], pred_rows: Iterable[tuple], order_matters: bool) -> bool:
    """Whether two results are the same denotation (official ``result_eq(result1, result2)``).

    Two empty results are equal whatever their columns; otherwise the row
    counts and column counts must agree, and some permutation of the pred's
    columns must make the rows equal as bags (as lists when ``order_matters``).

    >>> result_eq([(1, None)], [(None, 1)], order_matters=True)
    True
    >>> result_eq([(1,), (1,), (2,)], [(1,), (2,), (2,)], order_matters=False)
    False
    >>> result_eq([], [], order_matters=False), result_eq([(1,)], [(1, 1)], order_matters=False)
    (True, False)
    """
    result1, result2 = list(gold_rows), list(pred_rows)
    if len(result1) == 0 and len(result2) == 0:
        return True
    if len(result1) != len(result2):
        return False
    num_cols = len(result1[0])
    if len(result2[0]) != num_cols:
        return False
    if result1 == result2 and _same_sort_keys(result1, result2):
        # Rows whose values also sort alike pass quick_rej, and then the identity
        # permutation, which the search below always tries, matches.
        return True
    if not quick_rej(result1, result2, order_matters):
        return False
    tab1_sets_by_columns = [{row[i] for row in result1} for i in range(num_cols)]
    for perm in _constraint_permutations(tab1_sets_by_columns, result2):
        if len(perm) != len(set(perm)):
            continue
        result2_perm = result2 if num_cols == 1 else [tuple(row[i] for i in perm) for row in result2]
        if order_matters:
            if result1 == result2_perm:
                return True
        elif set(result1) == set(result2_perm) and multiset_eq(result1, result2_perm):
            return True
    return False
