"""The one narrow runner API: ``generate(requests, params) -> completions``.

A runner turns prompts into completions; everything else (prompts, extraction,
caching, scoring) is the harness's. Runners register under the
``harness.runners`` entry-point group as a factory ``create(model, **options)``
returning a :class:`Runner`, and are imported only when chosen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings shared by every runner. ``temperature == 0`` is greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["stop"] = list(self.stop)
        return record


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt. ``messages`` is the chat form of the same prompt (system/user turns);
    runners with a chat template or a chat endpoint use it, others use ``prompt``.
    ``adapter`` names a LoRA adapter to apply for this request (MAC's tier adapters)."""

    id: str
    prompt: str
    messages: tuple[tuple[str, str], ...] = ()
    adapter: str | None = None

    def chat(self) -> list[dict[str, str]]:
        """``messages`` as OpenAI-style dicts, or the prompt as one user turn."""
        if self.messages:
            return [{"role": role, "content": content} for role, content in self.messages]
        return [{"role": "user", "content": self.prompt}]


@dataclass
class Completion:
    """The ``n`` sampled texts for one request, or the error that stopped it."""

    id: str
    texts: list[str] = field(default_factory=list)
    error: str | None = None
    latency_s: float = 0.0
    output_tokens: int | None = None


@runtime_checkable
class Runner(Protocol):
    """What the harness needs from a model backend."""

    name: str

    def config(self) -> dict[str, Any]:
        """Everything that identifies this runner's outputs (model, revision, adapters, dtype...):
        part of the generation-cache key, and recorded in run.json."""
        ...

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Completion]:
        """Completions for ``requests``, in the same order. A failure of one request is its
        ``Completion.error``; a failure of the backend as a whole raises."""
        ...

    def close(self) -> None:
        """Release the model, connections, processes."""
        ...


def apply_stop(text: str, stop: tuple[str, ...]) -> str:
    """Cut ``text`` at the first stop string (runners whose backend does not).

    >>> apply_stop("SELECT 1;\\n\\nExplanation: ...", ("\\n\\n",))
    'SELECT 1;'
    """
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]
