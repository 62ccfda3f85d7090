"""Margin-aware DPO on step-level preference pairs (LearNAT).

A :class:`StepPair` is a prompt (the harness's inference prompt for a question), a
prefix of decomposition steps the model already wrote (context, no loss) and two
candidate next steps, the better (``chosen``, ``y_w``) and the worse (``rejected``,
``y_l``), each with a value in [0, 1]. The loss of a pair is::

    loss = -log sigmoid(beta * h - alpha * log(margin))
    h = (log pi_theta(y_w | x) - log pi_ref(y_w | x)) - (log pi_theta(y_l | x) - log pi_ref(y_l | x))
    margin = max(value_w - value_l, margin_floor)

where ``x`` is prompt + prefix and ``log pi(y | x)`` is the SUM of the step's token
log-probabilities. With ``margin`` in (0, 1], ``-alpha * log(margin) >= 0``: a pair
whose values barely differ needs less separation, a pair of margin 1 is plain
(sigmoid) DPO. The batch loss is the mean over pairs.

Tokenization mirrors :mod:`runners.transformers_runner` (and :mod:`trainers.data`):

- plain tokenizer: the prompt is ``tokenizer(prompt)`` WITH its special tokens (e.g.
  BOS); chat template (used when the tokenizer has one, unless ``chat`` says
  otherwise): ``apply_chat_template(messages or [user: prompt],
  add_generation_prompt=True)`` as text, tokenized without special tokens;
- the prefix (when not empty) and each step are tokenized separately without special
  tokens and appended; a step gets no EOS / end of turn (it is not the end of the answer);
- too long (context + longer step > ``max_length``): the context is cut from the left, a
  leading BOS kept; a pair whose longer step leaves no room for one context token is
  dropped and counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainers.data import _cut_left, uses_chat
from trainers.loop import batch_order, lr_factor


@dataclass(frozen=True)
class StepPair:
    """One step-level preference: two candidate next steps after ``prompt`` + ``prefix``."""

    id: str
    prompt: str
    prefix: str
    chosen: str
    rejected: str
    value_chosen: float
    value_rejected: float
    messages: tuple[tuple[str, str], ...] = ()

    def margin(self, floor: float) -> float:
        """The value gap, at least ``floor``.

        >>> pair = StepPair("q1", "Q?", "", "good", "bad", 0.75, 0.5)
        >>> pair.margin(0.05), pair.margin(0.5)
        (0.25, 0.5)
        """
        return max(self.value_chosen - self.value_rejected, floor)


@dataclass
class EncodedPair:
    """A tokenized pair: context (prompt + prefix, no loss) and the two steps."""

    id: str
    context_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    margin: float


def margin_dpo_loss(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    margins: Any,
    *,
    beta: float,
    alpha: float,
) -> tuple[Any, Any, Any]:
    """``(mean loss, per-pair loss, h)``; ``margins`` must already be clamped positive.

    >>> import torch
    >>> zero = torch.zeros(1)
    >>> loss, _, h = margin_dpo_loss(zero, zero, zero, zero, torch.ones(1), beta=0.1, alpha=0.5)
    >>> round(loss.item(), 6) == round(math.log(2), 6), h.item()
    (True, 0.0)
    """
    import torch
    import torch.nn.functional as F

    h = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    margins = torch.as_tensor(margins, dtype=h.dtype, device=h.device)
    per_pair = -F.logsigmoid(beta * h - alpha * torch.log(margins))
    return per_pair.mean(), per_pair, h


def encode_pairs(
    pairs: Sequence[StepPair],
    tokenizer: Any,
    *,
    max_length: int | None,
    margin_floor: float,
    chat: bool | None = None,
) -> tuple[list[EncodedPair], int]:
    """Tokenize ``pairs`` (rules in the module docstring); returns ``(encoded, dropped)``."""
    if margin_floor <= 0:
        raise ValueError(f"margin_floor must be positive (log of the margin), got {margin_floor}")
    chat_mode = uses_chat(tokenizer, chat)
    encoded: list[EncodedPair] = []
    dropped = 0
    for pair in pairs:
        context = _prompt_ids(pair, tokenizer, chat_mode)
        if pair.prefix:
            context += _ids(tokenizer, pair.prefix)
        chosen, rejected = _ids(tokenizer, pair.chosen), _ids(tokenizer, pair.rejected)
        longest = max(len(chosen), len(rejected))
        if max_length is not None and len(context) + longest > max_length:
            room = max_length - longest
            if room < 1:
                dropped += 1
                continue
            context = _cut_left(context, room, tokenizer.bos_token_id)
        if not context:
            raise ValueError(
                f"pair {pair.id!r}: empty context (the first step token needs one before it)"
            )
        encoded.append(EncodedPair(pair.id, context, chosen, rejected, pair.margin(margin_floor)))
    return encoded, dropped


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _prompt_ids(pair: StepPair, tokenizer: Any, chat_mode: bool) -> list[int]:
    if not chat_mode:
        return list(tokenizer(pair.prompt)["input_ids"])
    messages = [{"role": role, "content": content} for role, content in pair.messages] or [
        {"role": "user", "content": pair.prompt}
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return _ids(tokenizer, text)


def sequence_logps(
    model: Any,
    context_ids_batch: Sequence[Sequence[int]],
    completion_ids_batch: Sequence[Sequence[int]],
    pad_id: int,
) -> Any:
    """Per row, the sum of the completion's token log-probs after its context (float32).

    Rows are ``context + completion``, right-padded with ``pad_id`` under an attention
    mask; only completion tokens count. Gradients flow when enabled.
    """
    import torch

    device = next(model.parameters()).device
    rows = [list(c) + list(y) for c, y in zip(context_ids_batch, completion_ids_batch)]
    if any(not c for c in context_ids_batch):
        raise ValueError("every row needs at least one context token")
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    loss_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for r, (row, context) in enumerate(zip(rows, context_ids_batch)):
        input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[r, : len(row)] = 1
        loss_mask[r, len(context) : len(row)] = True
    input_ids, attention, loss_mask = (t.to(device) for t in (input_ids, attention, loss_mask))
    logits = model(input_ids=input_ids, attention_mask=attention).logits
    # Token t is predicted at position t-1; no completion token sits before the shortest
    # context, so the log-softmax (vocab-wide, float32) only covers positions from there.
    start = min(len(c) for c in context_ids_batch) - 1
    logps = logits[:, start:-1].float().log_softmax(-1)
    targets = input_ids[:, start + 1 :]
    token_logps = logps.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (token_logps * loss_mask[:, start + 1 :]).sum(dim=1)


def _pair_logps(model: Any, batch: Sequence[EncodedPair], pad_id: int) -> tuple[Any, Any]:
    """Chosen and rejected log-probs of ``batch`` in one forward pass."""
    contexts = [p.context_ids for p in batch]
    both = sequence_logps(
        model,
        contexts + contexts,
        [p.chosen_ids for p in batch] + [p.rejected_ids for p in batch],
        pad_id,
    )
    return both[: len(batch)], both[len(batch) :]


def train_margin_dpo(
    policy: Any,
    reference: Any,
    tokenizer: Any,
    pairs: list[EncodedPair],
    *,
    steps: int,
    batch_size: int = 8,
    lr: float = 1e-5,
    beta: float = 0.1,
    alpha: float = 0.5,
    warmup: float = 0.0,
    max_grad_norm: float = 1.0,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``policy`` in place with margin-aware DPO against the frozen ``reference``.

    Reference log-probs are computed once up front (no grad, eval mode). Then ``steps``
    AdamW steps (no weight decay; linear decay after ``warmup``, a fraction of ``steps``)
    on batches from seeded permutations of ``pairs`` (fresh ones as long as needed),
    gradients clipped to ``max_grad_norm`` (0: no clipping). The policy is left in eval
    mode. Returns a JSON-ready summary.

    Under several processes (``accelerate launch``) the policy trains data-parallel (DDP):
    every rank draws the same batches and takes every N-th pair of each, gradients are
    averaged, and the summary is over whole batches.
    """
    if not pairs:
        raise ValueError("margin DPO: no pairs to train on (all dropped, or none built)")
    if steps < 1 or batch_size < 1:
        raise ValueError(
            f"margin DPO: steps and batch_size must be at least 1, got {steps} and {batch_size}"
        )
    import torch
    from tqdm.auto import tqdm

    from trainers import distributed

    torch.manual_seed(seed)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    pad_id = 0 if pad_id is None else pad_id  # padding is masked: any valid id will do
    accelerator, model, rank, world = None, policy, 0, 1
    if distributed.active():
        from accelerate import Accelerator

        accelerator = Accelerator()
        rank, world = accelerator.process_index, accelerator.num_processes
        if batch_size < world:
            raise ValueError(
                f"margin DPO: batch_size ({batch_size}) is the global batch, split across the "
                f"processes: it must be at least their number ({world})"
            )
        model = accelerator.prepare(policy)  # DDP (on this rank's device)
        progress = progress and accelerator.is_main_process
    device = next(policy.parameters()).device
    started = time.perf_counter()

    reference.eval()
    ref_chosen, ref_rejected = [], []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chosen, rejected = _pair_logps(reference, pairs[start : start + batch_size], pad_id)
            ref_chosen.append(chosen.to(device))
            ref_rejected.append(rejected.to(device))
    ref_chosen_all, ref_rejected_all = torch.cat(ref_chosen), torch.cat(ref_rejected)
    margins_all = torch.tensor([p.margin for p in pairs], dtype=torch.float32, device=device)

    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup_steps = round(warmup * steps)
    losses: list[float] = []
    reward_margins: list[float] = []
    wins = seen = 0
    model.train()
    bar = tqdm(total=steps, desc="margin DPO", disable=not progress)
    try:
        for step, indices in enumerate(batch_order(len(pairs), batch_size, steps, seed)):
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(step, steps, warmup_steps, "linear")
            if world > 1:
                indices = indices[rank::world]
            index = torch.tensor(indices, device=device)
            chosen, rejected = _pair_logps(model, [pairs[i] for i in indices], pad_id)
            loss, _, h = margin_dpo_loss(
                chosen, rejected, ref_chosen_all[index], ref_rejected_all[index], margins_all[index],
                beta=beta, alpha=alpha,
            )  # fmt: skip
            if accelerator is not None:
                accelerator.backward(loss)
                if max_grad_norm:
                    accelerator.clip_grad_norm_(params, max_grad_norm)
            else:
                loss.backward()
                if max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            h = h.detach()
            if accelerator is not None:  # over the whole batch: mean loss, summed margins and wins
                local = torch.tensor(
                    [loss.item(), float((beta * h).sum()), float((h > 0).sum()), float(h.numel())],
                    dtype=torch.float64, device=device,
                )  # fmt: skip
                total = accelerator.reduce(local, reduction="sum").tolist()
                losses.append(total[0] / world)
                reward_margins.append(total[1] / total[3])
                wins += int(total[2])
                seen += int(total[3])
            else:
                losses.append(loss.item())
                reward_margins.append((beta * h).mean().item())
                wins += int((h > 0).sum())
                seen += h.numel()
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    finally:
        bar.close()
        policy.eval()
    return {
        "steps": steps,
        "pairs": len(pairs),
        "loss": _finite(sum(losses) / len(losses)),
        "loss_first": _finite(losses[0]),
        "loss_last": _finite(losses[-1]),
        "reward_margin": _finite(sum(reward_margins) / len(reward_margins)),
        "accuracy": wins / seen,
        "seconds": round(time.perf_counter() - started, 3),
        **({"replicas": distributed.replicas(policy)} if accelerator is not None else {}),
    }


def _finite(value: float) -> float | None:
    """``value``, or None when NaN/inf (JSON has neither).

    >>> _finite(0.5), _finite(float("nan"))
    (0.5, None)
    """
    return value if math.isfinite(value) else None
