"""Intents aimed at Spider's "easy" tier: one table, at most one clause, one aggregate."""

from __future__ import annotations

from collections import Counter

from suites.synth_sql.context import Ctx, Drafted, intent, plural, say
from suites.synth_sql.query import Query, literal
from suites.synth_sql.schema import NUMERIC


@intent("easy")
def count_rows(c: Ctx) -> Drafted:
    t = c.pick(c.db.tables)
    noun = c.noun(t)
    return Query(["count(*)"], t.name), c.say_one(
        "How many {n} are there?", "Count the number of {n}.", "What is the total number of {n}?",
        "How many {n} are recorded?", n=noun)


@intent("easy")
def count_where(c: Ctx) -> Drafted:
    t = c.pick(c.tables(label=False))
    cond = c.cond(t)
    if cond is None:
        return None
    np = c.described(t, cond)
    return Query(["count(*)"], t.name, where=[cond.sql]), c.say_one(
        "How many {np} are there?", "Count the {np}.", "What is the number of {np}?", np=np)


@intent("easy")
def list_where(c: Ctx) -> Drafted:
    t = c.pick(c.tables())
    cond = c.cond(t)
    if cond is None or t.label is None:
        return None
    np = c.described(t, cond)
    lp = plural(c.phrase(t.label))
    return Query([t.label.name], t.name, where=[cond.sql]), c.say_one(
        "What are the {lp} of {np}?", "List the {lp} of all {np}.", "Find the {lp} of {np}.",
        "Give me the {lp} of the {np}.", lp=lp, np=np)


@intent("easy")
def aggregate_all(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int", label=False) + c.tables("real", label=False))
    col = c.pick(c.cols(t, *NUMERIC, nullable=True))
    fn, word = c.agg(col, ("max", "min", "avg", "sum"))
    noun, p = c.noun(t), c.phrase(col)
    return Query([f"{fn}({col.name})"], t.name), c.say_one(
        "What is the {w} {p} of all {n}?", "Find the {w} {p} among {n}.", "What is the {w} {p} across all {n}?",
        w=word, p=p, n=noun)


@intent("easy")
def aggregate_where(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int", label=False) + c.tables("real", label=False))
    col = c.pick(c.cols(t, *NUMERIC, nullable=True))
    cond = c.cond(t, kinds=("cat", "code", "adj", "date"), exclude=[col])
    if cond is None:
        return None
    fn, word = c.agg(col, ("max", "min", "avg", "sum"))
    np, p = c.described(t, cond), c.phrase(col)
    return Query([f"{fn}({col.name})"], t.name, where=[cond.sql]), c.say_one(
        "What is the {w} {p} of {np}?", "Find the {w} {p} for {np}.", "Among {np}, what is the {w} {p}?",
        w=word, p=p, np=np)


@intent("easy")
def distinct_values(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    ps, noun = plural(c.phrase(col)), c.noun(t)
    return Query([col.name], t.name, distinct=True), c.say_one(
        "What are the different {ps} of {n}?", "List the distinct {ps} of all {n}.", "Which {ps} do {n} have?",
        ps=ps, n=noun)


@intent("easy")
def count_distinct(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    ps, noun = plural(c.phrase(col)), c.noun(t)
    return Query([f"count(DISTINCT {col.name})"], t.name), c.say_one(
        "How many different {ps} do {n} have?", "Count the distinct {ps} among {n}.",
        "What is the number of distinct {ps} of {n}?", ps=ps, n=noun)


@intent("easy")
def groups_with_many(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    k = c.group_threshold(list(Counter(t.values(col)).values()))
    if k is None:
        return None
    ps, noun = plural(c.phrase(col)), c.noun(t)
    return Query([col.name], t.name, group_by=[col.name], having=f"count(*) >= {k}"), c.say_one(
        "Which {ps} have at least {k} {n}?", "List the {ps} with {k} or more {n}.",
        "Find the {ps} shared by at least {k} {n}.", ps=ps, k=k, n=noun)


@intent("easy")
def between(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    lo, hi = sorted((c.threshold(t, col), c.threshold(t, col)))
    if lo == hi or t.label is None:
        return None
    lp, p, noun = plural(c.phrase(t.label)), c.phrase(col), c.noun(t)
    q = Query([t.label.name], t.name, where=[f"{col.name} BETWEEN {literal(lo)} AND {literal(hi)}"])
    return q, c.say_one(
        "What are the {lp} of {n} whose {p} is between {lo} and {hi}?",
        "List the {lp} of {n} with a {p} from {lo} to {hi}.", "Which {n} have a {p} between {lo} and {hi}? Give their {lp}.",
        lp=lp, n=noun, p=p, lo=say(lo), hi=say(hi))


@intent("easy")
def alphabetical(c: Ctx) -> Drafted:
    t = c.pick(c.tables())
    assert t.label is not None
    lp, noun = plural(c.phrase(t.label)), c.noun(t)
    desc = c.chance(0.3)
    order = "in reverse alphabetical order" if desc else "in alphabetical order"
    return Query([t.label.name], t.name, order_by=[t.label.name], desc=desc), c.say_one(
        "List the {lp} of all {n} {o}.", "Show every {s} {lp1} {o}.", "What are the {lp} of the {n}, {o}?",
        lp=lp, lp1=c.phrase(t.label), n=noun, s=t.singular, o=order)


@intent("easy")
def sorted_by_number(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    assert t.label is not None
    desc = c.chance()
    lp, p, noun = plural(c.phrase(t.label)), c.phrase(col), c.noun(t)
    way = "from the highest {p} to the lowest" if desc else "from the lowest {p} to the highest"
    return Query([t.label.name], t.name, order_by=[col.name], desc=desc), c.say_one(
        "List the {lp} of {n} " + way + ".", "Sort the {n} by {p}, " + ("descending" if desc else "ascending")
        + ", and give their {lp}.", "Order the {n} by {p} (" + ("highest" if desc else "lowest")
        + " first) and list their {lp}.", lp=lp, n=noun, p=p)


@intent("easy")
def list_all(c: Ctx) -> Drafted:
    t = c.pick(c.tables())
    assert t.label is not None
    lp, noun = plural(c.phrase(t.label)), c.noun(t)
    return Query([t.label.name], t.name), c.say_one(
        "List the {lp} of all {n}.", "What are the {lp} of the {n}?", "Show the {lp} of every {s}.",
        lp=lp, n=noun, s=t.singular)
