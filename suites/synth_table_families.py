"""The question families of synth-table: each turns a table into a question and its hidden SQL.

A family (``Family``) gets an :class:`Ask` (the table, its safe SQL column
names and the table's random stream) and returns ``(question, hidden SQL)``,
or None when it does not apply to the table. ``FAMILIES`` lists them by the
tier their SQL lands in (a family listed twice is drawn twice as often); the
family's name without ``f_`` is the ``family`` column of the export. The
answers come from running the SQL (``suites.synth_table``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suites.synth_table_domains import Table, cell_text


@dataclass
class Ask:
    """What the question families see: the table, its SQL names, and a random source."""

    table: Table
    names: list[str]
    rng: random.Random

    def cols(self, *kinds: str) -> list[int]:
        return [i for i, c in enumerate(self.table.cols) if c.kind in kinds and c.noun]

    def present(self, i: int) -> list[Any]:
        return [r[i] for r in self.table.rows if r[i] is not None]

    def key(self) -> int:
        return next(i for i, c in enumerate(self.table.cols) if c.kind == "key")

    def show(self, value: Any, i: int) -> str:
        return cell_text(value, self.table.cols[i].fmt)

    def lit(self, value: Any, i: int) -> str:
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, dt.date):
            return f"DATE '{value.isoformat()}'"
        return self.show(value, i).replace(",", "")

    def pick_row(self, *need: int) -> list[Any] | None:
        rows = [r for r in self.table.rows if all(r[i] is not None for i in need)]
        return self.rng.choice(rows) if rows else None

    def threshold(self, i: int) -> Any | None:
        values = sorted(set(self.present(i)))
        return self.rng.choice(values[1:-1]) if len(values) >= 4 else None

    def say(self, *variants: str, **fields: str) -> str:
        return self.rng.choice(variants).format(**fields)


Family = Callable[[Ask], "tuple[str, str] | None"]  # (question, hidden SQL) or None when it does not apply


def _num_col(a: Ask, additive: bool = False) -> int | None:
    cols = [i for i in a.cols("num") if a.table.cols[i].additive or not additive]
    return a.rng.choice(cols) if cols else None


def f_lookup(a: Ask) -> tuple[str, str] | None:
    k, c = a.key(), a.rng.choice(a.cols("num", "date", "cat", "text", "rank"))
    row = a.pick_row(c)
    if row is None:
        return None
    q = a.say("What is the {n} of {k}?", "What was {k}'s {n}?", "Tell me the {n} of {k}.",
              n=a.table.cols[c].noun, k=row[k])
    return q, f"SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(row[k], k)}"


def f_extreme(a: Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    high = a.rng.random() < 0.5
    q = a.say("What is the {w} {n}?", "What was the {w} {n} in the table?", w="highest" if high else "lowest",
              n=a.table.cols[c].noun)
    return q, f"SELECT {'MAX' if high else 'MIN'}({a.names[c]}) FROM t"


def f_count_threshold(a: Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    x = a.threshold(c)
    if x is None:
        return None
    above = a.rng.random() < 0.5
    q = a.say("How many {es} have {n} {d} {x}?", "How many {es} had {n} {d} {x}?", es=a.table.entities,
              n=a.table.cols[c].noun, d="above" if above else "below", x=a.show(x, c))
    return q, f"SELECT COUNT(*) FROM t WHERE {a.names[c]} {'>' if above else '<'} {a.lit(x, c)}"


def _cat_value(a: Ask) -> tuple[int, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.rng.choice(cats)
    return c, a.rng.choice(sorted(set(a.present(c))))


def f_count_cat(a: Ask) -> tuple[str, str] | None:
    cv = _cat_value(a)
    if cv is None:
        return None
    c, v = cv
    where = a.table.cat_phrase.format(v=v)
    q = a.say("How many {es} are {w}?", "How many of the {es} are {w}?", "What is the number of {es} {w}?",
              es=a.table.entities, w=where)
    return q, f"SELECT COUNT(*) FROM t WHERE {a.names[c]} = {a.lit(v, c)}"


def f_list_cat(a: Ask) -> tuple[str, str] | None:
    cv = _cat_value(a)
    if cv is None:
        return None
    c, v = cv
    q = a.say("Which {es} are {w}?", "List the {es} {w}.", es=a.table.entities, w=a.table.cat_phrase.format(v=v))
    return q, f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} = {a.lit(v, c)}"


def f_count_distinct(a: Ask) -> tuple[str, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.rng.choice(cats)
    q = a.say("How many different {p} are listed?", "How many distinct {p} appear in the table?", p=a.table.cols[c].plural)
    return q, f"SELECT COUNT(DISTINCT {a.names[c]}) FROM t"


def _sum(a: Ask, c: int, inner: str) -> str:
    return f"ROUND({inner}, 2)" if a.table.cols[c].fmt.startswith("float") else inner


def f_sum_cat(a: Ask) -> tuple[str, str] | None:
    cv, c = _cat_value(a), _num_col(a, additive=True)
    if cv is None or c is None:
        return None
    cat, v = cv
    q = a.say("What is the total {n} of {es} {w}?", "What is the combined {n} of the {es} {w}?",
              n=a.table.cols[c].noun, es=a.table.entities, w=a.table.cat_phrase.format(v=v))
    return q, f"SELECT {_sum(a, c, f'SUM({a.names[c]})')} FROM t WHERE {a.names[cat]} = {a.lit(v, cat)}"


def f_list_threshold(a: Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    x = a.threshold(c)
    if x is None:
        return None
    q = a.say("Which {es} have {n} above {x}?", "List the {es} with {n} greater than {x}.",
              es=a.table.entities, n=a.table.cols[c].noun, x=a.show(x, c))
    return q, f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} > {a.lit(x, c)}"


def f_argmax(a: Ask) -> tuple[str, str] | None:
    c = a.rng.choice(a.cols("num", "date"))
    high = a.rng.random() < 0.5
    word = ("latest" if high else "earliest") if a.table.cols[c].kind == "date" else ("highest" if high else "lowest")
    q = a.say("Which {e} has the {w} {n}?", "Which {e} had the {w} {n}?", e=a.table.entity, w=word, n=a.table.cols[c].noun)
    return q, (f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} = "
               f"(SELECT {'MAX' if high else 'MIN'}({a.names[c]}) FROM t)")


def f_compare_two(a: Ask) -> tuple[str, str] | None:
    c, k = _num_col(a), a.key()
    rows = [r for r in a.table.rows if r[c] is not None]
    if len(rows) < 2:
        return None
    r1, r2 = a.rng.sample(rows, 2)
    if r1[c] == r2[c]:
        return None
    q = a.say("Which has higher {n}, {x} or {y}?", "Which is greater in {n}: {x} or {y}?",
              n=a.table.cols[c].noun, x=r1[k], y=r2[k])
    return q, (f"SELECT {a.names[k]} FROM t WHERE {a.names[k]} IN ({a.lit(r1[k], k)}, {a.lit(r2[k], k)}) "
               f"ORDER BY {a.names[c]} DESC LIMIT 1")


def f_count_two(a: Ask) -> tuple[str, str] | None:
    cv, c = _cat_value(a), _num_col(a)
    x = a.threshold(c) if c is not None else None
    if cv is None or x is None:
        return None
    cat, v = cv
    q = a.say("How many {es} {w} have {n} above {x}?", es=a.table.entities, w=a.table.cat_phrase.format(v=v),
              n=a.table.cols[c].noun, x=a.show(x, c))
    return q, f"SELECT COUNT(*) FROM t WHERE {a.names[cat]} = {a.lit(v, cat)} AND {a.names[c]} > {a.lit(x, c)}"


def f_range(a: Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    q = a.say("What is the difference between the highest and the lowest {n}?",
              "How far apart are the largest and smallest {n}?", n=a.table.cols[c].noun)
    return q, f"SELECT {_sum(a, c, f'MAX({a.names[c]}) - MIN({a.names[c]})')} FROM t"


def f_above_average(a: Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    q = a.say("Which {es} have above-average {n}?", "List the {es} whose {n} is higher than average.",
              es=a.table.entities, n=a.table.cols[c].noun)
    return q, f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} > (SELECT AVG({a.names[c]}) FROM t)"


def f_top_group(a: Ask) -> tuple[str, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.rng.choice(cats)
    counts = sorted(_group_counts(a, c).values(), reverse=True)
    if len(counts) < 2 or counts[0] == counts[1]:
        return None
    q = a.say("Which {c} has the most {es}?", "Which {c} appears most often?", c=a.table.cols[c].noun, es=a.table.entities)
    return q, f"SELECT {a.names[c]} FROM t GROUP BY {a.names[c]} ORDER BY COUNT(*) DESC LIMIT 1"


def _group_counts(a: Ask, c: int) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for v in a.present(c):
        counts[v] = counts.get(v, 0) + 1
    return counts


def f_how_many_more(a: Ask) -> tuple[str, str] | None:
    c, k = _num_col(a, additive=True), a.key()
    rows = [r for r in a.table.rows if c is not None and r[c] is not None]
    if len(rows) < 2:
        return None
    r1, r2 = sorted(a.rng.sample(rows, 2), key=lambda r: r[c], reverse=True)
    if r1[c] == r2[c]:
        return None
    q = a.say("How much higher was the {n} of {x} than that of {y}?", "By how much did {x} exceed {y} in {n}?",
              n=a.table.cols[c].noun, x=r1[k], y=r2[k])
    inner = (f"(SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(r1[k], k)}) - "
             f"(SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(r2[k], k)})")
    return q, f"SELECT {_sum(a, c, inner)}"


def f_argmax_in_cat(a: Ask) -> tuple[str, str] | None:
    cv, c = _cat_value(a), _num_col(a)
    if cv is None:
        return None
    cat, v = cv
    high = a.rng.random() < 0.5
    agg, cond = ("MAX" if high else "MIN"), f"{a.names[cat]} = {a.lit(v, cat)}"
    q = a.say("Among the {es} {w}, which has the {h} {n}?", "Of the {es} {w}, which had the {h} {n}?",
              es=a.table.entities, w=a.table.cat_phrase.format(v=v), h="highest" if high else "lowest",
              n=a.table.cols[c].noun)
    return q, (f"SELECT {a.names[a.key()]} FROM t WHERE {cond} AND {a.names[c]} = "
               f"(SELECT {agg}({a.names[c]}) FROM t WHERE {cond})")


def f_count_beyond_row(a: Ask) -> tuple[str, str] | None:
    c, k = _num_col(a), a.key()
    row = a.pick_row(c)
    if row is None:
        return None
    q = a.say("How many {es} have higher {n} than {x}?", "How many {es} exceed {x} in {n}?",
              es=a.table.entities, n=a.table.cols[c].noun, x=row[k])
    return q, (f"SELECT COUNT(*) FROM t WHERE {a.names[c]} > "
               f"(SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(row[k], k)})")


def f_next_rank(a: Ask) -> tuple[str, str] | None:
    ranks, k = a.cols("rank"), a.key()
    if not ranks:
        return None
    r = ranks[0]
    row = a.rng.choice(a.table.rows[:-1])
    q = a.say("Which {e} finished right after {x}?", "Who was ranked directly below {x}?", e=a.table.entity, x=row[k])
    return q, (f"SELECT {a.names[k]} FROM t WHERE {a.names[r]} = "
               f"(SELECT {a.names[r]} FROM t WHERE {a.names[k]} = {a.lit(row[k], k)}) + 1")


def f_second_highest(a: Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    n = a.names[c]
    q = a.say("Which {e} has the second highest {n}?", "Which {e} ranks second by {n}?",
              e=a.table.entity, n=a.table.cols[c].noun)
    return q, (f"SELECT {a.names[a.key()]} FROM t WHERE {n} = "
               f"(SELECT MAX({n}) FROM t WHERE {n} < (SELECT MAX({n}) FROM t))")


def f_group_most(a: Ask) -> tuple[str, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.names[a.rng.choice(cats)]
    q = a.say("Which {c} has the largest number of {es}?", c=a.table.cols[a.names.index(c)].noun, es=a.table.entities)
    return q, (f"SELECT {c} FROM t GROUP BY {c} HAVING COUNT(*) = "
               f"(SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM t GROUP BY {c}))")


FAMILIES: dict[str, list[Family]] = {
    "easy": [f_lookup, f_lookup, f_extreme, f_count_threshold, f_count_cat, f_list_cat, f_count_distinct,
             f_sum_cat, f_list_threshold],
    "medium": [f_argmax, f_argmax, f_compare_two, f_count_two, f_range, f_above_average, f_top_group],
    "hard": [f_how_many_more, f_argmax_in_cat, f_count_beyond_row, f_next_rank, f_second_highest, f_group_most],
}
