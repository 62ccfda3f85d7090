"""``learnat``: AST-guided task decomposition with margin-aware DPO (LearNAT), for text-to-SQL.

Per round (``rounds``, default 1):

1. **Decomposition synthesis** (:mod:`trainers.decomposition_search`): a Monte Carlo
   tree search per training question over (sub-question, sub-SQL) steps. Proposals
   come from the model being trained (the base in round 1, the previous round's model
   after) when it can propose: a probe of ``probe_questions`` questions decides it
   (``proposer="auto"``: the model proposes only if some of its steps survive pruning
   there); otherwise, and at every node where none of its steps survives, the
   rule-based decomposer (:mod:`trainers.decomposer`) proposes. Steps whose sub-SQL is
   not a subtree of the gold AST are pruned; kept steps are valued by AST similarity
   (:mod:`trainers.sql_tree`). The best path is kept only when its last SQL executes to
   the gold result with the suite's own executor.
2. **SFT** on the kept decompositions: the inference prompt, then the steps
   ``Sub-question i: ... / SubSQL i: ...`` as the completion (``sft_steps`` AdamW steps,
   :func:`trainers.loop.train`), so the model learns to write them; the last SubSQL is
   the answer (:func:`harness.extraction.extract_sql` takes it).
3. **Margin-aware DPO** (:mod:`trainers.margin_dpo`) on the step-level pairs of the
   searches (chosen: the best path's step, rejected: a pruned or lower-valued sibling)
   against a frozen copy of the SFT model: ``-log sigmoid(beta*h - alpha*log(margin))``.

Full fine-tuning only; the candidate is the last round's model (kind ``full``,
``checkpoint="model"``; earlier rounds stay in ``rounds/<r>``). Step-by-step answers are long (each SubSQL repeats the query
so far), so the candidate asks ``harness run`` for a larger generation budget
(:func:`answer_budget`) unless ``--max-new-tokens`` is given. SQL suites only: the method needs gold SQL to decompose.
See docs/methods.md.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.prompts import PromptOptions, build_request
from harness.suite import Suite
from harness.types import Example
from trainers.base import Candidate, MethodOption, documented_options, option
from trainers.decomposer import Step
from trainers.decomposition_search import (
    DecompositionSearch,
    SearchConfig,
    format_steps,
    run_searches,
)

FULL_LR = 5e-4



@dataclass
class LearNATConfig:
    """The options of ``harness run --method learnat -M KEY=VALUE`` (``harness methods``)."""

    rounds: int = option(
        1, "synthesis + SFT + DPO rounds; round r > 1 searches with round r-1's model as proposer"
    )
    simulations: int = option(24, "MCTS simulations per question")
    max_depth: int = option(
        8, "most steps in a decomposition (the last allowed step writes the rest of the query)"
    )
    exploration: float = option(1.0, "UCB exploration constant c")
    corruptions: int = option(2, "wrong variants made of each rule proposal (pruned negatives)")
    pairs_per_step: int = option(2, "preference pairs per step of the best path")
    proposer: str = option("auto", "auto (the model when it can propose, else rules) or rules")
    proposals: int = option(4, "next steps sampled from the model per expansion")
    model_simulations: int = option(
        2, "simulations whose expansions ask the model (the rest use rules: CPU budget)"
    )
    probe_questions: int = option(16, "questions on which auto checks whether the model can propose")
    proposal_temperature: float = option(1.0, "sampling temperature of model proposals")
    questions: int | None = option(
        None, "train questions searched per round (seeded draw); None: all"
    )
    sft_steps: int = option(400, "SFT steps on the kept decompositions per round")
    dpo_steps: int = option(200, "margin-aware DPO steps per round (0: none)")
    batch_size: int = option(8, "examples (SFT) or pairs (DPO) per optimizer step")
    lr: float = option(FULL_LR, "SFT peak learning rate (AdamW, warmup then linear decay)")
    dpo_lr: float = option(1e-5, "DPO peak learning rate")
    warmup: float = option(0.05, "SFT warmup, fraction of its steps")
    beta: float = option(0.1, "DPO beta")
    alpha: float = option(0.1, "weight of -log(margin) in the DPO logit")
    margin_floor: float = option(0.01, "smallest margin (value gap) a pair counts with")
    timeout_s: float = option(5.0, "execution deadline when verifying a decomposition's last SQL")
    jobs: int = option(2, "worker processes verifying by execution")
    max_length: int | None = option(
        None, "longest training sequence in tokens; None: the model's context"
    )
    seed: int = option(0, "seed of draws, corruptions, batch order and sampling")
    sample_rows: int | None = option(
        None, "sample rows per table in prompts; None: the base's own (tiny base: 0), else 3"
    )

    @classmethod
    def from_options(cls, config: dict[str, Any]) -> LearNATConfig:
        unknown = sorted(set(config) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"learnat: unknown option(s) {unknown}; known: {sorted(f.name for f in fields(cls))}"
            )
        cfg = cls(**config)
        positive = ("rounds", "simulations", "max_depth", "batch_size", "jobs", "sft_steps")
        if any(int(getattr(cfg, name)) < 1 for name in positive):
            raise ValueError(f"learnat: {', '.join(positive)} must be at least 1")
        if cfg.proposer not in ("auto", "rules"):
            raise ValueError(f"learnat: proposer must be 'auto' or 'rules', got {cfg.proposer!r}")
        if cfg.dpo_steps < 0 or cfg.margin_floor <= 0 or cfg.proposals < 0 or cfg.corruptions < 0:
            raise ValueError(
                "learnat: needs dpo_steps >= 0, margin_floor > 0, proposals >= 0, corruptions >= 0"
            )
        if cfg.questions is not None and cfg.questions < 1:
            raise ValueError("learnat: questions must be at least 1 (or None: all)")
        return cfg

    def search_config(self) -> SearchConfig:
        return SearchConfig(
            self.simulations,
            self.max_depth,
            self.exploration,
            self.corruptions,
            self.pairs_per_step,
        )


def create(**_: Any) -> LearNATTrainer:
    return LearNATTrainer()


@dataclass
class Synthesis:
    """One round's searched questions: kept decompositions and step-level pairs."""

    kept: dict[str, list[Step]] = field(default_factory=dict)
    searches: dict[str, Any] = field(default_factory=dict)  # DecompositionSearch (or _ScoredPairs)
    record: dict[str, Any] = field(default_factory=dict)

    def portable(self) -> Synthesis:
        """The same synthesis with each kept question's search reduced to its step pairs
        (what training reads), to send to the other ranks."""
        pairs = {qid: _ScoredPairs(self.searches[qid].pairs(path)) for qid, path in self.kept.items()}
        return Synthesis(kept=self.kept, searches=pairs, record=self.record)


