"""A gold query kept in parts, so its SQL and its determinism probes come from one place.

Only SQL the official Spider parser accepts is produced: ``AS`` table aliases
(``T1``, ``T2``...), no column aliases, no LEFT JOIN, no quoted identifiers,
one ORDER BY direction, uncorrelated subqueries.

>>> q = Query(["name"], "employee", where=["salary > 50000"], order_by=["salary"], desc=True, limit=1)
>>> q.sql()
'SELECT name FROM employee WHERE salary > 50000 ORDER BY salary DESC LIMIT 1'
>>> q.probe_sql()
'SELECT name, salary FROM employee WHERE salary > 50000 ORDER BY salary DESC'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


def literal(value: Any) -> str:
    """A value as a SQL literal.

    >>> literal("Lyon"), literal(3.5), literal(40.0), literal(7)
    ("'Lyon'", '3.5', '40', '7')
    """
    if isinstance(value, str):
        assert "'" not in value and '"' not in value, value
        return f"'{value}'"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Query:
    select: list[str]
    from_: str
    where: list[str] = field(default_factory=list)
    conj: str = "AND"
    group_by: list[str] = field(default_factory=list)
    having: str = ""
    order_by: list[str] = field(default_factory=list)
    desc: bool = False
    limit: int | None = None
    distinct: bool = False
    set_op: str = ""  # INTERSECT, EXCEPT or UNION, with ``other``
    other: Query | None = None
    nested: list[Query] = field(default_factory=list)  # subqueries inside the conditions

    def core_sql(self, select: list[str] | None = None, *, limit: bool = True) -> str:
        parts = ["SELECT", *(["DISTINCT"] if self.distinct else []), ", ".join(select or self.select),
                 "FROM", self.from_]
        if self.where:
            parts += ["WHERE", f" {self.conj} ".join(self.where)]
        if self.group_by:
            parts += ["GROUP BY", ", ".join(self.group_by)]
        if self.having:
            parts += ["HAVING", self.having]
        if self.order_by:
            parts += ["ORDER BY", ", ".join(o + (" DESC" if self.desc else "") for o in self.order_by)]
        if limit and self.limit is not None:
            parts += ["LIMIT", str(self.limit)]
        return " ".join(parts)

    def sql(self) -> str:
        if self.set_op:
            assert self.other is not None
            return f"{self.core_sql()} {self.set_op} {self.other.sql()}"
        return self.core_sql()

    def probe_sql(self) -> str:
        """The rows in order with their ORDER BY keys appended, without LIMIT: ties show up here."""
        return self.core_sql(self.select + self.order_by, limit=False)

    def ordered_parts(self) -> Iterator[Query]:
        """This query and every subquery or set-operation operand that has an ORDER BY."""
        if self.order_by:
            yield self
        for sub in self.nested:
            yield from sub.ordered_parts()
        if self.other is not None:
            yield from self.other.ordered_parts()

    def subquery(self) -> str:
        return f"({self.sql()})"
