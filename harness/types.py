"""The data model: an Example to score, and the Sample that records how it scored."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """How one example ended. Only ``match`` counts as correct."""

    MATCH = "match"
    MISMATCH = "mismatch"
    PRED_ERROR = "pred_error"
    PRED_TIMEOUT = "pred_timeout"
    GOLD_ERROR = "gold_error"
    GOLD_TIMEOUT = "gold_timeout"

    def __str__(self) -> str:
        return self.value


@dataclass
class Example:
    """One item of a suite.

    ``id`` is stable across runs: the 0-based position in the suite's file for
    Spider, the question_id for BIRD. ``db_paths`` lists every database instance
    the prediction must agree on (several make a test suite).
    """

    id: str
    suite: str
    db_id: str
    question: str
    gold: str
    tier: str | None = None
    evidence: str = ""
    db_paths: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """An Example with its prediction and verdict: one line of samples.jsonl."""

    id: str
    db_id: str
    tier: str | None
    features: list[str]
    status: Status
    pred: str
    gold: str
    scores: dict[str, float]
    error: str | None = None
    latency_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        record = dict(self.__dict__)  # shallow: asdict's deep copy is a hot-path cost
        record["status"] = self.status.value
        return record


@dataclass
class Execution:
    """What an executor found for one prediction: the status and what it compared.

    ``gold_rows`` / ``pred_rows`` hold result rows (SQL) or other denotations
    (a program's output lines, an answer list); metrics such as Soft-F1 read them.
    """

    status: Status
    gold_rows: list[Any] | None = None
    pred_rows: list[Any] | None = None
    error: str | None = None
    latency_s: dict[str, float] = field(default_factory=dict)
    official_match: bool = False  # the official evaluator counts it correct despite a failing gold
