"""``curriculum``: fine-tuning in stages over the suite's difficulty tiers, easy to hard.

Tiers are the suite's (``suite.tiers`` order; Spider-layout suites compute them from the
gold SQL first: :func:`trainers.data.resolve_tiers`). Tiers with no train example get no
stage. :func:`plan_stages` says what each stage trains on:

- ``sequential``: stage k is tier k alone.
- ``incremental``: stage k is tiers 1..k.
- ``hybrid``: stage k is tier k plus, from every earlier tier j < k, its
  ``ceil(hybrid_carry * |tier j|)`` hardest examples, where *hardest* means the highest
  :func:`difficulty` within the tier (ties: the larger example id first, for a fixed
  order). The carried set of a tier is the same in every later stage. ``hybrid_carry``
  = 0 is ``sequential`` and 1 is ``incremental``; in between, the model keeps seeing
  the hard end of what it learnt before (against forgetting) without re-training on the
  easy bulk. (Incremental stages already hold every earlier example, so "incremental
  plus carried examples" can only mean this: the earlier tiers reduced to their hardest
  part.)
- ``sorted``: no stages: one pass over all examples ordered by (tier, difficulty, id),
  unshuffled, the naive baseline. Its step budget is that of the staged schedules
  (``steps_per_stage`` times the number of tiers, or the sum of the list); the ordered
  list is stretched to exactly ``steps * batch_size`` items (:func:`stretch`: each
  example repeated or, for a smaller budget, evenly skipped, order kept), so a budget of
  one epoch is exactly one pass.

:func:`difficulty` within a tier: the suite's own score where the example carries one
(``metadata["difficulty"]``: the code difficulty of synth-code and TinyPy), else the
length of the gold in word and symbol tokens (SQL: longer queries have more clauses).

Each stage trains for ``steps_per_stage`` AdamW steps on its examples, shuffled. With
``reset_optimizer`` (the default, as in the curriculum paper) each stage gets a fresh
optimizer and its own warmup and decay; without it the optimizer state and one
schedule run across all stages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.suite import Suite
from harness.types import Example
from trainers.base import Candidate, MethodOption
from trainers.data import resolve_tiers
from trainers.sft import TUNE_HELP, FineTune, TuneOptions, options_of

SCHEDULES = ("sequential", "incremental", "hybrid", "sorted")
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class CurriculumConfig(TuneOptions):
    schedule: str = "hybrid"
    steps_per_stage: int | list[int] = 100
    reset_optimizer: bool = True
    hybrid_carry: float = 0.3

    def validate(self, method: str) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"{method}: schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        budgets = (
            self.steps_per_stage
            if isinstance(self.steps_per_stage, list)
            else [self.steps_per_stage]
        )
        if not budgets or any(int(steps) < 1 for steps in budgets):
            raise ValueError(f"{method}: steps_per_stage must be at least 1 (or a list of such)")
        if not 0.0 <= float(self.hybrid_carry) <= 1.0:
            raise ValueError(f"{method}: hybrid_carry must be in [0, 1], got {self.hybrid_carry}")


CURRICULUM_HELP = {
    **TUNE_HELP,
    "schedule": "sequential (tier k alone), incremental (tiers 1..k), hybrid (tier k plus the hardest "
    "hybrid_carry of each earlier tier) or sorted (one unshuffled pass, easy to hard)",
    "steps_per_stage": "optimizer steps per stage (int, or a list with one per stage); "
    "sorted gets their total",
    "reset_optimizer": "fresh AdamW state and warmup/decay per stage (True, as in the paper) or one for all",
    "hybrid_carry": "hybrid: fraction of each earlier tier, its hardest examples, carried into later stages",
}


@dataclass
class StagePlan:
    """One stage: its examples (in tier order) and which of them were carried from earlier tiers."""

    name: str
    examples: list[Example]
    carried: list[str] = field(default_factory=list)
    shuffle: bool = True

    def tier_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for example in self.examples:
            counts[str(example.tier)] = counts.get(str(example.tier), 0) + 1
        return counts


def difficulty(example: Example) -> float:
    """Within-tier difficulty: ``metadata["difficulty"]`` if numeric, else gold tokens.

    >>> difficulty(Example("1", "s", "db", "q", "SELECT a FROM t WHERE b > 1"))
    8.0
    """
    score = example.metadata.get("difficulty")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return float(score)
    return float(len(_TOKEN.findall(example.gold)))


def hardest(examples: Sequence[Example], fraction: float) -> list[Example]:
    """The ``ceil(fraction * n)`` examples of highest difficulty (ties: larger id first),
    in their original order."""
    count = math.ceil(fraction * len(examples) - 1e-9)
    ranked = sorted(examples, key=lambda e: (difficulty(e), _id_key(e.id)), reverse=True)
    chosen = {id(e) for e in ranked[:count]}
    return [e for e in examples if id(e) in chosen]


def plan_stages(
    examples: Sequence[Example], tiers: Sequence[str], schedule: str, *, hybrid_carry: float = 0.3
) -> list[StagePlan]:
    """The stages of ``schedule`` over ``examples`` (whose ``tier`` is set), a pure function."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    groups: dict[str, list[Example]] = {tier: [] for tier in tiers}
    for example in examples:
        if example.tier not in groups:
            raise ValueError(
                f"example {example.id!r} has tier {example.tier!r}, not one of {list(tiers)}"
            )
        groups[example.tier].append(example)
    present = [(tier, group) for tier, group in groups.items() if group]
    if not present:
        raise ValueError("no examples to plan a curriculum over")
    if schedule == "sorted":
        rank = {tier: k for k, tier in enumerate(tiers)}
        ordered = sorted(examples, key=lambda e: (rank[e.tier], difficulty(e), _id_key(e.id)))
        return [StagePlan("sorted", ordered, shuffle=False)]
    stages = []
    for k, (tier, group) in enumerate(present):
        if schedule == "sequential":
            stages.append(StagePlan(tier, list(group)))
        elif schedule == "incremental":
            stages.append(StagePlan(tier, [e for _, earlier in present[: k + 1] for e in earlier]))
        else:
            carried = [e for _, earlier in present[:k] for e in hardest(earlier, hybrid_carry)]
            stages.append(StagePlan(tier, carried + list(group), carried=[e.id for e in carried]))
    return stages


