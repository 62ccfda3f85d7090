"""The vLLM runner on a tiny model and LoRA adapter built in place.

The GPU tests skip without CUDA or without vllm; without vllm, create says how to get it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from runners.base import GenerationParams, GenerationRequest, Runner
from runners.tiny_models import build_tiny_causal_lm
from runners.vllm_runner import create

PROMPTS = (
    "SELECT name FROM singer WHERE",
    "def add(a, b):",
    "Question: How many singers are older than 30?",
    "for i in range(10):",
)
GREEDY = GenerationParams(max_new_tokens=12)


def test_without_vllm_create_says_how_to_install(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(ImportError, match=r"pip install 'sql-harness\[vllm\]'"):
        create(str(tmp_path))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("the vllm runner needs a CUDA GPU")
    pytest.importorskip("vllm")
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny") / "model", n_embd=128, chat_template=False
    )


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (not zero) B matrices, so that it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    folder = tmp_path_factory.mktemp("adapter") / "tier1"
    get_peft_model(base, config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def runner(model_dir, adapter_dir):
    runner = create(
        str(model_dir),
        adapters={"tier1": str(adapter_dir)},
        max_lora_rank=8,
        gpu_memory_utilization=0.3,
        enforce_eager=True,
    )
    yield runner
    runner.close()


def requests(adapter: str | None = None) -> list[GenerationRequest]:
    return [GenerationRequest(id=f"r{i}", prompt=p, adapter=adapter) for i, p in enumerate(PROMPTS)]


@pytest.mark.gpu
def test_greedy_in_order_and_deterministic(runner, model_dir):
    assert isinstance(runner, Runner)
    first = runner.generate(requests(), GREEDY)
    assert [c.id for c in first] == [f"r{i}" for i in range(len(PROMPTS))]
    assert all(c.error is None and len(c.texts) == 1 and c.output_tokens for c in first)
    assert [c.texts for c in runner.generate(requests(), GREEDY)] == [c.texts for c in first]
    config = runner.config()
    assert config["model"] == str(model_dir.resolve()) and set(config["adapters"]) == {"tier1"}


@pytest.mark.gpu
def test_seeded_sampling_with_n(runner):
    params = GenerationParams(max_new_tokens=10, temperature=1.0, n=3, seed=5)
    first = runner.generate(requests(), params)
    assert all(len(c.texts) == 3 for c in first)
    assert [c.texts for c in runner.generate(requests(), params)] == [c.texts for c in first]


@pytest.mark.gpu
def test_lora_adapter_per_request(runner):
    base = runner.generate(requests(), GREEDY)
    mixed = [
        GenerationRequest(id=f"m{i}", prompt=p, adapter="tier1" if i % 2 else None)
        for i, p in enumerate(PROMPTS)
    ]
    out = runner.generate(mixed, GREEDY)
    for i, (with_adapter, without) in enumerate(zip(out, base)):
        assert (with_adapter.texts != without.texts) == bool(i % 2)
    unknown = runner.generate([GenerationRequest(id="u", prompt="x", adapter="nope")], GREEDY)
    assert "unknown adapter" in unknown[0].error


@pytest.mark.gpu
def test_overlong_prompt_and_stop(runner):
    long = GenerationRequest(id="long", prompt="SELECT name FROM singer " * 200)
    out = runner.generate([*requests()[:1], long], GREEDY)
    assert out[0].error is None and "context" in out[1].error
    stop = out[0].texts[0][2:4]
    cut = runner.generate(requests()[:1], GenerationParams(max_new_tokens=12, stop=(stop,)))
    assert stop not in cut[0].texts[0]
