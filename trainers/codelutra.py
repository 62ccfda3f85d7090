"""``codelutra``: iterative preference learning from the model's own executed samples.

For t = 1..T: sample K completions per training question from the current policy with
the exact inference prompt (:func:`trainers.feedback.sample_completions`), execute each
with the suite's own executor (:func:`trainers.feedback.judge`: SQL result against the
gold result, predicted against expected program output), pair right against wrong
samples (:mod:`trainers.preference_pairs`), and train with trl's ``DPOTrainer`` on
``loss_type=["sigmoid", "sft"]`` (weights ``[1.0, sft_weight]``: DPO plus the NLL of the
chosen answer) against a frozen, separately loaded copy of the previous policy.
Iteration 1 starts from the base, which is its reference; there is no SFT stage first.

Prompts are the inference prompts: plain strings for a plain tokenizer (trl adds the
tokenizer's special tokens, as the runner does, and EOS after each completion), the
conversational form for a chat template. Chosen/rejected are the raw completion texts
(cut at EOS), or the gold answer with ``gold_as_chosen``. An iteration without pairs
trains nothing. Every iteration records the fingerprints of the folder its reference was
loaded from and of the policy it saved (``iterations[t]["reference"] ==
iterations[t-1]["policy"]``) and ``prompt_mismatches``: trained rows whose tokenized
prompt differs from the runner's. The candidate is the last policy (kind ``full``,
``checkpoint="model"``); per-iteration checkpoints (``<out>/iterations/<t>``) are removed
unless ``keep_iterations``. Full fine-tuning only. See docs/methods.md.
"""

from __future__ import annotations

import gc
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.prompts import build_request
from harness.suite import Suite
from harness.types import Example
from trainers.base import Candidate, MethodOption, documented_options, option
from trainers.preference_pairs import Labeled, build_pairs, dpo_rows, pair_counts, rates

ITERATIONS = "iterations"



@dataclass
class CodeLutraConfig:
    """The options of ``harness run --method codelutra -M KEY=VALUE`` (``harness methods``)."""

    iterations: int = option(4, "sample / execute / pair / DPO rounds T")
    samples_per_question: int = option(4, "K completions sampled per training question and iteration (4 keeps CPU runs sane)")
    temperature: float = option(1.0, "sampling temperature")
    top_p: float = option(1.0, "nucleus sampling cut")
    max_new_tokens: int = option(128, "longest sampled completion")
    max_pairs_per_question: int = option(2, "P: at most this many preference pairs per question")
    gold_as_chosen: bool = option(False, "a question with wrong samples and no right one pairs the gold answer against them")
    beta: float = option(0.1, "DPO beta (deviation from the reference)")
    sft_weight: float = option(1.0, "weight of the SFT loss on the chosen answer (the DPO sigmoid loss weighs 1.0)")
    lr: float = option(1e-5, "peak learning rate (AdamW, linear decay, no warmup)")
    steps_per_iteration: int | None = option(None, "optimizer steps per iteration (None: epochs_per_iteration passes over the pairs)")
    epochs_per_iteration: float = option(1.0, "passes over the iteration's pairs, rounded up to whole batches")
    batch_size: int = option(8, "pairs per optimizer step")
    questions_per_iteration: int | None = option(None, "train questions drawn (seeded) per iteration; None: the whole train split")
    timeout_s: float = option(5.0, "execution deadline per sample")
    jobs: int = option(2, "worker processes executing samples")
    generation_batch_size: int = option(16, "prompts per generation batch while sampling")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (large models)")
    max_length: int | None = option(None, "longest prompt+completion in tokens (longer: the end cut); None: the model's context")
    keep_iterations: bool = option(False, "keep every iteration's checkpoint in <candidate>/iterations/<t>")
    seed: int = option(0, "seed of question draws, sampling and batch order")
    sample_rows: int | None = option(None, "sample rows per table in SQL prompts; None: the base's own (tiny base: 0), else 3")

    @classmethod
    def from_options(cls, config: dict[str, Any]) -> CodeLutraConfig:
        unknown = sorted(set(config) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"codelutra: unknown option(s) {unknown}")
        cfg = cls(**config)
        positive = ("iterations", "samples_per_question", "max_new_tokens", "batch_size", "jobs")
        if any(int(getattr(cfg, name)) < 1 for name in positive):
            raise ValueError(f"codelutra: {', '.join(positive)} must be at least 1")
        if cfg.max_pairs_per_question < 1 or cfg.temperature <= 0 or not 0 < cfg.top_p <= 1:
            raise ValueError("codelutra: needs max_pairs_per_question >= 1, temperature > 0, 0 < top_p <= 1")
        if (cfg.steps_per_iteration is not None and cfg.steps_per_iteration < 1) or cfg.epochs_per_iteration <= 0:
            raise ValueError("codelutra: steps_per_iteration and epochs_per_iteration must be positive")
        if cfg.questions_per_iteration is not None and cfg.questions_per_iteration < 1:
            raise ValueError("codelutra: questions_per_iteration must be at least 1 (or None: all)")
        return cfg


