"""Execution feedback for methods that learn from their own outputs (CodeLutra, GRPO).

Two pieces, both suite-agnostic:

- :func:`sample_completions` draws K completions per training question from a
  checkpoint with the transformers runner, using the exact inference prompt, and
  extracts each prediction the way scoring does.
- :func:`judge` runs predictions through the suite's own executor (the same code
  that scores a run: read-only databases, deadlines, row caps, the Python
  sandbox) in forked worker processes, and returns one
  :class:`~harness.types.Execution` per prediction. Model output is hostile: a
  worker that overruns is killed and the prediction counts as a timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.options import EvalOptions
from harness.prompts import PromptOptions, build_request
from harness.suite import Suite
from harness.types import Example, Execution, Status
from runners.base import GenerationParams

_state: dict[str, Any] = {}

# a prediction's status counts as "wrong" for learning when it is any of these
WRONG = (Status.MISMATCH, Status.PRED_ERROR, Status.PRED_TIMEOUT)
FAILED_TO_RUN = (Status.PRED_ERROR, Status.PRED_TIMEOUT)


@dataclass
class Sampled:
    """One sampled completion: its raw text (what the model wrote) and the extracted prediction."""

    example_id: str
    text: str
    prediction: str
    error: str | None = None


def feedback_options(suite: Suite, *, timeout_s: float = 5.0, max_rows: int = 100_000) -> EvalOptions:
    """The evaluation options execution feedback uses: the suite's semantics, a short deadline.

    Code suites run model-written programs only inside the sandbox; training on them
    is the opt-in (the user asked for a method that executes its own outputs).
    """
    return EvalOptions(
        semantics=suite.semantics,
        metrics=(),
        timeout_s=timeout_s,
        max_rows=max_rows,
        allow_code_execution=True,
    )


def _judge_one(item: tuple[int, str]) -> Execution:
    index, prediction = item
    example: Example = _state["examples"][index]
    return _state["execute"](example, prediction, _state["options"])


def judge(
    suite: Suite,
    items: Sequence[tuple[Example, str]],
    *,
    options: EvalOptions | None = None,
    jobs: int = 1,
    executor: Any = None,
) -> list[Execution]:
    """Execute every (example, prediction) with the suite's executor; one Execution each, in order.

    ``executor`` (``fn(example, prediction, options) -> Execution``, a module-level function)
    replaces the suite's, e.g. GRPO's answers-only judge. A worker killed at its deadline
    gives ``pred_timeout``; a crashed worker ``pred_error``.
    """
    from harness.evaluate import example_deadline
    from harness.execution.pool import WorkerPool
    from harness.executors import get_executor

    if not items:
        return []
    options = options or feedback_options(suite)
    examples = [example for example, _ in items]
    _state.update(examples=examples, options=options, execute=executor or get_executor(options.semantics))
    max_dbs = max((len(ex.db_paths) for ex in examples), default=1)
    verdicts: list[Execution | None] = [None] * len(items)
    try:
        with WorkerPool(_judge_one, jobs=jobs) as pool:
            work = ((i, (i, prediction)) for i, (_, prediction) in enumerate(items))
            for index, outcome in pool.imap_unordered(work, deadline_s=example_deadline(options, max_dbs)):
                if outcome.killed:
                    verdicts[index] = Execution(Status.PRED_TIMEOUT, error="killed: overran its hard deadline")
                elif outcome.crashed is not None:
                    verdicts[index] = Execution(Status.PRED_ERROR, error=f"worker crashed: {outcome.crashed}")
                else:
                    verdicts[index] = outcome.value
    finally:
        _state.clear()
    return [v if v is not None else Execution(Status.PRED_ERROR, error="not judged") for v in verdicts]



def sample_completions(
    model: str,
    suite: Suite,
    examples: Sequence[Example],
    *,
    prompt_options: PromptOptions,
    k: int,
    temperature: float,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    seed: int | None = None,
    batch_size: int = 16,
    device: str = "auto",
) -> dict[str, list[Sampled]]:
    """``k`` sampled completions per example from the checkpoint folder ``model``, by example id."""
    from harness.generate import extractor_for
    from runners.transformers_runner import create

    runner = create(model, device=device, batch_size=batch_size)
    try:
        extract = extractor_for(suite, runner, None)
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=k, seed=seed)
        requests = [build_request(suite, example, prompt_options, []) for example in examples]
        out: dict[str, list[Sampled]] = {}
        for start in range(0, len(requests), batch_size):
            for completion in runner.generate(requests[start : start + batch_size], params):
                if completion.error is not None:
                    out[completion.id] = [Sampled(completion.id, "", "", completion.error)]
                    continue
                out[completion.id] = [Sampled(completion.id, text, extract(text)) for text in completion.texts]
    finally:
        runner.close()
    return out
