"""codelutra: preference pairs on crafted samples, and real sample / execute / DPO
iterations on micro models (SQL, code output, a chat template), the reference chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainers.preference_pairs import Labeled, Pair, build_pairs, question_pairs, spread


def right(text: str) -> Labeled:
    return Labeled(text, text, True, "match")


def wrong(text: str, status: str = "mismatch") -> Labeled:
    return Labeled(text, text, False, status)


# -- pair construction ------------------------------------------------------------------


def test_all_right_or_all_wrong_gives_no_pair():
    assert build_pairs({"q": [right("a"), right("b")]}, max_pairs=2) == []
    assert build_pairs({"q": [wrong("a"), wrong("b", "pred_error")]}, max_pairs=2) == []
    assert build_pairs({"q": []}, max_pairs=2) == []


def test_all_wrong_pairs_the_gold_only_with_the_option():
    samples = {"q": [wrong("a"), wrong("b", "pred_error"), wrong("c", "pred_timeout")]}
    gold = {"q": "GOLD"}
    assert build_pairs(samples, max_pairs=2, gold_texts=gold) == []
    pairs = build_pairs(samples, max_pairs=2, gold_texts=gold, gold_as_chosen=True)
    assert len(pairs) == 2 and all(p.chosen == "GOLD" and p.gold_chosen for p in pairs)
    assert {p.rejected for p in pairs} < {"a", "b", "c"}
    # a mismatch first, then a failing sample
    assert [p.rejected_status for p in pairs][0] == "mismatch"
    assert pairs[1].rejected_status in ("pred_error", "pred_timeout")
    # with a right sample the gold is not used
    mixed = build_pairs({"q": [wrong("a"), right("r")]}, max_pairs=2, gold_texts=gold, gold_as_chosen=True)
    assert mixed == [Pair("q", "r", "a", False, "mismatch")]


def test_mixed_samples_give_at_most_p_distinct_pairs_right_as_chosen():
    samples = [right("r1"), wrong("w1"), right("r2"), wrong("w2", "pred_error"), wrong("w3"), right("r1")]
    for p in (1, 2, 3, 6, 20):
        pairs = question_pairs("q", samples, max_pairs=p)
        assert len(pairs) == min(p, 2 * 3)  # 2 distinct right texts x 3 wrong
        assert all(pair.chosen in ("r1", "r2") and pair.rejected in ("w1", "w2", "w3") for pair in pairs)
        assert len({(pair.chosen, pair.rejected) for pair in pairs}) == len(pairs)
    two = question_pairs("q", samples, max_pairs=2)
    assert {p.chosen for p in two} == {"r1", "r2"}  # distinct samples first
    assert {p.rejected_status for p in two} == {"mismatch", "pred_error"}  # both kinds of failure
    three = question_pairs("q", samples, max_pairs=3)
    assert {p.rejected for p in three} == {"w1", "w2", "w3"}


def test_gold_errors_are_not_labelled_and_texts_count_once():
    broken = [wrong("a", "gold_error"), right("b"), wrong("c", "gold_timeout")]
    assert build_pairs({"q": broken}, max_pairs=2, gold_texts={"q": "G"}, gold_as_chosen=True) == []
    assert build_pairs({"q": [right("x"), wrong("x")]}, max_pairs=2) == []  # one text, first label kept


def test_pairs_are_deterministic_for_a_seed_and_independent_of_other_questions():
    pool = [right(f"r{i}") for i in range(4)] + [wrong(f"w{i}") for i in range(4)]
    pool += [wrong(f"e{i}", "pred_error") for i in range(4)]
    a = build_pairs({"q1": pool, "q2": pool[::-1]}, max_pairs=3, seed=7)
    assert a == build_pairs({"q1": pool, "q2": pool[::-1]}, max_pairs=3, seed=7)
    assert [p for p in a if p.prompt_id == "q2"] == build_pairs({"q2": pool[::-1]}, max_pairs=3, seed=7)
    seeds = {tuple(build_pairs({"q1": pool}, max_pairs=3, seed=s)) for s in range(6)}
    assert len(seeds) > 1


def test_spread_covers_every_combination_once():
    for n, m in [(1, 1), (2, 5), (4, 3), (3, 3)]:
        grid = spread(n, m)
        assert sorted(grid) == [(i, j) for i in range(n) for j in range(m)]
        assert {i for i, _ in grid[: max(n, m)]} == set(range(n))
        assert {j for _, j in grid[: max(n, m)]} == set(range(m))


def test_options_are_validated():
    from trainers.codelutra import CodeLutraConfig

    assert CodeLutraConfig.from_options({}).samples_per_question == 4
    for bad in ({"iterations": 0}, {"temperature": 0}, {"nope": 1}, {"max_pairs_per_question": 0}):
        with pytest.raises(ValueError):
            CodeLutraConfig.from_options(bad)


def test_harness_methods_lists_codelutra_options():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "methods"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("\ncodelutra", 1)[1].split("\n\n", 1)[0]
    for option in ("iterations=4", "samples_per_question=4", "max_pairs_per_question=2",
                   "gold_as_chosen=False", "beta=0.1", "sft_weight", "temperature=1.0"):  # fmt: skip
        assert f"-M {option}" in section, section


# -- real iterations on micro models ----------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")

from harness.prompts import PromptOptions  # noqa: E402
from runners.tiny_models import build_tiny_causal_lm  # noqa: E402
from runners.transformers_runner import folder_fingerprint  # noqa: E402
from trainers.codelutra import CodeLutraTrainer  # noqa: E402
from trainers.data import training_texts  # noqa: E402

PROMPT = PromptOptions(sample_rows=0)
TINY = {"samples_per_question": 3, "max_new_tokens": 12, "questions_per_iteration": 4, "batch_size": 2,
        "steps_per_iteration": 2, "lr": 1e-3, "jobs": 1, "sample_rows": 0, "gold_as_chosen": True}  # fmt: skip


@pytest.fixture(scope="module")
def code_suite(tmp_path_factory):
    from suites.synth_code import export_synth_code, load_synth_code

    folder = export_synth_code(tmp_path_factory.mktemp("synth-code"), seed=0, size=12)
    return load_synth_code(folder, split="train")


@pytest.fixture(scope="module")
def base(tmp_path_factory, suite, code_suite) -> Path:
    """A micro GPT-2 with a plain BPE tokenizer (BOS in front, EOS after answers)."""
    texts = [t.prompt + t.target for t in training_texts(suite, PROMPT)]
    texts += [t.prompt + t.target for t in training_texts(code_suite, PROMPT)[:20]]
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("micro") / "model", vocab_texts=texts, arch="gpt2", n_layer=1,
        n_embd=32, head_dim=16, vocab_size=400, n_positions=1024, chat_template=False,
    )  # fmt: skip


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().float() for k, v in model.state_dict().items()}


def saved_state(folder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return state(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_iterations_chain_references_and_change_weights(suite, base, tmp_path):
    seen: dict[int, dict] = {}

    def before_train(t, dpo):
        assert not any(p.requires_grad for p in dpo.ref_model.parameters())
        assert dpo.model is not dpo.ref_model
        seen[t] = state(dpo.ref_model)
        tokenizer = dpo.processing_class
        for row in dpo.train_dataset:  # plain tokenizer: BOS + prompt, completions end with EOS
            assert row["prompt_ids"][0] == tokenizer.bos_token_id
            assert row["chosen_ids"][-1] == row["rejected_ids"][-1] == tokenizer.eos_token_id
            assert tokenizer.decode(row["chosen_ids"][:-1]).startswith("\n```sql\n")  # the gold

    trainer = CodeLutraTrainer(before_train=before_train)
    out = tmp_path / "cand"
    cand = trainer.fit(str(base), suite, {**TINY, "iterations": 2, "keep_iterations": True}, out, progress=False)
    its = cand.metrics["iterations"]
    assert [r["iteration"] for r in its] == [1, 2] and all(r["trained"] for r in its)
    for r in its:
        assert r["questions"] == 4 and r["samples"] + r["unlabelled"] == 12
        assert 1 <= r["pairs"] <= 4 * 2 and r["questions_with_pairs"] <= 4
        assert r["steps"] == 2 and r["loss"] is not None and "rewards/margins" in r
        assert 0 <= r["train_accuracy"] <= 1 and 0 <= r["error_rate"] <= 1 and r["by_tier"]
        assert r["prompt_mismatches"] == 0 and r["rows_dropped"] == 0
    # the reference of iteration t is the policy of t-1: by fingerprint and by the loaded weights
    assert its[0]["reference"] == folder_fingerprint(base) == cand.metrics["base"]
    assert its[1]["reference"] == its[0]["policy"] != its[0]["reference"]
    assert its[1]["policy"] == cand.metrics["final"] == folder_fingerprint(out / "model")
    assert same(seen[1], saved_state(base))
    assert same(seen[2], saved_state(out / "iterations" / "1"))
    assert not same(saved_state(out / "iterations" / "1"), saved_state(base))
    assert not same(saved_state(out / "model"), saved_state(out / "iterations" / "1"))
    # a loadable full candidate with the prompt options it was trained with
    assert cand.kind == "full" and cand.model_path() == str(out / "model")
    assert cand.runner_options["prompt_options"]["sample_rows"] == 0
    assert json.dumps(cand.metrics)  # JSON-ready
    from runners.base import GenerationParams, GenerationRequest
    from runners.transformers_runner import create

    runner = create(cand.model_path(), device="cpu")
    try:
        assert not runner.generate([GenerationRequest("1", "Question: x")], GenerationParams(max_new_tokens=4))[0].error
    finally:
        runner.close()


def test_no_pairs_skips_training_and_keeps_the_base(suite, base, tmp_path):
    config = {**TINY, "iterations": 2, "gold_as_chosen": False, "questions_per_iteration": 2}
    cand = CodeLutraTrainer().fit(str(base), suite, config, tmp_path / "c", progress=False)
    its = cand.metrics["iterations"]
    # a random micro model writes no right answer: no pair, no training, the policy stays the base
    assert all(r["pairs"] == 0 and not r["trained"] and "steps" not in r for r in its)
    fingerprint = folder_fingerprint(base)
    assert [r["reference"] for r in its] == [r["policy"] for r in its] == [fingerprint] * 2
    assert same(saved_state(Path(cand.model_path())), saved_state(base))
    assert not (tmp_path / "c" / "iterations").exists()


def test_code_output_suite(code_suite, base, tmp_path):
    import dataclasses

    short = sorted(code_suite.examples, key=lambda ex: len(ex.question))[:6]
    small = dataclasses.replace(code_suite, examples=short)
    cand = CodeLutraTrainer().fit(str(base), small, {**TINY, "iterations": 1}, tmp_path / "c", progress=False)
    record = cand.metrics["iterations"][0]
    assert record["trained"] and record["pairs"] >= 1 and record["gold_chosen"] == record["pairs"]
    assert record["prompt_mismatches"] == 0
    assert set(record["by_tier"]) <= {"easy", "medium", "hard"}
    assert not same(saved_state(Path(cand.model_path())), saved_state(base))
    assert not (tmp_path / "c" / "iterations").exists()  # intermediate checkpoints removed


def test_chat_tokenizers_train_on_the_conversational_prompt(suite, tmp_path):
    texts = [t.prompt + t.target for t in training_texts(suite, PROMPT)]
    chat = build_tiny_causal_lm(tmp_path / "chat", vocab_texts=texts, n_layer=1, n_embd=32, vocab_size=400, n_positions=1024)
    config = {**TINY, "iterations": 1, "questions_per_iteration": 2}
    cand = CodeLutraTrainer().fit(str(chat), suite, config, tmp_path / "c", progress=False)
    record = cand.metrics["iterations"][0]
    assert record["trained"] and record["prompt_mismatches"] == 0 and record["steps"] == 2


def test_crafted_labels_train_without_the_gold(suite, base, tmp_path, monkeypatch):
    """A right sample among wrong ones pairs it (not the gold) as chosen."""
    from trainers import codelutra

    real = codelutra.build_pairs

    def with_one_right(labeled, **kwargs):
        for samples in labeled.values():
            if samples:
                samples[0] = Labeled(samples[0].text, samples[0].prediction, True, "match")
        return real(labeled, **kwargs)

    monkeypatch.setattr(codelutra, "build_pairs", with_one_right)
    config = {**TINY, "iterations": 1, "gold_as_chosen": False, "questions_per_iteration": 2}
    cand = CodeLutraTrainer().fit(str(base), suite, config, tmp_path / "c", progress=False)
    record = cand.metrics["iterations"][0]
    assert record["trained"] and record["gold_chosen"] == 0 and record["pairs"] >= 1
