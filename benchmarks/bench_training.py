"""Training throughput: the harness's training loop against a plain PyTorch loop, side by side.

Same randomly initialised model (the tiny base's shape, randomly initialised), same tokenized synth-sql training
items, same batches in the same order, same number of AdamW steps; tokens/s counts
the real (unpadded) tokens through the model. The plain loop is the floor: no
accelerate, no scheduler, no length grouping, no logging.

    python benchmarks/bench_training.py [--steps 40] [--batch-size 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def plain_loop(model, batches, lr: float) -> float:
    import torch

    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    started = time.perf_counter()
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.prompts import PromptOptions
    from runners.tiny_models import build_tiny_causal_lm
    from suites.synth_sql import load_synth_sql
    from trainers.data import encode, training_texts
    from trainers.loop import collate, train
    from trainers.tiny_base import TinyBaseConfig

    torch.set_num_threads(2)
    suite = load_synth_sql(split="train")
    texts = training_texts(suite, PromptOptions(sample_rows=0))
    with tempfile.TemporaryDirectory() as tmp:
        shape = TinyBaseConfig()  # the tiny base's shape: GPT-2, 4 layers x 128 dims, 4 heads, BPE 2,048
        folder = build_tiny_causal_lm(
            Path(tmp) / "m", arch="gpt2", n_layer=shape.n_layer, n_embd=shape.n_embd,
            head_dim=shape.n_embd // shape.n_head, n_positions=shape.n_positions, vocab_size=shape.vocab_size,
            chat_template=False, vocab_texts=[t.prompt + t.target for t in texts],
        )  # fmt: skip
        tokenizer = AutoTokenizer.from_pretrained(folder)
        items = encode(texts, tokenizer, max_length=1024).items
        take = items[: args.steps * args.batch_size]
        tokens = sum(len(item.input_ids) for item in take)
        batches = [collate(take[i : i + args.batch_size], tokenizer.pad_token_id) for i in range(0, len(take), args.batch_size)]
        ours, floor = [], []
        for _ in range(args.rounds):
            model = AutoModelForCausalLM.from_pretrained(folder)
            floor.append(plain_loop(model, batches, 5e-4))
            model = AutoModelForCausalLM.from_pretrained(folder)
            log = train(model, tokenizer, [take], steps_per_stage=args.steps, batch_size=args.batch_size,
                        shuffle=False, group_by_length=False, progress=False)
            ours.append(sum(stage.seconds for stage in log.stages))
    f, o = statistics.median(floor), statistics.median(ours)
    print(f"{args.steps} AdamW steps, batch {args.batch_size}, {tokens} tokens, the tiny base shape (GPT-2, 4 layers x 128 dims), CPU, median of {args.rounds}\n")
    print("| loop | seconds | tokens/s | ratio to plain loop (time) |")
    print("|---|---:|---:|---:|")
    print(f"| plain PyTorch | {f:.2f} | {tokens / f:.0f} | 1.00x |")
    print(f"| harness (trainers/loop.py, accelerate) | {o:.2f} | {tokens / o:.0f} | {o / f:.2f}x |")


if __name__ == "__main__":
    main()
