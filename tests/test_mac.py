"""MAC on a tiny random model and the tiny suite: real optimizer steps, a frozen base,
frozen earlier tiers, four compositions that really differ, routed mixed batches, the
difficulty classifier and the candidate cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch  # noqa: E402

from harness.prompts import PromptOptions, build_request  # noqa: E402
from runners.adapters import adapter_spec, parse_adapter_spec  # noqa: E402
from runners.base import GenerationParams  # noqa: E402
from runners.tiny_models import build_tiny_causal_lm  # noqa: E402
from runners.transformers_runner import create as create_runner  # noqa: E402
from runners.transformers_runner import folder_fingerprint  # noqa: E402
from trainers import difficulty_classifier  # noqa: E402
from trainers.base import Candidate, cached_fit, candidate_key  # noqa: E402
from trainers.mac import MacConfig, create  # noqa: E402
from trainers.mac_compose import MERGED, check_runner_support, compose_requests, question_texts  # noqa: E402

CONFIG = {
    "steps_per_tier": 2,
    "batch_size": 4,
    "lora_r": 4,
    "lr": 1e-2,
    "sample_rows": 0,
    "seed": 0,
}
TIERS = ["easy", "medium", "hard", "extra"]
GREEDY = GenerationParams(max_new_tokens=6)


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def lora_params(model, tier: str) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().clone()
        for n, p in model.named_parameters()
        if f"lora_A.{tier}." in n or f"lora_B.{tier}." in n
    }


def base_params(model) -> dict[str, torch.Tensor]:
    """The base model's tensors inside a PEFT model, named as in the plain checkpoint."""
    state = model.get_base_model().state_dict()
    return {n.replace(".base_layer.", "."): t.clone() for n, t in state.items() if "lora_" not in n}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The model's matrices are tiny: a second thread gains nothing, and when the cores are
    busy two spinning threads make every matmul ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("mac") / "base", n_positions=1024, seed=0)


@pytest.fixture(scope="module")
def trained(base_dir, suite, tmp_path_factory):
    """One MAC fit through the cache, observed after each tier."""
    from transformers import AutoModelForCausalLM

    files_before = {p.name: p.read_bytes() for p in base_dir.iterdir() if p.is_file()}
    observed: dict[str, dict] = {"after_tier": {}, "trainable": {}}

    def on_tier_end(tier, model):
        observed["after_tier"][tier] = lora_params(model, tier)
        observed["trainable"][tier] = [n for n, p in model.named_parameters() if p.requires_grad]
        if tier == TIERS[-1]:
            observed["final"] = {t: lora_params(model, t) for t in TIERS}
            observed["base"] = base_params(model)

    cache = tmp_path_factory.mktemp("cache")
    key = candidate_key("mac", CONFIG, suite.version, folder_fingerprint(base_dir))
    candidate, hit = cached_fit(
        cache,
        key,
        lambda out: create().fit(
            str(base_dir), suite, CONFIG, out, progress=False, on_tier_end=on_tier_end
        ),
    )
    assert not hit
    fresh = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    return {
        "candidate": candidate, "observed": observed, "cache": cache, "key": key,
        "files_before": files_before, "fresh_base": {n: t.clone() for n, t in fresh.state_dict().items()},
    }  # fmt: skip


@pytest.fixture(scope="module")
def runner(trained):
    candidate = trained["candidate"]
    runner = create_runner(
        candidate.model_path(),
        device="cpu",
        dtype="float32",
        batch_size=4,
        adapters=candidate.adapter_paths(),
    )
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def requests(suite):
    return [build_request(suite, e, PromptOptions(sample_rows=0), []) for e in suite.examples]


@pytest.fixture(scope="module")
def questions(suite):
    return question_texts(suite.examples)


