"""``sft``: monolithic supervised fine-tuning on the whole shuffled train split (full or LoRA).

The baseline every method is compared with. Each train example becomes its inference
prompt plus the answer the extractor expects (:mod:`trainers.data`, prompt tokens
masked), and :func:`trainers.loop.train` runs one stage of ``steps`` AdamW steps over
the shuffled split (or ``epochs`` passes, rounded up to whole batches).

- ``mode="full"``: every weight trains; the candidate is the fine-tuned checkpoint in
  ``<candidate>/model`` (kind ``full``).
- ``mode="lora"``: a PEFT LoRA adapter named ``sft`` trains on a frozen base; the
  candidate is ``adapters/sft`` over the base (kind ``lora``,
  ``runner_options={"adapter": "sft", ...}``).

:class:`FineTune` (open a base, encode, save the candidate) and :class:`TuneOptions`
are shared with :mod:`trainers.curriculum`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.prompts import PromptOptions
from harness.suite import Suite
from harness.types import Example
from trainers.base import Candidate, MethodOption
from trainers.data import Encoded, context_length, encode, training_texts

FULL_LR, LORA_LR = 5e-4, 2e-3  # lr=None picks one by mode (tuned on the tiny base)


@dataclass
class TuneOptions:
    """Options every fine-tuning method here shares."""

    mode: str = "full"
    batch_size: int = 8
    lr: float | None = None
    warmup: float = 0.05
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | str | None = "all-linear"
    seed: int = 0
    max_length: int | None = None
    sample_rows: int | None = None

    @classmethod
    def from_options(cls, config: dict[str, Any], method: str) -> Any:
        """The config as this dataclass; unknown names and bad values refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"{method}: unknown option(s) {unknown}; known: {sorted(known)}")
        options = cls(**config)
        if isinstance(options.target_modules, str) and "," in options.target_modules:
            options.target_modules = [
                m.strip() for m in options.target_modules.split(",") if m.strip()
            ]
        if options.mode not in ("full", "lora"):
            raise ValueError(f"{method}: mode must be 'full' or 'lora', got {options.mode!r}")
        if options.batch_size < 1 or options.lora_r < 1:
            raise ValueError(f"{method}: batch_size and lora_r must be at least 1")
        options.validate(method)
        return options

    def validate(self, method: str) -> None:
        """Method-specific checks (subclasses)."""

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return LORA_LR if self.mode == "lora" else FULL_LR


TUNE_HELP = {
    "mode": "full (every weight) or lora (a PEFT adapter on the frozen base)",
    "batch_size": "examples per optimizer step",
    "lr": f"peak learning rate (AdamW, warmup then linear decay); None: {FULL_LR} full, {LORA_LR} lora",
    "warmup": "warmup steps (int) or fraction of the schedule's steps (float)",
    "lora_r": "LoRA rank (mode lora)",
    "lora_alpha": "LoRA alpha, scaling alpha/r (mode lora)",
    "lora_dropout": "dropout on the LoRA input (mode lora)",
    "target_modules": "modules LoRA adapts: 'all-linear', a list or comma-separated names, or None (PEFT's default)",
    "seed": "seed of initialisation, batch order and dropout",
    "max_length": "longest training sequence in tokens (prompts cut from the left); None: the model's context",
    "sample_rows": "sample rows per table in text-to-SQL prompts (as at inference); "
    "None: what the base was pretrained with (tiny base: 0), else the harness default (3)",
}


@dataclass
class SFTConfig(TuneOptions):
    steps: int = 300
    epochs: float | None = None

    def validate(self, method: str) -> None:
        if self.steps < 1:
            raise ValueError(f"{method}: steps must be at least 1")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"{method}: epochs must be positive")

    def total_steps(self, examples: int) -> int:
        """``steps``, or ``epochs`` passes over ``examples`` in whole batches."""
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * examples / self.batch_size))


SFT_HELP = {
    **TUNE_HELP,
    "steps": "optimizer steps over the shuffled train split",
    "epochs": "passes over the train split instead of steps (None: use steps)",
}


def options_of(config_class: type, help_texts: dict[str, str]) -> list[MethodOption]:
    return [MethodOption(f.name, f.default, help_texts[f.name]) for f in fields(config_class)]


def create(**_: Any) -> SFTTrainer:
    return SFTTrainer()


