"""``grpo``: trl's ``GRPOTrainer`` with an execution reward (:mod:`trainers.execution_reward`).

Each step draws ``batch_size / num_generations`` training questions, samples
``num_generations`` completions for each from the current policy (the exact inference
prompt: ``request.prompt`` for a plain tokenizer, which trl tokenizes with its special
tokens as the transformers runner does, e.g. BOS; ``request.messages`` through the chat
template otherwise), extracts each prediction with the suite's extractor, judges them
with the suite's executor in killable worker processes (``trainers.feedback.judge``:
read-only databases, deadlines, the Python sandbox), and turns the verdicts into
rewards. GRPO standardises rewards within each question's group and takes a clipped
policy-gradient step (KL to the base with weight ``beta``; trl's default 0 loads no
reference model).

Supervision: ``sql`` (the gold SQL's rows), ``answers`` (only the gold answers: weak
supervision; the only kind table QA has) or ``auto`` (sql where the suite has gold
SQL, answers on table QA, the gold output on code suites). ``supervision=sql`` on a
table-QA suite is refused. Questions whose prompt plus ``max_completion_length`` does
not fit the model's context (or ``max_length``) are left out and counted.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.prompts import build_request
from harness.suite import Suite
from harness.types import Example, Status
from trainers.base import Candidate, MethodOption
from trainers.data import resolve_tiers, uses_chat
from trainers.execution_reward import (
    SUPERVISIONS,
    RewardScheme,
    answers_example,
    completion_parses,
    execute_answers,
    extraction_kind,
    gold_answers,
    rewards_for,
    supervision_for,
)
from trainers.sft import TUNE_HELP, FineTune, TuneOptions, options_of

GRPO_FULL_LR, GRPO_LORA_LR = 1e-4, 5e-4  # lr=None picks one by mode (not tuned: see docs/methods.md)
SCHEME_FIELDS = [f.name for f in fields(RewardScheme)]


@dataclass
class GRPOOptions(TuneOptions):
    steps: int = 100
    num_generations: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_completion_length: int = 128
    beta: float = 0.0
    supervision: str = "auto"
    parse_bonus: float = RewardScheme.parse_bonus
    error_penalty: float = RewardScheme.error_penalty
    match_reward: float = RewardScheme.match_reward
    partial_weight: float = RewardScheme.partial_weight
    overbroad_factor: float = RewardScheme.overbroad_factor
    overbroad_min_excess: int = RewardScheme.overbroad_min_excess
    overbroad_penalty: float = RewardScheme.overbroad_penalty
    timeout_s: float = 5.0
    jobs: int = 1

    def validate(self, method: str) -> None:
        if self.steps < 1 or self.max_completion_length < 1 or self.jobs < 1:
            raise ValueError(f"{method}: steps, max_completion_length and jobs must be at least 1")
        if self.num_generations < 2:
            raise ValueError(f"{method}: num_generations must be at least 2 (GRPO compares completions in a group)")
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"{method}: batch_size ({self.batch_size}) counts completions per step and must be a multiple of "
                f"num_generations ({self.num_generations}), e.g. batch_size="
                f"{max(1, round(self.batch_size / self.num_generations)) * self.num_generations}"
            )
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.timeout_s <= 0:
            raise ValueError(f"{method}: temperature and timeout_s must be positive and top_p in (0, 1]")
        if self.supervision not in SUPERVISIONS:
            raise ValueError(f"{method}: supervision must be one of {', '.join(SUPERVISIONS)}")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return GRPO_LORA_LR if self.mode == "lora" else GRPO_FULL_LR

    @property
    def scheme(self) -> RewardScheme:
        return RewardScheme(**{name: getattr(self, name) for name in SCHEME_FIELDS})

    @property
    def prompts_per_step(self) -> int:
        return self.batch_size // self.num_generations


GRPO_HELP = {
    **TUNE_HELP,
    "batch_size": "completions per optimizer step (questions x num_generations; a multiple of num_generations)",
    "lr": f"peak learning rate (AdamW, warmup then linear decay); None: {GRPO_FULL_LR} full, {GRPO_LORA_LR} lora",
    "max_length": "longest prompt + completion in tokens (longer questions are left out); None: the model's context",
    "steps": "optimizer steps (each samples batch_size completions)",
    "num_generations": "completions sampled per question (the GRPO group, G)",
    "temperature": "sampling temperature of the rollouts",
    "top_p": "nucleus sampling of the rollouts",
    "max_completion_length": "longest completion in tokens",
    "beta": "KL weight to the base (trl's default 0: no reference model)",
    "supervision": "auto, sql (gold SQL rows) or answers (gold answer values only; table QA's only kind)",
    "parse_bonus": "reward added when the prediction parses (SQL) / has a fenced answer (output)",
    "error_penalty": "reward of a prediction that fails to run or gives no answer",
    "match_reward": "reward of a correct result",
    "partial_weight": "weight of the overlap F1 of a wrong result",
    "overbroad_factor": "a result with more than this x the gold's rows (values) is over-broad",
    "overbroad_min_excess": "... and more than gold + this many rows (values)",
    "overbroad_penalty": "reward of an over-broad result (no partial credit)",
    "timeout_s": "execution deadline per prediction in seconds",
    "jobs": "worker processes judging predictions",
}


def create(**_: Any) -> GRPOTrainer:
    return GRPOTrainer()


class GRPOTrainer:
    """GRPO (trl) with an execution reward: parse bonus, error penalty, match, partial overlap, over-broad penalty."""

    name = "grpo"

    def options(self) -> list[MethodOption]:
        return options_of(GRPOOptions, GRPO_HELP)

    def fit(
        self, base: str, train: Suite, config: dict[str, Any], out_dir: Path, *, progress: bool = True
    ) -> Candidate:
        import torch
        from datasets import Dataset
        from trl import GRPOConfig
        from trl import GRPOTrainer as TrlGRPOTrainer

        from trainers import distributed

        if distributed.launched():
            distributed.state()  # the process group before trl's, with the harness's timeout
        cfg = GRPOOptions.from_options(config, self.name)
        supervision = supervision_for(train, cfg.supervision)  # refuses sql on table QA before any work
        resolve_tiers(train)
        session = FineTune.open(base, cfg, adapter_name=self.name)
        prompts, indices, too_long = training_prompts(train, session, cfg)
        reward_fn = ExecutionReward(train, supervision, cfg)
        bf16 = session.mixed_precision == "bf16"
        _accelerator_ready("bf16" if bf16 else "no")
        work = Path(tempfile.mkdtemp(prefix="grpo-"))
        try:
            args = GRPOConfig(
                output_dir=str(work), max_steps=cfg.steps,
                per_device_train_batch_size=distributed.per_device(cfg.batch_size, self.name),
                gradient_accumulation_steps=1, num_generations=cfg.num_generations, temperature=cfg.temperature,
                top_p=cfg.top_p, max_completion_length=cfg.max_completion_length, beta=cfg.beta,
                learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup, lr_scheduler_type="linear",
                seed=cfg.seed, data_seed=cfg.seed, logging_steps=1, save_strategy="no", report_to=[],
                use_cpu=not torch.cuda.is_available(), bf16=bf16, fp16=False, use_vllm=False,
                gradient_checkpointing=False, disable_tqdm=not progress, dataloader_num_workers=0,
            )  # fmt: skip
            trainer = TrlGRPOTrainer(
                model=session.model, reward_funcs=[reward_fn], args=args, processing_class=session.tokenizer,
                train_dataset=Dataset.from_dict({"prompt": prompts, "example_index": indices}),
            )  # fmt: skip
            started = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - started
            history = [dict(entry) for entry in trainer.state.log_history]
            state_dict = distributed.trainer_state_dict(trainer)
            replicas = distributed.replicas(session.model)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        session.model.eval()
        metrics = {
            "steps": cfg.steps, "seconds": round(seconds, 3), "supervision": supervision,
            "scheme": asdict(cfg.scheme), "prompts": len(prompts), "too_long": too_long,
            **reward_fn.summary(), "log_history": history,
            "losses": [entry["loss"] for entry in history if "loss" in entry],
        }  # fmt: skip
        if replicas is not None:
            metrics["replicas"] = replicas
        return session.save(out_dir, self.name, metrics, state_dict=state_dict)


def training_prompts(suite: Suite, session: FineTune, cfg: GRPOOptions) -> tuple[list[Any], list[int], int]:
    """(prompts, example indices, how many left out for length) for the questions the run can use.

    Only as many questions as the steps consume are drawn (seeded), so prompts are built
    for those alone; trl shuffles and cycles them.
    """
    tokenizer, chat = session.tokenizer, uses_chat(session.tokenizer)
    limit = session.max_length
    needed = cfg.steps * cfg.prompts_per_step
    order = list(range(len(suite.examples)))
    random.Random(f"grpo:{cfg.seed}").shuffle(order)
    prompts: list[Any] = []
    indices: list[int] = []
    too_long = 0
    for index in order:
        if len(indices) >= needed:
            break
        request = build_request(suite, suite.examples[index], session.prompt_options, [])
        if chat:
            prompt: Any = [{"role": role, "content": content} for role, content in request.messages]
            text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            length = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        else:
            prompt = request.prompt
            length = len(tokenizer(prompt)["input_ids"])
        if limit is not None and length + cfg.max_completion_length > limit:
            too_long += 1
            continue
        prompts.append(prompt)
        indices.append(index)
    if not prompts:
        raise ValueError(
            f"grpo: no question of {suite.name!r} fits {limit} tokens with max_completion_length="
            f"{cfg.max_completion_length} ({too_long} too long)"
        )
    return prompts, indices, too_long


class ExecutionReward:
    """The reward function trl calls: extract, judge with the suite's executor, score; keeps a record.

    Each call is one generation batch (one optimizer step here): its mean reward and the
    shares of matching, failing (error rate), over-broad and parsing completions are
    appended to ``steps``; counts per tier accumulate over the run.
    """

    def __init__(self, suite: Suite, supervision: str, cfg: GRPOOptions) -> None:
        from harness.extraction import EXTRACTORS
        from trainers.feedback import feedback_options

        self.__name__ = "execution_reward"  # trl names the reward after it
        self.suite, self.supervision, self.scheme, self.jobs = suite, supervision, cfg.scheme, cfg.jobs
        self.options = feedback_options(suite, timeout_s=cfg.timeout_s)
        self.extract = EXTRACTORS[extraction_kind(suite)]  # as harness.generate.extractor_for
        self.executor = execute_answers if supervision == "answers" and suite.gold_kind == "sql" else None
        self._answers: dict[int, Example] = {}
        self.steps: list[dict[str, Any]] = []
        self.tiers: dict[str, Counter[str]] = defaultdict(Counter)

    def judged_example(self, index: int) -> Example:
        """The example as the executor sees it (answers supervision on SQL: answers only, computed once)."""
        example = self.suite.examples[index]
        if self.executor is None:
            return example
        if index not in self._answers:
            self._answers[index] = answers_example(example, gold_answers(example, self.options))
        return self._answers[index]

    def __call__(
        self, prompts: list[Any], completions: list[Any], example_index: list[int], **kwargs: Any
    ) -> list[float]:
        from trainers.feedback import judge

        texts = [c if isinstance(c, str) else "".join(m.get("content") or "" for m in c) for c in completions]
        predictions = [self.extract(text) for text in texts]
        examples = [self.judged_example(int(i)) for i in example_index]
        executions = judge(self.suite, list(zip(examples, predictions)), options=self.options, jobs=self.jobs,
                           executor=self.executor)  # fmt: skip
        parsed = [completion_parses(self.suite, t, p) for t, p in zip(texts, predictions)]
        scored = rewards_for(executions, predictions, parsed, self.scheme)
        outcomes = Counter(s.outcome for s in scored)
        n = len(scored)
        state = kwargs.get("trainer_state")
        record = {
            "step": (state.global_step + 1) if state is not None else len(self.steps) + 1,
            "reward": round(sum(s.reward for s in scored) / n, 4),
            "accuracy": outcomes["match"] / n, "error_rate": outcomes["error"] / n,
            "overbroad_rate": outcomes["overbroad"] / n, "parse_rate": sum(parsed) / n,
            "outcomes": dict(sorted(outcomes.items())),
            "timeouts": sum(e.status == Status.PRED_TIMEOUT for e in executions),
        }  # fmt: skip
        self.steps.append(record)
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            for key in ("accuracy", "error_rate", "overbroad_rate", "parse_rate"):
                log_metric(f"execution/{key}", record[key])
        for index, s in zip(example_index, scored):
            tier = self.suite.examples[int(index)].tier or "unknown"
            self.tiers[tier].update(completions=1, match=s.outcome == "match", error=s.outcome == "error")
        return [s.reward for s in scored]

    def summary(self) -> dict[str, Any]:
        """The run's reward record for ``Candidate.metrics`` (under several processes, each
        rank judged its own completions: the records of every rank, merged per step)."""
        from trainers import distributed

        steps, counts = self.steps, self.tiers
        if distributed.active():
            everyone = distributed.gather((self.steps, dict(self.tiers)))
            steps = merge_steps([s for rank_steps, _ in everyone for s in rank_steps])
            counts = defaultdict(Counter)
            for _, rank_tiers in everyone:
                for tier, counter in rank_tiers.items():
                    counts[tier].update(counter)
        tiers = [t for t in self.suite.tiers if t in counts] + sorted(set(counts) - set(self.suite.tiers))
        return {
            "rewards": [s["reward"] for s in steps],
            "accuracy": [s["accuracy"] for s in steps],
            "error_rate": [s["error_rate"] for s in steps],
            "overbroad_rate": [s["overbroad_rate"] for s in steps],
            "by_step": steps,
            "by_tier": {
                t: {"completions": counts[t]["completions"],
                    "accuracy": counts[t]["match"] / counts[t]["completions"],
                    "error_rate": counts[t]["error"] / counts[t]["completions"]}
                for t in tiers
            },  # fmt: skip
        }


def merge_steps(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-step reward records of several ranks (each over its own completions) as one record
    per step over all of them, in step order.

    >>> a = {"step": 1, "reward": 1.0, "accuracy": 1.0, "error_rate": 0.0, "overbroad_rate": 0.0,
    ...      "parse_rate": 1.0, "outcomes": {"match": 2}, "timeouts": 0}
    >>> b = {**a, "reward": 0.0, "accuracy": 0.0, "parse_rate": 0.5, "outcomes": {"error": 2}, "timeouts": 1}
    >>> merged = merge_steps([a, b])[0]
    >>> merged["reward"], merged["accuracy"], merged["parse_rate"], merged["outcomes"], merged["timeouts"]
    (0.5, 0.5, 0.75, {'error': 2, 'match': 2}, 1)
    """
    by_step: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_step[int(record["step"])].append(record)
    merged = []
    for step in sorted(by_step):
        group = by_step[step]
        sizes = [sum(r["outcomes"].values()) for r in group]
        n = sum(sizes) or 1
        outcomes: Counter[str] = Counter()
        for r in group:
            outcomes.update(r["outcomes"])
        record = {"step": step}
        for key in ("reward", "accuracy", "error_rate", "overbroad_rate", "parse_rate"):
            value = sum(r[key] * size for r, size in zip(group, sizes)) / n
            record[key] = round(value, 4) if key == "reward" else value
        record["outcomes"] = dict(sorted(outcomes.items()))
        record["timeouts"] = sum(r["timeouts"] for r in group)
        merged.append(record)
    return merged


def _accelerator_ready(mixed_precision: str) -> None:
    """Let the Trainer's Accelerator take ``mixed_precision``: accelerate's state is a process-wide
    singleton that refuses a second setting (the tiny base may have pretrained in fp32 in this process)."""
    from accelerate.state import AcceleratorState

    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision", mixed_precision) != mixed_precision:
        AcceleratorState._reset_state()  # as transformers.Trainer itself does between runs
