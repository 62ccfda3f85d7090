"""BIRD's execution match and Soft-F1, ported from the official evaluators.

Sources (logic re-implemented, not copied):

- EX: ``bird/llm/src/evaluation.py`` in AlibabaResearch/DAMO-ConvAI, commit
  03898f5 (``compute_execution_accuracy``: ``set(gold) == set(pred)``);
  Copyright (c) 2022 Alibaba Research, MIT License.
- Soft-F1: ``evaluation/evaluation_f1.py`` in bird-bench/mini_dev, commit
  47f116d (``calculate_row_match`` and ``calculate_f1_score``); by the BIRD
  team, whose README marks the repository CC BY-SA 4.0 (it has no LICENSE file).

What the official scripts do around these functions (the caller's business here):

- evaluation.py runs each query under ``func_timeout(30.0)`` in its own
  connection and replaces the rows of a query that raised by
  :data:`OFFICIAL_ERROR_ROWS` and of one that timed out by
  :data:`OFFICIAL_TIMEOUT_ROWS` before comparing sets. So a failing prediction
  *matches* a gold that fails the same way (error/error, timeout/timeout), and
  a prediction returning the single row ``('error',)`` matches an erroring gold.
- evaluation_f1.py runs prediction then gold on one connection of the gold's
  database under one ``func_timeout(30.0)`` and scores 0 on any exception or
  timeout, from either query or from the F1 computation itself.

Both use ``sqlite3``'s default text decoding, under which text that is not
valid UTF-8 raises ``OperationalError``; see :func:`has_lossy_text`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

#: Rows evaluation.py substitutes for a query that raised.
OFFICIAL_ERROR_ROWS: list[tuple] = [("error",)]
#: Rows evaluation.py substitutes for a query that ran past its 30 s limit.
OFFICIAL_TIMEOUT_ROWS: list[tuple] = [("timeout",)]
#: evaluation.py and the mini-dev scripts' per-example limit (func_timeout), seconds.
OFFICIAL_TIMEOUT_S = 30.0


def bird_exec_match(gold_rows: Iterable[tuple], pred_rows: Iterable[tuple]) -> bool:
    """BIRD execution match: the two results are equal as *sets* of rows.

    Row order and duplicates are ignored, columns are not permuted, and values
    compare with Python ``==`` (so ``1 == 1.0``), exactly as the official code.

    >>> bird_exec_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a"), (1, "a")])
    True
    >>> bird_exec_match([(1, "a")], [("a", 1)])
    False
    >>> bird_exec_match([(1,)], [(1.0,)])
    True
    """
    return set(pred_rows) == set(gold_rows)


def _row_match(pred_row: Sequence[Any], gold_row: Sequence[Any]) -> tuple[float, float, float]:
    """Official ``calculate_row_match``: (matched, pred-only, gold-only) as fractions of the gold width.

    Membership is by ``in``, so multiplicity is ignored: ``(1, 1)`` against
    ``(1, 2)`` counts two matches and one gold-only value.

    >>> _row_match((1, 1), (1, 2))
    (1.0, 0.0, 0.5)
    """
    width = len(gold_row)  # a 0-column gold row raises ZeroDivisionError, as officially
    matches = pred_only = gold_only = 0
    for value in pred_row:
        if value in gold_row:
            matches += 1
        else:
            pred_only += 1
    for value in gold_row:
        if value not in pred_row:
            gold_only += 1
    return matches / width, pred_only / width, gold_only / width


def _paired_f1(pred: list[tuple], gold: list[tuple]) -> float:
    """Official F1 over rows already deduplicated and ordered; row i pairs with row i."""
    match_scores: list[float] = []
    pred_only_scores: list[float] = []
    gold_only_scores: list[float] = []
    for i, gold_row in enumerate(gold):
        if i >= len(pred):
            match_scores.append(0)
            gold_only_scores.append(1)
            continue
        match, pred_only, gold_only = _row_match(pred[i], gold_row)
        match_scores.append(match)
        pred_only_scores.append(pred_only)
        gold_only_scores.append(gold_only)
    for _ in range(len(pred) - len(gold)):
        match_scores.append(0)
        pred_only_scores.append(1)
        gold_only_scores.append(0)

    # Summing lists in this order keeps the floats bit-identical to the official ones.
    tp, fp, fn = sum(match_scores), sum(pred_only_scores), sum(gold_only_scores)
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    if precision + recall > 0:
        return float(2 * precision * recall / (precision + recall))
    return 0.0


def soft_f1(pred_rows: list[tuple], gold_rows: list[tuple]) -> float:
    """BIRD mini-dev Soft-F1 (``calculate_f1_score``), reproduced exactly.

    Both sides are deduplicated with ``set`` and turned back into lists, and the
    i-th predicted row is scored against the i-th gold row (cell membership, see
    :func:`_row_match`); unpaired rows count fully as false positives or false
    negatives. Both empty gives 1.0.

    The official result therefore depends on the iteration order of
    ``list(set(rows))``, i.e. on the hashes of the values: string and bytes
    hashes change with ``PYTHONHASHSEED`` (random per process unless set), and
    on Python < 3.12 ``hash(None)`` is the address of ``None``, different in
    every process whatever the seed. Integers and floats hash the same
    everywhere. This function calls ``set``/``list`` exactly as the official
    code does, so in one process it reproduces the official value bit for bit;
    across processes only rows made of numbers are stable. See
    :func:`soft_f1_order_free` for a deterministic alternative.

    >>> soft_f1([(1, "a"), (2, "b")], [(1, "a"), (2, "b")])
    1.0
    >>> soft_f1([], [])
    1.0
    >>> soft_f1([(1, 2)], [(1, 3)])  # tp .5, fp .5, fn .5
    0.5
    >>> soft_f1([(1,), (2,), (3,)], [(1,)])  # numeric rows: set order (1,), (2,), (3,) everywhere
    0.5
    """
    if not pred_rows and not gold_rows:
        return 1.0
    pred = list(set(pred_rows) if pred_rows else set())
    gold = list(set(gold_rows))
    return _paired_f1(pred, gold)


_TYPE_RANK = {type(None): 0, bool: 1, int: 1, float: 1, str: 2, bytes: 3}


def _value_key(value: Any) -> tuple[int, Any]:
    """A total order over SQLite values: NULL < numbers < text < blob < anything else (by repr)."""
    rank = _TYPE_RANK.get(type(value))
    if rank is None:
        return (4, f"{type(value).__qualname__}:{value!r}")
    return (rank, 0 if value is None else value)


def _row_key(row: Sequence[Any]) -> tuple:
    return tuple(_value_key(v) for v in row)


def _align(pred: list[tuple], gold: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Put pairs of rows holding the same values (in any column order) first, the rest after.

    Both inputs are sorted; each pred row takes the first unused gold row with
    its multiset of values, and the unpaired rows keep their sorted order.
    """
    by_values: dict[tuple, deque[int]] = {}
    for j, row in enumerate(gold):
        by_values.setdefault(tuple(sorted(_row_key(row))), deque()).append(j)
    taken = [False] * len(gold)
    paired_pred, paired_gold, rest_pred = [], [], []
    for row in pred:
        candidates = by_values.get(tuple(sorted(_row_key(row))))
        if candidates:
            j = candidates.popleft()
            taken[j] = True
            paired_pred.append(row)
            paired_gold.append(gold[j])
        else:
            rest_pred.append(row)
    rest_gold = [row for j, row in enumerate(gold) if not taken[j]]
    return paired_pred + rest_pred, paired_gold + rest_gold