class SFTTrainer:
    """Monolithic fine-tuning on the shuffled train split."""

    name = "sft"

    def options(self) -> list[MethodOption]:
        return options_of(SFTConfig, SFT_HELP)

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

        cfg = SFTConfig.from_options(config, self.name)
        session = FineTune.open(base, cfg, adapter_name=self.name)
        encoded = session.encode(train, train.examples)
        steps = cfg.total_steps(len(encoded.items))
        log = train_loop(
            session.model, session.tokenizer, [encoded.items], steps_per_stage=steps,
            batch_size=cfg.batch_size, lr=cfg.learning_rate, warmup=cfg.warmup, seed=cfg.seed,
            reset_optimizer_per_stage=True, progress=progress, stage_names=["all"],
            mixed_precision=session.mixed_precision,
        )  # fmt: skip
        return session.save(
            out_dir,
            self.name,
            {**log.summary(), "data": encoded.summary()},
            state_dict=log.state_dict,
        )


@dataclass
class FineTune:
    """A base opened for fine-tuning: tokenizer, model (LoRA-wrapped in lora mode), prompt options."""

    base: str
    options: TuneOptions
    tokenizer: Any
    model: Any
    prompt_options: PromptOptions
    max_length: int | None
    adapter_name: str
    mixed_precision: str

    @classmethod
    def open(cls, base: str, options: TuneOptions, *, adapter_name: str) -> FineTune:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base)
        torch.manual_seed(options.seed)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        max_length = options.max_length or context_length(model)
        if options.mode == "lora":
            model = _with_lora(model, options, adapter_name)
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return cls(
            base=base, options=options, tokenizer=tokenizer, model=model,
            prompt_options=prompt_options_for_base(options.sample_rows, base),
            max_length=max_length, adapter_name=adapter_name, mixed_precision="bf16" if bf16 else "no",
        )  # fmt: skip

    def encode(self, suite: Suite, examples: list[Example]) -> Encoded:
        """``examples`` of ``suite`` as training items (the runner's prompt, answer only in the loss)."""
        texts = training_texts(suite, self.prompt_options, examples)
        encoded = encode(texts, self.tokenizer, max_length=self.max_length)
        if not encoded.items:
            raise ValueError(
                f"no training example of {suite.name!r} fits in {self.max_length} tokens"
            )
        return encoded

    def save(
        self,
        out_dir: Path,
        method: str,
        metrics: dict[str, Any],
        *,
        state_dict: dict[str, Any] | None = None,
    ) -> Candidate:
        """Write the checkpoint or the adapter into ``out_dir`` and describe the candidate.

        Under several processes rank 0 writes and the others wait; ``state_dict``: the
        weights gathered from a sharded model (FSDP, DeepSpeed ZeRO-3) to write instead of
        the local module's."""
        from trainers import distributed

        out_dir = Path(out_dir)
        saved = {"state_dict": state_dict} if state_dict is not None else {}
        runner_options: dict[str, Any] = {"prompt_options": asdict(self.prompt_options)}
        if self.options.mode == "lora":
            if distributed.is_main():
                self.model.save_pretrained(
                    str(out_dir / "adapters"), selected_adapters=[self.adapter_name], **saved
                )
            distributed.barrier()
            return Candidate(
                method=method, kind="lora", path=str(out_dir), base=_base_reference(self.base),
                adapters={self.adapter_name: f"adapters/{self.adapter_name}"},
                runner_options={"adapter": self.adapter_name, **runner_options}, metrics=metrics,
            )  # fmt: skip
        if distributed.is_main():
            self.model.save_pretrained(out_dir / "model", **saved)
            self.tokenizer.save_pretrained(out_dir / "model")
        distributed.barrier()
        return Candidate(
            method=method, kind="full", path=str(out_dir), checkpoint="model",
            base=_base_reference(self.base), runner_options=runner_options, metrics=metrics,
        )  # fmt: skip


def prompt_options_for_base(sample_rows: int | None, base: str) -> PromptOptions:
    """Training prompt options: as configured, else those the base was pretrained with
    (the tiny base records them), else the harness's defaults."""
    if sample_rows is not None:
        return PromptOptions(sample_rows=int(sample_rows))
    from trainers.tiny_base import prompt_options_for

    return prompt_options_for(base) or PromptOptions()


def _with_lora(model: Any, options: TuneOptions, adapter_name: str) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    target = options.target_modules
    config = LoraConfig(
        # GPT-2-style models keep their projections in Conv1D (weights stored transposed)
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in model.modules()),
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=list(target) if isinstance(target, (list, tuple)) else target,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config, adapter_name=adapter_name)


def _base_reference(base: str) -> str:
    """The base as a runner opens it: an absolute folder, or the hub id as given."""
    path = Path(base).expanduser()
    return str(path.resolve()) if path.is_dir() else base
