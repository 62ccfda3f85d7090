"""The one training loop every method shares: stages of tokenized items, exact step budgets.

``train(model, tokenizer, stages, steps_per_stage=..., ...)`` runs stage after stage;
each stage draws batches from its own items for exactly its number of optimizer steps
(cycling through fresh permutations when it needs more than one epoch), and the
optimizer and learning-rate schedule either restart per stage (the curriculum paper's
setting) or run on across all stages.

Why plain PyTorch + accelerate rather than ``transformers.Trainer`` / TRL's
``SFTTrainer``: a curriculum needs several datasets in sequence with an exact step budget
each, and a choice between a fresh AdamW (state and step counts cleared, warmup again)
and one optimizer whose moments and schedule carry over. With ``Trainer`` that means a
new trainer per stage and hand-carrying optimizer/scheduler objects between them, and
its epoch/step bookkeeping (``max_steps``, gradient accumulation, dataloader length)
obscures the exact budget. The loop is ~150 lines, makes every step visible (batch
order from the seed, padding per batch, clipping, the schedule), and
``accelerate.Accelerator`` gives the device placement, bf16 autocast and multi-process
wrapping, so the same code runs on one CPU, one GPU or several.

Batches are padded to their longest item (right padding, labels -100). Shuffled stages
group items of similar length (``group_by_length``: within windows of 16 batches, the
way ``transformers.Trainer`` does) so little compute goes to padding; an unshuffled
stage is consumed in the given order (the ``sorted`` curriculum).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from trainers.data import IGNORE, TrainItem

log = logging.getLogger(__name__)
GROUP_WINDOW = 16  # batches per length-grouping window


@dataclass
class StageLog:
    """What one stage did. ``optimizer_step`` is AdamW's step count at the end of the stage
    (equal to ``steps`` when the optimizer is reset per stage, cumulative when kept)."""

    name: str
    examples: int
    steps: int
    mean_loss: float | None  # None for a stage of 0 steps
    first_loss: float | None
    last_loss: float | None
    tokens: int  # real (unpadded) tokens through the model
    target_tokens: int  # tokens with loss (the first of a sequence is never predicted)
    padded_tokens: int  # tokens including padding
    seconds: float
    tokens_per_s: float
    optimizer_step: int


@dataclass
class TrainLog:
    stages: list[StageLog] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # one per optimizer step
    # FSDP: the trained model's full state dict (rank 0) to save with; None otherwise
    state_dict: dict[str, Any] | None = field(default=None, repr=False)
    # DDP: the weights' checksum on every rank and whether they agree (distributed.replicas)
    replicas: dict[str, Any] | None = None

    @property
    def steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    @property
    def tokens(self) -> int:
        return sum(stage.tokens for stage in self.stages)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per-stage records and totals (for ``Candidate.metrics``)."""
        seconds = self.seconds
        return {
            "steps": self.steps,
            "seconds": round(seconds, 3),
            "tokens": self.tokens,
            "tokens_per_s": round(self.tokens / seconds, 1) if seconds else 0.0,
            "steps_per_s": round(self.steps / seconds, 3) if seconds else 0.0,
            "final_loss": self.losses[-1] if self.losses else None,
            "stages": [asdict(stage) for stage in self.stages],
            **({"replicas": self.replicas} if self.replicas is not None else {}),
        }


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at 0-based ``step`` of ``total``.

    >>> [round(lr_factor(s, 4, 1, "linear"), 3) for s in range(4)]
    [1.0, 1.0, 0.667, 0.333]
    >>> [round(lr_factor(s, 5, 1, "cosine"), 3) for s in range(5)]
    [1.0, 1.0, 0.854, 0.5, 0.146]
    """
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}; use linear, cosine or constant")


def batch_order(
    n: int,
    batch_size: int,
    steps: int,
    seed: int | str,
    *,
    shuffle: bool = True,
    lengths: Sequence[int] | None = None,
) -> list[list[int]]:
    """Item indices of each of ``steps`` batches: a pure function of its arguments.

    Shuffled: consecutive epochs, each a fresh permutation from ``random.Random(seed)``;
    with ``lengths``, each window of 16 batches is sorted by length and its batches put in
    random order. Not shuffled: the items in order, cycling.

    >>> batch_order(5, 2, 4, 0, shuffle=False)
    [[0, 1], [2, 3], [4, 0], [1, 2]]
    >>> sorted(sum(batch_order(6, 3, 2, 7), []))
    [0, 1, 2, 3, 4, 5]
    """
    if n == 0:
        raise ValueError("a stage with steps has no items to train on")
    rng = random.Random(seed)
    stream: list[int] = []
    while len(stream) < steps * batch_size:
        epoch = list(range(n))
        if shuffle:
            rng.shuffle(epoch)
        stream.extend(epoch)
    stream = stream[: steps * batch_size]
    batches = [stream[i : i + batch_size] for i in range(0, len(stream), batch_size)]
    if shuffle and lengths is not None:
        window = GROUP_WINDOW * batch_size
        grouped = []
        for start in range(0, len(stream), window):
            chunk = sorted(stream[start : start + window], key=lambda i: lengths[i])
            chunk_batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            rng.shuffle(chunk_batches)
            grouped.extend(chunk_batches)
        batches = grouped
    return batches


def collate(items: Sequence[TrainItem], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (-100 on padding)."""
    import torch

    width = max(len(item.input_ids) for item in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        size = len(item.input_ids)
        input_ids[row, :size] = torch.tensor(item.input_ids)
        labels[row, :size] = torch.tensor(item.labels)
        attention_mask[row, :size] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def train(
    model: Any,
    tokenizer: Any,
    stages: Sequence[Sequence[TrainItem]],
    *,
    steps_per_stage: int | Sequence[int],
    batch_size: int = 8,
    lr: float = 5e-4,
    warmup: int | float = 0.05,
    seed: int = 0,
    reset_optimizer_per_stage: bool = True,
    progress: bool = True,
    schedule: str = "linear",
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
    shuffle: bool | Sequence[bool] = True,
    group_by_length: bool = True,
    stage_names: Sequence[str] | None = None,
    mixed_precision: str = "no",
    before_stage: Callable[[int, Any], None] | None = None,
    distributed: bool = True,
) -> TrainLog:
    """Train ``model`` in place on ``stages`` and return the log.

    ``warmup``: steps (int) or a fraction of the schedule's steps (float). The schedule
    spans one stage when the optimizer is reset per stage, all stages otherwise.
    ``before_stage(index, model)`` runs before each stage (e.g. to change which parameters
    train); with ``reset_optimizer_per_stage`` the new optimizer takes the parameters that
    require grad at that moment. ``mixed_precision``: "no" or "bf16" autocast over fp32 weights
    (fp16 would need a grad scaler and is not supported).

    Under several processes (``accelerate launch``) ``batch_size`` stays the global batch:
    every rank draws the same batch order and takes every N-th item of each batch (so
    ``batch_size`` must be at least N), DDP averages the gradients, and the
    logged losses and token counts are those of the whole batch (reduced over ranks).
    ``before_stage`` must then leave the trainable parameters as they are (DDP fixes them
    when it wraps the model). Under FSDP the full state dict is gathered at the end into
    ``TrainLog.state_dict`` (rank 0) for saving; DeepSpeed is refused (the optimizer and
    schedule here restart per stage, which a DeepSpeed engine cannot). ``distributed=False``:
    this process trains alone even under a launcher (rank 0 pretraining the tiny base).
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, set_seed

    budgets = _per_stage(steps_per_stage, len(stages), "steps_per_stage")
    shuffles = _per_stage(shuffle, len(stages), "shuffle")
    names = (
        list(stage_names)
        if stage_names is not None
        else [f"stage{k + 1}" for k in range(len(stages))]
    )
    if mixed_precision not in ("no", "bf16"):
        raise ValueError(f"mixed_precision must be 'no' or 'bf16', got {mixed_precision!r}")
    set_seed(seed)
    # Precision is applied here rather than through Accelerator(mixed_precision=...): the
    # Accelerator state is a process-wide singleton that refuses a second, different
    # setting (the tiny base pretrains in fp32, a method may then train in bf16).
    if distributed:
        from trainers import distributed as dist

        if dist.launched():
            dist.state()  # the process group with the harness's timeout, gloo without CUDA
    accelerator = Accelerator()
    alone = not distributed and accelerator.num_processes > 1
    if alone:
        model = model.to(accelerator.device)
        process_index, num_processes = 0, 1
    else:
        if accelerator.distributed_type == DistributedType.DEEPSPEED:
            raise ValueError(
                "the shared training loop runs under DDP or FSDP, not DeepSpeed (its optimizer and "
                "schedule restart per stage); use configs/accelerate/ddp.yaml or fsdp.yaml"
            )
        process_index, num_processes = accelerator.process_index, accelerator.num_processes
        if batch_size < num_processes:
            raise ValueError(
                f"batch_size ({batch_size}) is the global batch, split across the processes: "
                f"it must be at least their number ({num_processes})"
            )
        model = accelerator.prepare(model)
    bf16 = mixed_precision == "bf16"
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    total = sum(budgets)
    optimizer = None
    global_step = 0
    log_out = TrainLog()
    bar = _progress_bar(progress and accelerator.is_main_process)
    with bar:
        task = bar.add_task("training", total=total, loss=float("nan"), tps=0.0)
        for index, (items, steps) in enumerate(zip(stages, budgets)):
            if before_stage is not None:
                before_stage(index, accelerator.unwrap_model(model))
            if optimizer is None or reset_optimizer_per_stage:
                params = [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
                schedule_steps, schedule_start = (
                    (steps, global_step) if reset_optimizer_per_stage else (total, 0)
                )
                warmup_steps = warmup if isinstance(warmup, int) else round(warmup * schedule_steps)
            lengths = [len(item.input_ids) for item in items] if group_by_length else None
            order = (
                batch_order(
                    len(items),
                    batch_size,
                    steps,
                    f"{seed}:{index}",
                    shuffle=shuffles[index],
                    lengths=lengths,
                )
                if steps
                else []
            )
            bar.update(task, description=f"{names[index]} ({len(items)} ex)")
            model.train()
            losses: list[float] = []
            tokens = target_tokens = padded = 0
            started = time.perf_counter()
            for batch_indices in order:
                mine = batch_indices[process_index::num_processes]
                batch = collate([items[i] for i in mine], pad_id)
                batch = {key: value.to(accelerator.device) for key, value in batch.items()}
                factor = lr_factor(
                    global_step - schedule_start, schedule_steps, warmup_steps, schedule
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr * factor
                with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = model(**batch).loss
                accelerator.backward(loss)
                if max_grad_norm:
                    accelerator.clip_grad_norm_(optimizer.param_groups[0]["params"], max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                global_step += 1
                if num_processes > 1:  # the whole batch's loss and token counts
                    step_loss, step_tokens, step_targets, step_padded = _reduced(
                        accelerator, loss, batch
                    )
                    losses.append(step_loss)
                    tokens += step_tokens
                    target_tokens += step_targets
                    padded += step_padded
                else:
                    losses.append(loss.item())
                    tokens += int(batch["attention_mask"].sum())
                    target_tokens += int((batch["labels"][:, 1:] != IGNORE).sum())
                    padded += batch["input_ids"].numel()
                elapsed = time.perf_counter() - started
                bar.update(
                    task, advance=1, loss=losses[-1], tps=tokens / elapsed if elapsed else 0.0
                )
            seconds = time.perf_counter() - started
            stage = StageLog(
                name=names[index], examples=len(items), steps=steps,
                mean_loss=sum(losses) / len(losses) if losses else None,
                first_loss=losses[0] if losses else None,
                last_loss=losses[-1] if losses else None,
                tokens=tokens, target_tokens=target_tokens, padded_tokens=padded,
                seconds=round(seconds, 3), tokens_per_s=round(tokens / seconds, 1) if seconds else 0.0,
                optimizer_step=_adam_step(optimizer),
            )  # fmt: skip
            log.info(
                "%s: %d steps, losses %s, %.0f tokens/s",
                stage.name,
                steps,
                losses[:1] + losses[-1:],
                stage.tokens_per_s,
            )
            log_out.stages.append(stage)
            log_out.losses.extend(losses)
    model.eval()
    if num_processes > 1:
        from trainers import distributed as dist

        log_out.replicas = dist.replicas(model)
        if accelerator.distributed_type == DistributedType.FSDP:
            log_out.state_dict = accelerator.get_state_dict(model)  # collective; full on rank 0
    return log_out


def _reduced(accelerator: Any, loss: Any, batch: dict[str, Any]) -> tuple[float, int, int, int]:
    """(mean loss over ranks, tokens, target tokens, padded tokens summed over ranks) of a step."""
    import torch

    local = torch.tensor(
        [
            float(loss.detach()),
            float(batch["attention_mask"].sum()),
            float((batch["labels"][:, 1:] != IGNORE).sum()),
            float(batch["input_ids"].numel()),
        ],
        dtype=torch.float64,
        device=accelerator.device,
    )
    total = accelerator.reduce(local, reduction="sum").tolist()
    return total[0] / accelerator.num_processes, int(total[1]), int(total[2]), int(total[3])


def example_losses(
    model: Any, tokenizer: Any, items: Sequence[TrainItem], *, batch_size: int = 16
) -> list[float]:
    """Each item's mean token loss on its target under ``model`` (no gradients), in order."""
    import torch

    device = next(model.parameters()).device
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    was_training = model.training
    model.eval()
    losses: list[float] = []
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            batch = collate(items[start : start + batch_size], pad_id)
            batch = {key: value.to(device) for key, value in batch.items()}
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            labels = batch["labels"][:, 1:]
            per_token = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().transpose(1, 2),
                labels,
                ignore_index=IGNORE,
                reduction="none",
            )
            counts = (labels != IGNORE).sum(dim=1).clamp(min=1)
            losses.extend((per_token.sum(dim=1) / counts).tolist())
    model.train(was_training)
    return losses


def _per_stage(value: Any, count: int, name: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{name} has {len(value)} entries for {count} stages")
        return list(value)
    return [value] * count


def _adam_step(optimizer: Any) -> int:
    """AdamW's step count (of its first parameter with state)."""
    for state in optimizer.state.values():
        if "step" in state:
            return int(state["step"])
    return 0


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress_bar(enabled: bool) -> Any:
    """A rich progress bar (steps, loss, tokens/s, time) or a no-op stand-in."""
    if not enabled:
        return _NoBar()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[tps]:.0f} tok/s"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
