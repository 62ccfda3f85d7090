"""SQL syntax trees for LearNAT: alias resolution, inclusion and AST similarity.

A decomposition step's sub-SQL is kept when its tree *embeds* in the gold SQL's tree
(:func:`includes`), and a kept step is worth its :func:`similarity` to the gold.

**Alias resolution** (:func:`resolve_aliases`), per SELECT scope (a subquery is its own
scope; a correlated reference to an alias the subquery does not define resolves through
the enclosing scopes): a column qualified by a table alias gets the table's real name
(``T1.name`` -> ``concert.name``) and the alias is dropped, except for tables that occur
more than once in the scope (self-joins keep their aliases); with exactly one table in
the scope, unqualified columns get it as qualifier (not names of projection aliases).
Derived tables ``(SELECT ...) AS sub`` keep their alias.

**The tree** (:func:`to_tree`): one :class:`Tree` node per sqlglot expression, labelled
with its lowercase key plus, for value-carrying nodes, the value (``identifier:name``,
``literal:'Accounting'`` vs ``literal:71``) and semantic flags (``ordered:desc``,
``like:negate``, ``join:side=left``). Identifiers are lowercased; string literals and
quoted identifiers keep their case (Spider's ``"France"`` values parse as quoted
identifiers). A child's label is prefixed with the arg key it sits under
(``table=identifier:singer``, ``this=select`` vs ``expression=select`` for the sides of
a set operation), except for the operands of commutative operators (=, !=, +, *, AND,
OR). ``Paren`` and unaliased ``Subquery`` wrappers are unwrapped; AND/OR chains are
flattened into one n-ary node, and a WHERE/HAVING/ON condition is always an ``and`` node
(with one child for a single condition) so that it embeds in a longer conjunction;
INNER/OUTER join kinds and NULLS FIRST/LAST are dropped. Nodes are unordered, children
sorted into a canonical order, except fixed-arity nodes where order matters:
non-commutative binary operators (``>``, ``-``, ``/``, LIKE, IS ...), BETWEEN, IN (the
value list sorted), unary operators and functions (CASE included).

**Inclusion** (:func:`includes`): ``part`` embeds in ``gold`` when its root matches some
node of gold (ignoring that node's arg-key prefix): labels are equal and, for an ordered
node, the children embed positionally with equal counts; for an unordered node, the
children embed into distinct children of the gold node (extra gold children allowed).

**Similarity** (:func:`similarity`), with ``TED`` the unit-cost Zhang-Shasha tree edit
distance (:func:`tree_edit_distance`)::

    n_p, n_g = part.size, gold.size
    ratio = min(n_p, n_g) / max(n_p, n_g)
    ted   = max(0.0, 1 - TED(part, gold) / max(n_p, n_g))
    similarity = 0.5 * ratio + 0.5 * ted

It lies in [0, 1] and is 1.0 exactly when the trees are identical.

>>> includes("SELECT T1.name FROM singer AS T1 WHERE T1.age > 20", "SELECT name FROM singer")
True
>>> includes("SELECT name FROM singer WHERE age > 20", "SELECT name FROM singer WHERE age > 30")
False
>>> similarity("SELECT T1.name FROM singer AS T1", "SELECT name FROM singer")
1.0
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

# What a parsed statement may be; a bare expression ("hello world" reads as an alias) or
# sqlglot's Command fallback is not SQL we can compare.
_STATEMENTS = (exp.Query, exp.DML, exp.DDL, exp.Pragma)
_COMMUTATIVE = (exp.EQ, exp.NEQ, exp.Add, exp.Mul, exp.NullSafeEQ, exp.NullSafeNEQ)
_ORDERED = (exp.Binary, exp.Between, exp.In, exp.Func, exp.Unary)
# sqlglot bookkeeping that does not change what a query means.
_COSMETIC = frozenset({"quoted", "big_int", "nested", "is_string", "nulls_first"})
_CONDITIONS = frozenset({("this", exp.Where), ("this", exp.Having), ("on", exp.Join)})
_DROPPED_FLAGS = frozenset({("kind", "inner"), ("kind", "outer")})
_PREFIX = re.compile(r"^[a-z0-9_]+=")


class SQLParseError(ValueError):
    """The text is not exactly one SQL statement that sqlglot can parse."""


@dataclass(frozen=True)
class Tree:
    """A labelled tree; ``ordered`` nodes have positional children.

    >>> Tree("f", (Tree("a"), Tree("b", (Tree("c"),)))).size
    4
    """

    label: str
    children: tuple[Tree, ...] = ()
    ordered: bool = False
    _size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", tuple(self.children))
        object.__setattr__(self, "_size", 1 + sum(child.size for child in self.children))

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self._size

    def nodes(self) -> Iterator[Tree]:
        """All nodes in preorder."""
        yield self
        for child in self.children:
            yield from child.nodes()


def parse(sql: str, dialect: str = "sqlite") -> exp.Expression:
    """The one statement in ``sql``; :class:`SQLParseError` otherwise.

    >>> parse("SELECT 1;").sql()
    'SELECT 1'
    >>> parse("SELECT 1; SELECT 2")
    Traceback (most recent call last):
    ...
    trainers.sql_tree.SQLParseError: cannot parse SQL 'SELECT 1; SELECT 2': 2 statements, expected one
    """
    shown = " ".join(sql.split())
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as error:
        errors = getattr(error, "errors", None)
        reason = errors[0]["description"] if errors else str(error).splitlines()[0]
        reason = reason if len(reason) <= 100 else reason[:97] + "..."
        raise SQLParseError(f"cannot parse SQL {shown!r}: {reason}") from error
    if len(statements) != 1:
        raise SQLParseError(
            f"cannot parse SQL {shown!r}: {len(statements)} statements, expected one"
        )
    if not isinstance(statements[0], _STATEMENTS):
        kind = type(statements[0]).__name__
        raise SQLParseError(f"cannot parse SQL {shown!r}: parses as {kind}, not a statement")
    return statements[0]


@dataclass(frozen=True)
class _Scope:
    aliases: dict[str, str | None]  # alias -> real table name; None: keep the alias
    single: str | None = None  # the scope's only table, qualifier of unqualified columns
    outputs: frozenset[str] = frozenset()  # projection aliases, never qualified


def resolve_aliases(expression: exp.Expression) -> exp.Expression:
    """A copy of ``expression`` with table aliases replaced by table names.

    >>> resolve_aliases(parse("SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 "
    ...                       "ON T1.stadium_id = T2.stadium_id")).sql()
    'SELECT stadium.name FROM concert JOIN stadium ON concert.stadium_id = stadium.stadium_id'
    >>> resolve_aliases(parse("SELECT T1.a FROM t AS T1 JOIN t AS T2 ON T1.p = T2.id")).sql()
    'SELECT T1.a FROM t AS T1 JOIN t AS T2 ON T1.p = T2.id'
    >>> resolve_aliases(parse("SELECT name FROM singer")).sql()
    'SELECT singer.name FROM singer'
    """
    copy = expression.copy()
    _resolve(copy, _Scope({}))
    return copy


def _select_scope(select: exp.Select, outer: _Scope) -> _Scope:
    sources = [select.args["from_"].this] if select.args.get("from_") else []
    sources += [join.this for join in select.args.get("joins") or ()]
    tables = [s for s in sources if isinstance(s, exp.Table) and s.name]
    counts = Counter(t.name.lower() for t in tables)
    own: dict[str, str | None] = {}
    for source in sources:
        alias = source.args.get("alias")
        if isinstance(source, exp.Table) and source.name:
            name = source.name.lower()
            own.setdefault(name, name)
            if alias is not None and counts[name] == 1 and not alias.columns:
                own[source.alias.lower()] = name
                source.set("alias", None)
            elif alias is not None:
                own[source.alias.lower()] = None
        elif alias is not None and source.alias:
            own[source.alias.lower()] = None
    outputs = frozenset(e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias))
    single = tables[0].name.lower() if len(sources) == 1 and tables else None
    return _Scope({**outer.aliases, **own}, single, outputs)


def _resolve(node: exp.Expression, scope: _Scope) -> None:
    if isinstance(node, exp.Select):
        scope = _select_scope(node, scope)
    elif isinstance(node, exp.Column):
        if node.table and not node.args.get("db"):
            real = scope.aliases.get(node.table.lower())
            if real is not None:
                node.set("table", exp.to_identifier(real))
        elif not node.table and scope.single and node.name.lower() not in scope.outputs:
            node.set("table", exp.to_identifier(scope.single))
        return
    for child in node.iter_expressions():
        _resolve(child, scope)


def to_tree(sql_or_expression: str | exp.Expression, *, dialect: str = "sqlite") -> Tree:
    """The alias-resolved, normalized tree of a query.

    >>> to_tree("SELECT T1.name FROM singer AS T1") == to_tree("select NAME from Singer")
    True
    >>> to_tree("SELECT a FROM t WHERE a > 1").children[0].label
    'expressions=column'
    """
    if isinstance(sql_or_expression, str):
        return _tree_of_sql(sql_or_expression, dialect)
    return _convert(resolve_aliases(sql_or_expression))[0]


@lru_cache(maxsize=32768)
def _tree_of_sql(sql: str, dialect: str) -> Tree:
    return to_tree(parse(sql, dialect), dialect=dialect)


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren) or (
        isinstance(node, exp.Subquery) and all(k == "this" or not v for k, v in node.args.items())
    ):
        node = node.this
    return node


def _args(node: exp.Expression) -> Iterator[tuple[str, object]]:
    """Set args in the class's declared order (stable whatever order the parser set them)."""
    for key in (*node.arg_types, *(k for k in node.args if k not in node.arg_types)):
        value = node.args.get(key)
        empty = value is None or (isinstance(value, (str, list)) and not value)
        if not (key.startswith("_") or empty or (value is False and key != "this")):
            yield key, value


