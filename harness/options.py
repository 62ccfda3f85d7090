"""Plain keyword configuration of one evaluation, recorded in run.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
    engine: str = "sqlite"  # where SQL runs (harness.engines): sqlite, duckdb, postgresql
    db_url: str | None = None  # the engine's data: a SQLAlchemy URL, or a .duckdb file
    db_schema: str | None = None  # one schema holding every database (None: one schema per database)
    gold_dialect: str = "sqlite"  # the dialect the suite's gold SQL is written in
    pred_dialect: str | None = None  # the dialect predictions are written in (None: the engine's)


def recorded_options(options: EvalOptions) -> dict[str, Any]:
    """``options`` as run.json records them: a password in ``db_url`` is masked.

    >>> recorded_options(EvalOptions(engine="postgresql", db_url="postgresql://u:secret@h/db"))["db_url"]
    'postgresql://u:***@h/db'
    """
    record = asdict(options)
    if options.db_url and "://" in options.db_url:
        from harness.engines.postgres import safe_url

        record["db_url"] = safe_url(options.db_url)
    return record
