"""The trainer API: ``fit(base, train, config) -> Candidate``, and the candidate cache.

A method is a trainer registered under the ``harness.trainers`` entry-point group
as a factory returning an object with ``name``, ``options()`` (its options with
defaults and help, for ``harness methods``) and ``fit``. A candidate is what the
runners load: full weights, or LoRA adapters over a reference to the base.
Candidates live in a content-addressed cache keyed by (method, config, data
hash, base fingerprint, seed): an identical run reuses the candidate instead of
training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from harness.suite import Suite


@dataclass
class Candidate:
    """A trained model the runners can load.

    - ``kind="full"``: the checkpoint (model + tokenizer) is the folder ``checkpoint``
      *relative to* ``path`` (``""``: ``path`` itself; sft and curriculum use ``"model"``).
    - ``kind="lora"``: ``base`` is the base checkpoint folder and ``adapters`` maps
      adapter names to PEFT adapter folders *relative to* ``path`` (so a cached
      candidate can move); ``runner_options`` says how to apply them
      (e.g. MAC's composition: ``{"adapters": {...}, "active": ["easy", "medium"]}``).
    ``path`` is the candidate folder itself (candidate.json, adapters, logs).
    """

    method: str
    kind: str
    path: str
    base: str | None = None
    adapters: dict[str, str] = field(default_factory=dict)
    runner_options: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # training log summary: steps, losses, seconds
    checkpoint: str = ""  # kind "full": the checkpoint folder relative to path

    def adapter_paths(self) -> dict[str, str]:
        """Adapter name -> absolute folder."""
        return {name: str(Path(self.path) / rel) for name, rel in self.adapters.items()}

    def model_path(self) -> str:
        """The checkpoint a runner opens: the full model, or the base under the adapters."""
        if self.kind == "full":
            return str(Path(self.path) / self.checkpoint) if self.checkpoint else self.path
        return str(self.base)

    def save(self) -> None:
        Path(self.path, "candidate.json").write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> Candidate:
        return cls(**json.loads(Path(folder, "candidate.json").read_text()))


@dataclass(frozen=True)
class MethodOption:
    name: str
    default: Any
    help: str


def option(default: Any, help_text: str) -> Any:
    """A config dataclass field with its ``harness methods`` help line."""
    return field(default=default, metadata={"help": help_text})


def documented_options(config_class: type) -> list[MethodOption]:
    """The fields of a config dataclass declared with :func:`option`, as method options."""
    return [MethodOption(f.name, f.default, f.metadata["help"]) for f in fields(config_class)]


class Trainer(Protocol):
    name: str

    def options(self) -> list[MethodOption]:
        """Every option with its default and a line of help (``harness methods``)."""
        ...

    def fit(self, base: str, train: Suite, config: dict[str, Any], out_dir: Path) -> Candidate:
        """Train on ``train`` (its examples carry tiers) starting from the checkpoint ``base``,
        writing everything into ``out_dir``; return the candidate (``path=str(out_dir)``)."""
        ...


def candidate_key(method: str, config: dict[str, Any], data_hash: str, base_fingerprint: str) -> str:
    """The cache key of a candidate; ``config`` includes the seed."""
    payload = json.dumps([method, config, data_hash, base_fingerprint], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def cached_fit(
    cache_root: Path,
    key: str,
    train: Callable[[Path], Candidate],
) -> tuple[Candidate, bool]:
    """The cached candidate for ``key``, or ``train(staging_dir)`` stored atomically; (candidate, hit).

    Under several processes every rank trains into rank 0's staging folder and rank 0
    alone stores the candidate (:func:`_cached_fit_group`)."""
    from trainers import distributed

    if distributed.launched() and distributed.active():
        return _cached_fit_group(cache_root, key, train)
    final = cache_root / key
    if (final / "candidate.json").is_file():
        return Candidate.load(final), True
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_root))
    try:
        candidate = train(staging)
        candidate.path = str(final)
        Path(staging, "candidate.json").write_text(json.dumps(asdict(candidate), indent=2, sort_keys=True) + "\n")
        try:
            os.replace(staging, final)
        except OSError:  # another process stored the same key first
            return Candidate.load(final), True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return candidate, False


def _cached_fit_group(
    cache_root: Path, key: str, train: Callable[[Path], Candidate]
) -> tuple[Candidate, bool]:
    """:func:`cached_fit` for a group of ranks: rank 0 decides the hit and makes the staging
    folder, every rank trains into it (trainers write from rank 0 only), rank 0 stores it,
    and every rank returns the stored candidate."""
    from trainers import distributed

    final = cache_root / key
    if distributed.broadcast((final / "candidate.json").is_file()):
        return Candidate.load(final), True
    staging_name = None
    if distributed.is_main():
        cache_root.mkdir(parents=True, exist_ok=True)
        staging_name = tempfile.mkdtemp(prefix=f".{key}-", dir=cache_root)
    staging = Path(distributed.broadcast(staging_name))
    stored_first = True
    try:
        candidate = train(staging)
        candidate.path = str(final)
        if distributed.is_main():
            Path(staging, "candidate.json").write_text(
                json.dumps(asdict(candidate), indent=2, sort_keys=True) + "\n"
            )
            try:
                os.replace(staging, final)
            except OSError:  # another run stored the same key first
                stored_first = False
    except BaseException:
        # no barrier here: the launcher ends the other ranks when one fails
        if distributed.is_main():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    stored_first = distributed.broadcast(stored_first)  # also: every rank waits for the store
    if distributed.is_main():
        shutil.rmtree(staging, ignore_errors=True)
    return Candidate.load(final), not stored_first


def request_hook(candidate: Candidate, examples: list[Any]) -> Callable[[list[Any]], list[Any]] | None:
    """How a candidate's adapters apply to each generation request, or None (full weights).

    MAC candidates compose their tier adapters per request (``runner_options["composition"]``,
    :mod:`trainers.mac_compose`); a single-adapter candidate (``runner_options["adapter"]``,
    e.g. sft with LoRA) applies that adapter to every request.
    """
    import dataclasses

    options = candidate.runner_options
    if "composition" in options:
        from trainers.mac_compose import compose_requests, question_texts

        questions = question_texts(examples)
        return lambda requests: compose_requests(candidate, requests, questions)
    if options.get("adapter"):
        name = options["adapter"]
        return lambda requests: [dataclasses.replace(r, adapter=name) for r in requests]
    return None