def stretch(items: Sequence[Any], length: int) -> list[Any]:
    """``items`` in order, each repeated or skipped evenly to make exactly ``length``.

    >>> stretch("abc", 6), stretch("abcd", 2), stretch("ab", 2)
    (['a', 'a', 'b', 'b', 'c', 'c'], ['a', 'c'], ['a', 'b'])
    """
    return [items[i * len(items) // length] for i in range(length)]


def create(**_: Any) -> CurriculumTrainer:
    return CurriculumTrainer()


class CurriculumTrainer:
    """Fine-tuning in stages over difficulty tiers (full or LoRA)."""

    name = "curriculum"

    def options(self) -> list[MethodOption]:
        return options_of(CurriculumConfig, CURRICULUM_HELP)

    def fit(
        self,
        base: str,
        train: Suite,
        config: dict[str, Any],
        out_dir: Path,
        *,
        progress: bool = True,
    ) -> Candidate:
        from trainers.loop import train as train_loop

        cfg = CurriculumConfig.from_options(config, self.name)
        resolve_tiers(train)
        plan = plan_stages(
            train.examples, train.tiers, cfg.schedule, hybrid_carry=float(cfg.hybrid_carry)
        )
        budgets = stage_budgets(
            cfg.steps_per_stage, len(_present_tiers(train)), schedule=cfg.schedule
        )
        session = FineTune.open(base, cfg, adapter_name=self.name)
        encoded = session.encode(train, train.examples)
        by_id = {item.id: item for item in encoded.items}
        stages = [[by_id[e.id] for e in stage.examples if e.id in by_id] for stage in plan]
        if cfg.schedule == "sorted":
            stages = [stretch(stages[0], budgets[0] * cfg.batch_size)]
        log = train_loop(
            session.model, session.tokenizer, stages, steps_per_stage=budgets,
            batch_size=cfg.batch_size, lr=cfg.learning_rate, warmup=cfg.warmup, seed=cfg.seed,
            reset_optimizer_per_stage=bool(cfg.reset_optimizer), progress=progress,
            shuffle=[stage.shuffle for stage in plan], stage_names=[stage.name for stage in plan],
            mixed_precision=session.mixed_precision,
        )  # fmt: skip
        metrics = {
            **log.summary(),
            "data": encoded.summary(),
            "plan": [
                {
                    "name": s.name,
                    "examples": len(s.examples),
                    "tiers": s.tier_counts(),
                    "carried": len(s.carried),
                }
                for s in plan
            ],
        }
        return session.save(out_dir, self.name, metrics, state_dict=log.state_dict)


def stage_budgets(steps_per_stage: int | Sequence[int], tiers: int, *, schedule: str) -> list[int]:
    """Steps of each planned stage: one budget per tier (an int for all, or a list);
    ``sorted``, a single stage, gets their total.

    >>> stage_budgets(50, 3, schedule="hybrid"), stage_budgets([10, 20], 2, schedule="sorted")
    ([50, 50, 50], [30])
    """
    if isinstance(steps_per_stage, (list, tuple)):
        budgets = [int(steps) for steps in steps_per_stage]
        if len(budgets) != tiers:
            raise ValueError(
                f"steps_per_stage lists {len(budgets)} budgets for {tiers} tiers with examples"
            )
    else:
        budgets = [int(steps_per_stage)] * tiers
    return [sum(budgets)] if schedule == "sorted" else budgets


def _present_tiers(suite: Suite) -> list[str]:
    present = {example.tier for example in suite.examples}
    return [tier for tier in suite.tiers if tier in present]


def _id_key(example_id: str) -> tuple[int, int | str]:
    """Numeric ids compare as numbers, others as text (numbers first)."""
    return (0, int(example_id)) if example_id.isdigit() else (1, example_id)
