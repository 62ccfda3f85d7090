"""How hard a piece of Python is to trace by hand: one score, three tiers, a few tags.

The score combines three classic measures, each computed on the whole module so
that top-level TinyPy programs and function-wrapped CRUXEval code are measured
alike::

    difficulty = (cyclomatic - 1) + halstead / 2 + 2 * nesting

- ``cyclomatic``: McCabe complexity from radon's ``ComplexityVisitor``
  (``total_complexity``: the decision points of the module body plus those inside
  every function and class, plus one). ``if``/``elif``, ``for``, ``while``, each
  extra operand of ``and``/``or``, conditional expressions and comprehensions
  each add one.
- ``halstead``: Halstead difficulty ``D = h1 / 2 * N2 / h2`` from radon's
  ``h_visit`` (distinct operators, operand occurrences, distinct operands):
  long arithmetic over few names is harder to follow than the same number of
  lines of plain assignments.
- ``nesting``: the deepest stack of control blocks (``if``, ``for``, ``while``,
  ``with``, ``try``, ``match``); an ``elif`` sits at its ``if``'s depth and
  function or class bodies do not count, so ``def f(x): return x`` has 0.

Tiers cut the score at :data:`EASY_MAX` and :data:`MEDIUM_MAX`::

    easy    difficulty <= 6.0
    medium  6.0 < difficulty <= 13.5
    hard    difficulty > 13.5        (and code that does not parse)

The cut points are the tertiles of the 2600 programs of the default
``synth-code`` suite (seed 0, train + dev + test), rounded to 0.5: see
docs/synth-code.md for the measured tier counts.

>>> code_tier("x = 3\\nprint(x + 1)\\n")
'easy'
>>> code_tier("def f(:\\n")
'hard'
>>> sorted(code_features("for i in range(3):\\n    if i > 1 and i < 5:\\n        print(i)\\n"))
['bool', 'for', 'if', 'loop', 'nested']
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

from radon.metrics import h_visit_ast
from radon.visitors import ComplexityVisitor

TIERS = ["easy", "medium", "hard"]
EASY_MAX = 6.0
MEDIUM_MAX = 13.5

_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try) + (
    (ast.Match,) if hasattr(ast, "Match") else ()
) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


@dataclass(frozen=True)
class CodeMetrics:
    """The three measures behind :func:`code_difficulty`.

    >>> m = code_metrics("a = 1\\nwhile a < 9:\\n    a = a * 2\\nprint(a)\\n")
    >>> (m.cyclomatic, round(m.halstead, 2), m.nesting, round(m.difficulty, 2))
    (2, 1.33, 1, 3.67)
    """

    cyclomatic: int
    halstead: float
    nesting: int

    @property
    def difficulty(self) -> float:
        return (self.cyclomatic - 1) + self.halstead / 2 + 2 * self.nesting


def max_nesting(tree: ast.AST) -> int:
    """Deepest stack of control blocks under ``tree``; ``elif`` does not add a level.

    >>> max_nesting(ast.parse("if a:\\n    pass\\nelif b:\\n    pass\\nelse:\\n    pass\\n"))
    1
    >>> max_nesting(ast.parse("def f(x):\\n    for i in x:\\n        while i:\\n            i -= 1\\n"))
    2
    """

    def depth(node: ast.AST, level: int) -> int:
        deepest = level
        for name, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if not isinstance(child, ast.AST):
                    continue
                is_elif = isinstance(node, ast.If) and name == "orelse" and len(children) == 1 and isinstance(child, ast.If)
                inner = level + 1 if isinstance(child, _BLOCKS) and not is_elif else level
                deepest = max(deepest, depth(child, inner))
        return deepest

    return depth(tree, 0)


def code_metrics(source: str) -> CodeMetrics | None:
    """Cyclomatic complexity, Halstead difficulty and nesting of ``source``; None if it does not parse."""
    try:
        tree = ast.parse(source)
        cyclomatic = ComplexityVisitor.from_ast(tree).total_complexity
        halstead = float(h_visit_ast(tree).total.difficulty)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return CodeMetrics(cyclomatic=int(cyclomatic), halstead=halstead, nesting=max_nesting(tree))


def code_difficulty(source: str) -> float:
    """The difficulty score of ``source`` (``inf`` for code that does not parse).

    >>> code_difficulty("x = 3\\nprint(x)\\n")
    0.0
    >>> code_difficulty("x = (\\n")
    inf
    """
    metrics = code_metrics(source)
    return math.inf if metrics is None else metrics.difficulty


def tier_of(difficulty: float, *, easy_max: float = EASY_MAX, medium_max: float = MEDIUM_MAX) -> str:
    """The tier of a difficulty score (thresholds in the module docstring).

    >>> [tier_of(d) for d in (0.0, 6.0, 6.5, 13.5, 14.0)]
    ['easy', 'easy', 'medium', 'medium', 'hard']
    """
    if difficulty <= easy_max:
        return "easy"
    if difficulty <= medium_max:
        return "medium"
    return "hard"


def code_tier(source: str, *, easy_max: float = EASY_MAX, medium_max: float = MEDIUM_MAX) -> str:
    """``easy``, ``medium`` or ``hard`` for any Python source; unparsable code is ``hard``.

    The default cut points are balanced on synth-code; a suite of shorter code
    (CRUXEval functions: 564 easy, 236 medium, 0 hard with the defaults) can pass
    its own, e.g. its tertiles ``easy_max=3.0, medium_max=5.5``.
    """
    return tier_of(code_difficulty(source), easy_max=easy_max, medium_max=medium_max)


def code_features(source: str) -> list[str]:
    """Tags of the constructs ``source`` uses, sorted: loop, for, while, if, elif, else, nested, bool.

    ``nested`` means a control block inside another; ``bool`` an ``and``/``or``/``not``.
    Unparsable code has no tags.

    >>> code_features("n = 0\\nwhile n < 3:\\n    n += 1\\nprint(not n)\\n")
    ['bool', 'loop', 'while']
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    tags: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor)):
            tags |= {"loop", "for"}
        elif isinstance(node, ast.While):
            tags |= {"loop", "while"}
        elif isinstance(node, ast.If):
            tags.add("if")
            if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                tags.add("elif")
            elif node.orelse:
                tags.add("else")
        elif isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            tags.add("bool")
    if max_nesting(tree) >= 2:
        tags.add("nested")
    return sorted(tags)
