"""The train step of ``harness run``: a method turns (base, train split, config) into a candidate.

Trainers are found through the registry; the candidate is cached by (method,
full config with the seed, train-data hash, base fingerprint), so an identical
run reuses it instead of training again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import registry
from harness.suite import Suite

TINY = "tiny"


def is_tiny(model: str | None) -> bool:
    """Whether ``model`` names the tiny base: ``tiny`` (None too), or ``tiny:STEPS``.

    >>> is_tiny(None), is_tiny("tiny"), is_tiny("tiny:3000"), is_tiny("tiny-model/")
    (True, True, True, False)
    """
    return model is None or model == TINY or model.startswith(TINY + ":")


def resolve_base(model: str | None, seed: int = 0) -> str:
    """The checkpoint folder to start from: ``tiny`` (the default) is pretrained here, cached;
    ``tiny:STEPS`` is the same base with a pretraining budget of STEPS optimizer steps."""
    if not is_tiny(model):
        return str(model)
    from trainers.tiny_base import tiny_base

    steps = None
    if model and ":" in model:
        text = model.split(":", 1)[1]
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"--model {model!r}: write tiny:STEPS with a positive number of steps, e.g. tiny:3000")
        steps = int(text)
    return str(tiny_base(seed, steps=steps))


def method_config(method: str, overrides: dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    """The trainer and its full config: option defaults, then ``overrides`` (unknown names refused)."""
    trainer = registry.load("trainers", method)()
    defaults = {option.name: option.default for option in trainer.options()}
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(
            f"method {method!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(sorted(defaults))} (see harness methods)"
        )
    config = {**defaults, **overrides}
    if "seed" in defaults:
        config["seed"] = overrides.get("seed", seed)
    return trainer, config


def train_candidate(
    method: str,
    base: str,
    train: Suite,
    overrides: dict[str, Any],
    *,
    seed: int = 0,
    cache_root: Path | None = None,
    exit_replicas: bool = True,
) -> tuple[Any, bool, dict[str, Any]]:
    """(candidate, cache hit, full config) for ``method`` on ``train`` from ``base``.

    Under ``accelerate launch`` (several processes) every rank trains, rank 0 alone stores
    the candidate (cached under a key that also holds the world size and the kind of
    parallelism, and with ``metrics["distributed"]`` saying which ranks trained), and then,
    with ``exit_replicas``, the other ranks exit here (status 0) so that rank 0 alone
    generates and scores; ``exit_replicas=False`` keeps every rank for more training.
    One process: exactly as without a launcher.
    """
    from runners.transformers_runner import folder_fingerprint
    from suites.tiny import cache_dir
    from trainers import distributed
    from trainers.base import cached_fit, candidate_key

    group = distributed.launched() and distributed.active()  # starts the process group
    trainer, config = method_config(method, overrides, seed)
    fingerprint = folder_fingerprint(Path(base)) if Path(base).is_dir() else base
    keyed = {**config, "distributed": distributed.layout()} if group else config
    key = candidate_key(method, keyed, train.version, fingerprint)
    root = cache_root or cache_dir() / "candidates"

    def fit(out_dir: Path) -> Any:
        candidate = trainer.fit(base, train, config, out_dir)
        if group:
            candidate.metrics["distributed"] = distributed.describe()
        return candidate

    candidate, hit = cached_fit(root, key, fit)
    if group:
        distributed.finish(exit_replicas=exit_replicas)
    return candidate, hit, config
