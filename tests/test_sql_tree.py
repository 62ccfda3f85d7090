"""trainers.sql_tree: alias resolution, inclusion, tree edit distance and similarity."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import pytest

from trainers.sql_tree import (
    SQLParseError,
    Tree,
    includes,
    parse,
    resolve_aliases,
    similarity,
    to_tree,
    tree_edit_distance,
)

PAIRS = json.loads((Path(__file__).parent / "fixtures" / "sql_tree_pairs.json").read_text())

CONCERT = "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id"
CHAIN = [
    CONCERT,
    CONCERT + " WHERE T1.year > 2014",
    CONCERT + " WHERE T1.year > 2014 GROUP BY T2.name ORDER BY count(*) DESC LIMIT 1",
]


def t(label: str, *children: Tree) -> Tree:
    return Tree(label, children)


@cache
def _forest_distance(f1: tuple[Tree, ...], f2: tuple[Tree, ...]) -> int:
    """Reference: the recursive forest edit distance, on the rightmost roots."""
    if not f1 or not f2:
        return sum(tree.size for tree in f1 + f2)
    v, w = f1[-1], f2[-1]
    return min(
        _forest_distance(f1[:-1] + v.children, f2) + 1,
        _forest_distance(f1, f2[:-1] + w.children) + 1,
        _forest_distance(v.children, w.children)
        + _forest_distance(f1[:-1], f2[:-1])
        + (v.label != w.label),
    )


def _random_tree(rng: random.Random, size: int) -> Tree:
    if size == 1:
        return Tree(rng.choice("abc"))
    cuts = sorted(rng.sample(range(1, size - 1), rng.randint(0, min(3, size - 2))))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, size - 1])]
    return Tree(rng.choice("abc"), tuple(_random_tree(rng, n) for n in sizes))


@pytest.mark.parametrize("case", PAIRS, ids=[case["note"] for case in PAIRS])
def test_inclusion_golden(case):
    assert includes(case["gold"], case["part"]) is case["includes"], case["note"]


def test_fixture_covers_enough_cases():
    assert len(PAIRS) >= 20
    assert {case["includes"] for case in PAIRS} == {True, False}


def test_includes_accepts_trees_and_expressions():
    gold = "SELECT name FROM singer WHERE age > 20 ORDER BY age"
    part = "SELECT T1.name FROM singer AS T1"
    assert includes(to_tree(gold), to_tree(part))
    assert includes(parse(gold), parse(part))
    assert includes(gold, gold)
    assert not includes(part, gold)


def test_alias_resolution_scopes():
    sql = (
        "SELECT T1.name FROM singer AS T1 WHERE T1.age > "
        "(SELECT avg(T1.age) FROM singer_in_concert AS T1 WHERE T1.concert_id = 3)"
    )
    resolved = resolve_aliases(parse(sql)).sql()
    assert resolved == (
        "SELECT singer.name FROM singer WHERE singer.age > (SELECT AVG(singer_in_concert.age) "
        "FROM singer_in_concert WHERE singer_in_concert.concert_id = 3)"
    )
    expression = parse(sql)
    resolve_aliases(expression)
    assert expression.sql() == parse(sql).sql()  # the input is not modified


def test_self_join_and_derived_table_keep_aliases():
    sql = "SELECT T1.a FROM t AS T1 JOIN t AS T2 ON T1.p = T2.id JOIN u AS T3 ON T3.x = T1.a"
    assert resolve_aliases(parse(sql)).sql() == (
        "SELECT T1.a FROM t AS T1 JOIN t AS T2 ON T1.p = T2.id JOIN u ON u.x = T1.a"
    )
    derived = "SELECT sub.n FROM (SELECT count(*) AS n FROM t) AS sub"
    assert "AS sub" in resolve_aliases(parse(derived)).sql()


def test_multi_table_unqualified_columns_stay_unqualified():
    sql = "SELECT name FROM singer JOIN concert ON singer.id = concert.sid"
    assert resolve_aliases(parse(sql)).sql().startswith("SELECT name FROM")


def test_tree_labels():
    tree = to_tree("SELECT name FROM dept WHERE name = 'Accounting' AND budget > 71")
    labels = {node.label for node in tree.nodes()}
    assert {"literal:'Accounting'", "expression=literal:71", "table=identifier:dept"} <= labels
    assert to_tree("SELECT a FROM t ORDER BY a DESC") != to_tree("SELECT a FROM t ORDER BY a")
    assert to_tree("SELECT a FROM t WHERE x AND (y AND z)") == to_tree(
        "SELECT a FROM t WHERE z AND y AND x"
    )


def test_tree_size_and_equality():
    tree = t("f", t("a"), t("b", t("c")))
    assert tree.size == 4
    assert Tree("f", [Tree("a")]) == Tree("f", (Tree("a"),))  # children become a tuple
    assert hash(tree) == hash(t("f", t("a"), t("b", t("c"))))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (t("a"), t("a"), 0),
        (t("a"), t("b"), 1),
        (t("a"), t("a", t("b")), 1),
        (t("a", t("b"), t("c")), t("a", t("c"), t("b")), 2),
        (t("a", t("b", t("c"))), t("a", t("c")), 1),
        (t("a", t("b"), t("c"), t("d")), t("a", t("b", t("c"), t("d"))), 2),
        # Zhang & Shasha (1989), figure 1: delete c above b, insert c above d
        (
            t("f", t("d", t("a"), t("c", t("b"))), t("e")),
            t("f", t("c", t("d", t("a"), t("b"))), t("e")),
            2,
        ),
        (t("x", t("y"), t("z")), t("p", t("q", t("r"))), 4),  # 2 relabels, 1 delete, 1 insert
    ],
)
def test_tree_edit_distance_hand_computed(a, b, expected):
    assert tree_edit_distance(a, b) == expected
    assert tree_edit_distance(b, a) == expected


def test_tree_edit_distance_matches_reference_on_random_trees():
    rng = random.Random(7)
    for _ in range(150):
        a, b = _random_tree(rng, rng.randint(1, 9)), _random_tree(rng, rng.randint(1, 9))
        expected = _forest_distance((a,), (b,))
        assert tree_edit_distance(a, b) == expected
        assert tree_edit_distance(b, a) == expected


def test_tree_edit_distance_on_sql_trees():
    a, b = to_tree("SELECT name FROM singer"), to_tree("SELECT age FROM singer")
    assert tree_edit_distance(a, b) == 1  # relabel this=identifier:name
    assert tree_edit_distance(a, a) == 0
    where = to_tree("SELECT name FROM singer WHERE age > 20")
    assert tree_edit_distance(a, where) == where.size - a.size


def test_tree_edit_distance_on_80_node_trees_runs():
    a, b = _random_tree(random.Random(1), 80), _random_tree(random.Random(2), 80)
    assert a.size == b.size == 80
    assert 0 < tree_edit_distance(a, b) <= 160
    assert tree_edit_distance(a, b) == tree_edit_distance(b, a)


def test_similarity_is_one_iff_identical():
    assert similarity(CHAIN[2], CHAIN[2]) == 1.0
    alias_free = (
        "SELECT stadium.name FROM concert JOIN stadium ON concert.stadium_id = stadium.stadium_id"
    )
    assert similarity(alias_free, CONCERT) == 1.0
    assert similarity("SELECT name FROM singer", "SELECT T1.name FROM singer AS T1") == 1.0
    assert similarity("SELECT name FROM singer", "SELECT age FROM singer") < 1.0
    assert similarity(t("a", t("b")), t("a", t("c"))) == 0.75


def test_similarity_increases_toward_the_gold():
    scores = [similarity(step, CHAIN[-1]) for step in CHAIN]
    assert scores == sorted(set(scores)), scores
    assert scores[-1] == 1.0
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_similarity_formula():
    part, gold = to_tree(CHAIN[0]), to_tree(CHAIN[1])
    big = max(part.size, gold.size)
    ted = tree_edit_distance(part, gold)
    expected = 0.5 * min(part.size, gold.size) / big + 0.5 * max(0.0, 1 - ted / big)
    assert similarity(part, gold) == pytest.approx(expected)
    assert similarity(CHAIN[0], CHAIN[1]) == pytest.approx(expected)
    assert similarity(t("a"), t("b", t("c"), t("d"), t("e"))) == 0.125  # ted term floored at 0


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC name FRM singer", "Invalid expression"),
        ("SELECT name FROM singer; SELECT age FROM singer", "2 statements"),
        ("", "0 statements"),
        ("hello world", "not a statement"),
    ],
)
def test_parse_errors_name_the_sql(sql, reason):
    with pytest.raises(SQLParseError) as error:
        parse(sql)
    assert repr(" ".join(sql.split())[:40]).rstrip("'") in str(error.value)
    assert reason in str(error.value)
    assert isinstance(error.value, ValueError)


def test_parse_error_shortens_long_sql():
    sql = "SELECT " + ", ".join(f"column_{i}" for i in range(50)) + " FROM"
    with pytest.raises(SQLParseError, match=r"SELECT column_0, .*\.\.\.'") as error:
        to_tree(sql)
    assert len(str(error.value)) < 220