def create(**_: Any) -> CodeLutraTrainer:
    return CodeLutraTrainer()


class CodeLutraTrainer:
    """Iterative DPO + SFT on execution-labelled samples of the model itself (CodeLutra)."""

    name = "codelutra"

    def __init__(self, before_train: Callable[[int, Any], None] | None = None) -> None:
        # before_train(iteration, trl_trainer): called right before each DPO run (tests look
        # at trainer.model, trainer.ref_model and the tokenized trainer.train_dataset)
        self.before_train = before_train

    def options(self) -> list[MethodOption]:
        return documented_options(CodeLutraConfig)

    def fit(
        self, base: str, train: Suite, config: dict[str, Any], out_dir: Path, *, progress: bool = True
    ) -> Candidate:
        from runners.transformers_runner import folder_fingerprint
        from trainers.data import resolve_tiers
        from trainers.sft import _base_reference, prompt_options_for_base

        def fingerprint(model: str) -> str:
            return folder_fingerprint(Path(model)) if Path(model).is_dir() else model

        from trainers import distributed

        if distributed.launched():
            distributed.state()  # the process group before transformers', with the harness's timeout
        cfg = CodeLutraConfig.from_options(config)
        out_dir = Path(out_dir)
        resolve_tiers(train)
        prompts = prompt_options_for_base(cfg.sample_rows, base)
        chat = _is_chat(base)
        current, records = base, []
        for t in range(1, cfg.iterations + 1):
            started = time.perf_counter()
            record: dict[str, Any] = {"iteration": t, "reference": fingerprint(current)}
            questions = draw_questions(train.examples, cfg.questions_per_iteration, f"{cfg.seed}:{t}")
            labeled = self._sample_and_label(current, train, questions, prompts, cfg, t, record)
            gold = gold_texts(train, questions, chat) if cfg.gold_as_chosen else None
            pairs = build_pairs(
                labeled, max_pairs=cfg.max_pairs_per_question, gold_texts=gold,
                gold_as_chosen=cfg.gold_as_chosen, seed=f"{cfg.seed}:{t}",
            )  # fmt: skip
            record.update(pair_counts(pairs), trained=bool(pairs))
            if pairs:  # else nothing to learn: the policy (and the next reference) stays
                folder = out_dir / ITERATIONS / str(t)
                requests = {ex.id: build_request(train, ex, prompts, []) for ex in questions}
                rows = dpo_rows(pairs, requests, chat)
                record.update(self._train_dpo(current, folder, rows, requests, chat, cfg, t, progress))
                if current != base and not cfg.keep_iterations and distributed.is_main():
                    shutil.rmtree(current, ignore_errors=True)
                current = str(folder)
            record.update(policy=fingerprint(current), seconds=round(time.perf_counter() - started, 3))
            records.append(record)
        if distributed.is_main():
            _finalize(current, base, out_dir / "model", keep=cfg.keep_iterations)
            if not cfg.keep_iterations:
                shutil.rmtree(out_dir / ITERATIONS, ignore_errors=True)
        distributed.barrier()
        metrics = {
            "iterations": records,
            "steps": sum(r.get("steps", 0) for r in records),
            "seconds": round(sum(r["seconds"] for r in records), 3),
            "base": records[0]["reference"],
            "final": folder_fingerprint(out_dir / "model"),
        }
        return Candidate(
            method=self.name, kind="full", path=str(out_dir), checkpoint="model",
            base=_base_reference(base), runner_options={"prompt_options": asdict(prompts)},
            metrics=metrics,
        )  # fmt: skip

    def _sample_and_label(self, model, suite, questions, prompts, cfg, t, record) -> dict[str, list[Labeled]]:
        """K samples per question from ``model``, executed and labelled (by question id);
        the sample statistics go into ``record``. Under several processes each rank samples
        and judges its share of the questions (:func:`trainers.distributed.map_shards`) and
        every rank gets all of them."""
        from trainers import distributed
        from trainers.feedback import feedback_options, judge, sample_completions

        options = feedback_options(suite, timeout_s=cfg.timeout_s)
        seconds = {"sample": 0.0, "judge": 0.0}

        def sample_and_judge(mine: list[Example]) -> list[list[tuple[Any, Any]]]:
            """Per question: its samples, each with its verdict (None: not runnable)."""
            began = time.perf_counter()
            sampled = sample_completions(
                model, suite, mine, prompt_options=prompts, k=cfg.samples_per_question,
                temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                seed=cfg.seed * 1_000_003 + t, batch_size=cfg.generation_batch_size,
            )  # fmt: skip
            seconds["sample"] = time.perf_counter() - began
            drawn = [(ex, s) for ex in mine for s in sampled.get(ex.id, [])]
            runnable = [(ex, s) for ex, s in drawn if s.error is None]  # an error: no text at all
            verdicts = judge(suite, [(ex, s.prediction) for ex, s in runnable], options=options, jobs=cfg.jobs)
            seconds["judge"] = time.perf_counter() - began - seconds["sample"]
            by_sample = {id(s): verdict for (_, s), verdict in zip(runnable, verdicts)}
            return [[(s, by_sample.get(id(s))) for s in sampled.get(ex.id, [])] for ex in mine]

        per_question = distributed.map_shards(questions, sample_and_judge)
        sample_s = seconds["sample"]
        drawn = [(ex, s) for ex, samples in zip(questions, per_question) for s, _ in samples]
        runnable = [(ex, s) for ex, s in drawn if s.error is None]
        verdicts = [v for samples in per_question for s, v in samples if s.error is None]
        labeled: dict[str, list[Labeled]] = {ex.id: [] for ex in questions}
        by_tier: dict[str, list[Labeled]] = {}
        for (ex, s), verdict in zip(runnable, verdicts):
            sample = Labeled.from_status(s.text, s.prediction, verdict.status)
            labeled[ex.id].append(sample)
            if sample.labelled:
                by_tier.setdefault(str(ex.tier), []).append(sample)
        every = [s for samples in by_tier.values() for s in samples]
        record.update(
            questions=len(questions), **rates(every), unlabelled=len(runnable) - len(every),
            generation_errors=len(drawn) - len(runnable),
            by_tier={tier: rates(samples) for tier, samples in sorted(by_tier.items())},
            sample_seconds=round(sample_s, 3),
            judge_seconds=round(seconds["judge"], 3),
        )  # fmt: skip
        return labeled

    def _train_dpo(self, current, folder, rows, requests, chat, cfg, t, progress) -> dict[str, Any]:
        """One DPO run of the policy loaded from ``current`` against a frozen copy of it;
        the trained policy is saved (with the tokenizer) to ``folder``."""
        import datasets
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import DPOConfig, DPOTrainer

        from trainers.data import context_length

        tokenizer = AutoTokenizer.from_pretrained(current)
        policy = AutoModelForCausalLM.from_pretrained(current, dtype=torch.float32)
        reference = AutoModelForCausalLM.from_pretrained(current, dtype=torch.float32).eval()
        reference.requires_grad_(False)
        from trainers import distributed

        cuda = torch.cuda.is_available()
        steps = cfg.steps_per_iteration or max(1, math.ceil(cfg.epochs_per_iteration * len(rows) / cfg.batch_size))
        args = DPOConfig(
            output_dir=str(folder.parent / f".trl-{t}"), loss_type=["sigmoid", "sft"], loss_weights=[1.0, cfg.sft_weight],
            beta=cfg.beta, max_steps=steps, per_device_train_batch_size=distributed.per_device(cfg.batch_size, self.name),
            learning_rate=cfg.lr,
            report_to=[], save_strategy="no", seed=cfg.seed + t, data_seed=cfg.seed + t, use_cpu=not cuda,
            bf16=cuda and torch.cuda.is_bf16_supported(), logging_steps=1, disable_tqdm=not progress,
            activation_checkpointing=cfg.gradient_checkpointing, max_length=cfg.max_length or context_length(policy),
        )  # fmt: skip
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            trainer = DPOTrainer(
                model=policy, ref_model=reference, args=args, processing_class=tokenizer,
                train_dataset=datasets.Dataset.from_list(rows),
            )  # fmt: skip
            if len(trainer.train_dataset) == 0:
                raise ValueError(f"codelutra: every prompt of iteration {t} fills max_length={args.max_length}")
            _quiet_logs(trainer)
            mismatches = prompt_mismatches(trainer.train_dataset, requests, tokenizer, chat)
            if self.before_train is not None:
                self.before_train(t, trainer)
            began = time.perf_counter()
            trainer.train()
            train_s = time.perf_counter() - began
            state_dict = distributed.trainer_state_dict(trainer)  # FSDP/DeepSpeed: gathered
            replicas = distributed.replicas(policy)
        finally:
            if bars:
                datasets.enable_progress_bars()
        if distributed.is_main():  # under several processes rank 0 writes, the others wait
            policy.save_pretrained(folder, **({"state_dict": state_dict} if state_dict is not None else {}))
            AutoTokenizer.from_pretrained(current).save_pretrained(folder)  # as loaded (trl may set a pad token)
        distributed.barrier()
        kept = len(trainer.train_dataset)  # trl drops rows whose prompt alone fills max_length
        record = {"rows": kept, "rows_dropped": len(rows) - kept, "prompt_mismatches": mismatches,
                  "train_seconds": round(train_s, 3), **loss_summary(trainer.state.log_history)}  # fmt: skip
        if replicas is not None:
            record["replicas"] = replicas
        if distributed.is_main():
            shutil.rmtree(args.output_dir, ignore_errors=True)
        del trainer, policy, reference
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        return record


