"""``mac``: Modular Adapter Composition, one LoRA adapter per difficulty tier.

Training, on a frozen base, tier after tier in the suite's easy-to-hard order: tier
``k``'s adapter is created (PEFT ``LoraConfig``; B starts at zero, so the model starts
from what tiers ``1..k-1`` made of it), then the adapters ``1..k`` are all active in the
forward pass (``LoraModel.set_adapter([...])``: every LoRA layer adds the deltas of all
of them) while only adapter ``k`` requires grad and is in the optimizer
(``LoraModel.set_requires_grad(earlier, False)``). Earlier adapters are therefore
exactly unchanged by later tiers, and adapter ``k`` learns a correction on top of them.
Each adapter is saved as ``adapters/<tier>`` right after its tier.

Composition at inference (``runner_options["composition"]``, applied by
:func:`runners.adapters.compose_requests`): ``stack`` (all tiers, the default), ``upto``
(tiers up to ``upto_tier``), ``route`` (a difficulty classifier, trained here on the
train questions and saved as ``classifier.json``, predicts a tier ``t``; the adapters of
``1..t`` apply) and ``merge`` (one adapter, ``adapters/merged``). The classifier and the
merged adapter are cheap and are always built, so that one trained candidate can be
scored under every composition; ``composition`` only sets the default.

Merging uses PEFT's ``add_weighted_adapter``. The default ``merge_combination="cat"``
concatenates the tier LoRAs (rank = sum of ranks; A rows scaled by weight x the tier's
alpha/r) and is exact: the merged delta is ``sum_i w_i * delta_i``. ``"linear"`` (valid
because all tiers share one rank) sums the A's and the B's separately (each scaled by
``sqrt(w_i * alpha/r)``), which adds cross terms ``B_i A_j``: only an approximation.
``"svd"`` truncates the exact sum to rank ``lora_r``. ``merge_weights`` default to
uniform ``1/n``: the merged adapter is the mean of the tier deltas (weights of 1.0 with
``cat`` reproduce ``stack`` exactly). A ``cat`` adapter of n tiers has rank
``n * lora_r`` (64 for Spider's four tiers at the default rank 16): vLLM's
``max_lora_rank`` must be at least that.

The fine-tuning options (rank, alpha, targets, lr, batch size, prompt options...) and
their defaults are those of ``sft --mode lora`` (:class:`trainers.sft.TuneOptions`), so
the two compare at equal settings. Tiers without training examples get no adapter
(listed in ``metrics["skipped_tiers"]``). Training runs through
:func:`trainers.loop.train`, one call per tier, so that the optimizer (and, under
several processes, the DDP wrapper) sees exactly the parameters that train in that tier.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.suite import Suite
from harness.types import Example
from trainers import difficulty_classifier
from trainers.base import Candidate, MethodOption
from trainers.curriculum import stage_budgets
from trainers.data import resolve_tiers
from trainers.mac_compose import COMPOSITIONS, MERGED
from trainers.sft import TUNE_HELP, FineTune, TuneOptions, options_of

MERGE_COMBINATIONS = ("cat", "linear", "svd")
CLASSIFIER_FILE = "classifier.json"
_ADAPTER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass
class MacConfig(TuneOptions):
    """MAC's options: the fine-tuning options shared with sft and curriculum (LoRA rank,
    targets, lr...: the same defaults as ``sft --mode lora``) plus MAC's own."""

    mode: str = "lora"
    steps_per_tier: int | list[int] = 100
    composition: str = "stack"
    upto_tier: str | None = None
    merge_weights: list[float] | dict[str, float] | None = None
    merge_combination: str = "cat"

    def validate(self, method: str) -> None:
        if self.mode != "lora":
            raise ValueError(
                f"{method}: trains LoRA adapters only (mode 'lora'), got {self.mode!r}"
            )
        budgets = (
            self.steps_per_tier if isinstance(self.steps_per_tier, list) else [self.steps_per_tier]
        )
        if not budgets or any(int(steps) < 1 for steps in budgets):
            raise ValueError(f"{method}: steps_per_tier must be at least 1 (or a list of such)")
        if self.composition not in COMPOSITIONS:
            raise ValueError(
                f"{method}: composition must be one of {COMPOSITIONS}, got {self.composition!r}"
            )
        if self.composition == "upto" and self.upto_tier is None:
            raise ValueError(f"{method}: composition 'upto' needs upto_tier")
        if self.merge_combination not in MERGE_COMBINATIONS:
            raise ValueError(f"{method}: merge_combination must be one of {MERGE_COMBINATIONS}")


