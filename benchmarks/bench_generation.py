"""Generation throughput of the transformers runner: batched against one prompt at a time.

A tiny-but-not-trivial Llama-style model (4 layers, 256 dims by default) is built in a
temporary folder (no download). The same prompts (varied lengths, SQL/Python/English)
are generated greedily with a fixed ``max_new_tokens`` by the transformers runner one
prompt at a time and in batches, side by side in one process, alternating over rounds;
the Markdown table reports the median tokens/s of each and its ratio to one at a time,
and whether batched greedy text equals the one-at-a-time text.

    python benchmarks/bench_generation.py [--prompts 32] [--max-new-tokens 32]
        [--batch-sizes 8,16] [--rounds 3] [--layers 4] [--dim 256] [--device cpu]
        [--vllm]

With ``--vllm`` (a CUDA GPU and the vllm extra), vLLM (all prompts at once) runs too and
the transformers runner runs on the GPU, both in bfloat16.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runners.base import Completion, GenerationParams, GenerationRequest  # noqa: E402
from runners.tiny_models import BUILTIN_TEXTS, build_tiny_causal_lm  # noqa: E402


@dataclass
class Row:
    """One configuration's measurements over the rounds."""

    runner: str
    device: str
    batch: str
    seconds: list[float]
    tokens: int
    texts: list[list[str]]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / statistics.median(self.seconds)


def make_prompts(count: int) -> list[GenerationRequest]:
    """``count`` prompts of 1 to 4 built-in texts each, so lengths vary as in a real suite."""
    n = len(BUILTIN_TEXTS)
    return [
        GenerationRequest(
            id=f"p{i}",
            prompt="\n".join(BUILTIN_TEXTS[(i + k * 7) % n] for k in range(1 + i % 4)),
        )
        for i in range(count)
    ]


def measure(runner, requests, params, seconds: list[float]) -> list[Completion]:
    start = time.perf_counter()
    out = runner.generate(requests, params)
    seconds.append(time.perf_counter() - start)
    failed = [c for c in out if c.error]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0].error}")
    return out


def one_at_a_time(runner, requests, params, seconds: list[float]) -> list[Completion]:
    start = time.perf_counter()
    out = [runner.generate([request], params)[0] for request in requests]
    seconds.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="8,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vllm", action="store_true", help="also vLLM vs transformers on GPU")
    args = parser.parse_args()

    import torch

    from runners import transformers_runner

    device = "cuda" if args.vllm else args.device
    dtype = "bfloat16" if args.vllm else "float32"
    sizes = [int(s) for s in args.batch_sizes.split(",") if s]
    requests = make_prompts(args.prompts)
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_causal_lm(Path(tmp) / "model", n_layer=args.layers, n_embd=args.dim))
        runners = {
            size: transformers_runner.create(
                model, device=device, dtype=dtype, batch_size=size, chat=False
            )
            for size in [1, *sizes]
        }
        rows = {
            size: Row(
                "transformers", device, "1 (one at a time)" if size == 1 else str(size), [], 0, []
            )
            for size in runners
        }
        vllm_runner = vllm_row = None
        if args.vllm:
            from runners.vllm_runner import create as create_vllm

            vllm_runner = create_vllm(model, dtype=dtype, chat=False, gpu_memory_utilization=0.5)
            vllm_row = Row("vllm", "cuda", f"all {len(requests)}", [], 0, [])
        for runner in [*runners.values(), *([vllm_runner] if vllm_runner else [])]:
            runner.generate(requests[:2], GenerationParams(max_new_tokens=4))  # warm-up
        for _ in range(args.rounds):
            for size, runner in runners.items():
                run = one_at_a_time if size == 1 else measure
                out = run(runner, requests, params, rows[size].seconds)
                rows[size].tokens = sum(c.output_tokens for c in out)
                rows[size].texts = [c.texts for c in out]
            if vllm_runner is not None:
                out = measure(vllm_runner, requests, params, vllm_row.seconds)
                vllm_row.tokens = sum(c.output_tokens for c in out)
                vllm_row.texts = [c.texts for c in out]
        for runner in [*runners.values(), *([vllm_runner] if vllm_runner else [])]:
            runner.close()

    baseline = rows[1]
    table = [*rows.values(), *([vllm_row] if vllm_row else [])]
    print(
        f"\n{len(requests)} prompts, greedy, max_new_tokens={args.max_new_tokens}, "
        f"model {args.layers} layers x {args.dim} dims, {dtype}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"median of {args.rounds} rounds\n"
    )
    print(
        "| runner | device | batch | output tokens | seconds | tokens/s | vs one at a time "
        "| same greedy text |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for row in table:
        same = sum(a == b for a, b in zip(row.texts, baseline.texts))
        print(
            f"| {row.runner} | {row.device} | {row.batch} | {row.tokens} | "
            f"{statistics.median(row.seconds):.2f} | {row.tokens_per_s:.0f} | "
            f"{row.tokens_per_s / baseline.tokens_per_s:.2f}x | {same}/{len(requests)} |"
        )


if __name__ == "__main__":
    main()