def draw_questions(examples: list[Example], n: int | None, seed: str) -> list[Example]:
    """``n`` questions drawn without replacement (in suite order), or all of them."""
    if n is None or n >= len(examples):
        return list(examples)
    picked = set(random.Random(seed).sample(range(len(examples)), n))
    return [ex for i, ex in enumerate(examples) if i in picked]


def gold_texts(suite: Suite, questions: list[Example], chat: bool) -> dict[str, str]:
    """The gold answer of each question as the completion the model would write: the
    extractor's target, after a newline in plain mode (the prompt ends mid-line)."""
    from trainers.data import target_text

    texts = {}
    for ex in questions:
        target = target_text(suite, ex)
        texts[ex.id] = target if chat or not target.startswith("```") else "\n" + target
    return texts


def inference_ids(request: Any, tokenizer: Any, chat: bool) -> list[int]:
    """The prompt's token ids exactly as :mod:`runners.transformers_runner` feeds them."""
    if chat:
        text = tokenizer.apply_chat_template(request.chat(), tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(request.prompt)["input_ids"])


def prompt_mismatches(dataset: Any, requests: dict[str, Any], tokenizer: Any, chat: bool) -> int:
    """Rows whose tokenized prompt (trl's) differs from the inference prompt."""
    cache: dict[str, list[int]] = {}
    differ = 0
    for qid, prompt_ids in zip(dataset["question_id"], dataset["prompt_ids"]):
        if qid not in cache:
            cache[qid] = inference_ids(requests[qid], tokenizer, chat)
        differ += list(prompt_ids) != cache[qid]
    return differ


