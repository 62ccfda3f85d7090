"""MAC's adapter compositions: which tier adapters each request applies.

:func:`compose_requests` sets each request's adapter spec
(:func:`runners.adapters.adapter_spec`) from a MAC candidate's ``runner_options`` and
one of the four compositions:

- ``stack``: every tier adapter (the default).
- ``upto``: the adapters of the tiers up to and including ``upto_tier``: deploying the
  model "by difficulty".
- ``route``: the candidate's difficulty classifier predicts the tier ``t`` of each
  question, and the request gets the adapters of ``t`` *and every easier tier*. That
  mirrors training: tier ``t``'s adapter was trained on top of the adapters of the
  tiers before it, so it is only meaningful together with them. A routed batch mixes
  specs; the transformers runner groups requests by spec.
- ``merge``: the single adapter ``merged`` built at training time by a weighted merge
  of the tier adapters.

Only the transformers runner stacks adapters. vLLM (offline, or through its
OpenAI-compatible server) applies one LoRA adapter per request, so with the ``vllm``
and ``openai`` runners only ``merge`` works; :func:`check_runner_support` says so
before any generation starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from runners.adapters import adapter_spec, tiers_up_to
from runners.base import GenerationRequest

COMPOSITIONS = ("stack", "upto", "route", "merge")
MERGED = "merged"
STACKING_RUNNERS = frozenset({"transformers"})
SINGLE_ADAPTER_RUNNERS = frozenset({"vllm", "openai"})


def check_runner_support(runner: str, mode: str) -> None:
    """Raise ValueError if the runner named ``runner`` cannot apply composition ``mode``."""
    if mode not in COMPOSITIONS:
        raise ValueError(f"unknown composition {mode!r}; choose one of {', '.join(COMPOSITIONS)}")
    if runner in STACKING_RUNNERS or mode == "merge":
        return
    if runner in SINGLE_ADAPTER_RUNNERS:
        raise ValueError(
            f"the {runner} runner applies one LoRA adapter per request; vLLM cannot stack several "
            f"LoRA adapters on one request, which MAC composition {mode!r} needs. Use the "
            "transformers runner, or composition 'merge' (one merged adapter)."
        )
    raise ValueError(
        f"the {runner} runner does not apply LoRA adapters; MAC candidates need "
        "the transformers runner (any composition) or vllm (composition 'merge')"
    )


def compose_requests(
    candidate: Any,
    requests: Sequence[GenerationRequest],
    questions: Mapping[str, str] | None = None,
    *,
    mode: str | None = None,
    upto_tier: str | None = None,
    runner: str | None = None,
) -> list[GenerationRequest]:
    """``requests`` with ``adapter`` set by a MAC candidate's composition.

    ``candidate`` is a :class:`trainers.base.Candidate` whose ``runner_options`` hold
    ``composition``, ``tiers`` (easy to hard), ``upto_tier`` and ``classifier`` (a path
    relative to the candidate folder). ``mode`` and ``upto_tier`` override them.
    ``questions`` maps request id to the text the classifier reads (question plus
    evidence: :func:`question_texts` builds it from the examples); ``route`` needs it
    for every request. ``runner``, when given, is checked with
    :func:`check_runner_support` first.
    """
    options = candidate.runner_options
    mode = mode or options.get("composition", "stack")
    if runner is not None:
        check_runner_support(runner, mode)
    tiers = list(options.get("tiers") or [])
    if mode not in COMPOSITIONS:
        raise ValueError(f"unknown composition {mode!r}; choose one of {', '.join(COMPOSITIONS)}")
    if not tiers:
        raise ValueError("the candidate's runner_options list no tiers: is it a MAC candidate?")
    if mode == "merge":
        if MERGED not in candidate.adapters:
            raise ValueError(f"the candidate has no {MERGED!r} adapter to apply")
        return [dataclasses.replace(r, adapter=MERGED) for r in requests]
    if mode == "stack":
        spec = adapter_spec(tiers)
        return [dataclasses.replace(r, adapter=spec) for r in requests]
    if mode == "upto":
        limit = upto_tier or options.get("upto_tier")
        if limit is None:
            raise ValueError("composition 'upto' needs upto_tier")
        spec = adapter_spec(tiers_up_to(tiers, limit))
        return [dataclasses.replace(r, adapter=spec) for r in requests]
    # route
    if questions is None:
        raise ValueError("composition 'route' needs the question text of every request")
    missing = [r.id for r in requests if r.id not in questions]
    if missing:
        raise ValueError(f"composition 'route': no question text for request(s) {missing[:5]}")
    classifier = load_classifier(
        Path(candidate.path) / options.get("classifier", "classifier.json")
    )
    routed = []
    for request in requests:
        tier = classifier.predict(questions[request.id])
        routed.append(dataclasses.replace(request, adapter=adapter_spec(tiers_up_to(tiers, tier))))
    return routed


def question_texts(examples: Iterable[Any]) -> dict[str, str]:
    """The ``questions`` mapping of :func:`compose_requests` for harness Examples: id ->
    question plus evidence, the text the difficulty classifier was trained on."""
    from trainers.difficulty_classifier import example_text

    return {e.id: example_text(e.question, e.evidence) for e in examples}


def load_classifier(path: str | Path) -> Any:
    """The difficulty classifier saved at ``path``, cached per file version (routing
    calls this for every batch).

    The classifier is :mod:`trainers.difficulty_classifier`: plain Python.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"composition 'route': no difficulty classifier at {file}")
    stat = file.stat()
    return _load_classifier(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load_classifier(path: str, mtime_ns: int, size: int) -> Any:
    from trainers.difficulty_classifier import Classifier

    return Classifier.load(path)
