"""Intents aimed at Spider's "medium" tier: grouping, ordering with LIMIT, two conditions, one join."""

from __future__ import annotations

from collections import Counter

from suites.synth_sql.context import Ctx, Drafted, NoCandidate, intent, join_from, plural, verbal
from suites.synth_sql.query import Query, literal
from suites.synth_sql.schema import NUMERIC


@intent("medium")
def count_per_group(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", label=False))
    col = c.pick(c.cols(t, "cat"))
    p, noun = c.phrase(col), c.noun(t)
    return Query([col.name, "count(*)"], t.name, group_by=[col.name]), c.say_one(
        "How many {n} are there for each {p}?", "Count the {n} in each {p}.",
        "For each {p}, how many {n} are there?", "Show each {p} and the number of {n} with it.", n=noun, p=p)


@intent("medium")
def aggregate_per_group(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat", "int", label=False) + c.tables("cat", "real", label=False))
    group, col = c.pick(c.cols(t, "cat")), c.pick(c.cols(t, *NUMERIC, nullable=True))
    fn, word = c.agg(col, ("max", "min", "avg", "sum"))
    g, p, noun = c.phrase(group), c.phrase(col), c.noun(t)
    return Query([group.name, f"{fn}({col.name})"], t.name, group_by=[group.name]), c.say_one(
        "What is the {w} {p} of {n} for each {g}?", "For each {g}, give the {w} {p} of the {n}.",
        "Show the {w} {p} of {n} grouped by {g}.", w=word, p=p, n=noun, g=g)


@intent("medium")
def superlative(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    assert t.label is not None
    desc = c.chance(0.6)
    most = c.pick(("highest", "largest") if desc else ("lowest", "smallest"))
    c.note(f"{most} {col.phrase} refers to {'MAX' if desc else 'MIN'}({col.name})")
    lp, p, s = c.phrase(t.label), c.phrase(col), c.noun(t, plural=False)
    q = Query([t.label.name], t.name, order_by=[col.name], desc=desc, limit=1)
    return q, c.say_one(
        "Which {s} has the {m} {p}? Give the {lp}.", "What is the {lp} of the {s} with the {m} {p}?",
        "Give the {lp} of the {s} whose {p} is the {m}.", s=s, m=most, p=p, lp=lp)


@intent("medium")
def top_k(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC))
    assert t.label is not None
    desc, k = c.chance(0.6), c.rng.randint(2, 5)
    most = "highest" if desc else "lowest"
    lp, p, noun = plural(c.phrase(t.label)), c.phrase(col), c.noun(t)
    q = Query([t.label.name], t.name, order_by=[col.name], desc=desc, limit=k)
    return q, c.say_one(
        "List the {lp} of the {k} {n} with the {m} {p}.", "What are the {lp} of the {k} {n} with the {m} {p}?",
        "Show the {lp} of the top {k} {n} by {p}" + ("." if desc else ", lowest first."),
        lp=lp, k=k, n=noun, m=most, p=p)


@intent("medium")
def two_conditions(c: Ctx) -> Drafted:
    t = c.pick(c.tables())
    first = c.cond(t, kinds=("cat", "code", "adj"))
    if first is None or t.label is None:
        return None
    second = c.cond(t, kinds=("num", "cat", "date"), exclude=[first.column] if first.column else [])
    if second is None:
        return None
    noun = c.noun(t)
    np = f"{first.pre} {noun} {second.text}" if first.pre else f"{noun} {first.text} and {second.text}"
    lp = plural(c.phrase(t.label))
    return Query([t.label.name], t.name, where=[first.sql, second.sql]), c.say_one(
        "List the {lp} of {np}.", "What are the {lp} of {np}?", "Find the {lp} of all {np}.", lp=lp, np=np)


@intent("medium")
def either_value(c: Ctx) -> Drafted:
    t = c.pick(c.tables("cat"))
    col = c.pick(c.cols(t, "cat"))
    values = sorted(set(t.values(col)))
    if len(values) < 3 or t.label is None:
        return None
    a, b = c.rng.sample(values, 2)
    c.note(f"{a} or {b} refers to {col.name} = {literal(a)} OR {col.name} = {literal(b)}")
    lp, p, noun = plural(c.phrase(t.label)), c.phrase(col), c.noun(t)
    q = Query([t.label.name], t.name, where=[f"{col.name} = {literal(a)}", f"{col.name} = {literal(b)}"], conj="OR")
    return q, c.say_one(
        "List the {lp} of {n} whose {p} is either {a} or {b}.", "What are the {lp} of {n} with {p} {a} or {p} {b}?",
        "Which {n} have {p} {a} or {b}? Give their {lp}.", lp=lp, n=noun, p=p, a=a, b=b)


@intent("medium")
def children_of_parent(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks())
    assert child.label is not None
    cond, v = c.label_is(parent, "T2", c.parent_with_children(child, fk, parent))
    lp, n, s = plural(c.phrase(child.label)), c.noun(child), c.noun(parent, plural=False)
    q = Query([f"T1.{child.label.name}"], join_from(child, fk, parent), where=[cond])
    return q, c.say_one(
        "What are the {lp} of the {n} {r} the {s} {v}?", "List the {lp} of all {n} {r} {v}.",
        "Which {n} are {r} the {s} {v}? Give their {lp}.", lp=lp, n=n, r=fk.phrase, s=s, v=v)


@intent("medium")
def count_children_of_parent(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    cond, v = c.label_is(parent, "T2", c.parent_with_children(child, fk, parent))
    n, s = c.noun(child), c.noun(parent, plural=False)
    return Query(["count(*)"], join_from(child, fk, parent), where=[cond]), c.say_one(
        "How many {n} {r} the {s} {v} are there?", "Count the {n} {r} {v}.",
        "What is the number of {n} {r} the {s} {v}?", n=n, r=fk.phrase, s=s, v=v)


@intent("medium")
def child_parent_pairs(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks())
    assert child.label is not None and parent.label is not None
    clp, plp = c.phrase(child.label), c.phrase(parent.label)
    cs, ps = c.noun(child, plural=False), c.noun(parent, plural=False)
    q = Query([f"T1.{child.label.name}", f"T2.{parent.label.name}"], join_from(child, fk, parent))
    templates = ["List each {cs} {clp} together with the {plp} of its {ps}.",
                 "Show the {clp} of every {cs} and the {plp} of its {ps}."]
    if verbal(fk.phrase):
        templates.append("For every {cs}, give its {clp} and the {plp} of the {ps} it is {r}.")
    return q, c.say_one(*templates, clp=clp, plp=plp, cs=cs, ps=ps, r=fk.phrase)


@intent("medium")
def count_per_parent(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    assert parent.label is not None
    plp, n, ps = c.phrase(parent.label), c.noun(child), c.noun(parent, plural=False)
    q = Query([f"T2.{parent.label.name}", "count(*)"], join_from(child, fk, parent), group_by=[f"T1.{fk.name}"])
    templates = ["Show the {plp} of each {ps} and its number of {n}.",
                 "How many {n} does each {ps} have? List the {plp} and the count."]
    if verbal(fk.phrase):
        templates.append("For each {ps}, give its {plp} and how many {n} are {r} it.")
    return q, c.say_one(*templates, plp=plp, n=n, ps=ps, r=fk.phrase)


@intent("medium")
def name_pattern(c: Ctx) -> Drafted:
    t = c.pick(c.tables())
    assert t.label is not None
    sample = str(c.value(t, t.label))
    lp, noun, col = plural(c.phrase(t.label)), c.noun(t), t.label.name
    if c.chance() or " " not in sample:
        pattern, what = f"{sample[0]}%", f"the letter {sample[0]}"
        text, verb = f"starting with {what}", f"starts with {what}"
    else:
        word = c.pick(sample.split())
        pattern, text, verb = f"%{word}%", f"containing the word {word}", f"contains the word {word}"
    c.note(f"{text} refers to {col} LIKE {literal(pattern)}")
    return Query([col], t.name, where=[f"{col} LIKE {literal(pattern)}"]), c.say_one(
        "Which {n} have a {l} {t}? List their {lp}.", "List the {lp} of {n} {t}.",
        "Find all {n} whose {l} {v}.", n=noun, l=c.phrase(t.label), t=text, v=verb, lp=lp)


@intent("medium")
def two_aggregates(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int", label=False) + c.tables("real", label=False))
    col = c.pick(c.cols(t, *NUMERIC, nullable=True))
    (f1, w1), (f2, w2) = c.pick([(("max", "highest"), ("min", "lowest")), (("avg", "average"), ("max", "maximum")),
                                 (("min", "minimum"), ("avg", "average"))])
    for fn, word in ((f1, w1), (f2, w2)):
        c.note(f"{word} {col.phrase} refers to {fn.upper()}({col.name})")
    p, noun = c.phrase(col), c.noun(t)
    return Query([f"{f1}({col.name})", f"{f2}({col.name})"], t.name), c.say_one(
        "What are the {a} and {b} {p} of {n}?", "Give the {a} and the {b} {p} among all {n}.",
        "Find the {a} and {b} {p} of all {n}.", a=w1, b=w2, p=p, n=noun)


@intent("medium")
def parents_with_many(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    assert parent.label is not None
    k = c.group_threshold(list(Counter(child.values(fk)).values()))
    if k is None:
        raise NoCandidate
    plp, n, pn = plural(c.phrase(parent.label)), c.noun(child), c.noun(parent)
    q = Query([f"T2.{parent.label.name}"], join_from(child, fk, parent), group_by=[f"T1.{fk.name}"],
              having=f"count(*) >= {k}")
    return q, c.say_one(
        "Which {pn} have at least {k} {n}? Give their {plp}.", "List the {plp} of {pn} with {k} or more {n}.",
        "Find the {pn} that have {k} {n} or more, and give their {plp}.", pn=pn, k=k, n=n, plp=plp)


@intent("medium")
def label_and_value(c: Ctx) -> Drafted:
    t = c.pick(c.tables("int") + c.tables("real"))
    col = c.pick(c.cols(t, *NUMERIC, nullable=True))
    cond = c.cond(t, kinds=("cat", "code", "adj"), exclude=[col])
    if cond is None or t.label is None:
        return None
    lp, p, np = plural(c.phrase(t.label)), plural(c.phrase(col)), c.described(t, cond)
    return Query([t.label.name, col.name], t.name, where=[cond.sql]), c.say_one(
        "List the {lp} and {p} of {np}.", "What are the {lp} and {p} of all {np}?", "Show the {lp} of {np} with their {p}.",
        lp=lp, p=p, np=np)


@intent("medium")
def count_children_of_described(c: Ctx) -> Drafted:
    child, fk, parent = c.pick(c.fks(child_label=False))
    cond = c.cond(parent, "T2", kinds=("cat", "code", "adj"))
    if cond is None:
        return None
    n, pnp = c.noun(child), c.described(parent, cond)
    return Query(["count(*)"], join_from(child, fk, parent), where=[cond.sql]), c.say_one(
        "How many {n} {r} {pnp} are there?", "Count the {n} {r} {pnp}.", "What is the number of {n} {r} {pnp}?",
        n=n, r=fk.phrase, pnp=pnp)
