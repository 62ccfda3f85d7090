"""Training data, the shared loop, sft, curriculum and the tiny base, on micro models:
real optimizer steps, loadable candidates, exact stage plans, optimizer reset, the cache."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch  # noqa: E402

from harness.prompts import PromptOptions, build_request  # noqa: E402
from harness.suite import Suite  # noqa: E402
from harness.types import Example  # noqa: E402
from runners.base import GenerationParams, GenerationRequest  # noqa: E402
from runners.tiny_models import build_tiny_causal_lm  # noqa: E402
from runners.transformers_runner import create as create_runner  # noqa: E402
from runners.transformers_runner import folder_fingerprint  # noqa: E402
from trainers import curriculum, sft  # noqa: E402
from trainers.base import cached_fit, candidate_key  # noqa: E402
from trainers.curriculum import difficulty, plan_stages, stretch  # noqa: E402
from trainers.data import (  # noqa: E402
    IGNORE,
    TrainText,
    encode,
    target_text,
    training_texts,
)
from trainers.loop import batch_order, example_losses, train  # noqa: E402
from trainers.tiny_base import TinyBaseConfig, prompt_options_for, tiny_base  # noqa: E402

PROMPT = PromptOptions(sample_rows=0)
GREEDY = GenerationParams(max_new_tokens=6)


@pytest.fixture(scope="module")
def base(tmp_path_factory, suite) -> Path:
    """A micro GPT-2 (1 layer, 32 dims) with a plain (no chat template) BPE tokenizer."""
    texts = [t.prompt + t.target for t in training_texts(suite, PROMPT)]
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("micro") / "model",
        vocab_texts=texts,
        arch="gpt2",
        n_layer=1,
        n_embd=32,
        head_dim=16,
        vocab_size=400,
        n_positions=1024,
        chat_template=False,
    )


def load(base: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- data -------------------------------------------------------------------------------


def test_targets_per_gold_kind(suite):
    example = suite.examples[0]
    assert target_text(suite, example) == f"```sql\n{example.gold}\n```"
    code = Suite("c", [], "v", [], "output", [], task="code-output", gold_kind="output")
    assert target_text(code, Example("1", "c", "", "print(3)", "3\n")) == "```\n3\n```"
    line = Suite("l", [], "v", [], "completion", [], task="code-completion", gold_kind="line")
    assert target_text(line, Example("1", "l", "", "x = 1\n", "    y = x")) == "    y = x"
    table = Suite("t", [], "v", [], "answer", [], task="table-qa", gold_kind="answer")
    hidden = Example("1", "t", "", "q", "['3']", metadata={"sql": "SELECT 3"})
    with pytest.raises(ValueError, match="strong supervision"):
        target_text(table, hidden)
    assert target_text(table, hidden, strong_supervision=True) == "```sql\nSELECT 3\n```"


def test_encode_masks_the_prompt_and_ends_with_eos(suite, base):
    _, tokenizer = load(base)
    example = suite.examples[3]
    text = training_texts(suite, PROMPT, [example])[0]
    assert text.prompt == build_request(suite, example, PROMPT, []).prompt
    item = encode([text], tokenizer).items[0]
    prompt_ids = tokenizer(text.prompt)["input_ids"]
    assert item.input_ids[: len(prompt_ids)] == prompt_ids  # what the runner feeds at inference
    assert item.labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    target = item.labels[len(prompt_ids) :]
    assert target[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(target[:-1]) == f"\n```sql\n{example.gold}\n```"


def test_encode_cuts_the_prompt_from_the_left_and_drops_what_cannot_fit(base):
    _, tokenizer = load(base)
    long = TrainText("a", None, "word " * 200 + "end", "```sql\nSELECT 1\n```")
    full = encode([long], tokenizer).items[0]
    target_len = full.target_tokens
    cut = encode([long], tokenizer, max_length=target_len + 5)
    item = cut.items[0]
    assert cut.truncated == 1 and len(item.input_ids) == target_len + 5
    assert item.input_ids[0] == tokenizer.bos_token_id  # BOS kept in front
    assert item.input_ids[1:5] == full.input_ids[-target_len - 4 : -target_len]  # the prompt's end
    assert item.input_ids[-target_len:] == full.input_ids[-target_len:]  # target whole
    dropped = encode([long], tokenizer, max_length=target_len)
    assert dropped.items == [] and dropped.dropped == ["a"]


def test_chat_tokenizers_get_the_template_and_its_end_of_turn(tmp_path):
    from transformers import AutoTokenizer

    folder = build_tiny_causal_lm(tmp_path / "chat", n_layer=1, n_embd=32, vocab_size=300)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = TrainText("1", None, "How many?", "```sql\nSELECT 1\n```", (("user", "How many?"),))
    item = encode([text], tokenizer).items[0]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "How many?"}], tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert item.input_ids[: len(prompt_ids)] == prompt_ids
    assert tokenizer.decode(item.labels[len(prompt_ids) :]).startswith(
        "```sql\nSELECT 1\n```<|im_end|>"
    )


# -- the loop ---------------------------------------------------------------------------


def test_batch_order_is_exact_and_deterministic():
    order = batch_order(10, 4, 7, "0:0")
    assert len(order) == 7 and all(len(batch) == 4 for batch in order)
    stream = [i for batch in order for i in batch]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert order == batch_order(10, 4, 7, "0:0") != batch_order(10, 4, 7, "0:1")
    grouped = batch_order(64, 4, 16, 1, lengths=list(range(64)))
    assert sorted(i for batch in grouped for i in batch) == list(range(64))
    assert all(max(b) - min(b) < 16 for b in grouped)  # batches of similar length


def test_real_steps_change_weights_and_reduce_loss(suite, base):
    model, tokenizer = load(base)
    items = encode(training_texts(suite, PROMPT, suite.examples[:4]), tokenizer).items
    before_weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    before = sum(example_losses(model, tokenizer, items))
    log = train(
        model, tokenizer, [items], steps_per_stage=25, batch_size=4, lr=1e-2, warmup=2, seed=0,
        reset_optimizer_per_stage=True, progress=False,
    )  # fmt: skip
    after = sum(example_losses(model, tokenizer, items))
    assert after < 0.5 * before
    assert log.steps == 25 and len(log.losses) == 25 and log.losses[-1] < log.losses[0]
    stage = log.stages[0]
    assert stage.tokens == 25 * sum(len(i.input_ids) for i in items)  # one batch, no padding
    assert stage.target_tokens == 25 * sum(i.target_tokens for i in items)
    assert any(not torch.equal(p, before_weights[n]) for n, p in model.named_parameters())


def test_optimizer_reset_or_kept_across_stages(suite, base):
    model, tokenizer = load(base)
    items = encode(training_texts(suite, PROMPT, suite.examples[:6]), tokenizer).items
    common = dict(batch_size=2, lr=1e-3, warmup=0, seed=0, progress=False)
    reset = train(model, tokenizer, [items[:3], items[3:]], steps_per_stage=[3, 2],
                  reset_optimizer_per_stage=True, **common)  # fmt: skip
    kept = train(model, tokenizer, [items[:3], items[3:]], steps_per_stage=[3, 2],
                 reset_optimizer_per_stage=False, **common)  # fmt: skip
    assert [s.optimizer_step for s in reset.stages] == [3, 2]
    assert [s.optimizer_step for s in kept.stages] == [3, 5]
    assert [s.steps for s in kept.stages] == [3, 2] and [s.examples for s in kept.stages] == [3, 3]


# -- curriculum plans -------------------------------------------------------------------


def _examples() -> list[Example]:
    """Three tiers; within a tier, the gold length (difficulty) grows with the id."""
    examples = []
    for k, tier in enumerate(["easy", "medium", "hard"]):
        for i in range(4):
            ident = str(10 * k + i)
            examples.append(Example(ident, "s", "db", "q", "SELECT a" + " , a" * i, tier=tier))
    return examples


def _ids(stage) -> list[str]:
    return [e.id for e in stage.examples]


def test_plan_sequential_and_incremental():
    examples, tiers = _examples(), ["easy", "medium", "hard", "extra"]
    sequential = plan_stages(examples, tiers, "sequential")
    assert [s.name for s in sequential] == ["easy", "medium", "hard"]  # no stage for "extra"
    assert [_ids(s) for s in sequential] == [
        ["0", "1", "2", "3"], ["10", "11", "12", "13"], ["20", "21", "22", "23"],
    ]  # fmt: skip
    incremental = plan_stages(examples, tiers, "incremental")
    assert [_ids(s) for s in incremental] == [
        ["0", "1", "2", "3"],
        ["0", "1", "2", "3", "10", "11", "12", "13"],
        ["0", "1", "2", "3", "10", "11", "12", "13", "20", "21", "22", "23"],
    ]
    assert all(s.shuffle and not s.carried for s in sequential + incremental)


def test_plan_hybrid_carries_the_hardest_of_each_earlier_tier():
    examples, tiers = _examples(), ["easy", "medium", "hard"]
    hybrid = plan_stages(examples, tiers, "hybrid", hybrid_carry=0.5)
    assert [_ids(s) for s in hybrid] == [
        ["0", "1", "2", "3"],
        ["2", "3", "10", "11", "12", "13"],
        ["2", "3", "12", "13", "20", "21", "22", "23"],
    ]
    assert hybrid[2].carried == ["2", "3", "12", "13"]
    quarter = plan_stages(examples, tiers, "hybrid", hybrid_carry=0.25)  # 1 of 4 per tier
    assert _ids(quarter[2]) == ["3", "13", "20", "21", "22", "23"]
    assert _ids(plan_stages(examples, tiers, "hybrid", hybrid_carry=0.3)[1])[:2] == ["2", "3"]
    none = plan_stages(examples, tiers, "hybrid", hybrid_carry=0.0)
    assert [_ids(s) for s in none] == [_ids(s) for s in plan_stages(examples, tiers, "sequential")]
    every = plan_stages(examples, tiers, "hybrid", hybrid_carry=1.0)
    assert [_ids(s) for s in every] == [
        _ids(s) for s in plan_stages(examples, tiers, "incremental")
    ]


def test_plan_sorted_is_one_unshuffled_pass_easy_to_hard():
    examples = _examples()
    examples.reverse()
    (stage,) = plan_stages(examples, ["easy", "medium", "hard"], "sorted")
    assert not stage.shuffle
    assert _ids(stage) == [e.id for e in sorted(_examples(), key=lambda e: int(e.id))]
    assert [difficulty(e) for e in stage.examples[:4]] == [2.0, 4.0, 6.0, 8.0]
    assert stretch(stage.examples, 24)[::2] == stage.examples


def test_plan_refuses_unknown_tiers_and_schedules():
    with pytest.raises(ValueError, match="not one of"):
        plan_stages(_examples(), ["easy", "medium"], "sequential")
    with pytest.raises(ValueError, match="unknown schedule"):
        plan_stages(_examples(), ["easy", "medium", "hard"], "random")


# -- sft and curriculum candidates ------------------------------------------------------


def _generate(candidate, prompt: str, adapter: str | None = None) -> str:
    runner = create_runner(candidate.model_path(), adapters=candidate.adapter_paths(), device="cpu")
    try:
        (completion,) = runner.generate([GenerationRequest("0", prompt, adapter=adapter)], GREEDY)
    finally:
        runner.close()
    assert completion.error is None
    return completion.texts[0]


def test_sft_full_candidate_loads_and_generates(suite, base, tmp_path):
    config = {"mode": "full", "steps": 3, "batch_size": 4, "lr": 1e-2, "sample_rows": 0}
    candidate = sft.create().fit(str(base), suite, config, tmp_path / "c", progress=False)
    assert candidate.kind == "full" and candidate.metrics["steps"] == 3
    assert Path(candidate.model_path()) == tmp_path / "c" / "model"
    assert candidate.runner_options["prompt_options"]["sample_rows"] == 0
    prompt = build_request(suite, suite.examples[0], PROMPT, []).prompt
    assert isinstance(_generate(candidate, prompt), str)
    trained, _ = load(Path(candidate.model_path()))
    original, _ = load(base)
    assert not torch.equal(trained.transformer.wte.weight, original.transformer.wte.weight)


def test_sft_lora_candidate_loads_and_changes_outputs_through_its_adapter(suite, base, tmp_path):
    before = folder_digest(base)
    config = {
        "mode": "lora",
        "steps": 4,
        "batch_size": 4,
        "lr": 5e-2,
        "lora_r": 4,
        "sample_rows": 0,
    }
    candidate = sft.create().fit(str(base), suite, config, tmp_path / "c", progress=False)
    assert candidate.kind == "lora" and candidate.runner_options["adapter"] == "sft"
    assert candidate.adapters == {"sft": "adapters/sft"}
    assert (tmp_path / "c" / "adapters" / "sft" / "adapter_config.json").is_file()
    assert candidate.model_path() == str(base.resolve()) and folder_digest(base) == before
    runner = create_runner(candidate.model_path(), adapters=candidate.adapter_paths(), device="cpu")
    try:
        prompts = [build_request(suite, e, PROMPT, []).prompt for e in suite.examples[:4]]
        params = GenerationParams(max_new_tokens=12)
        plain = runner.generate(
            [GenerationRequest(str(i), p) for i, p in enumerate(prompts)], params
        )
        adapted = runner.generate(
            [GenerationRequest(str(i), p, adapter="sft") for i, p in enumerate(prompts)], params
        )
    finally:
        runner.close()
    assert all(c.error is None for c in plain + adapted)
    assert [c.texts for c in plain] != [c.texts for c in adapted]


@pytest.mark.parametrize("schedule", ["hybrid", "sorted"])
def test_curriculum_trains_its_planned_stages(suite, base, tmp_path, schedule):
    config = {
        "schedule": schedule, "steps_per_stage": 1, "batch_size": 2, "mode": "lora",
        "lora_r": 2, "sample_rows": 0, "hybrid_carry": 0.5,
    }  # fmt: skip
    candidate = curriculum.create().fit(str(base), suite, config, tmp_path / "c", progress=False)
    present = [t for t in suite.tiers if any(e.tier == t for e in suite.examples)]
    plan = plan_stages(suite.examples, suite.tiers, schedule, hybrid_carry=0.5)
    stages = candidate.metrics["stages"]
    if schedule == "sorted":
        assert [s["name"] for s in stages] == ["sorted"] and stages[0]["steps"] == len(present)
    else:
        assert [s["name"] for s in stages] == present
        assert [s["examples"] for s in stages] == [len(p.examples) for p in plan]
        assert [s["optimizer_step"] for s in stages] == [1] * len(present)  # reset per stage
    assert candidate.adapters == {"curriculum": "adapters/curriculum"}
    assert isinstance(_generate(candidate, "-- Question: x", "curriculum"), str)


def test_cached_fit_hit_skips_training(suite, base, tmp_path):
    trainer = sft.create()
    config = {"mode": "lora", "steps": 2, "batch_size": 2, "lora_r": 2, "sample_rows": 0}
    key = candidate_key("sft", config, suite.version, folder_fingerprint(base))
    calls = []

    def fit(out_dir: Path):
        calls.append(out_dir)
        return trainer.fit(str(base), suite, config, out_dir, progress=False)

    first, hit = cached_fit(tmp_path / "cache", key, fit)
    assert not hit and len(calls) == 1
    files = folder_digest(Path(first.path))
    started = time.perf_counter()
    second, hit = cached_fit(tmp_path / "cache", key, fit)
    assert hit and len(calls) == 1 and time.perf_counter() - started < 0.5
    assert second == first and folder_digest(Path(second.path)) == files


# -- the tiny base ----------------------------------------------------------------------

MICRO = TinyBaseConfig(
    n_layer=1, n_embd=32, n_head=2, n_positions=512, vocab_size=320, steps=3, answer_steps=1,
    batch_size=4,
    sql_size="tiny", code_size=2,
)  # fmt: skip


def test_tiny_base_is_deterministic_for_a_seed(tmp_path, monkeypatch):
    folders = []
    for run in ("a", "b"):
        monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / run))
        folders.append(tiny_base(0, progress=False, config=MICRO))
    a, b = folders
    assert a.name == b.name and a.name.startswith("tiny-base-v1-seed0-")
    for name in ("model.safetensors", "tokenizer.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert tiny_base(0, progress=False, config=MICRO) == b  # cached: found, not retrained
    assert prompt_options_for(a) == PromptOptions(sample_rows=0)
    other = tiny_base(1, progress=False, config=MICRO)
    assert (other / "model.safetensors").read_bytes() != (a / "model.safetensors").read_bytes()
    model, tokenizer = load(a)
    assert model.config.model_type == "gpt2" and not getattr(tokenizer, "chat_template", None)
    assert tokenizer("SELECT")["input_ids"][0] == tokenizer.bos_token_id
