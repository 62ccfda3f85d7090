"""Paired significance for two runs on the same examples: McNemar's exact test and a
paired bootstrap confidence interval of the accuracy difference. Pure Python."""

from __future__ import annotations

import math
import random
from fractions import Fraction


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` (A right, B wrong) and ``c`` (A wrong,
    B right) discordant pairs: ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Bin(b + c, 1/2)``.

    Exact integer arithmetic, so it holds for thousands of discordant pairs.

    >>> mcnemar_exact(0, 5)
    0.0625
    >>> mcnemar_exact(3, 3), mcnemar_exact(0, 0)
    (1.0, 1.0)
    >>> mcnemar_exact(1, 10) == mcnemar_exact(10, 1) == 2 * (1 + 11) / 2**11
    True
    >>> mcnemar_exact(2000, 2100) < 0.2
    True
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    # A Fraction of big ints converts to the correctly rounded float without overflow.
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def mcnemar_one_sided(regressed: int, improved: int) -> float:
    """One-sided exact McNemar p that a run got worse: ``P(X >= regressed)`` with
    ``X ~ Bin(regressed + improved, 1/2)``; exact integers.

    >>> mcnemar_one_sided(0, 0), mcnemar_one_sided(1, 0), mcnemar_one_sided(1, 1)
    (1.0, 0.5, 0.75)
    >>> mcnemar_one_sided(10, 0)
    0.0009765625
    """
    n = regressed + improved
    return sum(math.comb(n, k) for k in range(regressed, n + 1)) / 2**n


def paired_bootstrap_ci(
    a: list[int],
    b: list[int],
    *,
    resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(b) - mean(a)`` for per-example 0/1 scores.

    Each resample draws example indices with replacement and uses the same draw for
    both runs (the pairing), so only the per-example differences ``b_i - a_i`` matter.
    Deterministic for a seed.

    >>> paired_bootstrap_ci([1, 0, 1, 1], [1, 0, 1, 1])
    (0.0, 0.0)
    >>> low, high = paired_bootstrap_ci([0] * 50 + [1] * 50, [1] * 100, resamples=2000)
    >>> 0.35 < low < 0.5 < high < 0.65
    True
    >>> paired_bootstrap_ci([0, 1], [1, 1], seed=3) == paired_bootstrap_ci([0, 1], [1, 1], seed=3)
    True
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores need equal lengths, got {len(a)} and {len(b)}")
    if not a:
        raise ValueError("no examples to resample")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    n = len(a)
    diffs = [y - x for x, y in zip(a, b)]
    if not any(diffs):
        return (0.0, 0.0)
    rng = random.Random(seed)
    sums = sorted(sum(rng.choices(diffs, k=n)) for _ in range(resamples))
    # Same number of resamples cut from each end; the epsilon guards 0.025 * 10000 = 249.99...
    cut = min(int((1.0 - confidence) / 2 * resamples + 1e-9), (resamples - 1) // 2)
    return (sums[cut] / n, sums[resamples - 1 - cut] / n)