HELP = {
    **TUNE_HELP,
    "mode": "always lora: one LoRA adapter per tier on the frozen base",
    "steps_per_tier": "optimizer steps per tier adapter (int, or a list with one per tier)",
    "composition": "default composition at inference: stack, upto, route or merge",
    "upto_tier": "last tier applied by composition 'upto'",
    "merge_weights": "weights of the tier adapters in the merged adapter "
    "(list or tier -> weight); None: 1/n each",
    "merge_combination": "PEFT add_weighted_adapter combination: cat (exact), linear or svd",
}


def create(**_: Any) -> MacTrainer:
    return MacTrainer()


class MacTrainer:
    """One LoRA adapter per tier, trained in tier order on a frozen base."""

    name = "mac"

    def options(self) -> list[MethodOption]:
        return options_of(MacConfig, HELP)

    def fit(
        self,
        base: str,
        train: Suite,
        config: dict[str, Any],
        out_dir: Path,
        *,
        progress: bool = True,
        on_tier_end: Callable[[str, Any], None] | None = None,
    ) -> Candidate:
        """Train the tier adapters into ``out_dir``; ``on_tier_end(tier, peft_model)`` runs
        after each tier's adapter is trained and saved."""
        import torch

        from trainers import distributed
        from trainers.loop import TrainLog
        from trainers.loop import train as train_loop

        cfg = MacConfig.from_options(config, self.name)
        out_dir = Path(out_dir)
        # Under several processes every rank trains each tier (DDP) and rank 0 writes the files.
        distributed.refuse_sharding(
            self.name, "each tier wraps the same model again, with other parameters training"
        )
        resolve_tiers(train)
        groups = tier_groups(train)
        tiers = [tier for tier, _ in groups]
        if cfg.upto_tier is not None and cfg.upto_tier not in tiers:
            raise ValueError(f"mac: upto_tier {cfg.upto_tier!r} is not a trained tier {tiers}")
        weights = merge_weights(cfg.merge_weights, tiers)
        budgets = stage_budgets(cfg.steps_per_tier, len(tiers), schedule="sequential")

        # The session's LoRA-wrapped model holds the first tier's adapter; later tiers are
        # added with a copy of its config, so every tier has the same rank and targets.
        session = FineTune.open(base, cfg, adapter_name=tiers[0])
        peft_model = session.model
        encoded = {tier: session.encode(train, examples) for tier, examples in groups}
        log = TrainLog()
        for k, tier in enumerate(tiers):
            if k:
                torch.manual_seed(cfg.seed + k)  # adapter k's initial A
                peft_model.add_adapter(tier, copy.deepcopy(peft_model.peft_config[tiers[0]]))
            activate_for_training(peft_model, tiers[: k + 1])
            tier_log = train_loop(
                peft_model, session.tokenizer, [encoded[tier].items], steps_per_stage=budgets[k],
                batch_size=cfg.batch_size, lr=cfg.learning_rate, warmup=cfg.warmup,
                seed=cfg.seed + k, reset_optimizer_per_stage=True, progress=progress,
                stage_names=[tier], mixed_precision=session.mixed_precision,
            )  # fmt: skip
            log.stages.extend(tier_log.stages)
            log.losses.extend(tier_log.losses)
            _disable_dropout(peft_model, tier)
            if distributed.is_main():
                peft_model.save_pretrained(str(out_dir / "adapters"), selected_adapters=[tier])
            if on_tier_end is not None:
                on_tier_end(tier, peft_model)

        peft_model.add_weighted_adapter(
            tiers, [weights[t] for t in tiers], MERGED, combination_type=cfg.merge_combination
        )
        if distributed.is_main():
            peft_model.save_pretrained(str(out_dir / "adapters"), selected_adapters=[MERGED])

        texts = [difficulty_classifier.example_text(e.question, e.evidence) for e in train.examples]
        labels = [str(e.tier) for e in train.examples]
        classifier = difficulty_classifier.train(texts, labels, labels_order=tiers)
        if distributed.is_main():
            classifier.save(out_dir / CLASSIFIER_FILE)
        distributed.barrier()

        metrics = log.summary()
        metrics.update(
            tiers={tier: encoded[tier].summary() for tier in tiers},
            skipped_tiers=[t for t in train.tiers if t not in tiers],
            classifier_train_accuracy=round(classifier.accuracy(texts, labels), 4),
        )
        return Candidate(
            method=self.name,
            kind="lora",
            path=str(out_dir),
            base=_base_reference(base),
            adapters={name: f"adapters/{name}" for name in [*tiers, MERGED]},
            runner_options={
                "composition": cfg.composition,
                "tiers": tiers,
                "upto_tier": cfg.upto_tier,
                "classifier": CLASSIFIER_FILE,
                "merge_weights": weights,
                "merge_combination": cfg.merge_combination,
                "prompt_options": asdict(session.prompt_options),
            },
            metrics=metrics,
        )