def loss_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Steps and losses (DPO total: sigmoid + sft_weight x sft) from trl's per-step log."""
    steps = [h for h in history if "loss" in h and "train_runtime" not in h]
    losses = [float(h["loss"]) for h in steps]
    out: dict[str, Any] = {
        "steps": len(steps),
        "loss": sum(losses) / len(losses) if losses else None,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
    }
    for key in ("sft_loss", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        values = [float(h[key]) for h in steps if key in h]
        if values:
            out[key] = sum(values) / len(values)
    return out


def _quiet_logs(trainer: Any) -> None:
    """No line per logged step (the losses are summarised in the metrics); a progress
    bar, if any, stays."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    bar = trainer.pop_callback(ProgressCallback)
    if bar is not None:
        bar.on_log = lambda *args, **kwargs: None
        trainer.add_callback(bar)


def _is_chat(model: str) -> bool:
    from transformers import AutoTokenizer

    return bool(getattr(AutoTokenizer.from_pretrained(model), "chat_template", None))


def _finalize(current: str, base: str, target: Path, *, keep: bool) -> None:
    """The last policy becomes ``target``: moved (copied when kept), or the base saved there."""
    if current == base:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        AutoModelForCausalLM.from_pretrained(base).save_pretrained(target)
        AutoTokenizer.from_pretrained(base).save_pretrained(target)
    elif keep:
        shutil.copytree(current, target)
    else:
        shutil.move(current, target)
