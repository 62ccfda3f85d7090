"""Monte Carlo tree search over decompositions, with AST pruning: LearNAT's data synthesis.

A tree per training question; a node is a partial decomposition (the steps from the
root), an edge one (sub-question, sub-SQL) step. One simulation:

1. **select**: from the root, follow the child with the highest UCB score
   ``Q + c * sqrt(ln N(parent) / N(child))`` while the node is expanded;
2. **expand**: a leaf that is neither complete nor at ``max_depth`` gets proposals for
   its next step: the model's (when a proposer is given), else, or when none of the
   model's survive pruning, the rule-based decomposer's (:mod:`trainers.decomposer`),
   plus a few corrupted variants of those as wrong steps;
3. **prune**: a proposal whose sub-SQL is not a subtree of the gold AST (aliases
   resolved, :func:`trainers.sql_tree.includes`) is pruned: it is kept aside, with its
   value, as a negative for preference pairs, but never expanded;
4. **evaluate**: a kept step's value is its AST similarity to the gold
   (:func:`trainers.sql_tree.similarity`, 1.0 exactly for the whole query); each new
   child starts with one visit worth its value, and the leaf's reward is the best of
   its children's values (the leaf's own value when nothing survives);
5. **backpropagate** the reward to the root (visits and total value).

A node is terminal when its sub-SQL is the whole gold query (complete), at
``max_depth`` (the rule proposer's last allowed step writes the rest of the query, so
rule paths always complete), or when every proposal was pruned.

The **best path** follows, from the root, the child with the highest mean value Q
(ties: more visits, then the higher step value) down to a terminal or unexpanded node;
a path that stops short of the whole query is finished in the rule-based canonical
order (``completed_by_rules``). Whether its last SQL executes to the gold result is
checked afterwards, by the caller, with the suite's executor.

**Step-level pairs** (:meth:`DecompositionSearch.pairs`): at each step of the best path
the chosen step is paired with siblings of lower value, pruned ones first (up to
``pairs_per_step``), each with both values: margin-aware DPO's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainers.decomposer import Decomposer, Step
from trainers.sql_tree import SQLParseError, includes, similarity, to_tree


@dataclass
class SearchConfig:
    simulations: int = 24
    max_depth: int = 8
    exploration: float = 1.0
    corruptions: int = 2  # wrong variants made of each rule proposal
    pairs_per_step: int = 2


@dataclass
class Node:
    step: Step | None  # None at the root
    parent: Node | None = None
    depth: int = 0
    value: float = 0.0  # AST similarity of the step's sub-SQL to the gold
    complete: bool = False
    visits: int = 0
    total: float = 0.0
    expanded: bool = False
    children: list[Node] = field(default_factory=list)
    pruned: list[tuple[Step, float]] = field(default_factory=list)

    @property
    def q(self) -> float:
        return self.total / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class ScoredPair:
    """Shared prefix of steps, a better and a worse next step, and their values."""

    prefix: tuple[Step, ...]
    chosen: Step
    rejected: Step
    value_chosen: float
    value_rejected: float


class DecompositionSearch:
    """The search tree of one question (its gold SQL)."""

    def __init__(
        self, gold_sql: str, config: SearchConfig, *, seed: int | str = 0, example_id: str = ""
    ) -> None:
        self.example_id = example_id
        self.decomposer = Decomposer(gold_sql)
        self.gold = self.decomposer.gold_sql
        self.gold_tree = to_tree(self.gold)
        self.config = config
        self.seed = seed
        self.root = Node(None)
        self.stats = {"model_proposals": 0, "model_kept": 0, "rule_proposals": 0, "pruned": 0}

    # -- one simulation ---------------------------------------------------------------

    def terminal(self, node: Node) -> bool:
        return (
            node.complete
            or node.depth >= self.config.max_depth
            or (node.expanded and not node.children)
        )

    def select(self) -> Node:
        node = self.root
        while node.expanded and node.children and not self.terminal(node):
            log_n = math.log(max(node.visits, 1))
            node = max(
                node.children,
                key=lambda c: c.q + self.config.exploration * math.sqrt(log_n / max(c.visits, 1)),
            )
        return node

    def needs_expansion(self, node: Node) -> bool:
        return not node.expanded and not self.terminal(node)

    def path(self, node: Node) -> list[Step]:
        steps = []
        while node.step is not None:
            steps.append(node.step)
            node = node.parent  # type: ignore[assignment]
        return steps[::-1]

    def expand(self, leaf: Node, model_steps: Sequence[Step] = ()) -> None:
        """Children of ``leaf`` from the model's steps, else the rules' (see the module)."""
        leaf.expanded = True
        last_allowed = leaf.depth + 1 >= self.config.max_depth
        rules = (
            [self.decomposer.final_step()]
            if last_allowed
            else self.decomposer.next_steps(self.path(leaf))
        )
        trees: dict[Any, Step] = {}
        for rule in rules:
            trees.setdefault(to_tree(rule.sql), rule)
        kept: list[Step] = []
        for step in model_steps:
            self.stats["model_proposals"] += 1
            tree = self._tree(step.sql)
            if tree is None or not includes(self.gold_tree, tree):
                self._prune(leaf, step)
                continue
            match = trees.get(tree)  # the model wrote a rule step: it takes over that step's state
            kept.append(Step(step.question, step.sql, match.state if match else None, "model"))
            self.stats["model_kept"] += 1
        if not kept:
            kept = rules
            self.stats["rule_proposals"] += len(rules)
        for rule in rules:
            for wrong in self.decomposer.corrupt(rule, self.config.corruptions, seed=self.seed):
                if self._tree(wrong.sql) is not None and not self.accepts(wrong.sql):
                    self._prune(leaf, wrong)
        seen = set()
        for step in kept:
            tree = self._tree(step.sql)
            if tree in seen:
                continue
            seen.add(tree)
            value = similarity(tree, self.gold_tree)
            child = Node(
                step,
                leaf,
                leaf.depth + 1,
                value,
                complete=tree == self.gold_tree,
                visits=1,
                total=value,
            )
            leaf.children.append(child)

    def accepts(self, sql: str) -> bool:
        """Whether ``sql`` parses and its tree is a subtree of the gold's (a step kept)."""
        tree = self._tree(sql)
        return tree is not None and includes(self.gold_tree, tree)

    def _prune(self, leaf: Node, step: Step) -> None:
        tree = self._tree(step.sql)
        leaf.pruned.append((step, similarity(tree, self.gold_tree) if tree is not None else 0.0))
        self.stats["pruned"] += 1

    @staticmethod
    def _tree(sql: str) -> Any:
        try:
            return to_tree(sql)
        except (SQLParseError, ValueError):
            return None

    def backpropagate(self, node: Node) -> None:
        reward = max((c.value for c in node.children), default=node.value)
        if node.complete:
            reward = 1.0
        current: Node | None = node
        while current is not None:
            current.visits += 1
            current.total += reward
            current = current.parent

    # -- results ----------------------------------------------------------------------

    def best_path(self) -> tuple[list[Step], bool]:
        """The kept decomposition and whether the rules had to finish it."""
        node = self.root
        while node.children:
            node = max(node.children, key=lambda c: (c.q, c.visits, c.value))
        path = self.path(node)
        if node.complete:
            return path, False
        return self.decomposer.completion(path, self.config.max_depth), True

    def pairs(self, path: Sequence[Step]) -> list[ScoredPair]:
        """Step-level preference pairs along ``path`` (see the module)."""
        out: list[ScoredPair] = []
        node = self.root
        for k, step in enumerate(path):
            chosen = next((c for c in node.children if c.step == step), None)
            if chosen is None:  # the rules finished the path beyond the tree
                break
            pruned = [(s, v) for s, v in node.pruned if v < chosen.value]
            kept = [
                (c.step, c.value)
                for c in node.children
                if c is not chosen and c.value < chosen.value
            ]
            by_value = lambda item: -item[1]  # noqa: E731 - each kind highest value (hardest) first
            worse = sorted(pruned, key=by_value) + sorted(kept, key=by_value)
            for rejected, value in worse[: self.config.pairs_per_step]:
                assert rejected is not None
                out.append(ScoredPair(tuple(path[:k]), step, rejected, chosen.value, value))
            node = chosen
        return out


