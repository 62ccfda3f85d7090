"""Rule-based decomposition of a gold SQL query into (sub-question, sub-SQL) steps.

LearNAT's search needs proposals for the next step of a decomposition; when the model
cannot propose yet, this decomposer walks the gold AST (sqlglot) and offers them.

**Scopes and components.** Every query node of the gold (a ``SELECT``, or a set
operation ``UNION``/``INTERSECT``/``EXCEPT``) is a scope; nested ones (subqueries in
``WHERE``/``HAVING``/``FROM``/the projection, the sides of a set operation) come before
the scope that uses them. A ``SELECT`` scope has the components

- ``from``: the ``FROM`` clause with its whole join path, the plain (non-aggregate)
  projection and ``DISTINCT``: "Join concert with stadium on ...; list name.";
- ``where:i``: one conjunct of the top-level ``AND`` of ``WHERE`` each (a filter);
- ``aggregate``: ``GROUP BY`` and the aggregate projection items, when the query groups
  or mixes plain and aggregate items;
- ``having``: the ``HAVING`` condition (after ``aggregate``);
- ``order``: ``ORDER BY``/``LIMIT``/``OFFSET``, after every other component of the scope.

A set operation has one component, ``combine``, after both sides are complete. A
component whose clause holds a subquery waits until that subquery's scope is complete.
A step applies one component and its sub-SQL is its scope's query with exactly the
applied components (the gold's own aliases kept): every step's AST is, by
construction, a subtree of the gold's, and the last step (every component applied) is
the gold query itself, as sqlglot writes it.

:meth:`Decomposer.next_steps` lists the steps that can follow a partial decomposition
(one per available component, in the canonical order: nested scopes first, then
``from``, ``where``, ``aggregate``, ``having``, ``order``); :meth:`Decomposer.canonical`
is the whole decomposition in that order; :meth:`Decomposer.corrupt` makes wrong
variants of a step (another column, the opposite comparison, another aggregate, a
changed literal, the other sort direction), the negatives a model typically writes.

>>> d = Decomposer("SELECT name FROM singer WHERE age > 20 ORDER BY age DESC")
>>> [s.sql for s in d.canonical()]
['SELECT name FROM singer', 'SELECT name FROM singer WHERE age > 20', 'SELECT name FROM singer WHERE age > 20 ORDER BY age DESC']
>>> d.canonical()[1].question
'Keep only the rows where age > 20.'
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from trainers.sql_tree import parse

DIALECT = "sqlite"
SET_WORDS = {"union": "union", "intersect": "intersection", "except": "difference"}
FLIPPED = {
    exp.GT: exp.LT,
    exp.LT: exp.GT,
    exp.GTE: exp.LTE,
    exp.LTE: exp.GTE,
    exp.EQ: exp.NEQ,
    exp.NEQ: exp.EQ,
}
OTHER_AGGREGATE = {exp.Max: exp.Min, exp.Min: exp.Max, exp.Avg: exp.Sum, exp.Sum: exp.Avg}


@dataclass(frozen=True)
class Step:
    """One decomposition step. ``state`` is the set of gold components applied after it
    (``None`` for a step the model wrote that matches no rule state); ``source`` says
    who proposed it: ``rules``, ``model`` or ``corrupt``."""

    question: str
    sql: str
    state: frozenset[str] | None = None
    source: str = "rules"


@dataclass
class Scope:
    node: exp.Expression
    components: list[str] = field(default_factory=list)
    needs: dict[str, set[int]] = field(
        default_factory=dict
    )  # component -> child scopes it waits for
    plain: list[int] = field(default_factory=list)  # projection items of the ``from`` step


def _is_query(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Select, exp.SetOperation))


def _nested_queries(node: exp.Expression) -> list[exp.Expression]:
    """The query nodes directly inside ``node`` (not inside those)."""
    found: list[exp.Expression] = []
    stack = list(reversed(list(_children(node))))
    while stack:
        child = stack.pop()
        if _is_query(child):
            found.append(child)
        else:
            stack.extend(reversed(list(_children(child))))
    return found


def _children(node: exp.Expression) -> list[exp.Expression]:
    out = []
    for value in node.args.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, exp.Expression):
                out.append(item)
    return out


def _has_aggregate(node: exp.Expression) -> bool:
    """An aggregate function in ``node`` outside nested queries."""
    if isinstance(node, exp.AggFunc):
        return True
    return any(_has_aggregate(child) for child in _children(node) if not _is_query(child))


def _conjuncts(select: exp.Select) -> list[exp.Expression]:
    where = select.args.get("where")
    if where is None:
        return []
    condition = where.this
    return list(condition.flatten()) if isinstance(condition, exp.And) else [condition]


class Decomposer:
    """The components of one gold query and the steps over them."""

    def __init__(self, gold_sql: str) -> None:
        self.gold = parse(gold_sql)
        self.scopes: list[Scope] = []
        self._index: dict[int, int] = {}  # id(query node) -> scope index
        self._collect(self.gold)
        self.root = len(self.scopes) - 1
        self.gold_sql = self.gold.sql(dialect=DIALECT)
        self.columns = sorted({c.name for c in self.gold.find_all(exp.Column) if c.name})

    # -- structure --------------------------------------------------------------------

    def _collect(self, node: exp.Expression) -> int:
        if not _is_query(node):
            raise ValueError(f"not a query: {node.sql(dialect=DIALECT)[:80]!r}")
        if isinstance(node, exp.SetOperation):
            left, right = self._collect(node.this), self._collect(node.expression)
            scope = Scope(node, ["combine"], {"combine": {left, right}})
        else:
            scope = self._select_scope(node)
        self.scopes.append(scope)
        self._index[id(node)] = len(self.scopes) - 1
        return len(self.scopes) - 1

    def _scopes_in(self, parts: Sequence[exp.Expression | None]) -> set[int]:
        found: set[int] = set()
        for part in parts:
            if part is None:
                continue
            nested = [part] if _is_query(part) else _nested_queries(part)
            for query in nested:
                found.add(
                    self._index[id(query)] if id(query) in self._index else self._collect(query)
                )
        return found

    def _select_scope(self, select: exp.Select) -> Scope:
        if select.args.get("with_") is not None:
            raise ValueError("WITH clauses are not decomposed")
        items = select.expressions
        aggregate = [i for i, item in enumerate(items) if _has_aggregate(item)]
        plain = [i for i in range(len(items)) if i not in aggregate]
        grouped = select.args.get("group") is not None
        scope = Scope(select, plain=plain if plain else list(range(len(items))))
        from_parts = [select.args.get("from_"), *select.args.get("joins", [])] + [
            items[i] for i in scope.plain
        ]
        scope.components.append("from")
        scope.needs["from"] = self._scopes_in(from_parts)
        for i, conjunct in enumerate(_conjuncts(select)):
            scope.components.append(f"where:{i}")
            scope.needs[f"where:{i}"] = self._scopes_in([conjunct])
        if grouped or (aggregate and plain):
            scope.components.append("aggregate")
            scope.needs["aggregate"] = self._scopes_in(
                [select.args.get("group")] + [items[i] for i in aggregate]
            )
        if select.args.get("having") is not None:
            scope.components.append("having")
            scope.needs["having"] = self._scopes_in([select.args.get("having")])
        if any(select.args.get(key) is not None for key in ("order", "limit", "offset")):
            scope.components.append("order")
            scope.needs["order"] = self._scopes_in(
                [select.args.get(k) for k in ("order", "limit", "offset")]
            )
        return scope

    def component_ids(self) -> list[str]:
        """Every component as ``"<scope>:<name>"``, in the canonical order."""
        return [f"{s}:{name}" for s, scope in enumerate(self.scopes) for name in scope.components]

    def complete(self, scope: int, state: frozenset[str]) -> bool:
        return all(f"{scope}:{name}" in state for name in self.scopes[scope].components)

    def available(self, state: frozenset[str]) -> list[str]:
        """Components that may be applied next, in the canonical order."""
        out = []
        for s, scope in enumerate(self.scopes):
            for name in scope.components:
                cid = f"{s}:{name}"
                if cid in state:
                    continue
                if name != "from" and name != "combine" and f"{s}:from" not in state:
                    continue
                if (
                    name == "having"
                    and "aggregate" in scope.components
                    and f"{s}:aggregate" not in state
                ):
                    continue
                if name == "order" and any(
                    f"{s}:{o}" not in state for o in scope.components if o != "order"
                ):
                    continue
                if all(self.complete(child, state) for child in scope.needs.get(name, ())):
                    out.append(cid)
        return out

    # -- rendering --------------------------------------------------------------------

    def render(self, scope: int, state: frozenset[str]) -> str:
        """The SQL of ``scope`` with the components in ``state`` applied."""
        node = self.scopes[scope].node.copy()
        if isinstance(node, exp.Select):
            self._prune(scope, node, state)
        return node.sql(dialect=DIALECT)

    def _prune(self, s: int, select: exp.Select, state: frozenset[str]) -> None:
        scope = self.scopes[s]
        if "aggregate" in scope.components and f"{s}:aggregate" not in state:
            select.set("expressions", [select.expressions[i] for i in scope.plain])
            select.set("group", None)
        kept = [c for i, c in enumerate(_conjuncts(select)) if f"{s}:where:{i}" in state]
        select.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
        if f"{s}:having" not in state:
            select.set("having", None)
        if f"{s}:order" not in state:
            for key in ("order", "limit", "offset"):
                select.set(key, None)

    def _snippet(self, node: exp.Expression | None, finished: dict[int, int]) -> str:
        """SQL text of a clause with nested queries replaced by "(sub-question k)"."""
        if node is None:
            return ""
        copy = node.copy()
        originals = _nested_queries(node)
        for original, nested in zip(originals, _nested_queries(copy)):
            k = finished.get(self._index.get(id(original), -1))
            (nested.parent if isinstance(nested.parent, exp.Subquery) else nested).replace(
                exp.var(f"(sub-question {k})" if k else "(a subquery)")
            )
        return copy.sql(dialect=DIALECT)

    def describe(self, cid: str, finished: dict[int, int]) -> str:
        """The sub-question of the step that applies component ``cid``."""
        s_text, name = cid.split(":", 1)
        scope = self.scopes[int(s_text)]
        node = scope.node
        if name == "combine":
            sides = [finished.get(self._index[id(side)]) for side in (node.this, node.expression)]
            return f"Take the {SET_WORDS.get(node.key, node.key)} of the results of sub-questions {sides[0]} and {sides[1]}."
        assert isinstance(node, exp.Select)
        items = ", ".join(self._snippet(node.expressions[i], finished) for i in scope.plain)
        if name == "from":
            tables = (
                self._snippet(node.args.get("from_").this, finished)
                if node.args.get("from_")
                else ""
            )
            joins = [
                f"{self._snippet(j.this, finished)} on {self._snippet(j.args.get('on'), finished)}"
                if j.args.get("on") is not None else self._snippet(j.this, finished)
                for j in node.args.get("joins", [])
            ]  # fmt: skip
            source = f"Join {tables} with {' and '.join(joins)}" if joins else f"From {tables}"
            distinct = " distinct" if node.args.get("distinct") else ""
            return f"{source}, list the{distinct} {items}."
        if name.startswith("where:"):
            conjunct = _conjuncts(node)[int(name.split(":")[1])]
            return f"Keep only the rows where {self._snippet(conjunct, finished)}."
        if name == "aggregate":
            aggregates = [
                self._snippet(e, finished)
                for i, e in enumerate(node.expressions)
                if i not in scope.plain
            ]
            group = node.args.get("group")
            keys = ", ".join(self._snippet(k, finished) for k in group.expressions) if group else ""
            if not aggregates:
                return f"Group the rows by {keys}."
            what = ", ".join(aggregates)
            return f"For each {keys}, compute {what}." if keys else f"Compute {what}."
        if name == "having":
            return (
                f"Keep only the groups where {self._snippet(node.args['having'].this, finished)}."
            )
        order = node.args.get("order")
        text = (
            f"Sort by {self._snippet(order, finished).removeprefix('ORDER BY ')}"
            if order
            else "Take the rows"
        )
        limit = node.args.get("limit")
        if limit is not None:
            text += f" and keep the first {self._snippet(limit.expression, finished)}"
        return text + "."

    # -- steps ------------------------------------------------------------------------

    def step(self, state: frozenset[str], cid: str, finished: dict[int, int]) -> Step:
        after = state | {cid}
        return Step(
            self.describe(cid, finished),
            self.render(int(cid.split(":")[0]), after),
            frozenset(after),
        )

    def finished_scopes(self, path: Sequence[Step]) -> dict[int, int]:
        """Scope -> the (1-based) step that completed it, along ``path``."""
        finished: dict[int, int] = {}
        for k, step in enumerate(path, start=1):
            if step.state is None:
                continue
            for s in range(len(self.scopes)):
                if s not in finished and self.complete(s, step.state):
                    finished[s] = k
        return finished

    def next_steps(self, path: Sequence[Step]) -> list[Step]:
        """The rule-based proposals for the step after ``path`` (one per available component).

        After a step without a rule state (the model wrote it) the only proposal is the
        whole gold query."""
        if path and path[-1].state is None:
            return [self.final_step()]
        state = path[-1].state if path else frozenset()
        assert state is not None
        finished = self.finished_scopes(path)
        return [self.step(state, cid, finished) for cid in self.available(state)]

    def final_step(self) -> Step:
        """One step that writes the whole query."""
        return Step("Write the whole query.", self.gold_sql, frozenset(self.component_ids()))

    def is_final(self, step: Step) -> bool:
        return step.state is not None and self.complete(self.root, step.state)

    def canonical(self) -> list[Step]:
        """The whole decomposition, one component per step, in the canonical order."""
        path: list[Step] = []
        while not path or not self.is_final(path[-1]):
            path.append(self.next_steps(path)[0])
        return path

    def completion(self, path: Sequence[Step], max_steps: int) -> list[Step]:
        """``path`` completed in the canonical order, the last allowed step writing the rest."""
        path = list(path)
        while not path or not self.is_final(path[-1]):
            path.append(
                self.final_step() if len(path) + 1 >= max_steps else self.next_steps(path)[0]
            )
        return path

    # -- negatives --------------------------------------------------------------------

    def corrupt(self, step: Step, count: int, seed: int | str = 0) -> list[Step]:
        """Up to ``count`` distinct wrong variants of ``step`` (same sub-question, one
        thing changed in the SQL); they carry no state and come from ``corrupt``."""
        try:
            tree = parse(step.sql)
        except ValueError:
            return []
        rng = random.Random(f"{seed}:{step.sql}")
        sites = [node for node in tree.walk() if self._mutable(node)]
        rng.shuffle(sites)
        out: list[Step] = []
        seen = {step.sql}
        for site in sites:
            if len(out) >= count:
                break
            path = _path_to(tree, site)
            copy = tree.copy()
            target = _follow(copy, path)
            if target is None or not self._mutate(target, rng):
                continue
            sql = copy.sql(dialect=DIALECT)
            if sql not in seen:
                seen.add(sql)
                out.append(Step(step.question, sql, None, "corrupt"))
        return out

    def _mutable(self, node: exp.Expression) -> bool:
        if isinstance(node, exp.Column):
            return len(self.columns) > 1
        if isinstance(node, exp.Count):  # COUNT(*) has no wrong twin that is clearly wrong
            return not isinstance(node.this, exp.Star)
        return isinstance(node, (exp.Literal, exp.Ordered, *FLIPPED, *OTHER_AGGREGATE))

    def _mutate(self, node: exp.Expression, rng: random.Random) -> bool:
        if isinstance(node, exp.Column):
            others = [c for c in self.columns if c != node.name]
            node.set("this", exp.to_identifier(rng.choice(others)))
        elif isinstance(node, exp.Literal):
            if node.is_string:
                node.replace(exp.Literal.string(node.this + "x" if node.this else "x"))
            else:
                node.replace(exp.Literal.number(_bump(node.this)))
        elif isinstance(
            node, exp.Ordered
        ):  # flip both, so SQLite's default NULL placement stays implicit
            node.set("desc", not node.args.get("desc"))
            node.set("nulls_first", not node.args.get("nulls_first"))
        elif isinstance(node, exp.Count):
            node.replace(exp.Sum(this=node.this))
        else:
            kind = FLIPPED.get(type(node)) or OTHER_AGGREGATE.get(type(node))
            if kind is None:
                return False
            node.replace(kind(**node.args))
        return True


def _bump(number: str) -> str:
    try:
        value = float(number)
    except ValueError:
        return number + "1"
    return str(int(value) + 1) if value.is_integer() else str(value + 1)


def _path_to(root: exp.Expression, node: exp.Expression) -> list[tuple[str, int | None]]:
    steps: list[tuple[str, int | None]] = []
    while node is not root and node.parent is not None:
        parent = node.parent
        value = parent.args.get(node.arg_key)
        steps.append((node.arg_key, value.index(node) if isinstance(value, list) else None))
        node = parent
    return list(reversed(steps))


def _follow(root: exp.Expression, path: list[tuple[str, int | None]]) -> exp.Expression | None:
    node: exp.Expression | None = root
    for key, index in path:
        value = node.args.get(key) if node is not None else None
        node = (
            value[index]
            if isinstance(value, list) and index is not None and index < len(value)
            else value
        )
        if not isinstance(node, exp.Expression):
            return None
    return node
