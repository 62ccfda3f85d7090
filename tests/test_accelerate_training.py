"""Training under ``accelerate launch`` for real: ``harness run`` as 2 CPU processes doing DDP
over gloo (configs/accelerate/cpu_ddp.yaml), for every method, on synth-sql's tiny size.

Each run checks what the multi-process design promises: both ranks trained (world size 2,
two pids, in ``metrics["distributed"]``) and ended with the same weights (DDP averaged the
gradients: ``replicas.in_sync``), rank 0 alone stored one candidate (no staging folder
left, one "trained candidate" line) and alone generated and scored (results.json, one
generation per example), and the other rank left after training. The shipped accelerate
configs all parse and pass ``accelerate launch``'s own validation.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs" / "accelerate"
LIMIT = 2


def test_every_shipped_config_parses_and_validates():
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DistributedType

    expected = {
        "ddp.yaml": DistributedType.MULTI_GPU,
        "cpu_ddp.yaml": DistributedType.MULTI_GPU,
        "fsdp.yaml": DistributedType.FSDP,
        "deepspeed_zero2.yaml": DistributedType.DEEPSPEED,
        "deepspeed_zero3.yaml": DistributedType.DEEPSPEED,
    }
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(expected)
    for name, kind in expected.items():
        config = load_config_from_file(str(CONFIGS / name))
        assert config.distributed_type == kind and config.num_machines == 1, name
        args = launch_command_parser().parse_args(["--config_file", str(CONFIGS / name), "-m", "harness.cli", "run"])
        args, _, _ = _validate_launch_command(args)
        assert (args.multi_gpu, args.use_fsdp, args.use_deepspeed) == (
            kind == DistributedType.MULTI_GPU, kind == DistributedType.FSDP, kind == DistributedType.DEEPSPEED,
        ), name  # fmt: skip
    cpu = load_config_from_file(str(CONFIGS / "cpu_ddp.yaml"))
    assert cpu.num_processes == 2 and cpu.use_cpu
    fsdp = load_config_from_file(str(CONFIGS / "fsdp.yaml")).fsdp_config
    assert fsdp["fsdp_sharding_strategy"] == "FULL_SHARD" and fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT" and fsdp["fsdp_use_orig_params"]
    for stage in (2, 3):
        config = load_config_from_file(str(CONFIGS / f"deepspeed_zero{stage}.yaml"))
        assert config.deepspeed_config["zero_stage"] == stage and config.mixed_precision == "bf16"
    assert load_config_from_file(str(CONFIGS / "deepspeed_zero3.yaml")).deepspeed_config["zero3_save_16bit_model"]


def test_harness_and_eval_do_not_import_accelerate(tmp_path):
    """The optional extras stay unimported where no training runs."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('IMPORTED', sorted(m for m in ('accelerate', 'torch', 'vllm') if m in sys.modules)))\n"
        "import harness, harness.train, trainers.base, trainers.distributed, runners.vllm_runner\n"
        "from harness.cli import main\n"
        f"sys.argv = ['harness', 'eval', '--suite', 'synth-sql', '-S', 'size=tiny', '--limit', '2', '--out', {str(tmp_path / 'e')!r}]\n"
        "main()\n"
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "IMPORTED []" in proc.stdout


# -- real launches -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    """A micro GPT-2 whose BPE vocabulary is synth-sql's, so that prompts fit its context."""
    pytest.importorskip("accelerate")
    pytest.importorskip("trl")
    from harness.prompts import PromptOptions
    from runners.tiny_models import build_tiny_causal_lm
    from suites.synth_sql import load_synth_sql
    from trainers.data import training_texts

    suite = load_synth_sql(split="train", size="tiny")
    texts = [t.prompt + t.target for t in training_texts(suite, PromptOptions(sample_rows=0))]
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("micro") / "model", vocab_texts=texts, arch="gpt2", n_layer=1, n_embd=32,
        head_dim=16, vocab_size=400, n_positions=1024, chat_template=False,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path: Path, model: str, method: str, *method_args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``accelerate launch`` of ``harness run`` on 2 CPU processes, with its own cache; (process, run dir)."""
    import os

    out = tmp_path / "run"
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    env.pop("ACCELERATE_USE_CPU", None)  # the harness must find the CPU backend by itself
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "cpu_ddp.yaml"),
        "--main_process_port", str(free_port()), "-m", "harness.cli", "run", "--suite", "synth-sql",
        "-S", "size=tiny", "--model", model, "--method", method, "--limit", str(LIMIT),
        "--max-new-tokens", "4", "--out", str(out),
    ]  # fmt: skip
    for arg in method_args:
        command += ["-M", arg]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=REPO, env=env)
    return proc, out


def check_run(proc: subprocess.CompletedProcess, out: Path, method: str) -> dict:
    """The checks every launched run must pass; the candidate's metrics."""
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert proc.stderr.count("rank 1 of 2 finished training; rank 0 goes on") == 1, proc.stderr[-3000:]
    assert proc.stderr.count(f"{method}: trained candidate") == 1  # rank 0 alone went on
    cache = out.parent / "cache" / "candidates"
    stored = sorted(p.name for p in cache.iterdir())
    assert len(stored) == 1 and not stored[0].startswith("."), stored  # one candidate, no staging left
    folder = cache / stored[0]
    candidate = json.loads((folder / "candidate.json").read_text())
    dist = candidate["metrics"]["distributed"]
    assert dist["world_size"] == 2 and dist["backend"] == "gloo" and dist["parallelism"] == "ddp"
    assert [r["rank"] for r in dist["ranks"]] == [0, 1] and len({r["pid"] for r in dist["ranks"]}) == 2
    assert dist["writer"] == 0
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["method"]["candidate"] == str(folder)
    assert json.loads((out / "candidate.json").read_text()) == candidate
    results = json.loads((out / "results.json").read_text())
    assert results["overall"]["count"] == LIMIT
    generations = (out / "generations.jsonl").read_text().splitlines()
    assert len(generations) == LIMIT  # generated once, by rank 0
    return candidate