def test_candidate_layout_and_real_optimizer_steps(trained):
    candidate = trained["candidate"]
    assert candidate.kind == "lora" and candidate.method == "mac"
    assert candidate.runner_options["tiers"] == TIERS
    assert candidate.runner_options["composition"] == "stack"
    assert set(candidate.adapters) == {*TIERS, MERGED}
    for name, folder in candidate.adapter_paths().items():
        assert (Path(folder) / "adapter_config.json").is_file(), name
    assert (Path(candidate.path) / "classifier.json").is_file()
    metrics = candidate.metrics
    assert metrics["steps"] == 2 * len(TIERS)
    assert [stage["name"] for stage in metrics["stages"]] == TIERS
    assert all(stage["optimizer_step"] == 2 for stage in metrics["stages"])
    # LoRA B starts at zero: a nonzero B is the trace of real optimizer steps.
    for tier in TIERS:
        b = [t for n, t in trained["observed"]["after_tier"][tier].items() if "lora_B" in n]
        assert b and all(t.abs().max() > 0 for t in b), tier


def test_only_the_current_tier_trains(trained):
    for tier, names in trained["observed"]["trainable"].items():
        assert names and all(f".{tier}." in n and "lora_" in n for n in names), tier


def test_base_weights_are_byte_identical(trained, base_dir):
    files_after = {p.name: p.read_bytes() for p in base_dir.iterdir() if p.is_file()}
    assert files_after == trained["files_before"]
    in_memory = trained["observed"]["base"]
    assert set(in_memory) == set(trained["fresh_base"])
    assert tensor_digest(in_memory) == tensor_digest(trained["fresh_base"])


def test_earlier_adapters_unchanged_by_later_tiers(trained):
    from safetensors.torch import load_file

    observed = trained["observed"]
    for tier in TIERS[:-1]:
        after, final = observed["after_tier"][tier], observed["final"][tier]
        assert tensor_digest(after) == tensor_digest(final), tier
        saved = load_file(
            Path(trained["candidate"].adapter_paths()[tier]) / "adapter_model.safetensors"
        )
        in_memory = {n.replace(f".{tier}.", "."): t for n, t in final.items()}
        assert {n.removeprefix("base_model.model.") for n in saved} == {
            n.removeprefix("base_model.model.") for n in in_memory
        }
        for name, tensor in saved.items():
            assert torch.equal(tensor, in_memory[name]), name


def last_logits(runner, spec: str | None, requests) -> torch.Tensor:
    """Next-token logits of each prompt (its own batch) under adapter spec ``spec``."""
    rows = []
    with runner._adapter(spec), torch.inference_mode():
        for request in requests:
            text = runner.tokenizer.apply_chat_template(
                request.chat(), tokenize=False, add_generation_prompt=True
            )
            ids = runner.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            rows.append(runner.model(input_ids=ids).logits[0, -1])
    return torch.stack(rows)


def test_each_composition_is_different_at_inference(trained, runner, requests, questions):
    candidate = trained["candidate"]
    prompts = requests[::3]
    modes = {
        "stack": compose_requests(candidate, prompts),
        "upto_easy": compose_requests(candidate, prompts, mode="upto", upto_tier="easy"),
        "route": compose_requests(candidate, prompts, questions, mode="route"),
        "merge": compose_requests(candidate, prompts, mode="merge"),
    }
    assert {r.adapter for r in modes["stack"]} == {"easy+medium+hard+extra"}
    assert {r.adapter for r in modes["upto_easy"]} == {"easy"}
    assert {r.adapter for r in modes["merge"]} == {MERGED}
    assert len({r.adapter for r in modes["route"]}) >= 2  # mixed: several tiers predicted
    modes["base"] = list(prompts)
    logits, texts = {}, {}
    for mode, composed in modes.items():
        logits[mode] = torch.stack([last_logits(runner, r.adapter, [r])[0] for r in composed])
        texts[mode] = [c.texts for c in runner.generate(composed, GREEDY)]
    names = sorted(logits)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert (logits[a] - logits[b]).abs().max() > 1e-2, (a, b)
            assert texts[a] != texts[b], (a, b)


