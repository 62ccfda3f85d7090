"""What question templates (intents) work with: the database, phrasing helpers, evidence notes.

An intent is a function ``(Ctx) -> (Query, question) | None`` registered with
:func:`intent` under the Spider hardness it aims at; it returns None (or raises
:class:`NoCandidate`) when the database lacks what it needs. The hardness a
question ends up with is always measured, never taken from this label.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from suites.synth_sql.query import Query, literal
from suites.synth_sql.schema import NUMERIC, Column, Database, Table

T = TypeVar("T")

COMPARE = {
    ">": ("whose {p} is greater than {v}", "with a {p} above {v}", "with {p} over {v}"),
    "<": ("whose {p} is less than {v}", "with a {p} below {v}", "with {p} under {v}"),
    ">=": ("whose {p} is at least {v}", "with a {p} of {v} or more"),
    "<=": ("whose {p} is at most {v}", "with a {p} of {v} or less"),
}


class NoCandidate(Exception):
    """The database has nothing this intent can ask about."""


@dataclass
class Cond:
    """A filter: its SQL, a phrase after the noun, and optionally an adjective before it."""

    sql: str
    text: str
    pre: str = ""
    column: Column | None = None


Drafted = tuple[Query, str] | None
Intent = Callable[["Ctx"], Drafted]
INTENTS: list[tuple[str, str, Intent]] = []  # (tier aimed at, name, function)


def intent(tier: str) -> Callable[[Intent], Intent]:
    """Register an intent aimed at ``tier``."""

    def register(fn: Intent) -> Intent:
        INTENTS.append((tier, fn.__name__, fn))
        return fn

    return register


def say(value: Any) -> str:
    """A value as a question writes it.

    >>> say(4.0), say(3.25), say("Lyon")
    ('4', '3.25', 'Lyon')
    """
    return literal(value).strip("'")


class Ctx:
    """One database and a random stream; collects the evidence notes of the draft being built."""

    def __init__(self, db: Database, rng: random.Random):
        self.db, self.rng = db, rng
        self.notes: list[str] = []

    # -- randomness ----------------------------------------------------------
    def pick(self, seq: Sequence[T]) -> T:
        if not seq:
            raise NoCandidate
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def say_one(self, *templates: str, **fields: Any) -> str:
        """One of the phrasings, filled in; the first letter capitalised, "a" before a vowel made "an".

        >>> Ctx(None, random.Random(0)).say_one("with a {p} below {v}", p="age", v=3)
        'With an age below 3'
        """
        text = re.sub(r"\ba (?=years of )", "", self.pick(templates).format(**fields))
        text = re.sub(r"\ba (?=[aeiou])", "an ", text)
        return text[0].upper() + text[1:]

    # -- evidence ------------------------------------------------------------
    def note(self, text: str) -> None:
        if text and text not in self.notes:
            self.notes.append(text)

    def evidence(self) -> str:
        return "; ".join(self.notes)

    def noun(self, table: Table, plural: bool = True) -> str:
        """The table's noun; notes the mapping when the table is named otherwise."""
        if table.name not in (table.singular, table.plural):
            self.note(f"{table.plural} refers to the {table.name} table")
        return table.plural if plural else table.singular

    def phrase(self, col: Column) -> str:
        if col.phrase.replace(" ", "_").lower() != col.name.lower():
            self.note(f"{col.phrase} refers to {col.name}")
        return col.phrase

    # -- schema --------------------------------------------------------------
    def cols(self, table: Table, *kinds: str, nullable: bool = False) -> list[Column]:
        return [c for c in table.columns if c.kind in kinds and (nullable or not c.nullable)]

    def tables(self, *kinds: str, nullable: bool = False, label: bool = True) -> list[Table]:
        """Tables with a column of each kind in ``kinds`` (and a label column unless ``label`` is False)."""
        return [t for t in self.db.tables if (t.label or not label)
                and all(self.cols(t, k, nullable=nullable) for k in kinds)]

    def fks(self, child_label: bool = True) -> list[tuple[Table, Column, Table]]:
        """(child, foreign key, parent) for every parent that has a label column."""
        out = []
        for child in self.db.tables:
            for col in child.foreign_keys():
                parent = self.db.table(col.ref)
                if parent.label and (child.label or not child_label):
                    out.append((child, col, parent))
        return out

    def links(self) -> list[tuple[Table, Column, Table, Column, Table]]:
        """(link table, fk to A, A, fk to B, B) for tables relating two labelled parents."""
        out = []
        for t in self.db.tables:
            fks = t.foreign_keys()
            if t.spec.link and len(fks) == 2:
                a, b = (self.db.table(c.ref) for c in fks)
                if a.label and b.label:
                    out.append((t, fks[0], a, fks[1], b))
        return out

    # -- values --------------------------------------------------------------
    def value(self, table: Table, col: Column) -> Any:
        return self.pick(table.values(col))

    def threshold(self, table: Table, col: Column) -> Any:
        """A present value from the middle of the column's distribution."""
        values = sorted(table.values(col))
        return values[self.rng.randint(len(values) // 5, (4 * len(values)) // 5)]

    # -- conditions ----------------------------------------------------------
    def cond(self, table: Table, alias: str = "", kinds: Sequence[str] = ("cat", "code", "num", "adj", "date"),
             exclude: Sequence[Column | None] = ()) -> Cond | None:
        """A random filter on ``table`` of one of ``kinds`` (num: a comparison, adj: a domain adjective)."""
        options = []
        for col in table.columns:
            if col in exclude:
                continue
            if col.kind in ("cat", "code", "date") and col.kind in kinds:
                options.append((col.kind, col))
            if col.kind in NUMERIC and "num" in kinds:
                options.append(("num", col))
            if col.kind in NUMERIC and "adj" in kinds and col.spec.adjectives:
                options += [("adj", col)] * 2
        if not options:
            return None
        kind, col = self.pick(options)
        ref = f"{alias}.{col.name}" if alias else col.name
        if kind == "cat":
            v = self.value(table, col)
            p = self.phrase(col)
            self.note(f"{p} {v} refers to {col.name} = {literal(v)}")
            return Cond(f"{ref} = {literal(v)}", self.pick((f"whose {p} is {v}", f"with {p} {v}")), column=col)
        if kind == "code":
            v = self.value(table, col)
            word = dict(col.spec.choices)[v]
            self.note(f"{word} refers to {col.name} = {literal(v)}")
            return Cond(f"{ref} = {literal(v)}", f"that are {word}", word, col)
        if kind == "adj":
            adj = self.pick(col.spec.adjectives)
            self.note(f"{adj.word} refers to {col.name} {adj.op} {literal(adj.value)}")
            return Cond(f"{ref} {adj.op} {literal(adj.value)}", f"that are {adj.word}", adj.word, col)
        if kind == "date":
            v = self.threshold(table, col)
            op, word = self.pick(((">", "after"), ("<", "before")))
            return Cond(f"{ref} {op} {literal(v)}", f"with a {self.phrase(col)} {word} {v}", column=col)
        op = self.pick(list(COMPARE))
        v = self.threshold(table, col)
        text = self.pick(COMPARE[op]).format(p=self.phrase(col), v=say(v))
        return Cond(f"{ref} {op} {literal(v)}", text, column=col)

    def described(self, table: Table, cond: Cond) -> str:
        """The plural noun restricted by ``cond``: "senior customers" or "customers whose city is Lyon"."""
        noun = self.noun(table)
        if cond.pre and self.chance(0.6):
            return f"{cond.pre} {noun}"
        return f"{noun} {cond.text}"

    # -- composite helpers ---------------------------------------------------
    def label_is(self, table: Table, alias: str = "", value: Any = None) -> tuple[str, Any]:
        """(SQL condition, value) naming one row of ``table`` by its label."""
        col = table.label
        assert col is not None
        v = self.value(table, col) if value is None else value
        self.note(f"the {table.singular} {v} refers to {col.name} = {literal(v)}")
        return f"{alias + '.' if alias else ''}{col.name} = {literal(v)}", v

    def parent_with_children(self, child: Table, fk: Column, parent: Table) -> Any:
        """The label of a parent row that some child row references."""
        pk = self.pick(child.values(fk))
        label = parent.label
        assert label is not None
        return next(row[parent.columns.index(label)] for row in parent.rows if row[0] == pk)

    def agg(self, col: Column, aggs: Sequence[str] = ("max", "min", "avg")) -> tuple[str, str]:
        """(function, word) for an aggregate over ``col``, noted in the evidence."""
        fn = self.pick([a for a in aggs if a != "sum" or col.spec.key in ADDITIVE] or ["max"])
        word = self.pick(AGG_WORDS[fn])
        self.note(f"{word} {col.phrase} refers to {fn.upper()}({col.name})")
        return fn, word

    def group_threshold(self, counts: Sequence[int]) -> int | None:
        """A count k such that some but not all groups have at least k members."""
        options = sorted({c for c in counts if c > min(counts)})
        return self.pick(options) if options else None


AGG_WORDS = {"max": ("maximum", "highest"), "min": ("minimum", "lowest"), "avg": ("average", "mean"),
             "sum": ("total",)}
ADDITIVE = frozenset("""salary budget quantity stock pages days fee fare copies_sold plays goals attendance hours
bonus price credits capacity seats calories home_goals runways distance duration runtime""".split())


def plural(word: str) -> str:
    """English plural of a noun phrase.

    >>> plural("city"), plural("seat class"), plural("title"), plural("day")
    ('cities', 'seat classes', 'titles', 'days')
    >>> plural("number of runways"), plural("length in seconds"), plural("weekly hours")
    ('number of runways', 'lengths in seconds', 'weekly hours')
    """
    if " in " in word:
        head, tail = word.split(" in ", 1)
        return f"{plural(head)} in {tail}"
    if word.startswith(("number of ", "years of ")) or (word.endswith("s") and not word.endswith("ss")):
        return word
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def verbal(relation: str) -> bool:
    """True for a relation phrase that reads after "is" ("working in"), not a bare preposition ("of").

    >>> verbal("written by"), verbal("of")
    (True, False)
    """
    return " " in relation or relation.endswith(("ed", "ing"))


def join_from(child: Table, fk: Column, parent: Table, a: str = "T1", b: str = "T2") -> str:
    """``child AS T1 JOIN parent AS T2 ON T1.fk = T2.pk``."""
    return f"{child.name} AS {a} JOIN {parent.name} AS {b} ON {a}.{fk.name} = {b}.{parent.pk.name}"


def link_from(a: Table, fk_a: Column, link: Table, fk_b: Column, b: Table) -> str:
    """A JOIN link JOIN B, aliased T1, T2, T3."""
    return (f"{a.name} AS T1 JOIN {link.name} AS T2 ON T1.{a.pk.name} = T2.{fk_a.name} "
            f"JOIN {b.name} AS T3 ON T2.{fk_b.name} = T3.{b.pk.name}")
