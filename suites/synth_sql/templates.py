"""Short constructors for the domain templates in :mod:`suites.synth_sql.domains`.

>>> salary = num("salary", "salary", 30000, 90000, step=500, names=("salary", "pay"))
>>> salary.kind, salary.names
('int', ('salary', 'pay'))
"""

from __future__ import annotations

from typing import Any

from suites.synth_sql.schema import Adjective, ColumnSpec, TableSpec


def pk() -> ColumnSpec:
    return ColumnSpec("id", "pk", "id")


def label(gen: str, phrase: str = "name", names: tuple[str, ...] = ("name",)) -> ColumnSpec:
    """The unique text name of a row, drawn by generator ``gen`` of :mod:`suites.synth_sql.data`."""
    return ColumnSpec("label", "label", phrase, names, gen=gen)


def cat(key: str, phrase: str, choices: tuple[str, ...] | list[str], names: tuple[str, ...] = (), **kw: Any) -> ColumnSpec:
    return ColumnSpec(key, "cat", phrase, names or (key,), choices=tuple(choices), **kw)


def code(key: str, phrase: str, pairs: tuple[tuple[str, str], ...], names: tuple[str, ...] = (), **kw: Any) -> ColumnSpec:
    """A coded column: ``pairs`` of (stored code, the word questions use), e.g. ("F", "female")."""
    return ColumnSpec(key, "code", phrase, names or (key,), choices=pairs, **kw)


def num(
    key: str,
    phrase: str,
    low: float,
    high: float,
    *,
    step: float = 1,
    names: tuple[str, ...] = (),
    real: bool = False,
    adjectives: tuple[tuple[str, str, float], ...] = (),
    **kw: Any,
) -> ColumnSpec:
    """A number in [low, high] on a grid of ``step``; ``real`` columns use steps of 0.25 or coarser."""
    adj = tuple(Adjective(*a) for a in adjectives)
    return ColumnSpec(key, "real" if real else "int", phrase, names or (key,), low=low, high=high, step=step,
                      adjectives=adj, **kw)


def date(key: str, phrase: str, first_year: int, last_year: int, names: tuple[str, ...] = (), **kw: Any) -> ColumnSpec:
    return ColumnSpec(key, "date", phrase, names or (key,), low=first_year, high=last_year, **kw)


def fk(ref: str, phrase: str) -> ColumnSpec:
    """A foreign key to table template ``ref``; ``phrase`` relates child to parent ("working in")."""
    return ColumnSpec(f"{ref}_fk", "fk", phrase, (), ref=ref)


def table(
    key: str,
    names: tuple[str, ...],
    nouns: tuple[str, str],
    rows: tuple[int, int],
    *columns: ColumnSpec,
    link: tuple[str, str] | None = None,
    optional: bool = False,
) -> TableSpec:
    """A table template; ``nouns`` is (singular, plural) as questions say them."""
    return TableSpec(key, names, nouns[0], nouns[1], (pk(), *columns), rows, link, optional)
