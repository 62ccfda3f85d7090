"""``harness run``: train a candidate with a method (``none``: the model as it is),
generate its predictions for a suite, score them, and record the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def run_command(
    suite: Annotated[str, typer.Option(help="Suite name (see harness suites).")] = "synth-sql",
    method: Annotated[str | None, typer.Option(help="Training method (see harness methods); 'none' scores the model as it is. Default: mac for a checkpoint, none otherwise.")] = None,
    method_arg: Annotated[list[str] | None, typer.Option("--method-arg", "-M", help="KEY=VALUE method option, e.g. -M schedule=hybrid -M steps_per_stage=200.")] = None,
    model: Annotated[str | None, typer.Option(help="Base: checkpoint folder, hub id, 'tiny' (default: pretrained here; tiny:STEPS for a longer pretraining budget), server URL, predictions file, or 'gold'.")] = None,
    runner: Annotated[str | None, typer.Option(help="transformers, vllm, openai, replay, gold (default: from --model).")] = None,
    runner_arg: Annotated[list[str] | None, typer.Option("--runner-arg", "-R", help="KEY=VALUE for the runner, e.g. -R device=cpu -R base_url=http://...")] = None,
    data: Annotated[str | None, typer.Option(help="Suite folder, for suites that need one.")] = None,
    split: Annotated[str, typer.Option(help="Split to score.")] = "dev",
    suite_arg: Annotated[list[str] | None, typer.Option("--suite-arg", "-S", help="KEY=VALUE for the suite loader.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N examples.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens generated per completion (default: 256; a trained method's own, e.g. learnat's longer step-by-step answers).")] = None,
    temperature: Annotated[float, typer.Option(help="0 for greedy decoding.")] = 0.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling.")] = 1.0,
    n: Annotated[int, typer.Option(help="Samples per prompt (the first is scored).")] = 1,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (sampled outputs are cached only with one).")] = None,
    shots: Annotated[int, typer.Option(help="Few-shot examples from the train split.")] = 0,
    sample_rows: Annotated[int | None, typer.Option(help="Sample rows per table in SQL prompts (default: 3; a trained method's own setting).")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts per generate call.")] = 16,
    cache: Annotated[bool, typer.Option(help="Reuse reproducible generations across runs.")] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Scoring worker processes.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds per query or program when scoring.")] = 30.0,
    metrics: Annotated[str | None, typer.Option(help="Comma-separated metrics (default: the suite's).")] = None,
    prediction_kind: Annotated[str | None, typer.Option(help="Table QA: the model writes 'sql' (default) or 'answer'.")] = None,
    allow_code_execution: Annotated[bool, typer.Option(help="Allow scoring to run model-written Python (in the sandbox).")] = False,
    out: Annotated[Path | None, typer.Option(help="Run directory (default: runs/run-<suite>-<method>-<spec hash>).")] = None,
    fresh: Annotated[bool, typer.Option(help="Discard an existing run in --out and start over.")] = False,
    engine: Annotated[str, typer.Option(help="Where SQL runs: sqlite, duckdb, postgresql or mysql; prompts ask for its dialect (see docs/engines.md).")] = "sqlite",
    db_url: Annotated[str | None, typer.Option(help="The engine's data: a read-only SQLAlchemy URL, or the .duckdb file (harness load-db prints it).")] = None,
    db_schema: Annotated[str | None, typer.Option(help="One schema holding every database (default: one per database).")] = None,
    pred_dialect: Annotated[str | None, typer.Option(help="Dialect the predictions are written in, if not the engine's (e.g. sqlite for a replayed SQLite file).")] = None,
    shards: Annotated[int | None, typer.Option(help="Score in N shards, Ray tasks of --jobs workers each (pip install 'sql-harness[ray]'); the run is the same as unsharded (see docs/scale-out.md).")] = None,
    ray_address: Annotated[str | None, typer.Option("--ray", help="Ray cluster for --shards (default: $RAY_ADDRESS, else a local runtime on 127.0.0.1).")] = None,
) -> None:
    """Train (or not), generate, score and record one candidate on a suite."""
    from dataclasses import asdict

    from harness import registry
    from harness.cli import fail, print_table
    from harness.cli_common import (
        command_errors,
        engine_options,
        load_suite,
        parse_suite_args,
        report_skipped,
        require_code_opt_in,
    )
    from harness.evaluate import evaluate
    from harness.gencache import GenerationCache
    from harness.generate import generate_predictions
    from harness.options import EvalOptions, recorded_options
    from harness.prompts import PromptOptions
    from harness.results import tier_table
    from harness.runstore import RunStore, spec_hash
    from harness.sharding import check_sharding
    from harness.train import is_tiny, resolve_base, train_candidate
    from runners.base import GenerationParams
    from runners.choose import CANDIDATE_RUNNERS, infer_runner
    from suites.tiny import cache_dir

    asked_sample_rows = sample_rows
    try:
        check_sharding(shards, ray_address)  # before training and generating, not after
        loaded = load_suite(suite, data, split=split, limit=limit, suite_args=suite_arg or [])
        require_code_opt_in(loaded, allow_code_execution)
        runner_name = runner or infer_runner(model)
        runner_options = parse_suite_args(runner_arg or [])
        if method is None:
            method = "mac" if runner_name in CANDIDATE_RUNNERS else "none"
        if method == "none":
            from trainers.distributed import launched

            if launched():
                raise ValueError("--method none trains nothing: run it as one process, not under accelerate launch")
        elif method != "none" and runner_name not in CANDIDATE_RUNNERS:
            raise ValueError(
                f"method {method!r} trains a checkpoint, and runner {runner_name!r} cannot load one; "
                f"use --method none, or one of: {', '.join(CANDIDATE_RUNNERS)}"
            )
        if method != "none":
            registry.load("trainers", method)  # an unknown method fails here, before any work
        candidate, method_spec, request_hook = None, {"name": method, "config": {}}, None
        if method != "none" or (runner_name == "transformers" and is_tiny(model)):
            model = resolve_base(model)
        trained_dialect = None  # the SQL dialect the model learned, where its record says
        if runner_name in CANDIDATE_RUNNERS and model and Path(model).is_dir():
            from trainers.tiny_base import prompt_options_for

            pretrained = prompt_options_for(model)  # the prompt format a tiny base was pretrained on
            if pretrained is not None:
                sample_rows = pretrained.sample_rows if sample_rows is None else sample_rows
                trained_dialect = pretrained.dialect
        if method != "none":
            train_suite = load_suite(suite, data, split="train", suite_args=suite_arg or [])
            overrides = parse_suite_args(method_arg or [])
            if asked_sample_rows is not None and "sample_rows" not in overrides:
                overrides["sample_rows"] = asked_sample_rows  # train on the prompt format the run will use
            candidate, hit, config = train_candidate(method, model, train_suite, overrides, seed=seed or 0)
            typer.echo(f"{method}: {'reused cached candidate' if hit else 'trained candidate'} {candidate.path}", err=True)
            method_spec = {"name": method, "config": config, "candidate": candidate.path, "base": model}
            model = candidate.model_path()
            runner_options.setdefault("adapters", candidate.adapter_paths() or None)
            recorded = candidate.runner_options.get("prompt_options") or {}
            if sample_rows is None and recorded.get("sample_rows") is not None:
                sample_rows = recorded["sample_rows"]  # the prompt format the candidate was trained on
            trained_dialect = recorded.get("dialect", trained_dialect)
            if max_new_tokens is None:
                max_new_tokens = candidate.runner_options.get("max_new_tokens")
            from trainers.base import request_hook as candidate_request_hook

            request_hook = candidate_request_hook(candidate, loaded.examples)
        elif method_arg:
            raise ValueError("--method-arg needs a training method; --method none trains nothing")
        params = GenerationParams(max_new_tokens or 256, temperature, top_p, n, (), seed)
        prompt_dialect = engine
        if trained_dialect and trained_dialect != engine and loaded.task == "text-to-sql":
            # Asked for another dialect, the model would still write the one it learned (trainers
            # learn the suite's SQLite gold): ask for that one, and transpile its SQL for the engine.
            prompt_dialect, pred_dialect = trained_dialect, pred_dialect or trained_dialect
            who = f"the {method} candidate" if method != "none" else model
            typer.echo(f"{who} learned {trained_dialect} SQL, so it is prompted for {trained_dialect} and "
                       f"its SQL is transpiled for {engine}", err=True)  # fmt: skip
        prompt_options = PromptOptions(sample_rows=3 if sample_rows is None else sample_rows, shots=shots,
                                       dialect=prompt_dialect)
        shot_examples = []
        if shots:
            shot_examples = load_suite(suite, data, split="train", suite_args=suite_arg or []).examples[:shots]
        options = EvalOptions(
            semantics=loaded.semantics,
            metrics=tuple(m.strip() for m in metrics.split(",")) if metrics else tuple(loaded.metrics),
            timeout_s=timeout,
            allow_code_execution=allow_code_execution,
            prediction_kind=prediction_kind or (loaded.gold_kind if runner_name == "gold" else None),
            **engine_options(engine, db_url, db_schema, loaded,
                             pred_dialect=pred_dialect or (loaded.gold_dialect if runner_name == "gold" else None)),
        )
        factory = registry.load("runners", runner_name)
        backend = factory(model, suite=loaded, **runner_options)
        spec = {
            "command": "run",
            "suite": loaded.name,
            "suite_version": loaded.version,
            "data": str(Path(data).resolve()) if data and Path(data).exists() else data,
            "split": split,
            "suite_args": sorted(suite_arg or []),
            "limit": limit,
            "method": method_spec,
            "model": model,
            "runner": {"name": runner_name, "config": backend.config()},
            "generation": params.to_json(),
            "prompt": asdict(prompt_options),
            "options": recorded_options(options),
        }
        run_dir = out or Path("runs") / f"run-{loaded.name}-{method}-{spec_hash(spec)[:10]}"
        store = RunStore(run_dir)
        store.open_run(spec, fresh=fresh)  # creates, or checks the spec of the run to resume
        store.close()
        if fresh:
            (run_dir / "generations.jsonl").unlink(missing_ok=True)
        if candidate is not None:
            (run_dir / "candidate.json").write_text(Path(candidate.path, "candidate.json").read_text())
        report_skipped(loaded)
        gen_cache = GenerationCache(cache_dir() / "generations.sqlite") if cache else None
        try:
            predictions = generate_predictions(
                loaded, backend, params, run_dir, prompt_options=prompt_options, shots=shot_examples,
                cache=gen_cache, batch_size=batch_size, prediction_kind=options.prediction_kind,
                request_hook=request_hook,
            )
        finally:
            backend.close()
            if gen_cache is not None:
                gen_cache.close()
        results = evaluate(loaded, predictions, options, run_dir, jobs=jobs, spec=spec,
                           shards=shards, ray_address=ray_address)
    except command_errors() as e:
        fail(str(e))
        return
    print_table(tier_table(results, loaded.tiers))
    typer.echo(f"run: {run_dir}")