def _label(node: exp.Expression) -> str:
    if isinstance(node, exp.Ordered):
        return "ordered:desc" if node.args.get("desc") else "ordered:asc"
    parts = [node.key]
    for key, value in _args(node):
        if isinstance(value, (exp.Expression, list)) or key in _COSMETIC:
            continue
        text = str(getattr(value, "value", value))
        if key == "this" and isinstance(node, exp.Literal):
            parts.append(f"'{text}'" if node.is_string else text)
        elif key == "this":
            parts.append(text if isinstance(node, exp.Identifier) and node.quoted else text.lower())
        elif value is True:
            parts.append(key)
        elif (key, text.lower()) not in _DROPPED_FLAGS:
            parts.append(f"{key}={text.lower()}")
    return ":".join(parts)


def _operands(node: exp.Expression, connector: type) -> list[exp.Expression]:
    node = _unwrap(node)
    if type(node) is not connector:
        return [node]
    return _operands(node.this, connector) + _operands(node.expression, connector)


def _convert(node: exp.Expression, prefix: str = "", condition: bool = False) -> tuple[Tree, str]:
    """``node``'s tree and the canonical string that orders it among siblings."""
    node = _unwrap(node)
    if isinstance(node, exp.Connector) or condition:
        # WHERE/HAVING/ON conditions are always an n-ary "and", so that one condition
        # embeds in a conjunction; AND/OR chains are flattened.
        label = "and" if condition else node.key
        flat = isinstance(node, exp.And) or not condition
        items = _operands(node, type(node)) if flat else [node]
        kids = [_convert(item) for item in items]
        ordered = False
    else:
        # commutative operands carry no arg key, so that a = b and b = a are one tree
        bare = isinstance(node, _COMMUTATIVE)
        ordered = isinstance(node, _ORDERED) and not bare
        kids = []
        for key, value in _args(node):
            values = value if isinstance(value, list) else [value]
            converted = [
                _convert(v, "" if bare else key, (key, type(node)) in _CONDITIONS)
                for v in values
                if isinstance(v, exp.Expression)
            ]
            if isinstance(node, exp.In) and key == "expressions":
                converted.sort(key=lambda pair: pair[1])
            kids.extend(converted)
        label = _label(node)
    if not ordered:
        kids.sort(key=lambda pair: pair[1])
    label = f"{prefix}={label}" if prefix else label
    canonical = label + "\x01" + "\x02".join(k[1] for k in kids) + "\x03"
    return Tree(label, tuple(k[0] for k in kids), ordered), canonical


