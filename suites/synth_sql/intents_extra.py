"""Intents aimed at Spider's "extra" tier: joins, grouping, nesting and set operations combined."""

from __future__ import annotations

from suites.synth_sql.context import ADDITIVE, Ctx, Drafted, intent, join_from, link_from, plural
from suites.synth_sql.query import Query
from suites.synth_sql.schema import NUMERIC


@intent("extra")
def busiest_parent(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    assert parent.label is not None
    totals = [col for col in c.cols(child, *NUMERIC) if col.spec.key in ADDITIVE]
    plp, ps, n = c.phrase(parent.label), c.noun(parent, plural=False), c.noun(child)
    if totals and c.chance(0.4):
        col = c.pick(totals)
        p = c.phrase(col)
        c.note(f"the highest total {col.phrase} refers to MAX(SUM({col.name}))")
        q = Query([f"T2.{parent.label.name}"], join_from(child, fk, parent), group_by=[f"T1.{fk.name}"],
                  order_by=[f"sum(T1.{col.name})"], desc=True, limit=1)
        return q, c.say_one(
            "Which {ps} has the highest total {p} of {n}? Give the {plp}.",
            "What is the {plp} of the {ps} whose {n} have the largest total {p}?", ps=ps, p=p, n=n, plp=plp)
    c.note(f"the most {child.plural} refers to MAX(COUNT({fk.name}))")
    q = Query([f"T2.{parent.label.name}"], join_from(child, fk, parent), group_by=[f"T1.{fk.name}"],
              order_by=["count(*)"], desc=True, limit=1)
    return q, c.say_one(
        "Which {ps} has the most {n}? Give the {plp}.", "What is the {plp} of the {ps} with the largest number of {n}?",
        "Name the {ps} that has the most {n}.", ps=ps, n=n, plp=plp)


@intent("extra")
def children_above_average(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks())
    col = c.pick(c.cols(child, *NUMERIC))
    assert child.label is not None
    cond, v = c.label_is(parent, "T2", c.parent_with_children(child, fk, parent))
    c.note(f"average {col.phrase} refers to AVG({col.name})")
    sub = Query([f"avg({col.name})"], child.name)
    q = Query([f"T1.{child.label.name}"], join_from(child, fk, parent),
              where=[cond, f"T1.{col.name} > {sub.subquery()}"], nested=[sub])
    lp, n, p = plural(c.phrase(child.label)), c.noun(child), c.phrase(col)
    return q, c.say_one(
        "Which {n} {r} the {s} {v} have a {p} above the average {p} of all {n}? Give their {lp}.",
        "List the {lp} of {n} {r} {v} whose {p} is higher than the average over all {n}.",
        n=n, r=fk.phrase, s=parent.singular, v=v, p=p, lp=lp)


def _child_conditions(c: Ctx) -> tuple:
    child, fk, parent = c.pick(c.fks(child_label=False))
    first = c.cond(child, "T1", kinds=("cat", "code", "adj", "num"))
    second = c.cond(child, "T1", kinds=("cat", "code", "adj", "num"), exclude=[first.column] if first else [])
    return child, fk, parent, first, second


@intent("extra")
def parents_with_both(c: Ctx) -> Drafted:
    child, fk, parent, first, second = _child_conditions(c)
    if first is None or second is None or parent.label is None:
        return None
    select = [f"T2.{parent.label.name}"]
    q = Query(select, join_from(child, fk, parent), where=[first.sql], set_op="INTERSECT",
              other=Query(select, join_from(child, fk, parent), where=[second.sql]))
    plp, pn = plural(c.phrase(parent.label)), c.noun(parent)
    a, b = c.described(child, first), c.described(child, second)
    return q, c.say_one(
        "Which {pn} have both {a} and {b}? Give their {plp}.", "List the {plp} of {pn} with {a} as well as {b}.",
        pn=pn, a=a, b=b, plp=plp)


@intent("extra")
def parents_with_but_not(c: Ctx) -> Drafted:
    child, fk, parent, first, second = _child_conditions(c)
    if first is None or second is None or parent.label is None:
        return None
    select = [f"T2.{parent.label.name}"]
    q = Query(select, join_from(child, fk, parent), where=[first.sql], set_op="EXCEPT",
              other=Query(select, join_from(child, fk, parent), where=[second.sql]))
    plp, pn = plural(c.phrase(parent.label)), c.noun(parent)
    a, b = c.described(child, first), c.described(child, second)
    return q, c.say_one(
        "Which {pn} have {a} but no {b}? Give their {plp}.", "List the {plp} of {pn} with {a} and without {b}.",
        pn=pn, a=a, b=b, plp=plp)


@intent("extra")
def most_common_where(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    cond = c.cond(t, kinds=("code", "adj", "num", "date"), exclude=[col])
    if cond is None:
        return None
    c.note(f"the most common {col.phrase} refers to MAX(COUNT({col.name}))")
    q = Query([col.name], t.name, where=[cond.sql], group_by=[col.name], order_by=["count(*)"], desc=True, limit=1)
    p, np = c.phrase(col), c.described(t, cond)
    return q, c.say_one(
        "Among {np}, which {p} is the most common?", "What is the most frequent {p} among {np}?",
        "Which {p} do most {np} have?", np=np, p=p)


@intent("extra")
def group_average_sorted(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", "int", label=False) + c.tables("cat", "real", label=False))
    group, col = c.pick(c.cols(t, "cat")), c.pick(c.cols(t, *NUMERIC))
    c.note(f"average {col.phrase} refers to AVG({col.name})")
    desc = c.chance(0.7)
    q = Query([group.name, f"avg({col.name})"], t.name, group_by=[group.name], order_by=[f"avg({col.name})"], desc=desc)
    g, p, noun = c.phrase(group), c.phrase(col), c.noun(t)
    way = "from the highest average to the lowest" if desc else "from the lowest average to the highest"
    return q, c.say_one(
        "For each {g}, what is the average {p} of {n}? Sort " + way + ".",
        "List each {g} with the average {p} of its {n}, " + way + ".", g=g, p=p, n=noun)


@intent("extra")
def described_parents_without_children(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    cond = c.cond(parent, kinds=("cat", "code", "adj", "num"))
    if cond is None or parent.label is None:
        return None
    sub = Query([fk.name], child.name)
    q = Query([parent.label.name], parent.name, where=[cond.sql, f"{parent.pk.name} NOT IN {sub.subquery()}"],
              nested=[sub])
    plp, pnp, n = plural(c.phrase(parent.label)), c.described(parent, cond), c.noun(child)
    return q, c.say_one(
        "Which {pnp} have no {n}? Give their {plp}.", "List the {plp} of {pnp} without any {n}.",
        pnp=pnp, n=n, plp=plp)


@intent("extra")
def linked_superlative(c: Ctx) -> Drafted:
    link, fk_a, a, fk_b, b = c.pick(c.links())
    col = c.pick(c.cols(a, *NUMERIC))
    assert a.label is not None and link.spec.link is not None
    cond, v = c.label_is(b, "T3", c.parent_with_children(link, fk_b, b))
    desc = c.chance(0.6)
    most = "highest" if desc else "lowest"
    c.note(f"{most} {col.phrase} refers to {'MAX' if desc else 'MIN'}({col.name})")
    q = Query([f"T1.{a.label.name}"], link_from(a, fk_a, link, fk_b, b), where=[cond], order_by=[f"T1.{col.name}"],
              desc=desc, limit=1)
    lp, n, p = c.phrase(a.label), c.noun(a), c.phrase(col)
    return q, c.say_one(
        "Among the {n} that {ab} the {s} {v}, which has the {m} {p}? Give the {lp}.",
        "What is the {lp} of the {one} with the {m} {p} among those that {ab} {v}?",
        n=n, ab=link.spec.link[0], s=b.singular, v=v, m=most, p=p, lp=lp, one=a.singular)


@intent("extra")
def above_average_sorted(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    assert t.label is not None
    c.note(f"average {col.phrase} refers to AVG({col.name})")
    sub = Query([f"avg({col.name})"], t.name)
    q = Query([t.label.name], t.name, where=[f"{col.name} > {sub.subquery()}"], order_by=[col.name], desc=True,
              nested=[sub])
    lp, p, noun = plural(c.phrase(t.label)), c.phrase(col), c.noun(t)
    return q, c.say_one(
        "List the {lp} of {n} with an above-average {p}, from the highest {p} to the lowest.",
        "Which {n} have a {p} above the average? Sort them by {p}, descending, and give their {lp}.",
        lp=lp, n=noun, p=p)


@intent("extra")
def top_totals(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    col = c.pick([col for col in c.cols(child, *NUMERIC) if col.spec.key in ADDITIVE])
    assert parent.label is not None
    k = c.rng.randint(2, 4)
    c.note(f"total {col.phrase} refers to SUM({col.name})")
    q = Query([f"T2.{parent.label.name}", f"sum(T1.{col.name})"], join_from(child, fk, parent),
              group_by=[f"T1.{fk.name}"], order_by=[f"sum(T1.{col.name})"], desc=True, limit=k)
    plp, pn, n, p = c.phrase(parent.label), c.noun(parent), c.noun(child), c.phrase(col)
    return q, c.say_one(
        "Show the {k} {pn} whose {n} have the highest total {p}, with their {plp} and that total.",
        "List the {plp} and total {p} of {n} for the top {k} {pn} by that total.", k=k, pn=pn, n=n, p=p, plp=plp)
