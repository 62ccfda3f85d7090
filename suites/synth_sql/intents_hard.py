"""Intents aimed at Spider's "hard" tier: one nested query or set operation, or three clauses."""

from __future__ import annotations

from collections import Counter

from suites.synth_sql.context import (
    Ctx,
    Drafted,
    NoCandidate,
    intent,
    join_from,
    link_from,
    plural,
    verbal,
)
from suites.synth_sql.query import Query
from suites.synth_sql.schema import NUMERIC


@intent("hard")
def compared_to_average(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    assert t.label is not None
    above = c.chance(0.6)
    c.note(f"average {col.phrase} refers to AVG({col.name})")
    sub = Query([f"avg({col.name})"], t.name)
    q = Query([t.label.name], t.name, where=[f"{col.name} {'>' if above else '<'} {sub.subquery()}"], nested=[sub])
    lp, p, noun = plural(c.phrase(t.label)), c.phrase(col), c.noun(t)
    side = "above" if above else "below"
    return q, c.say_one(
        "Which {n} have a {p} {side} the average? Give their {lp}.",
        "List the {lp} of {n} whose {p} is " + ("higher" if above else "lower") + " than the average {p} of all {n}.",
        "What are the {lp} of {n} with a {side}-average {p}?", n=noun, p=p, side=side, lp=lp)


@intent("hard")
def parents_without_children(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    assert parent.label is not None
    sub = Query([fk.name], child.name)
    q = Query([parent.label.name], parent.name, where=[f"{parent.pk.name} NOT IN {sub.subquery()}"], nested=[sub])
    plp, pn, n = plural(c.phrase(parent.label)), c.noun(parent), c.noun(child)
    templates = ["Which {pn} have no {n}? List their {plp}.", "List the {plp} of {pn} without any {n}."]
    if verbal(fk.phrase):
        templates.append("Find the {plp} of {pn} that no {s} is {r}.")
    return q, c.say_one(*templates, pn=pn, n=n, plp=plp, s=child.singular, r=fk.phrase)


@intent("hard")
def parents_with_described_children(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    assert parent.label is not None
    cond = c.cond(child, kinds=("cat", "code", "adj", "num"))
    if cond is None:
        return None
    sub = Query([fk.name], child.name, where=[cond.sql])
    q = Query([parent.label.name], parent.name, where=[f"{parent.pk.name} IN {sub.subquery()}"], nested=[sub])
    plp, pn, cnp = plural(c.phrase(parent.label)), c.noun(parent), c.described(child, cond)
    return q, c.say_one(
        "Which {pn} have {cnp}? Give their {plp}.", "List the {plp} of {pn} that have {cnp}.",
        "Find the {plp} of the {pn} with some {cnp}.", pn=pn, cnp=cnp, plp=plp)


@intent("hard")
def groups_with_both(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    first = c.cond(t, kinds=("code", "adj", "num", "cat"), exclude=[col])
    if first is None:
        return None
    second = c.cond(t, kinds=("code", "adj", "num", "cat"), exclude=[col, first.column])
    if second is None:
        return None
    q = Query([col.name], t.name, where=[first.sql], set_op="INTERSECT",
              other=Query([col.name], t.name, where=[second.sql]))
    ps = plural(c.phrase(col))
    a, b = c.described(t, first), c.described(t, second)
    return q, c.say_one(
        "Which {ps} have both {a} and {b}?", "List the {ps} that have {a} as well as {b}.",
        "Find the {ps} shared by {a} and by {b}.", ps=ps, a=a, b=b)


@intent("hard")
def groups_without(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    cond = c.cond(t, kinds=("code", "adj", "num", "cat"), exclude=[col])
    if cond is None:
        return None
    q = Query([col.name], t.name, set_op="EXCEPT", other=Query([col.name], t.name, where=[cond.sql]))
    ps, noun, np = plural(c.phrase(col)), c.noun(t), c.described(t, cond)
    return q, c.say_one(
        "Which {ps} of {n} have no {np}?", "List the {ps} of {n} that have no {np}.",
        "Find the {ps} of {n} for which there are no {np}.", ps=ps, n=noun, np=np)


@intent("hard")
def most_common(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    desc = c.chance(0.7)
    word = "most" if desc else "least"
    c.note(f"the {word} common {col.phrase} refers to {'MAX' if desc else 'MIN'}(COUNT({col.name}))")
    q = Query([col.name], t.name, group_by=[col.name], order_by=["count(*)"], desc=desc, limit=1)
    p, noun = c.phrase(col), c.noun(t)
    return q, c.say_one(
        "Which {p} is the {w} common among {n}?", "What is the {w} frequent {p} of {n}?",
        "Which {p} has the " + ("most" if desc else "fewest") + " {n}?", p=p, w=word, n=noun)


@intent("hard")
def superlative_where(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    cond = c.cond(t, kinds=("cat", "code", "adj"), exclude=[col])
    if cond is None or t.label is None:
        return None
    desc = c.chance(0.6)
    most = "highest" if desc else "lowest"
    c.note(f"{most} {col.phrase} refers to {'MAX' if desc else 'MIN'}({col.name})")
    q = Query([t.label.name], t.name, where=[cond.sql], order_by=[col.name], desc=desc, limit=1)
    lp, p, np, s = c.phrase(t.label), c.phrase(col), c.described(t, cond), t.singular
    return q, c.say_one(
        "Among {np}, which one has the {m} {p}? Give the {lp}.", "What is the {lp} of the {s} with the {m} {p} among {np}?",
        "Of all {np}, which has the {m} {p}? Show its {lp}.", np=np, m=most, p=p, lp=lp, s=s)


@intent("hard")
def children_of_parent_sorted(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks())
    col = c.pick(c.cols(child, *NUMERIC))
    assert child.label is not None
    cond, v = c.label_is(parent, "T2", c.parent_with_children(child, fk, parent))
    desc = c.chance()
    q = Query([f"T1.{child.label.name}"], join_from(child, fk, parent), where=[cond], order_by=[f"T1.{col.name}"],
              desc=desc)
    lp, n, p = plural(c.phrase(child.label)), c.noun(child), c.phrase(col)
    way = "from the highest {p} to the lowest" if desc else "from the lowest {p} to the highest"
    return q, c.say_one(
        "List the {lp} of the {n} {r} the {s} {v}, " + way + ".",
        "Sort the {n} {r} {v} by {p}, " + ("descending" if desc else "ascending") + ", and show their {lp}.",
        lp=lp, n=n, r=fk.phrase, s=parent.singular, v=v, p=p)


@intent("hard")
def three_statistics(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int", label=False) + c.tables("real", label=False))
    col = c.pick(c.cols(t, *NUMERIC, nullable=True))
    first = c.cond(t, kinds=("cat", "code", "adj"), exclude=[col])
    if first is None:
        return None
    second = c.cond(t, kinds=("cat", "num", "date"), exclude=[col, first.column])
    if second is None:
        return None
    noun = c.noun(t)
    np = f"{first.pre} {noun} {second.text}" if first.pre else f"{noun} {first.text} and {second.text}"
    p = c.phrase(col)
    q = Query([f"max({col.name})", f"min({col.name})", f"avg({col.name})"], t.name, where=[first.sql, second.sql])
    return q, c.say_one(
        "What are the maximum, minimum and average {p} of {np}?", "Give the highest, lowest and mean {p} among {np}.",
        "For {np}, find the largest, the smallest and the average {p}.", p=p, np=np)


@intent("hard")
def linked_to(c: Ctx) -> Drafted:
    link, fk_a, a, fk_b, b = c.pick(c.links())
    assert a.label is not None and b.label is not None and link.spec.link is not None
    ab, ba = link.spec.link
    if c.chance():  # A rows linked to one B row
        cond, v = c.label_is(b, "T3", c.parent_with_children(link, fk_b, b))
        q = Query([f"T1.{a.label.name}"], link_from(a, fk_a, link, fk_b, b), where=[cond])
        lp, n = plural(c.phrase(a.label)), c.noun(a)
        return q, c.say_one("Which {n} {v_ab} the {s} {v}? Give their {lp}.", "List the {lp} of {n} that {v_ab} {v}.",
                            n=n, v_ab=ab, s=b.singular, v=v, lp=lp)
    cond, v = c.label_is(a, "T1", c.parent_with_children(link, fk_a, a))
    q = Query([f"T3.{b.label.name}"], link_from(a, fk_a, link, fk_b, b), where=[cond])
    lp, n = plural(c.phrase(b.label)), c.noun(b)
    return q, c.say_one("Which {n} are {v_ba} the {s} {v}? Give their {lp}.", "List the {lp} of the {n} {v_ba} {v}.",
                        n=n, v_ba=ba, s=a.singular, v=v, lp=lp)


@intent("hard")
def count_described_per_parent(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    assert parent.label is not None
    cond = c.cond(child, "T1", kinds=("cat", "code", "adj", "num"))
    if cond is None:
        return None
    q = Query([f"T2.{parent.label.name}", "count(*)"], join_from(child, fk, parent), where=[cond.sql],
              group_by=[f"T1.{fk.name}"])
    plp, ps, cnp = c.phrase(parent.label), c.noun(parent, plural=False), c.described(child, cond)
    return q, c.say_one(
        "For each {ps}, how many {cnp} are there? Show the {plp} and the count.",
        "Count the {cnp} per {ps}, listing the {plp} of each {ps}.", ps=ps, cnp=cnp, plp=plp)


@intent("hard")
def children_of_busiest_parent(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks())
    assert child.label is not None
    counts = Counter(child.values(fk)).most_common(2)
    if len(counts) < 2 or counts[0][1] == counts[1][1]:
        raise NoCandidate
    c.note(f"the {parent.singular} with the most {child.plural} refers to MAX(COUNT({fk.name}))")
    sub = Query([fk.name], child.name, group_by=[fk.name], order_by=["count(*)"], desc=True, limit=1)
    q = Query([child.label.name], child.name, where=[f"{fk.name} = {sub.subquery()}"], nested=[sub])
    lp, n, ps = plural(c.phrase(child.label)), c.noun(child), c.noun(parent, plural=False)
    return q, c.say_one(
        "List the {lp} of the {n} {r} the {ps} with the most {n}.",
        "What are the {lp} of all {n} {r} the {ps} that has the largest number of {n}?", lp=lp, n=n, r=fk.phrase, ps=ps)
