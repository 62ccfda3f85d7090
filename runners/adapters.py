"""Adapter specs: several LoRA adapters applied to one request.

A request names what to apply in ``GenerationRequest.adapter``: None for the base model,
one adapter name, or an *adapter spec* joining several names with ``+``
(``"easy+medium+hard"``), which the transformers runner applies together (their LoRA
deltas add up). Which spec each request gets is the method's business: MAC's
compositions are in :mod:`trainers.mac_compose`.
"""

from __future__ import annotations

from collections.abc import Sequence

SEPARATOR = "+"


def adapter_spec(names: Sequence[str]) -> str:
    """The spec that applies ``names`` together, in this order.

    >>> adapter_spec(["easy", "medium", "hard"])
    'easy+medium+hard'
    >>> adapter_spec(["easy"])
    'easy'
    """
    if not names:
        raise ValueError("an adapter spec needs at least one adapter name (None is the base model)")
    for name in names:
        if not name or SEPARATOR in name:
            raise ValueError(
                f"invalid adapter name {name!r}: it must be non-empty, without {SEPARATOR!r}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"adapter spec repeats a name: {list(names)}")
    return SEPARATOR.join(names)


def parse_adapter_spec(spec: str) -> list[str]:
    """The adapter names of ``spec``.

    >>> parse_adapter_spec("easy+medium")
    ['easy', 'medium']
    """
    names = spec.split(SEPARATOR)
    adapter_spec(names)  # validates
    return names


def tiers_up_to(tiers: Sequence[str], tier: str) -> list[str]:
    """``tiers`` from the first one through ``tier``.

    >>> tiers_up_to(["easy", "medium", "hard"], "medium")
    ['easy', 'medium']
    """
    if tier not in tiers:
        raise ValueError(f"unknown tier {tier!r}; the candidate's tiers are {list(tiers)}")
    return list(tiers[: list(tiers).index(tier) + 1])