def soft_f1_order_free(pred_rows: list[tuple], gold_rows: list[tuple]) -> float:
    """Deterministic Soft-F1: the official formula with a pairing that ignores set order.

    A deliberate deviation from BIRD mini-dev (named option
    ``soft_f1_order_free``). After the same ``set`` deduplication, rows that
    hold the same values in any column order are paired first; the remaining
    rows of each side are sorted by a type-aware key (NULL < numbers < text <
    blob, column by column) and paired by position, surplus rows counting as
    unpaired as officially. The pairing no longer depends on hash seeds or on
    ``hash(None)``: the value is the same in every process, and equal row sets
    always score 1.0 (officially they can score less, when the two sets were
    filled in different orders and iterate differently). Like the official
    pairing it is not an optimal matching.

    >>> soft_f1_order_free([("b", None), ("a", 1)], [("a", 1), ("b", 2)])
    0.75
    >>> soft_f1_order_free([(325, "Apple"), (119, "Banana")], [("Banana", 119), ("Apple", 325)])
    1.0
    >>> soft_f1_order_free([], [(1,)])
    0.0
    """
    if not pred_rows and not gold_rows:
        return 1.0
    pred = sorted(set(pred_rows), key=_row_key)
    gold = sorted(set(gold_rows), key=_row_key)
    return _paired_f1(*_align(pred, gold))


def has_lossy_text(rows: Iterable[Sequence[Any]] | None) -> bool:
    """True when a value is a ``harness.execution.sqlite.LossyText``.

    ``LossyText`` marks text that was not valid UTF-8. BIRD reads results with
    sqlite3's default decoding, which raises on such text, so the ``bird``
    semantics turns a result holding one into an execution error. If the
    execution module is not importable, no value can be one, and this is False.

    >>> has_lossy_text([(1, "plain text")])
    False
    >>> has_lossy_text(None)
    False
    """
    if not rows:
        return False
    try:
        from harness.execution.sqlite import LossyText
    except ImportError:
        return False
    return any(isinstance(value, LossyText) for row in rows for value in row)