def _as_tree(value: str | exp.Expression | Tree) -> Tree:
    return value if isinstance(value, Tree) else to_tree(value)


def includes(gold: str | exp.Expression | Tree, part: str | exp.Expression | Tree) -> bool:
    """Whether ``part``'s tree embeds in some subtree of ``gold``'s tree.

    SQL text that does not parse raises :class:`SQLParseError`.

    >>> gold = "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)"
    >>> includes(gold, "SELECT avg(age) FROM singer"), includes(gold, "SELECT max(age) FROM singer")
    (True, False)
    """
    if isinstance(gold, str) and isinstance(part, str):
        return _includes_sql(gold, part)
    gold_tree, part_tree = _as_tree(gold), _as_tree(part)
    memo: dict[tuple[int, int], bool] = {}
    root = _PREFIX.sub("", part_tree.label)
    return any(
        _PREFIX.sub("", node.label) == root and _children_embed(part_tree, node, memo)
        for node in gold_tree.nodes()
        if node.size >= part_tree.size
    )


@lru_cache(maxsize=65536)
def _includes_sql(gold: str, part: str) -> bool:
    return includes(_as_tree(gold), _as_tree(part))


def _embeds(part: Tree, gold: Tree, memo: dict[tuple[int, int], bool]) -> bool:
    key = (id(part), id(gold))
    if key not in memo:
        memo[key] = part.label == gold.label and _children_embed(part, gold, memo)
    return memo[key]


