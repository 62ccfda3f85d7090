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


# -- tensor and data parallel sizes (no GPU needed) ----------------------------------------

from runners.vllm_runner import (  # noqa: E402
    Replicas,
    VLLMRunner,
    device_groups,
    parallel_sizes,
    split_evenly,
    visible_devices,
)


def test_parallel_sizes_are_positive_integers():
    assert parallel_sizes(1, 1) == (1, 1) and parallel_sizes("2", 4) == (2, 4)
    for tp, dp, name in ((0, 1, "tensor"), (1, 0, "data"), (-2, 1, "tensor"), (1, 1.5, "data"),
                         ("two", 1, "tensor"), (True, 1, "tensor"), (1, None, "data")):  # fmt: skip
        with pytest.raises(ValueError, match=rf"{name}_parallel_size must be a positive integer"):
            parallel_sizes(tp, dp)


def test_bad_sizes_are_refused_before_vllm_is_needed(tmp_path):
    with pytest.raises(ValueError, match="data_parallel_size must be a positive integer, got 0"):
        create(str(tmp_path), data_parallel_size=0)


def test_device_groups_take_consecutive_gpus_and_refuse_too_few():
    assert device_groups(1, 1, ["0"]) == [["0"]]
    assert device_groups(2, 2, ["0", "1", "2", "3"]) == [["0", "1"], ["2", "3"]]
    assert device_groups(1, 3, ["4", "5", "6", "7"]) == [["4"], ["5"], ["6"]]
    with pytest.raises(
        ValueError,
        match=r"tensor_parallel_size=2 x data_parallel_size=2 needs 4 GPU\(s\), 3 visible",
    ):
        device_groups(2, 2, ["0", "1", "2"])
    with pytest.raises(ValueError, match=r"needs 1 GPU\(s\), 0 visible \(none\)"):
        device_groups(1, 1, [])


def test_visible_devices_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3,5")
    assert visible_devices() == ["2", "3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_devices() == []


def test_split_evenly_is_contiguous_and_covers_every_prompt():
    for count in range(0, 12):
        for parts in range(1, 5):
            ranges = split_evenly(count, parts)
            assert len(ranges) == parts and ranges[0][0] == 0 and ranges[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert max(b - a for a, b in ranges) - min(b - a for a, b in ranges) <= 1


class FakeEngine:
    """A replica's process stand-in: answers each prompt with the engine's GPUs and the
    prompt's last token id, n times."""

    def __init__(self, devices, engine):
        self.devices, self.engine, self.calls, self.stopped = devices, engine, [], False
        self.ready = {"max_model_len": 1024, "dtype": "torch.float32"}
        self.fail = False

    def send(self, message):
        self.calls.append(message)

    def receive(self):
        prompts, options, loras = self.calls[-1]
        if self.fail:
            return RuntimeError("engine broke")
        return [[(f"gpu{'+'.join(self.devices)}:{p['prompt_token_ids'][-1]}:{lora and lora[0]}", [7, 8])]
                * options.get("n", 1) for p, lora in zip(prompts, loras)]  # fmt: skip

    def stop(self):
        self.stopped = True


@pytest.fixture
def data_parallel(tmp_path):
    """A runner over two fake engines (one GPU each) and the tiny model's tokenizer."""
    pytest.importorskip("transformers")
    model = build_tiny_causal_lm(tmp_path / "tiny", n_embd=32, chat_template=False)
    engines = []

    def start(devices, engine):
        engines.append(FakeEngine(devices, engine))
        return engines[-1]

    replicas = Replicas(
        [["0"], ["1"]], {"model": str(model), "trust_remote_code": False}, start=start
    )
    runner = VLLMRunner(
        replicas, model_id=str(model), revision="r", requested_dtype="auto", tensor_parallel_size=1,
        data_parallel_size=2, adapter_paths={}, lora_requests={"a": ("a", 1, "/adapters/a")}, chat=False,
        sampling_params_class=dict,
    )  # fmt: skip
    return runner, engines


def test_data_parallel_splits_prompts_and_keeps_their_order(data_parallel):
    runner, engines = data_parallel
    reqs = [GenerationRequest(id=f"q{i}", prompt=p * (i + 1), adapter="a" if i == 3 else None)
            for i, p in enumerate(PROMPTS + PROMPTS[:1])]  # fmt: skip
    out = runner.generate(reqs, GenerationParams(max_new_tokens=4, temperature=1.0, n=2, seed=3))
    assert [c.id for c in out] == [r.id for r in reqs]
    # 5 prompts over 2 engines: the first 3 to GPU 0, the last 2 to GPU 1, in order
    assert [c.texts[0].split(":")[0] for c in out] == ["gpu0"] * 3 + ["gpu1"] * 2
    assert all(len(c.texts) == 2 and c.output_tokens == 4 for c in out)
    assert out[3].texts[0].endswith(":a") and out[0].texts[0].endswith(":None")
    ids = [runner.tokenizer.encode(r.prompt)[-1] for r in reqs]
    assert [int(c.texts[0].split(":")[1]) for c in out] == ids
    ((_, options, loras),) = engines[1].calls  # plain data to the engine process
    assert options == {
        "max_tokens": 4,
        "stop": None,
        "n": 2,
        "temperature": 1.0,
        "top_p": 1.0,
        "seed": 3,
    }
    assert loras == [("a", 1, "/adapters/a"), None]
    one = runner.generate(reqs[:1], GREEDY)  # fewer prompts than engines: only the first works
    assert one[0].texts[0].startswith("gpu0") and len(engines[1].calls) == 1


def test_data_parallel_config_errors_and_close(data_parallel):
    runner, engines = data_parallel
    config = runner.config()
    assert config["tensor_parallel_size"] == 1 and config["data_parallel_size"] == 2
    assert config["dtype"] == "float32" and runner.context == 1024
    engines[
        1
    ].fail = True  # the whole call fails, then each request alone: only the broken engine's fail
    out = runner.generate(requests(), GREEDY)
    assert all(c.error is None for c in out)  # retried one by one on the first engine
    engines[0].fail = True
    out = runner.generate(requests()[:2], GREEDY)
    assert all("engine broke" in c.error for c in out)
    runner.llm.shutdown()
    assert all(engine.stopped for engine in engines)


@pytest.mark.gpu
def test_data_parallel_engines_match_one_engine(model_dir, tmp_path):
    """Two engines on two GPUs answer greedy requests as one engine does (needs 2 GPUs)."""
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("data parallelism needs 2 GPUs")
    options = {"gpu_memory_utilization": 0.3, "enforce_eager": True}
    many = [GenerationRequest(id=f"r{i}", prompt=p) for i, p in enumerate(PROMPTS * 3)]
    one = create(str(model_dir), **options)
    try:
        expected = [c.texts for c in one.generate(many, GREEDY)]
    finally:
        one.close()
    two = create(str(model_dir), data_parallel_size=2, **options)
    try:
        assert two.config()["data_parallel_size"] == 2
        assert [c.texts for c in two.generate(many, GREEDY)] == expected
    finally:
        two.close()