class _ScoredPairs:
    """A search's step pairs along its kept path, computed: :meth:`pairs` as a search answers it."""

    def __init__(self, pairs: list[Any]) -> None:
        self._pairs = pairs

    def pairs(self, path: list[Step]) -> list[Any]:
        return list(self._pairs)


class LearNATTrainer:
    """Decomposition synthesis by AST-pruned MCTS, SFT on it, then margin-aware DPO."""

    name = "learnat"

    def options(self) -> list[MethodOption]:
        return documented_options(LearNATConfig)

    def fit(
        self,
        base: str,
        train: Suite,
        config: dict[str, Any],
        out_dir: Path,
        *,
        progress: bool = True,
    ) -> Candidate:
        from trainers import distributed
        from trainers.data import resolve_tiers, uses_chat
        from trainers.sft import FineTune, TuneOptions, _base_reference

        # Under several processes: rank 0 searches and sends the synthesis to every rank,
        # SFT and DPO train data-parallel (DDP), rank 0 writes each round's model.
        distributed.refuse_sharding(self.name, "it trains one model in several passes and its own DPO loop")
        cfg = LearNATConfig.from_options(config)
        if (train.context.get("extract") or train.gold_kind) != "sql":
            raise ValueError(
                f"learnat decomposes gold SQL; suite {train.name!r} has gold kind {train.gold_kind!r}"
            )
        out_dir = Path(out_dir)
        resolve_tiers(train)
        tune = TuneOptions(seed=cfg.seed, max_length=cfg.max_length, sample_rows=cfg.sample_rows)
        session = FineTune.open(base, tune, adapter_name=self.name)
        model, tokenizer, prompts = session.model, session.tokenizer, session.prompt_options
        chat = uses_chat(tokenizer)
        current, records = base, []
        for r in range(1, cfg.rounds + 1):
            started = time.perf_counter()
            synthesis = None
            if distributed.is_main():
                synthesis = self.synthesize(current, train, prompts, cfg, r, tokenizer if chat else None, progress)
                if distributed.active():
                    synthesis = synthesis.portable()
            synthesis = distributed.broadcast(synthesis)
            record = dict(synthesis.record, round=r)
            if not synthesis.kept:
                raise ValueError(
                    f"learnat: no decomposition of {train.name!r} verified by execution in round {r}"
                )
            requests = {ex.id: build_request(train, ex, prompts, []) for ex in train.examples if ex.id in synthesis.kept}
            record["sft"] = self._sft(session, train, synthesis, requests, chat, cfg, r, progress)
            record["dpo"] = self._dpo(session, synthesis, requests, chat, cfg, r, progress)
            folder = out_dir / ("model" if r == cfg.rounds else f"rounds/{r}")
            if distributed.is_main():
                model.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
            distributed.barrier()
            current = str(folder)
            record["seconds"] = round(time.perf_counter() - started, 3)
            records.append(record)
        metrics = {
            "rounds": records,
            "steps": sum(r["sft"]["steps"] + r["dpo"].get("steps", 0) for r in records),
            "seconds": round(sum(r["seconds"] for r in records), 3),
        }
        return Candidate(
            method=self.name, kind="full", path=str(out_dir), checkpoint="model",
            base=_base_reference(base), metrics=metrics,
            runner_options={"prompt_options": asdict(prompts), "max_new_tokens": answer_budget(records)},
        )  # fmt: skip

    # -- 1. synthesis -------------------------------------------------------------------

    def synthesize(
        self,
        model: str,
        suite: Suite,
        prompts: PromptOptions,
        cfg: LearNATConfig,
        r: int,
        chat_tokenizer: Any,
        progress: bool,
    ) -> Synthesis:
        """Search every drawn question, verify the best paths by execution. ``chat_tokenizer``:
        the tokenizer whose chat template frames model proposals (None: plain prompts)."""
        from harness.evaluate import progress_bar
        from trainers.codelutra import draw_questions
        from trainers.feedback import feedback_options, judge

        began = time.perf_counter()
        out = Synthesis()
        questions = draw_questions(suite.examples, cfg.questions, f"{cfg.seed}:{r}")
        undecomposable = 0
        for ex in questions:
            try:
                out.searches[ex.id] = DecompositionSearch(
                    ex.gold, cfg.search_config(), seed=f"{cfg.seed}:{ex.id}", example_id=ex.id
                )
            except ValueError:  # unparseable gold, or a shape the decomposer does not take (WITH)
                undecomposable += 1
        by_id = {ex.id: ex for ex in questions}
        searches = list(out.searches.values())
        proposer = None
        if cfg.proposer == "auto":
            proposer = ModelProposer(model, suite, by_id, prompts, cfg, chat_tokenizer)
        try:
            uses_model = proposer is not None and proposer.can_propose(searches[: cfg.probe_questions])
            with progress_bar(
                cfg.simulations, 0, f"learnat round {r}: search {len(searches)} trees"
            ) as advance:
                tick = (lambda _: advance()) if progress else None
                by_model = min(cfg.model_simulations, cfg.simulations) if uses_model else 0
                if by_model:
                    run_searches(searches, by_model, propose=proposer, progress=tick)
                run_searches(searches, cfg.simulations - by_model, progress=tick)
        finally:
            if proposer is not None:
                proposer.close()
        paths = {qid: search.best_path() for qid, search in out.searches.items()}
        items = [(by_id[qid], path[-1].sql) for qid, (path, _) in paths.items()]
        verdicts = judge(
            suite, items, options=feedback_options(suite, timeout_s=cfg.timeout_s), jobs=cfg.jobs
        )
        statuses: dict[str, int] = {}
        for (ex, _), verdict in zip(items, verdicts):
            statuses[verdict.status.value] = statuses.get(verdict.status.value, 0) + 1
            if verdict.status.value == "match":
                out.kept[ex.id] = paths[ex.id][0]
        stats = [s.stats for s in searches]
        lengths = [len(p) for p in out.kept.values()]
        out.record = {
            "questions": len(questions), "undecomposable": undecomposable, "kept": len(out.kept),
            "verification": statuses, "proposer": "model" if uses_model else "rules",
            "probe": proposer.probe if proposer is not None else None,
            "completed_by_rules": sum(done for _, done in paths.values()),
            "mean_steps": round(sum(lengths) / len(lengths), 3) if lengths else 0.0,
            **{key: sum(s[key] for s in stats) for key in ("model_proposals", "model_kept", "rule_proposals", "pruned")},
            "search_seconds": round(time.perf_counter() - began, 3),
        }  # fmt: skip
        return out

    # -- 2. SFT -------------------------------------------------------------------------

    def _sft(self, session, suite, synthesis, requests, chat, cfg, r, progress) -> dict[str, Any]:
        from trainers.data import TrainText, encode
        from trainers.loop import train as train_loop

        tiers = {ex.id: ex.tier for ex in suite.examples}
        texts = [
            TrainText(qid, tiers[qid], request.prompt, decomposition_text(synthesis.kept[qid], chat), request.messages)
            for qid, request in requests.items()
        ]
        encoded = encode(texts, session.tokenizer, max_length=session.max_length)
        if not encoded.items:
            raise ValueError(
                f"learnat: no decomposition of {suite.name!r} fits in {session.max_length} tokens"
            )
        log = train_loop(
            session.model, session.tokenizer, [encoded.items], steps_per_stage=cfg.sft_steps,
            batch_size=cfg.batch_size, lr=cfg.lr, warmup=cfg.warmup, seed=cfg.seed + r, progress=progress,
            stage_names=[f"sft-{r}"], mixed_precision=session.mixed_precision,
        )  # fmt: skip
        longest = max(item.target_tokens for item in encoded.items)
        return {**log.summary(), "data": encoded.summary(), "steps": log.steps, "longest_target": longest}

    # -- 3. margin-aware DPO --------------------------------------------------------------

    def _dpo(self, session, synthesis, requests, chat, cfg, r, progress) -> dict[str, Any]:
        from trainers.margin_dpo import encode_pairs, train_margin_dpo

        model, tokenizer, max_length = session.model, session.tokenizer, session.max_length
        pairs = step_pairs(synthesis, requests, chat)
        record: dict[str, Any] = {"pairs": len(pairs)}
        if not pairs or cfg.dpo_steps == 0:
            return record
        encoded, dropped = encode_pairs(
            pairs, tokenizer, max_length=max_length, margin_floor=cfg.margin_floor, chat=chat
        )
        record["dropped"] = dropped
        if not encoded:
            return record
        reference = copy.deepcopy(model).eval()
        reference.requires_grad_(False)
        summary = train_margin_dpo(
            model, reference, tokenizer, encoded, steps=cfg.dpo_steps, batch_size=cfg.batch_size, lr=cfg.dpo_lr,
            beta=cfg.beta, alpha=cfg.alpha, seed=cfg.seed + r, progress=progress,
        )  # fmt: skip
        del reference
        return {**record, **summary}


