"""Runners that return known predictions: ``replay`` (a predictions file) and ``gold``.

Their completions are final predictions, so the harness does not run answer
extraction on them (``returns_predictions``), exactly as ``harness eval`` scores
a saved file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.suite import Suite
from runners.base import Completion, GenerationParams, GenerationRequest


class KnownAnswersRunner:
    """Answers each request with a fixed prediction looked up by example id."""

    returns_predictions = True

    def __init__(self, name: str, answers: dict[str, str], source: str):
        self.name = name
        self._answers = answers
        self._source = source

    def config(self) -> dict[str, Any]:
        return {"runner": self.name, "source": self._source}

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Completion]:
        out = []
        for request in requests:
            if request.id in self._answers:
                out.append(Completion(request.id, [self._answers[request.id]] * params.n))
            else:
                out.append(Completion(request.id, error=f"no prediction for id {request.id} in {self._source}"))
        return out

    def close(self) -> None:
        self._answers = {}


def create(model: str, *, suite: Suite, predictions_format: str | None = None, **_: Any) -> KnownAnswersRunner:
    """Replay a predictions file in any format the core reads (checked against the suite)."""
    from harness.predictions import read_predictions
    from harness.suite import file_digest

    path = Path(model)
    answers = read_predictions(path, suite, predictions_format)
    return KnownAnswersRunner("replay", answers, f"{path.resolve()}@{file_digest(path)}")


def create_gold(model: str | None = None, *, suite: Suite, **_: Any) -> KnownAnswersRunner:
    """The suite's own gold, for sanity checks: every example should match."""
    return KnownAnswersRunner("gold", {ex.id: ex.gold for ex in suite.examples}, f"gold:{suite.name}@{suite.version}")
