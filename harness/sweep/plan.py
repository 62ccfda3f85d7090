"""A sweep's plan: the cross product of suites, methods, models and seeds as jobs.

A job is one ``harness run``; its ``key`` is the content hash of everything that
decides its result (suite, method, model, seed and the shared ``harness run``
arguments), so the same job in a later sweep finds the run it already made.
Environment variables and resources are not part of the key: they say where a
job runs, not what it computes.

A plan comes from flags or from a YAML file such as::

    suites: [synth-sql, synth-code]
    methods: [none, sft, mac]
    models: [tiny]
    seeds: [0, 1, 2]
    args: [-S, size=tiny, --limit, "50"]       # to every harness run
    suite_args: {synth-code: [--allow-code-execution]}
    resources: {cpus: 1, gpus: 0}              # per job (Ray schedules by them)
    retries: 2
    jobs:                                      # more jobs, beyond the product
      - {suite: synth-sql, method: grpo, model: tiny, seed: 0, env: {HF_HOME: /data/hf}}
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.suite import content_hash

__all__ = ["DEFAULT_MODEL", "Job", "SweepPlan", "load_plan_file", "make_plan"]

DEFAULT_MODEL = "default"  # no --model flag: harness run's own default for the method
_PLAN_KEYS = {"suites", "methods", "models", "seeds", "args", "suite_args", "resources", "retries", "jobs", "env"}
_JOB_KEYS = {"suite", "method", "model", "seed", "args", "env", "cpus", "gpus"}


@dataclass(frozen=True)
class Job:
    """One ``harness run``: what it computes (hashed) and where it runs (not hashed)."""

    suite: str
    method: str
    model: str
    seed: int
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cpus: float = 1.0
    gpus: float = 0.0

    @property
    def key(self) -> str:
        """Content hash of the job's result-deciding fields.

        >>> Job("synth-sql", "none", "gold", 0).key == Job("synth-sql", "none", "gold", 0, cpus=4).key
        True
        """
        what = {"suite": self.suite, "method": self.method, "model": self.model, "seed": self.seed,
                "args": list(self.args)}  # fmt: skip
        return content_hash(json.dumps(what, sort_keys=True))

    @property
    def name(self) -> str:
        """A folder name that says what the job is, then its key.

        >>> Job("synth-sql", "sft", "/ckpt/qwen-0.5b/", 1).name.rsplit("-", 1)[0]
        'synth-sql-sft-qwen-0.5b-seed1'
        """
        model = Path(self.model.rstrip("/")).name or self.model
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", model)[:40]
        return f"{self.suite}-{self.method}-{label}-seed{self.seed}-{self.key[:10]}"

    def command(self, run_dir: Path) -> list[str]:
        """The ``harness run`` arguments of this job, writing into ``run_dir``."""
        argv = ["run", "--suite", self.suite, "--method", self.method, "--seed", str(self.seed)]
        if self.model != DEFAULT_MODEL:
            argv += ["--model", self.model]
        return [*argv, *self.args, "--out", str(run_dir)]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "args": list(self.args), "env": dict(self.env), "key": self.key, "name": self.name}


@dataclass
class SweepPlan:
    jobs: list[Job]
    retries: int = 2
    notes: list[str] = field(default_factory=list)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [str(value)]
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return [str(item) for item in value]


def _seeds(values: list[str], where: str) -> list[int]:
    try:
        return [int(value) for value in values]
    except ValueError as e:
        raise ValueError(f"{where}: seeds are integers ({e})") from e


def make_plan(
    suites: list[str],
    methods: list[str],
    models: list[str],
    seeds: list[int],
    *,
    args: list[str] | None = None,
    suite_args: dict[str, list[str]] | None = None,
    env: dict[str, str] | None = None,
    cpus: float = 1.0,
    gpus: float = 0.0,
    retries: int = 2,
    extra_jobs: list[dict[str, Any]] | None = None,
    where: str = "sweep",
) -> SweepPlan:
    """The jobs of the cross product, then ``extra_jobs``; duplicates (same key) kept once.

    >>> plan = make_plan(["a", "b"], ["none"], ["gold"], [0, 1])
    >>> [job.name.rsplit("-", 1)[0] for job in plan.jobs]
    ['a-none-gold-seed0', 'a-none-gold-seed1', 'b-none-gold-seed0', 'b-none-gold-seed1']
    """
    if not (suites and methods and seeds):
        raise ValueError(f"{where}: a sweep needs at least one suite, one method and one seed")
    if cpus <= 0 or gpus < 0:
        raise ValueError(f"{where}: resources need cpus > 0 and gpus >= 0")
    if retries < 0:
        raise ValueError(f"{where}: retries must be 0 or more")
    shared = tuple(args or [])
    environment = tuple(sorted((env or {}).items()))
    jobs: dict[str, Job] = {}
    for suite, method, model, seed in itertools.product(suites, methods, models or [DEFAULT_MODEL], seeds):
        job = Job(suite, method, model, seed, shared + tuple((suite_args or {}).get(suite, [])), environment,
                  cpus, gpus)  # fmt: skip
        jobs.setdefault(job.key, job)
    for number, extra in enumerate(extra_jobs or [], start=1):
        at = f"{where}: jobs[{number}]"
        if not isinstance(extra, dict) or not {"suite", "method"} <= set(extra):
            raise ValueError(f"{at}: each extra job is a mapping with at least suite and method")
        if unknown := set(extra) - _JOB_KEYS:
            raise ValueError(f"{at}: unknown keys {sorted(unknown)}; use {sorted(_JOB_KEYS)}")
        job = Job(
            str(extra["suite"]), str(extra["method"]), str(extra.get("model", DEFAULT_MODEL)),
            int(extra.get("seed", 0)),
            shared + tuple((suite_args or {}).get(str(extra["suite"]), [])) + tuple(_strings(extra.get("args"), at)),
            tuple(sorted({**(env or {}), **{str(k): str(v) for k, v in (extra.get("env") or {}).items()}}.items())),
            float(extra.get("cpus", cpus)), float(extra.get("gpus", gpus)),
        )  # fmt: skip
        jobs.setdefault(job.key, job)
    return SweepPlan(list(jobs.values()), retries)


def load_plan_file(path: str | Path) -> dict[str, Any]:
    """The plan keys of a YAML (or JSON) sweep file, checked; errors name the file."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path}: no such sweep file") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{line}: not valid YAML: {getattr(e, 'problem', e)}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a sweep file is a mapping (suites:, methods:, models:, seeds:, ...)")
    if unknown := set(raw) - _PLAN_KEYS:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; use {sorted(_PLAN_KEYS)}")
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict) or set(resources) - {"cpus", "gpus"}:
        raise ValueError(f"{path}: resources is a mapping of cpus and gpus")
    suite_args = raw.get("suite_args") or {}
    if not isinstance(suite_args, dict):
        raise ValueError(f"{path}: suite_args maps a suite name to its extra harness run arguments")
    return {
        "suites": _strings(raw.get("suites"), f"{path}: suites"),
        "methods": _strings(raw.get("methods"), f"{path}: methods"),
        "models": _strings(raw.get("models"), f"{path}: models"),
        "seeds": _seeds(_strings(raw.get("seeds", [0]), f"{path}: seeds"), f"{path}: seeds"),
        "args": _strings(raw.get("args"), f"{path}: args"),
        "suite_args": {str(k): _strings(v, f"{path}: suite_args.{k}") for k, v in suite_args.items()},
        "env": {str(k): str(v) for k, v in (raw.get("env") or {}).items()},
        "cpus": float(resources.get("cpus", 1)),
        "gpus": float(resources.get("gpus", 0)),
        "retries": int(raw.get("retries", 2)),
        "extra_jobs": raw.get("jobs") or [],
    }