def test_cat_merge_with_unit_weights_equals_stack(trained, runner, requests):
    """PEFT's ``cat`` merge is exact: weights of 1.0 give the stacked model back."""
    runner.model.base_model.add_weighted_adapter(TIERS, [1.0] * 4, "ones", combination_type="cat")
    runner.model.eval()  # the new adapter's dropout modules are created in train mode
    try:
        prompts = requests[:4]
        stacked = last_logits(runner, adapter_spec(TIERS), prompts)
        merged = last_logits(runner, "ones", prompts)
        assert torch.allclose(stacked, merged, atol=1e-4)
    finally:
        runner.model.delete_adapter("ones")


def test_routed_mixed_batch_equals_per_request_results(trained, runner, requests, questions):
    routed = compose_requests(trained["candidate"], requests, questions, mode="route")
    specs = {r.adapter for r in routed}
    assert len(specs) >= 2
    for spec in specs:  # each routed spec is a prefix of the tier order
        names = parse_adapter_spec(spec)
        assert names == TIERS[: len(names)]
    together = runner.generate(routed, GREEDY)
    alone = [runner.generate([r], GREEDY)[0] for r in routed]
    assert all(c.error is None for c in together)
    assert [c.texts for c in together] == [c.texts for c in alone]
    assert [c.id for c in together] == [r.id for r in routed]


def test_runner_rejects_unknown_or_repeated_adapters(runner, requests):
    from dataclasses import replace

    bad = [replace(requests[0], adapter="easy+nope"), replace(requests[1], adapter="easy+easy")]
    out = runner.generate(bad, GREEDY)
    assert "unknown adapter 'nope'" in out[0].error
    assert "repeats" in out[1].error


def test_runner_support_and_option_checks(trained):
    check_runner_support("vllm", "merge")
    check_runner_support("transformers", "route")
    for mode in ("stack", "upto", "route"):
        with pytest.raises(ValueError, match="cannot stack"):
            check_runner_support("vllm", mode)
    with pytest.raises(ValueError, match="cannot stack"):
        compose_requests(trained["candidate"], [], runner="openai")
    with pytest.raises(ValueError, match="unknown tier"):
        compose_requests(trained["candidate"], [], mode="upto", upto_tier="nope")
    with pytest.raises(ValueError, match="unknown option"):
        MacConfig.from_options({"lora_rank": 4}, "mac")
    with pytest.raises(ValueError, match="upto_tier"):
        MacConfig.from_options({"composition": "upto"}, "mac")
    with pytest.raises(ValueError, match="LoRA adapters only"):
        MacConfig.from_options({"mode": "full"}, "mac")


def test_cache_hit_skips_training(trained):
    calls = []

    def train_again(out):
        calls.append(out)
        raise AssertionError("a cache hit must not train")

    candidate, hit = cached_fit(trained["cache"], trained["key"], train_again)
    assert hit and not calls
    assert candidate == Candidate.load(trained["candidate"].path)
    assert all(
        (Path(p) / "adapter_model.safetensors").is_file()
        for p in candidate.adapter_paths().values()
    )


def test_classifier_roundtrip_and_determinism(trained, suite, questions, tmp_path):
    texts = [questions[e.id] for e in suite.examples]
    labels = [e.tier for e in suite.examples]
    first = difficulty_classifier.train(texts, labels, labels_order=TIERS)
    second = difficulty_classifier.train(texts, labels, labels_order=TIERS)
    assert first.to_json() == second.to_json()
    first.save(tmp_path / "c.json")
    loaded = difficulty_classifier.Classifier.load(tmp_path / "c.json")
    assert loaded.to_json() == first.to_json()
    probes = texts + ["How many?", "", "Which students take every course with a join?"]
    assert [loaded.predict(t) for t in probes] == [first.predict(t) for t in probes]
    assert first.accuracy(texts, labels) > 0.8  # it fits its training questions
    saved = difficulty_classifier.Classifier.load(
        Path(trained["candidate"].path) / "classifier.json"
    )
    assert saved.to_json() == first.to_json()
    # no evidence at all (an empty text): the tie-free prior decides
    assert first.predict("") == max(TIERS, key=lambda t: (labels.count(t), -TIERS.index(t)))