def answer_budget(records: list[dict[str, Any]]) -> int:
    """Tokens to generate at inference: a quarter more than the longest decomposition
    trained on, in multiples of 64, at least the harness's default of 256.

    >>> answer_budget([{"sft": {"longest_target": 451}}])
    576
    """
    longest = max(r["sft"]["longest_target"] for r in records)
    return max(256, -(-int(longest * 1.25) // 64) * 64)


def decomposition_text(steps: list[Step], chat: bool) -> str:
    """The completion the model learns: the steps, after a newline in plain mode (the
    prompt ends mid-line); EOS is added by the encoder."""
    text = format_steps(steps).rstrip("\n")
    return text if chat else "\n" + text


def step_pairs(synthesis: Synthesis, requests: dict[str, Any], chat: bool) -> list[Any]:
    """:class:`trainers.margin_dpo.StepPair` rows from the kept questions' searches
    (``requests``: the inference request of each kept question, by id)."""
    from trainers.margin_dpo import StepPair

    rows = []
    for qid, request in requests.items():
        for pair in synthesis.searches[qid].pairs(synthesis.kept[qid]):
            k = len(pair.prefix) + 1
            prefix = format_steps(list(pair.prefix)) if pair.prefix else ""
            rows.append(
                StepPair(
                    qid,
                    request.prompt,
                    prefix if chat else "\n" + prefix,
                    format_steps([pair.chosen], start=k),
                    format_steps([pair.rejected], start=k),
                    pair.value_chosen,
                    pair.value_rejected,
                    request.messages,
                )  # fmt: skip
            )
    return rows


class ModelProposer:
    """Next-step proposals sampled from a checkpoint, batched over search trees. The
    runner is opened on first use and kept until :meth:`close`."""

    def __init__(
        self, model: str, suite: Suite, examples: dict[str, Example], prompts: PromptOptions,
        cfg: LearNATConfig, chat_tokenizer: Any = None,
    ) -> None:  # fmt: skip
        self.model, self.suite, self.examples, self.prompts, self.cfg = model, suite, examples, prompts, cfg
        self.chat_tokenizer = chat_tokenizer
        self.probe: dict[str, int] | None = None
        self._calls = 0
        self._runner: Any = None
        self._requests: dict[str, Any] = {}

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def can_propose(self, searches: list[DecompositionSearch]) -> bool:
        """Whether any of the model's steps at the roots of ``searches`` survives pruning."""
        if self.cfg.proposals == 0 or not searches:
            return False
        steps = self([(search, []) for search in searches])
        kept = sum(search.accepts(step.sql) for search, found in zip(searches, steps) for step in found)
        self.probe = {"questions": len(searches), "parsed": sum(map(len, steps)), "kept": kept}
        return kept > 0

    def __call__(self, items: list[tuple[DecompositionSearch, list[Step]]]) -> list[list[Step]]:
        from runners.base import GenerationParams, GenerationRequest
        from runners.transformers_runner import create
        from trainers.decomposition_search import parse_first_step

        requests = [
            GenerationRequest(str(i), self._context(search.example_id, path))
            for i, (search, path) in enumerate(items)
        ]
        self._calls += 1
        params = GenerationParams(
            max_new_tokens=128, temperature=self.cfg.proposal_temperature, n=self.cfg.proposals,
            seed=self.cfg.seed * 1_000_003 + self._calls, stop=(),
        )  # fmt: skip
        if self._runner is None:
            self._runner = create(self.model, chat=False, batch_size=16)
        out: list[list[Step]] = []
        for completion in self._runner.generate(requests, params):
            texts = completion.texts if completion.error is None else []
            out.append([step for step in map(parse_first_step, texts) if step is not None])
        return out

    def _context(self, example_id: str, path: list[Step]) -> str:
        if example_id not in self._requests:
            self._requests[example_id] = build_request(self.suite, self.examples[example_id], self.prompts, [])
        request = self._requests[example_id]
        if self.chat_tokenizer is not None:  # the template's text, continued (the runner adds BOS)
            head = self.chat_tokenizer.apply_chat_template(
                request.chat(), tokenize=False, add_generation_prompt=True
            )
        else:
            head = request.prompt + "\n"
        return head + format_steps(path) + f"Sub-question {len(path) + 1}:"
