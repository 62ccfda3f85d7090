"""The generate step: prompts -> runner -> completions -> predictions, resumable and cached.

Each finished example is appended to ``generations.jsonl`` in the run directory
(its texts, any error, and the extracted prediction), so a killed run restarts
where it stopped; the persistent :class:`~harness.gencache.GenerationCache`
also serves reproducible generations (greedy, or seeded) across runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.evaluate import progress_bar
from harness.extraction import EXTRACTORS
from harness.gencache import GenerationCache, cache_key, cacheable
from harness.prompts import EXTRACTION_FOR_GOLD, PromptOptions, build_request
from harness.suite import Suite
from harness.types import Example
from runners.base import Completion, GenerationParams, Runner


def extractor_for(suite: Suite, runner: Runner, prediction_kind: str | None) -> Any:
    """Identity for runners that return predictions; else the suite's extractor."""
    if getattr(runner, "returns_predictions", False):
        return lambda text: text
    kind = suite.context.get("extract") or EXTRACTION_FOR_GOLD.get(suite.gold_kind, "sql")
    if suite.task == "table-qa" and prediction_kind == "answer":
        kind = "output"
    return EXTRACTORS[kind]


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    """generations.jsonl by id; a torn last line from a killed run is cut off."""
    from harness.runstore import read_json_lines

    return {str(record["id"]): record for record in read_json_lines(path)}


def generate_predictions(
    suite: Suite,
    runner: Runner,
    params: GenerationParams,
    run_dir: Path,
    *,
    prompt_options: PromptOptions | None = None,
    shots: list[Example] | None = None,
    cache: GenerationCache | None = None,
    batch_size: int = 16,
    prediction_kind: str | None = None,
    request_hook: Any = None,
) -> dict[str, str]:
    """Generate what is missing from ``run_dir/generations.jsonl``; return every prediction by id.

    ``request_hook(requests) -> requests`` may rewrite requests before generation
    (MAC sets each request's adapter combination there)."""
    path = run_dir / "generations.jsonl"
    done = _read_done(path)
    extract = extractor_for(suite, runner, prediction_kind)
    pending = [ex for ex in suite.examples if ex.id not in done]
    runner_config = runner.config()
    use_cache = cache is not None and cacheable(params) and not getattr(runner, "returns_predictions", False)
    with path.open("a", encoding="utf-8") as out, progress_bar(len(suite.examples), len(done), f"generating {suite.name}") as advance:
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            requests = [build_request(suite, ex, prompt_options or PromptOptions(), shots or []) for ex in chunk]
            if request_hook is not None:  # e.g. a trained candidate's adapter composition per request
                requests = request_hook(requests)
            completions: dict[str, Completion] = {}
            keys = {r.id: cache_key(runner_config, r, params) for r in requests} if use_cache else {}
            for request in requests:
                hit = cache.get(keys[request.id]) if use_cache else None
                if hit is not None:
                    completions[request.id] = Completion(request.id, hit)
            misses = [r for r in requests if r.id not in completions]
            if misses:
                started = time.perf_counter()
                for completion in runner.generate(misses, params):
                    completions[completion.id] = completion
                    if use_cache and completion.error is None:
                        cache.put(keys[completion.id], completion.texts)
                elapsed = time.perf_counter() - started
            for request in requests:
                completion = completions[request.id]
                text = completion.texts[0] if completion.texts else ""
                record = {
                    "id": request.id,
                    "texts": completion.texts,
                    "error": completion.error,
                    "prediction": extract(text) if completion.error is None else "",
                    "cached": request not in misses,
                    "latency_s": round(completion.latency_s or (elapsed / max(1, len(misses)) if misses else 0.0), 6),
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                done[request.id] = record
                advance()
            out.flush()
    return {ex.id: done[ex.id]["prediction"] for ex in suite.examples}
