"""The ``tiny`` base model: a GPT-2-shaped LM and its BPE tokenizer, both trained from scratch.

It stands in for a pretrained LLM on machines without a model hub (``--model tiny``).
The pretraining pool is synthetic and disjoint from what is scored:

- synth-sql's ``pretrain`` split (its own databases, never in train/dev/test) of the
  data seed ``data_seed``, each example formatted exactly as an SQL training text
  (:mod:`trainers.data`): the inference prompt with :data:`TINY_PROMPT`
  (``sample_rows=0``: the schema without sample rows, so prompts stay short), then the
  fenced gold SQL and EOS;
- synth-code programs of a separate seed (``code_seed``, all three splits), each
  formatted as a code-output training text (program, then its fenced output), so the
  base knows both answer formats.

A byte-level BPE tokenizer (2,048 tokens) is trained on those texts, then a randomly
initialised GPT-2 (4 layers, 128 dims, context 1024 by default: 1.19 M parameters)
learns them through :func:`trainers.loop.train`, one optimizer and cosine schedule over
two stages: first a causal LM loss on the whole text (the prompt too: schemas, questions
and evidence are where it learns to copy names), then, for the last ``answer_steps``,
on the answer only (measured on synth-sql dev, the LM stage is what makes answers use
the prompt's tables at all; the answer stage then cuts malformed SQL). The pool (17,960
texts) is larger than what the default budget reads (6,400): more databases rather than
repeated epochs. The checkpoint folder loads with ``AutoModelForCausalLM``
/ ``AutoTokenizer``; it has no chat template, so runners send it the plain prompt, and
``tiny_base.json`` records the prompt options the model was trained with
(:func:`prompt_options_for` reads them), the data counts and the training log.

The folder is cached as ``cache_dir()/tiny-base-v1-seed{seed}-{config hash}``, written
atomically; the same seed and config give the same weights on the same machine type.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from harness.prompts import PromptOptions
from trainers.data import TrainItem, TrainText, encode, training_texts

VERSION = 1
TINY_PROMPT = PromptOptions(sample_rows=0)  # what `harness run --model tiny` must prompt with
RECORD = "tiny_base.json"
BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"


@dataclass(frozen=True)
class TinyBaseConfig:
    """Model shape, pretraining data and optimisation of the tiny base."""

    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 1024
    vocab_size: int = 2048
    steps: int = 800
    answer_steps: int = 200  # of ``steps``, the last ones with loss on the answer only
    batch_size: int = 8
    lr: float = 3e-3
    warmup: float = 0.05
    schedule: str = "cosine"
    data_seed: int = 0  # synth-sql seed whose pretrain split is the SQL pool
    sql_size: str = (
        "large"  # synth-sql size: its pretrain split has 15,360 questions on 80 databases
    )
    code_seed: int = 1000  # synth-code seed of the code pool: not a seed the suites score
    code_size: int = 300  # synth-code size: 300 dev + 300 test + 2000 train programs
    sample_rows: int = 0

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def tiny_base(
    seed: int = 0,
    *,
    steps: int | None = None,
    progress: bool = True,
    config: TinyBaseConfig | None = None,
) -> Path:
    """The tiny base checkpoint folder for ``seed``, pretrained on first use and cached.

    ``steps`` overrides the config's budget, keeping its answer-only share."""
    from suites.tiny import cache_dir

    config = config or TinyBaseConfig()
    if steps is not None:  # the answer-only share of the budget stays the same
        config = replace(
            config, steps=steps, answer_steps=steps * config.answer_steps // config.steps
        )
    folder = cache_dir() / f"tiny-base-v{VERSION}-seed{seed}-{config.digest()}"
    from trainers import distributed

    if distributed.launched() and distributed.active():
        # Under several processes rank 0 pretrains alone (the same weights as one process
        # would give, under the same cache name) while the others wait, then all read it.
        if not distributed.broadcast((folder / RECORD).is_file()):
            if distributed.is_main():
                _build(folder, seed, config, progress=progress, alone=True)
            distributed.barrier()
        if not (folder / RECORD).is_file():
            raise RuntimeError(f"rank 0 did not store the tiny base in {folder}")
        return folder
    if (folder / RECORD).is_file():
        return folder
    _build(folder, seed, config, progress=progress)
    return folder


