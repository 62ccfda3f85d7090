"""Executors: how a prediction is run and judged, by semantics name.

An executor is ``fn(example, pred, options) -> Execution``, called inside a
scoring worker. Each lives in its own module and is imported only when its
semantics is chosen (DuckDB, the Python sandbox).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from harness.options import EvalOptions
from harness.types import Example, Execution

Executor = Callable[[Example, str, EvalOptions], Execution]

EXECUTORS: dict[str, str] = {
    "spider": "harness.metrics.execution_accuracy:execute_spider",
    "bird": "harness.metrics.execution_accuracy:execute_bird",
    "output": "harness.metrics.code_exec:execute_output",
    "cruxeval": "harness.metrics.code_exec:execute_cruxeval",
    "completion": "harness.metrics.code_exec:execute_completion",
    "denotation": "harness.metrics.table_qa:execute_denotation",
}


def get_executor(semantics: str) -> Executor:
    """The executor for ``semantics``; ValueError naming the known ones otherwise.

    >>> get_executor("spider").__name__
    'execute_spider'
    """
    if semantics not in EXECUTORS:
        raise ValueError(f"unknown semantics {semantics!r}; use one of {', '.join(sorted(EXECUTORS))}")
    module, name = EXECUTORS[semantics].split(":")
    return getattr(import_module(module), name)
