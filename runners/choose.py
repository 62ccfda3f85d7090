"""Pick a runner from what ``--model`` looks like, when ``--runner`` is not given."""

from __future__ import annotations

from pathlib import Path

PREDICTION_SUFFIXES = (".sql", ".json", ".jsonl", ".txt")
# runners that load checkpoints, and so can serve a trained candidate
CANDIDATE_RUNNERS = ("transformers", "vllm")


def infer_runner(model: str | None) -> str:
    """``gold`` for "gold", ``openai`` for a URL, ``replay`` for a predictions file,
    ``transformers`` for a checkpoint folder, a hub id, or nothing (the tiny base).

    >>> infer_runner("gold"), infer_runner("http://127.0.0.1:8000/v1"), infer_runner("org/model")
    ('gold', 'openai', 'transformers')
    """
    if model == "gold":
        return "gold"
    if model is None:
        return "transformers"
    if model.startswith(("http://", "https://")):
        return "openai"
    path = Path(model)
    if path.is_file() and path.suffix in PREDICTION_SUFFIXES:
        return "replay"
    return "transformers"
