"""The synth-code program generator: TinyPy-style programs drawn from a seed, as text.

Each program is 5-25 lines of top-level Python over integer variables: assignments
with bracketed arithmetic (``+ - * // %``, divisors are non-zero literals),
comparisons combined with ``and``/``or``/``not``, ``if``/``elif``/``else``,
``for`` over ``range`` with literal bounds, ``while`` loops driven by a counter
that only the loop's last line changes (so every loop ends within a few
iterations), nesting, and ``print``. Program ``i`` of a split is drawn from
``random.Random(f"{seed}:{split}:{i}:{attempt}")`` at one of three generator
levels (``i % 3``: shallow and short, two levels of nesting, three levels with
elif chains and boolean conditions); the tier is not the level but
:func:`suites.code_difficulty.code_tier` of the text.

:func:`draw_program` is a pure function of ``(seed, split, index, attempt)``;
running the candidates, rejecting and redrawing them, and filling the splits is
:mod:`suites.synth_code`'s work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MIN_LINES, MAX_LINES = 5, 25
MAX_OUTPUT_LINES = 10  # printed lines a program may give (acceptable_output in suites.synth_code)

DATA_VARS = ["a", "b", "c", "d", "m", "n", "p", "q", "r", "s", "t", "x", "y", "z", "total", "count"]
FOR_VARS = ["i", "j", "k"]  # by loop depth; never assigned in a body
WHILE_VARS = ["w", "u", "v"]


@dataclass(frozen=True)
class Level:
    """Shape of the programs one generator level draws."""

    max_depth: int  # deepest nesting of control blocks (the first block always reaches it)
    lines: tuple[int, int]  # target length: no new blocks or elifs once it is reached
    blocks: tuple[int, int]  # top-level control blocks
    body: tuple[int, int]  # statements in a block body
    inner_p: float  # chance a body statement is itself a block (while depth allows)
    bool_p: float  # chance a condition combines comparisons with and/or/not
    elif_p: float
    else_p: float
    loop_p: float  # chance a block is a loop rather than an if
    while_p: float  # chance a loop is a while loop
    variables: tuple[int, int]


LEVELS = (
    Level(1, (5, 9), (0, 1), (1, 2), 0.0, 0.0, 0.0, 0.3, 0.5, 0.2, (2, 3)),
    Level(2, (9, 16), (1, 2), (1, 3), 0.3, 0.3, 0.3, 0.5, 0.5, 0.3, (2, 3)),
    Level(3, (13, 20), (1, 2), (1, 3), 0.5, 0.6, 0.5, 0.6, 0.55, 0.4, (3, 4)),
)


class _Writer:
    """Draws one program at one level; ``lines`` holds it as it grows."""

    def __init__(self, rng: random.Random, level: Level):
        self.rng, self.level = rng, level
        self.lines: list[str] = []
        self.vars: list[str] = []
        self.print_budget = MAX_OUTPUT_LINES - 2  # printed lines a loop may still add at most
        self.target = rng.randint(*level.lines)

    def full(self) -> bool:
        return len(self.lines) >= self.target

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    # expressions -----------------------------------------------------------
    def atom(self, scope: list[str]) -> str:
        return self.rng.choice(scope) if self.rng.random() < 0.65 else str(self.rng.randint(1, 12))

    def operand(self, scope: list[str], depth: int, in_loop: bool) -> str:
        text = self.expr(scope, depth, in_loop)
        return f"({text})" if " " in text else text

    def expr(self, scope: list[str], depth: int, in_loop: bool) -> str:
        """Arithmetic over ``scope``; in loops ``*`` takes a literal, so values grow at most geometrically."""
        rng = self.rng
        if depth <= 0 or rng.random() < 0.3:
            return self.atom(scope)
        op = rng.choices(["+", "-", "*", "//", "%"], weights=[4, 3, 2, 1, 1])[0]
        left = self.operand(scope, depth - 1, in_loop)
        if op in ("//", "%"):
            right = str(rng.randint(2, 9))
        elif op == "*" and in_loop:
            right = str(rng.randint(2, 4))
        else:
            right = self.operand(scope, depth - 1, in_loop)
        if not any(c.isalpha() for c in left + right):  # no constant-only arithmetic
            left = rng.choice(scope)
        if left == right and op in ("-", "//", "%"):
            right = str(rng.randint(2, 9))
        return f"{left} {op} {right}"

    def comparison(self, scope: list[str]) -> str:
        rng = self.rng
        name = rng.choice(scope)
        if rng.random() < 0.25:
            k = rng.randint(2, 5)
            return f"{name} % {k} {rng.choice(['==', '!='])} {rng.randint(0, k - 1)}"
        others = [v for v in scope if v != name]
        right = rng.choice(others) if others and rng.random() < 0.3 else str(rng.randint(0, 20))
        left = self.operand(scope, 1, False) if rng.random() < 0.3 else name
        if not any(c.isalpha() for c in left):
            left = name
        return f"{left} {rng.choice(['<', '<=', '>', '>=', '==', '!='])} {right}"

    def condition(self, scope: list[str]) -> str:
        rng = self.rng
        if rng.random() >= self.level.bool_p:
            return self.comparison(scope)
        kind = rng.choice(["and", "or", "not"])
        if kind == "not":
            return f"not ({self.comparison(scope)})"
        parts = [self.comparison(scope) for _ in range(rng.choice([2, 2, 3]))]
        return f" {kind} ".join(parts)

    # statements ------------------------------------------------------------
    def simple(self, indent: int, scope: list[str], in_loop: bool) -> None:
        rng = self.rng
        target = rng.choice(self.vars)
        kind = rng.random()
        if kind < 0.4:
            value = self.expr(scope, 2, in_loop)
            while value == target:
                value = self.expr(scope, 2, in_loop)
            self.emit(indent, f"{target} = {value}")
        elif kind < 0.75:
            self.emit(indent, f"{target} {rng.choice(['+=', '-='])} {self.expr(scope, 1, in_loop)}")
        elif in_loop:
            self.emit(indent, f"{target} = {self.operand(scope, 2, True)} % {rng.randint(5, 50)}")
        else:
            self.emit(indent, f"{target} = {self.expr(scope, 3, False)}")

    def maybe_print(self, indent: int, scope: list[str], iterations: int) -> bool:
        """A print inside a block, if the output budget allows ``iterations`` more lines."""
        if iterations > self.print_budget or self.rng.random() >= 0.3:
            return False
        self.print_budget -= iterations
        self.emit(indent, f"print({', '.join(self.rng.sample(scope, min(len(scope), self.rng.randint(1, 2))))})")
        return True

    def body(self, depth: int, scope: list[str], iterations: int, must_nest: bool) -> None:
        """Statements of a block at nesting ``depth`` (its lines are indented ``depth``)."""
        count = 1 if self.full() else self.rng.randint(*self.level.body)
        nest_at = self.rng.randrange(count) if must_nest and depth < self.level.max_depth else -1
        printed = False
        for index in range(count):
            inner = depth < self.level.max_depth and not self.full() and self.rng.random() < self.level.inner_p
            if index == nest_at or inner:
                self.block(depth, scope, iterations, must_nest and index == nest_at)
            elif not printed and self.maybe_print(depth, scope, max(iterations, 1)):
                printed = True
            else:
                self.simple(depth, scope, iterations > 1)

    def block(self, indent: int, scope: list[str], iterations: int, must_nest: bool) -> None:
        """One control block whose header is indented ``indent``; ``iterations`` of enclosing loops."""
        rng, level = self.rng, self.level
        loops = sum(1 for name in scope if name in FOR_VARS + WHILE_VARS)
        if rng.random() >= level.loop_p or loops >= len(FOR_VARS):
            self.emit(indent, f"if {self.condition(scope)}:")
            self.body(indent + 1, scope, iterations, must_nest)
            while not self.full() and rng.random() < level.elif_p:
                self.emit(indent, f"elif {self.condition(scope)}:")
                self.body(indent + 1, scope, iterations, False)
            if not self.full() and rng.random() < level.else_p:
                self.emit(indent, "else:")
                self.body(indent + 1, scope, iterations, False)
            return
        times = rng.randint(2, 6)
        if rng.random() < level.while_p:
            counter = WHILE_VARS[loops]
            step = rng.randint(1, 3)
            if rng.random() < 0.5:
                self.emit(indent, f"{counter} = 0")
                test = f"{counter} < {times * step}"
                update = f"{counter} += {step}"
            else:
                self.emit(indent, f"{counter} = {times * step}")
                test = f"{counter} > 0"
                update = f"{counter} -= {step}"
            if rng.random() < level.bool_p:
                test = f"{test} and {self.comparison(scope)}"
            self.emit(indent, f"while {test}:")
            self.body(indent + 1, scope + [counter], iterations * times or times, must_nest)
            self.emit(indent + 1, update)
            return
        var = FOR_VARS[loops]
        start = rng.choice([0, 0, 1, 2])
        step = rng.choice([1, 1, 1, 2])
        stop = start + step * times
        if start == 0 and step == 1:
            header = f"range({stop})"
        elif step == 1:
            header = f"range({start}, {stop})"
        else:
            header = f"range({start}, {stop}, {step})"
        self.emit(indent, f"for {var} in {header}:")
        self.body(indent + 1, scope + [var], iterations * times or times, must_nest)

    def program(self) -> str:
        rng, level = self.rng, self.level
        self.vars = rng.sample(DATA_VARS, rng.randint(*level.variables))
        for index, name in enumerate(self.vars):
            earlier = self.vars[:index]
            value = self.expr(earlier, 1, False) if earlier and rng.random() < 0.3 else str(rng.randint(0, 15))
            self.emit(0, f"{name} = {value}")
        blocks = rng.randint(*level.blocks)
        steps = ["block"] * blocks + ["simple"] * rng.randint(1 if blocks == 0 else 0, 2)
        rng.shuffle(steps)
        for index, step in enumerate(steps):
            if step == "block" and (index == steps.index("block") or not self.full()):
                self.block(0, list(self.vars), 0, must_nest=index == steps.index("block"))
            else:
                self.simple(0, list(self.vars), False)
        while len(self.lines) < MIN_LINES - 1:
            self.simple(0, list(self.vars), False)
        shown = rng.sample(self.vars, min(len(self.vars), rng.randint(1, 2)))
        if rng.random() < 0.2:
            self.emit(0, f"print({self.comparison(list(self.vars))})")
        self.emit(0, f"print({', '.join(shown)})")
        return "\n".join(self.lines) + "\n"


def draw_program(seed: int, split: str, index: int, attempt: int) -> str:
    """Candidate ``attempt`` for program ``index`` of ``split``: a pure function of its arguments.

    >>> draw_program(0, "dev", 0, 0) == draw_program(0, "dev", 0, 0)
    True
    >>> compile(draw_program(3, "train", 7, 2), "<p>", "exec") is not None
    True
    """
    return _Writer(random.Random(f"{seed}:{split}:{index}:{attempt}"), LEVELS[index % len(LEVELS)]).program()