def _build(
    folder: Path, seed: int, config: TinyBaseConfig, *, progress: bool, alone: bool = False
) -> None:
    """Pretrain into a staging folder beside ``folder`` and move it there atomically."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-base-", dir=folder.parent))
    try:
        pretrain(staging, seed, config, progress=progress, alone=alone)
        try:
            os.replace(staging, folder)
        except OSError:  # another process stored it first
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prompt_options_for(model_path: str | Path) -> PromptOptions | None:
    """The prompt options a tiny base was pretrained with, or None for other checkpoints."""
    record = Path(model_path) / RECORD
    if not record.is_file():
        return None
    return PromptOptions(**json.loads(record.read_text())["prompt"])


def pretraining_texts(config: TinyBaseConfig) -> tuple[list[TrainText], dict[str, int]]:
    """The pretraining pool (SQL then code texts) and how many texts each part has."""
    from suites.synth_code import load_synth_code
    from suites.synth_sql import load_synth_sql

    options = replace(TINY_PROMPT, sample_rows=config.sample_rows)
    sql = load_synth_sql(split="pretrain", seed=config.data_seed, size=config.sql_size)
    texts = training_texts(sql, options)
    counts = {"sql": len(texts)}
    for split in ("train", "dev", "test"):
        code = load_synth_code(split=split, seed=config.code_seed, size=config.code_size)
        texts += training_texts(code, options)
    counts["code"] = len(texts) - counts["sql"]
    return texts, counts


def pretrain(
    folder: Path, seed: int, config: TinyBaseConfig, *, progress: bool = True, alone: bool = False
) -> Path:
    """Train the tokenizer and the model from scratch and save both (with the record) in ``folder``;
    ``alone``: this process trains by itself even under a launcher (no DDP)."""
    import torch
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    from trainers.loop import train

    if not 0 <= config.answer_steps <= config.steps:
        raise ValueError(
            f"answer_steps ({config.answer_steps}) must be within 0..steps ({config.steps})"
        )
    texts, counts = pretraining_texts(config)
    tokenizer = train_tokenizer([t.prompt + "\n" + t.target for t in texts], config.vocab_size)
    tokenizer.model_max_length = config.n_positions
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in (BOS, EOS, PAD)}
    model_config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=config.n_positions, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,  # a short single pass: no dropout
        bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD],
    )  # fmt: skip
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(model_config)
    encoded = encode(texts, tokenizer, max_length=config.n_positions, chat=False)
    whole = [TrainItem(i.id, i.tier, i.input_ids, list(i.input_ids)) for i in encoded.items]
    stages = [
        (name, items, steps)
        for name, items, steps in [
            ("language model", whole, config.steps - config.answer_steps),
            ("answers", encoded.items, config.answer_steps),
        ]
        if steps > 0
    ]
    log = train(
        model, tokenizer, [items for _, items, _ in stages],
        steps_per_stage=[steps for _, _, steps in stages],
        batch_size=config.batch_size, lr=config.lr, warmup=config.warmup, schedule=config.schedule,
        seed=seed, reset_optimizer_per_stage=False, progress=progress,
        stage_names=[name for name, _, _ in stages], distributed=not alone,
    )  # fmt: skip
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD]
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _portable_tokenizer_config(folder / "tokenizer_config.json")
    record = {
        "version": VERSION,
        "seed": seed,
        "config": asdict(config),
        "prompt": asdict(replace(TINY_PROMPT, sample_rows=config.sample_rows)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {**counts, **encoded.summary()},
        "train": log.summary(),
    }
    (folder / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return folder


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, as a transformers fast tokenizer.

    Encoding a text adds BOS in front (like a Llama tokenizer); there is no chat template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    core.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A",
                pair=f"{BOS} $A {BOS} $B",
                special_tokens=[(BOS, core.token_to_id(BOS))],
            ),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD
    )


def _portable_tokenizer_config(path: Path) -> None:
    """Name the tokenizer class explicitly so that transformers 4.x (some vLLM pins) loads it too."""
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def main() -> None:
    """``python -m trainers.tiny_base [seed] [steps]``: pretrain (or find) and print the folder."""
    import sys

    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else None
    print(tiny_base(seed, steps=steps))


if __name__ == "__main__":
    main()