Proposer = Callable[[list[tuple[DecompositionSearch, list[Step]]]], list[list[Step]]]


def run_searches(
    searches: Sequence[DecompositionSearch],
    simulations: int,
    *,
    propose: Proposer | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run ``simulations`` simulations of every search in lockstep, so that the model's
    proposals for all trees' leaves of one round come from one batched call
    ``propose([(search, path), ...]) -> [steps, ...]``. ``progress(n)`` after each round."""
    for _ in range(simulations):
        leaves = [(search, search.select()) for search in searches]
        expand = [(search, leaf) for search, leaf in leaves if search.needs_expansion(leaf)]
        proposals: list[list[Step]] = [[] for _ in expand]
        if propose is not None and expand:
            proposals = propose([(search, search.path(leaf)) for search, leaf in expand])
        for (search, leaf), steps in zip(expand, proposals):
            search.expand(leaf, steps)
        for search, leaf in leaves:
            search.backpropagate(leaf)
        if progress is not None:
            progress(1)


STEP_FORMAT = "Sub-question {k}: {question}\nSubSQL {k}: {sql}\n"


def format_steps(steps: Sequence[Step], start: int = 1) -> str:
    """Steps as the model writes them.

    >>> print(format_steps([Step("From t, list the a.", "SELECT a FROM t")]), end="")
    Sub-question 1: From t, list the a.
    SubSQL 1: SELECT a FROM t
    """
    return "".join(
        STEP_FORMAT.format(k=k, question=s.question, sql=" ".join(s.sql.split()))
        for k, s in enumerate(steps, start)
    )


def parse_first_step(text: str) -> Step | None:
    """The first (sub-question, sub-SQL) step in generated text, or None.

    The text continues a prompt that ends with ``Sub-question k:``.

    >>> parse_first_step(" From t, list the a.\\nSubSQL 2: SELECT a FROM t\\nSub-question 3: ...")
    Step(question='From t, list the a.', sql='SELECT a FROM t', state=None, source='model')
    >>> parse_first_step(" no sql here") is None
    True
    """
    lines = text.split("\n")
    question = lines[0].strip()
    for line in lines[1:3]:
        if line.startswith("SubSQL"):
            _, _, sql = line.partition(":")
            sql = sql.strip()
            return Step(question, sql, None, "model") if question and sql else None
    return None
