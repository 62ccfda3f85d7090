"""The transformers runner on a tiny random model and LoRA adapter built in place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from runners.base import GenerationParams, GenerationRequest, Runner  # noqa: E402
from runners.tiny_models import BOS, build_tiny_causal_lm  # noqa: E402
from runners.transformers_runner import create  # noqa: E402

PROMPTS = (
    "SELECT name FROM singer WHERE",
    "def add(a, b):",
    "Question: How many singers are older than 30? Answer with one SQL query.",
    "x",
    "SELECT count(*) FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id",
    "for i in range(10):",
)
GREEDY = GenerationParams(max_new_tokens=12)


def requests(prompts=PROMPTS, adapter: str | None = None) -> list[GenerationRequest]:
    return [GenerationRequest(id=f"r{i}", prompt=p, adapter=adapter) for i, p in enumerate(prompts)]


def texts(completions) -> list[list[str]]:
    return [c.texts for c in completions]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (not zero) B matrices, so that it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(
        r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    folder = tmp_path_factory.mktemp("adapter") / "tier1"
    get_peft_model(base, config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def plain(model_dir):
    """The base model without its chat template, batched 4 at a time, float32 on CPU."""
    runner = create(str(model_dir), device="cpu", dtype="float32", batch_size=4, chat=False)
    yield runner
    runner.close()


def test_one_completion_per_request_in_order(plain, model_dir):
    assert isinstance(plain, Runner)
    out = plain.generate(requests(), GREEDY)
    assert [c.id for c in out] == [f"r{i}" for i in range(len(PROMPTS))]
    assert all(c.error is None and len(c.texts) == 1 for c in out)
    assert all(0 < c.output_tokens <= GREEDY.max_new_tokens for c in out)
    assert len({c.texts[0] for c in out}) > 1  # the prompt matters
    config = plain.config()
    assert config["model"] == str(model_dir.resolve())
    assert re.fullmatch(r"[0-9a-f]{16}", config["revision"])
    assert (config["dtype"], config["device"], config["chat"]) == ("float32", "cpu", False)


def test_greedy_is_deterministic_and_batching_does_not_change_it(plain):
    batched = plain.generate(requests(), GREEDY)
    again = plain.generate(requests(), GREEDY)
    one_at_a_time = [plain.generate([r], GREEDY)[0] for r in requests()]
    assert texts(batched) == texts(again) == texts(one_at_a_time)


def test_seeded_sampling_is_reproducible(plain):
    params = GenerationParams(max_new_tokens=10, temperature=1.0, top_p=0.95, n=3, seed=7)
    first = plain.generate(requests()[:3], params)
    second = plain.generate(requests()[:3], params)
    assert all(len(c.texts) == 3 for c in first)
    assert texts(first) == texts(second)
    assert len(set(first[0].texts)) > 1  # three samples, not one repeated
    other_seed = plain.generate(
        requests()[:3], GenerationParams(**{**params.to_json(), "stop": (), "seed": 8})
    )
    assert texts(other_seed) != texts(first)


def test_greedy_with_n_repeats_the_one_answer(plain):
    out = plain.generate(requests()[:1], GenerationParams(max_new_tokens=6, n=2))
    assert len(out[0].texts) == 2 and out[0].texts[0] == out[0].texts[1]


def test_stop_strings_cut_the_text(plain):
    full = plain.generate(requests(), GREEDY)
    # An ASCII stop string that occurs after the start of some completion.
    index, stop = next(
        (i, m.group())
        for i, c in enumerate(full)
        for m in [re.search(r"[A-Za-z]{2}", c.texts[0][1:])]
        if m
    )
    cut = plain.generate(requests(), GenerationParams(max_new_tokens=12, stop=(stop,)))
    expected = full[index].texts[0][: full[index].texts[0].index(stop)]
    assert cut[index].texts == [expected]
    assert cut[index].output_tokens < full[index].output_tokens
    assert all(stop not in c.texts[0] for c in cut)


def test_chat_template_is_used_when_present(model_dir, plain, tmp_path):
    from transformers import AutoTokenizer

    chat_runner = create(str(model_dir), device="cpu", dtype="float32", batch_size=4)
    assert chat_runner.config()["chat"] is True
    messages = (("system", "Answer with SQL."), ("user", "How many singers?"))
    request = GenerationRequest(id="c", prompt="ignored when chatting", messages=messages)
    chat_out = chat_runner.generate([request], GREEDY)[0]
    rendered = AutoTokenizer.from_pretrained(model_dir).apply_chat_template(
        request.chat(), tokenize=False, add_generation_prompt=True
    )
    assert rendered.startswith(BOS) and "<|im_start|>assistant\n" in rendered
    # The plain path adds BOS itself, so the rendered chat without it is the same input.
    same_input = GenerationRequest(id="c", prompt=rendered.removeprefix(BOS))
    assert chat_out.texts == plain.generate([same_input], GREEDY)[0].texts
    assert chat_out.texts != plain.generate([request], GREEDY)[0].texts
    chat_runner.close()

    no_template = build_tiny_causal_lm(tmp_path / "plain", chat_template=False)
    assert create(str(no_template), device="cpu").config()["chat"] is False
    with pytest.raises(ValueError, match="no chat template"):
        create(str(no_template), device="cpu", chat=True)


def test_lora_adapter_changes_only_its_requests(model_dir, adapter_dir, plain):
    runner = create(
        str(model_dir),
        device="cpu",
        dtype="float32",
        batch_size=4,
        chat=False,
        adapters={"tier1": str(adapter_dir)},
    )
    base = plain.generate(requests(), GREEDY)
    mixed = [
        GenerationRequest(id=f"m{i}", prompt=p, adapter="tier1" if i % 2 else None)
        for i, p in enumerate(PROMPTS)
    ]
    out = runner.generate(mixed, GREEDY)
    assert [c.id for c in out] == [r.id for r in mixed]
    for i, (with_adapter, without) in enumerate(zip(out, base)):
        if i % 2:
            assert with_adapter.texts != without.texts
        else:
            assert with_adapter.texts == without.texts
    unknown = runner.generate([GenerationRequest(id="u", prompt="x", adapter="nope")], GREEDY)[0]
    assert unknown.texts == [] and "unknown adapter 'nope'" in unknown.error
    assert set(runner.config()["adapters"]) == {"tier1"}
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.generate(mixed, GREEDY)


def test_missing_paths_fail_clearly(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create(str(tmp_path / "no-such-model"))
    with pytest.raises(FileNotFoundError, match="adapter 'a'"):
        create(str(model_dir), device="cpu", adapters={"a": str(tmp_path / "no-adapter")})


def test_overlong_prompt_is_that_requests_error(plain):
    too_long = "SELECT name FROM singer WHERE age > 30 " * 60  # far beyond 256 tokens
    near_limit = "SELECT name FROM singer WHERE age > 30 " * 31  # leaves < 12 new tokens
    batch = [
        *requests(PROMPTS[:2]),
        GenerationRequest(id="long", prompt=too_long),
        GenerationRequest(id="edge", prompt=near_limit),
    ]
    out = plain.generate(batch, GREEDY)
    assert [c.id for c in out] == ["r0", "r1", "long", "edge"]
    assert out[2].texts == [] and "context is 256" in out[2].error
    assert out[0].error is None and out[1].error is None
    edge_tokens = len(plain.tokenizer(near_limit)["input_ids"])
    assert 256 - GREEDY.max_new_tokens < edge_tokens < 256 and out[3].error is None
    assert out[3].output_tokens <= 256 - edge_tokens  # the budget shrinks to fit the context


def test_tiny_model_is_deterministic_and_loads(tmp_path):
    from transformers import AutoTokenizer

    first = build_tiny_causal_lm(tmp_path / "a", seed=3, arch="gpt2", vocab_texts=["SELECT 42;"])
    second = build_tiny_causal_lm(tmp_path / "b", seed=3, arch="gpt2", vocab_texts=["SELECT 42;"])
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)
    tokenizer = AutoTokenizer.from_pretrained(first)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|bos|>",
        "<|eos|>",
        "<|pad|>",
    )
    # GPT-2 has absolute positions: left padding must not shift them.
    batched = create(str(first), device="cpu", dtype="float32", batch_size=4, chat=False)
    assert texts(batched.generate(requests(), GREEDY)) == [
        batched.generate([r], GREEDY)[0].texts for r in requests()
    ]
