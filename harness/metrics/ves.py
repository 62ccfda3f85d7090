"""BIRD's Valid Efficiency Score (VES) and mini-dev's reward-based VES (R-VES).

Sources (logic re-implemented, not copied):

- VES: ``bird/llm/src/evaluation_ves.py`` in AlibabaResearch/DAMO-ConvAI, commit
  03898f5; Copyright (c) 2022 Alibaba Research, MIT License.
- R-VES: ``evaluation/evaluation_ves.py`` in bird-bench/mini_dev, commit f9d2750;
  by the BIRD team, whose README marks the repository CC BY-SA 4.0.

Both scripts check correctness first (``set(pred) == set(gold)``, fetched
rows); only a correct prediction is timed, otherwise its ratio is 0. They then
repeat ``iterate_num`` times: time the prediction, then the gold, each on a
fresh connection (wall clock, ``time.time()``), and record
``gold_time / pred_time``. The ratios go through
:func:`clean_abnormal` (the same 3-sigma rule in both) and are averaged. Any
exception (a failing query, a zero prediction time, nothing left after
cleaning) gives 0. They differ in:

===================  ===================================  =====================================
                     VES (evaluation_ves.py)              R-VES (mini-dev evaluation_ves.py)
===================  ===================================  =====================================
repetitions          10 (``run_sqls_parallel`` default)    100 (``run_sqls_parallel`` default)
what is timed        ``cursor.execute`` only (for a        cursor creation, ``execute``,
                     SELECT: up to the first row)          ``fetchall`` and ``close``
limit per example    ``func_timeout(30.0)`` for the        ``func_timeout(30.0 * 100)``
                     whole check + all repetitions
per-example term     ``sqrt(ratio) * 100``                 ``sqrt(reward(ratio)) * 100``
score                mean of the terms over all examples   the same
===================  ===================================  =====================================

With 10 repetitions the 3-sigma rule can never drop a value (for n samples no
z-score exceeds (n - 1) / sqrt(n) = 2.85), except that it drops *every* value
when all ratios are equal (std 0 and strict inequalities), which the official
code turns into a ZeroDivisionError and a score of 0.

``harness.execution.sqlite.time_execute`` times ``execute`` only, as VES does;
timing R-VES exactly would need a variant that also fetches and closes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Repetitions in the original VES script (evaluation_ves.py, iterate_num default).
VES_REPETITIONS = 10
#: Repetitions in mini-dev's R-VES script (iterate_num default).
R_VES_REPETITIONS = 100
#: Original VES: one 30 s func_timeout around the correctness check and all repetitions.
VES_EXAMPLE_TIMEOUT_S = 30.0
#: mini-dev R-VES: meta_time_out (30 s) * iterate_num around the whole example.
R_VES_EXAMPLE_TIMEOUT_S = 30.0 * R_VES_REPETITIONS


def clean_abnormal(values: Sequence[float]) -> list[float]:
    """Official outlier rule: keep x with mean - 3*std < x < mean + 3*std (numpy, population std).

    The inequalities are strict, so equal values (std 0) are all dropped.

    >>> clean_abnormal([1.0, 2.0, 3.0])
    [1.0, 2.0, 3.0]
    >>> len(clean_abnormal([1.0, 1.1] * 50 + [100.0]))  # 101 values: the outlier goes
    100
    >>> clean_abnormal([2.0, 2.0])
    []
    """
    array = np.asarray(values)
    mean = np.mean(array, axis=0)
    std = np.std(array, axis=0)
    return [float(x) for x in array if x < mean + 3 * std and x > mean - 3 * std]


def ves_time_ratio(gold_times: Sequence[float], pred_times: Sequence[float]) -> float:
    """Average of the cleaned per-repetition ratios gold_time / pred_time (``iterated_execute_sql``).

    Call it only for a correct prediction; an incorrect one has ratio 0 (the
    caller's decision). Where the official code raises inside the timed
    function, and so scores 0, this returns 0.0: a prediction time of 0, no
    repetitions, or nothing left after :func:`clean_abnormal`.

    >>> ves_time_ratio([2.0, 2.0, 4.0], [1.0, 1.0, 1.0])
    2.6666666666666665
    >>> ves_time_ratio([1.0], [0.5])  # a single ratio has std 0: dropped, official score 0
    0.0
    >>> ves_time_ratio([1.0, 1.0], [0.0, 1.0])
    0.0
    """
    if len(gold_times) != len(pred_times):
        raise ValueError(f"{len(gold_times)} gold timings but {len(pred_times)} prediction timings")
    if not pred_times or any(p == 0 for p in pred_times):
        return 0.0
    ratios = [g / p for g, p in zip(gold_times, pred_times, strict=True)]
    kept = clean_abnormal(ratios)
    if not kept:
        return 0.0
    return sum(kept) / len(kept)


def ves_term(time_ratio: float) -> float:
    """One example's contribution to VES: ``sqrt(ratio) * 100``.

    >>> ves_term(4.0)
    200.0
    """
    return math.sqrt(time_ratio) * 100


def ves_score(time_ratios: Sequence[float]) -> float:
    """Official ``compute_ves``: the mean of ``sqrt(ratio) * 100`` over ALL examples (0 for wrong ones).

    >>> ves_score([1.0, 4.0, 0.0, 0.25])
    87.5
    """
    if not time_ratios:
        raise ValueError("VES of no examples")
    return sum(ves_term(r) for r in time_ratios) / len(time_ratios)


def r_ves_reward(time_ratio: float) -> float:
    """mini-dev reward bucket of a time ratio (gold_time / pred_time), exactly as official.

    0 -> 0; [2, inf) -> 1.25; [1, 2) -> 1; [0.5, 1) -> 0.75; [0.25, 0.5) -> 0.5;
    anything else (0 < ratio < 0.25) -> 0.25.

    >>> [r_ves_reward(r) for r in (0, 0.1, 0.25, 0.5, 1, 1.99, 2, 50)]
    [0, 0.25, 0.5, 0.75, 1, 1, 1.25, 1.25]
    """
    if time_ratio == 0:
        return 0
    if time_ratio >= 2:
        return 1.25
    if 1 <= time_ratio < 2:
        return 1
    if 0.5 <= time_ratio < 1:
        return 0.75
    if 0.25 <= time_ratio < 0.5:
        return 0.5
    return 0.25


def r_ves_term(time_ratio: float) -> float:
    """One example's contribution to R-VES: ``sqrt(reward) * 100`` (not ``reward * 100``).

    >>> r_ves_term(3.0)
    111.80339887498948
    """
    return math.sqrt(r_ves_reward(time_ratio)) * 100


def r_ves_score(time_ratios: Sequence[float]) -> float:
    """mini-dev R-VES: the mean of ``sqrt(reward(ratio)) * 100`` over ALL examples.

    >>> r_ves_score([1.0, 1.0, 0.0, 0.3])
    67.67766952966369
    """
    if not time_ratios:
        raise ValueError("R-VES of no examples")
    return sum(r_ves_term(r) for r in time_ratios) / len(time_ratios)