def tier_groups(suite: Suite) -> list[tuple[str, list[Example]]]:
    """The suite's examples by tier, in ``suite.tiers`` order; tiers without examples left out."""
    by_tier: dict[str, list[Example]] = {tier: [] for tier in suite.tiers}
    for example in suite.examples:
        if example.tier not in by_tier:
            raise ValueError(
                f"mac: example {example.id!r} has tier {example.tier!r}, not one of the suite's "
                f"tiers {suite.tiers}"
            )
        by_tier[example.tier].append(example)
    groups = [(tier, examples) for tier, examples in by_tier.items() if examples]
    if not groups:
        raise ValueError(f"mac: the train split of {suite.name!r} has no examples")
    for tier, _ in groups:
        # Tier names become PEFT adapter names, module-dict keys and parts of adapter specs.
        if not _ADAPTER_NAME.fullmatch(tier) or tier in (MERGED, "default") or tier in "lora_":
            raise ValueError(f"mac: tier {tier!r} cannot name an adapter")
    return groups


def merge_weights(
    weights: list[float] | dict[str, float] | None, tiers: list[str]
) -> dict[str, float]:
    """Tier -> weight in the merged adapter: uniform 1/n by default.

    >>> merge_weights(None, ["easy", "hard"])
    {'easy': 0.5, 'hard': 0.5}
    >>> merge_weights([1, 2], ["easy", "hard"])
    {'easy': 1.0, 'hard': 2.0}
    """
    if weights is None:
        return {tier: 1.0 / len(tiers) for tier in tiers}
    if isinstance(weights, dict):
        if set(weights) != set(tiers):
            raise ValueError(f"mac: merge_weights names {sorted(weights)}, the tiers are {tiers}")
        return {tier: float(weights[tier]) for tier in tiers}
    if len(weights) != len(tiers):
        raise ValueError(f"mac: {len(weights)} merge_weights for {len(tiers)} tiers {tiers}")
    return {tier: float(w) for tier, w in zip(tiers, weights)}


def activate_for_training(peft_model: Any, active: list[str]) -> None:
    """Make ``active`` the adapters of the forward pass with only the last one trainable."""
    peft_model.base_model.set_adapter(active)  # all of them active, all requiring grad
    if active[:-1]:
        peft_model.base_model.set_requires_grad(active[:-1], requires_grad=False)
    marker = f".{active[-1]}."
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    stray = [name for name in trainable if marker not in name or "lora_" not in name]
    if not trainable or stray:
        raise RuntimeError(
            f"mac: expected only adapter {active[-1]!r} to train, found {stray or 'none'}"
        )


def _disable_dropout(peft_model: Any, tier: str) -> None:
    """Replace a trained adapter's LoRA dropout with identity, so that while later tiers
    train (the loop puts the model in train mode) the frozen adapter contributes exactly
    what it will at inference, not a noisy version of it."""
    import torch
    from peft.tuners.lora import LoraLayer

    for module in peft_model.modules():
        if isinstance(module, LoraLayer) and tier in module.lora_dropout:
            module.lora_dropout[tier] = torch.nn.Identity()


def _base_reference(base: str) -> str:
    """The base as the runner should open it: an absolute folder, or the hub id as given."""
    path = Path(base).expanduser()
    return str(path.resolve()) if path.is_dir() else base
