"""Plain keyword configuration of one evaluation, recorded in run.json."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalOptions:
    """Plain keyword configuration of one evaluation (recorded in run.json)."""

    semantics: str = "spider"
    metrics: tuple[str, ...] = ("ex",)
    timeout_s: float = 30.0
    max_rows: int = 1_000_000
    keep_distinct: bool = False
    strict_gold: bool = False
    lenient_em: bool = False
    soft_f1_order_free: bool = False
    ves_repetitions: int | None = None  # None: each metric's official count (VES 10, R-VES 100)
    allow_code_execution: bool = False  # run model-written code (the sandbox still applies)
    prediction_kind: str | None = None  # what a prediction is when a suite accepts several ("sql", "answer")