def _children_embed(part: Tree, gold: Tree, memo: dict[tuple[int, int], bool]) -> bool:
    p, g = part.children, gold.children
    if part.ordered or gold.ordered:
        return len(p) == len(g) and all(_embeds(a, b, memo) for a, b in zip(p, g))
    if len(p) > len(g):
        return False
    candidates = [[j for j, b in enumerate(g) if _embeds(a, b, memo)] for a in p]
    owner: dict[int, int] = {}  # gold child -> part child it is matched to

    def augment(i: int, seen: set[int]) -> bool:  # Kuhn's augmenting path
        for j in candidates[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(len(p)))


def _postorder(tree: Tree) -> tuple[list[str], list[int], list[int]]:
    """Postorder labels, leftmost-leaf indices and keyroots (Zhang & Shasha 1989)."""
    labels: list[str] = []
    leftmost: list[int] = []

    def visit(node: Tree) -> int:
        first = [visit(child) for child in node.children]
        labels.append(node.label)
        leftmost.append(first[0] if first else len(labels) - 1)
        return leftmost[-1]

    visit(tree)
    keyroots = sorted({lml: i for i, lml in enumerate(leftmost)}.values())
    return labels, leftmost, keyroots


def tree_edit_distance(a: Tree, b: Tree) -> int:
    """Zhang-Shasha ordered tree edit distance with unit costs.

    >>> t = lambda label, *kids: Tree(label, kids)
    >>> tree_edit_distance(t("f", t("d", t("a"), t("c", t("b"))), t("e")),
    ...                    t("f", t("c", t("d", t("a"), t("b"))), t("e")))
    2
    """
    la, ia, ka = _postorder(a)
    lb, ib, kb = _postorder(b)
    dist = [[0] * len(lb) for _ in la]
    for i in ka:
        for j in kb:
            li, lj = ia[i], ib[j]
            rows, cols = i - li + 2, j - lj + 2
            fd = [[0] * cols for _ in range(rows)]
            for x in range(1, rows):
                fd[x][0] = x
            for y in range(1, cols):
                fd[0][y] = y
            for x in range(1, rows):
                n1 = li + x - 1
                row, above = fd[x], fd[x - 1]
                for y in range(1, cols):
                    n2 = lj + y - 1
                    if ia[n1] == li and ib[n2] == lj:
                        cost = row[y - 1] + 1, above[y] + 1, above[y - 1] + (la[n1] != lb[n2])
                        row[y] = dist[n1][n2] = min(cost)
                    else:
                        forest = fd[ia[n1] - li][ib[n2] - lj] + dist[n1][n2]
                        row[y] = min(row[y - 1] + 1, above[y] + 1, forest)
    return dist[-1][-1]


def similarity(part: str | exp.Expression | Tree, gold: str | exp.Expression | Tree) -> float:
    """AST similarity of ``part`` to ``gold`` in [0, 1] (formula in the module docstring).

    >>> similarity("SELECT name FROM singer", "SELECT name FROM singer WHERE age > 20")
    0.5
    >>> similarity("SELECT name FROM singer", "SELECT name FROM singer")
    1.0
    """
    if isinstance(part, str) and isinstance(gold, str):
        return _similarity_sql(part, gold)
    p, g = _as_tree(part), _as_tree(gold)
    big = max(p.size, g.size)
    ted = max(0.0, 1 - tree_edit_distance(p, g) / big)
    return 0.5 * min(p.size, g.size) / big + 0.5 * ted


@lru_cache(maxsize=65536)
def _similarity_sql(part: str, gold: str) -> float:
    return similarity(_as_tree(part), _as_tree(gold))