def test_sft_on_the_tiny_base_built_by_rank_0(tmp_path, monkeypatch):
    """sft from ``tiny:4``: rank 0 pretrains the base alone (no DDP: the weights one process
    gives), both ranks fine-tune it, and each batch is split between them exactly once (the
    same real and target tokens per step as one process training the same steps)."""
    pytest.importorskip("trl")
    proc, out = launch(tmp_path, "tiny:4", "sft", "steps=3", "batch_size=4")
    candidate = check_run(proc, out, "sft")
    metrics = candidate["metrics"]
    assert metrics["steps"] == 3 and metrics["replicas"]["in_sync"]
    assert len(set(metrics["replicas"]["checksums"])) == 1
    base = Path(candidate["base"])
    record = json.loads((base / "tiny_base.json").read_text())
    assert "replicas" not in record["train"]  # pretrained by one process
    # The same training in this (single) process: another cache key, the same data per step.
    from harness.cli_common import load_suite
    from harness.train import train_candidate

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    train = load_suite("synth-sql", None, split="train", suite_args=["size=tiny"])
    alone, hit, _ = train_candidate("sft", str(base), train, {"steps": 3, "batch_size": 4})
    assert not hit and alone.path != candidate["path"]
    assert "distributed" not in alone.metrics and "replicas" not in alone.metrics
    for key in ("tokens", "target_tokens", "steps", "examples"):
        assert alone.metrics["stages"][0][key] == metrics["stages"][0][key], key


def test_codelutra_samples_on_both_ranks_and_trains_dpo(tmp_path, micro):
    """Two iterations: each rank samples and judges its half of the questions, DPO (trl) runs
    data-parallel, rank 0 saves each policy and every rank reloads it for the next iteration."""
    proc, out = launch(
        tmp_path, str(micro), "codelutra", "iterations=2", "samples_per_question=2", "max_new_tokens=8",
        "questions_per_iteration=4", "batch_size=2", "steps_per_iteration=2", "jobs=1",
        "gold_as_chosen=true", "sample_rows=0",
    )  # fmt: skip
    candidate = check_run(proc, out, "codelutra")
    metrics = candidate["metrics"]
    first, second = metrics["iterations"]
    assert first["trained"] and second["trained"] and metrics["steps"] == 4
    assert first["questions"] == 4 and first["pairs"] >= 1  # the samples of both halves, paired
    assert second["reference"] == first["policy"]  # the saved policy is what iteration 2 started from
    assert metrics["final"] == second["policy"]
    assert first["replicas"]["in_sync"] and second["replicas"]["in_sync"]
    assert not (Path(candidate["path"]) / "iterations").exists()  # rank 0 cleaned up


def test_grpo_merges_the_rewards_of_both_ranks(tmp_path, micro):
    proc, out = launch(
        tmp_path, str(micro), "grpo", "steps=2", "num_generations=2", "batch_size=4", "max_completion_length=8",
        "sample_rows=0",
    )  # fmt: skip
    metrics = check_run(proc, out, "grpo")["metrics"]
    assert metrics["replicas"]["in_sync"]
    # 4 completions per step in all: 2 judged on each rank, merged into one record per step
    assert [s["step"] for s in metrics["by_step"]] == [1, 2]
    assert all(sum(s["outcomes"].values()) == 4 for s in metrics["by_step"])
    assert sum(t["completions"] for t in metrics["by_tier"].values()) == 8


def test_mac_trains_every_tier_adapter(tmp_path, micro):
    proc, out = launch(tmp_path, str(micro), "mac", "steps_per_tier=2", "sample_rows=0")
    candidate = check_run(proc, out, "mac")
    folder = Path(candidate["path"])
    tiers = candidate["runner_options"]["tiers"]
    assert all((folder / "adapters" / name / "adapter_config.json").is_file() for name in [*tiers, "merged"])
    assert [s["steps"] for s in candidate["metrics"]["stages"]] == [2] * len(tiers)


def test_learnat_shares_rank_0s_synthesis(tmp_path, micro):
    proc, out = launch(
        tmp_path, str(micro), "learnat", "questions=6", "simulations=4", "sft_steps=2", "dpo_steps=2",
        "proposer=rules", "batch_size=2", "sample_rows=0", "jobs=1",
    )  # fmt: skip
    rounds = check_run(proc, out, "learnat")["metrics"]["rounds"]
    assert rounds[0]["kept"] >= 1 and rounds[0]["dpo"]["steps"] == 2
    assert rounds[0]["sft"]["replicas"]["in_sync"] and rounds[0]["dpo"]["replicas"]["in_sync"]
