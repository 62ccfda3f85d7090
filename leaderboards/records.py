"""Run records as the leaderboard, comparison and CI-gate tools read them.

A run directory (``harness run`` / ``harness eval``) holds ``run.json`` (the spec, git
revision, package versions), ``results.json`` (overall, per tier and per feature) and
``samples.jsonl`` (one scored sample per line). :func:`load_run` reads all three and
fails with an error naming the file (and line) on anything malformed, never a partial
record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RunRecordError(ValueError):
    """A run directory that cannot be read: the message names the file and the fix."""


@dataclass
class RunRecord:
    """One run: its folder, ``run.json``, ``results.json`` and samples by example id."""

    path: Path
    run: dict[str, Any]
    results: dict[str, Any]
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, Any]:
        return self.run.get("spec", {})

    @property
    def suite(self) -> str:
        return str(self.results.get("suite") or self.spec.get("suite"))

    @property
    def data_hash(self) -> str | None:
        """The suite's data version (a content hash of its examples)."""
        return self.results.get("suite_version") or self.spec.get("suite_version")

    @property
    def method(self) -> str:
        method = self.spec.get("method") or {}
        return str(method.get("name", "none")) if isinstance(method, dict) else str(method)

    @property
    def model(self) -> str:
        base = (self.spec.get("method") or {}).get("base") if isinstance(self.spec.get("method"), dict) else None
        return str(base or self.spec.get("model") or "")

    @property
    def label(self) -> str:
        return self.path.name


def id_order(example_id: str) -> tuple[Any, ...]:
    """Sort key of example ids: digit runs compare as numbers ("2" < "10", "q2" < "q10").

    >>> sorted(["10", "b", "2", "a", "q10", "q2"], key=id_order)
    ['2', '10', 'a', 'b', 'q2', 'q10']
    """
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", example_id))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunRecordError(f"{path}: missing; is {path.parent} a finished run directory?")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunRecordError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e
    if not isinstance(data, dict):
        raise RunRecordError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_samples(path: Path) -> dict[str, dict[str, Any]]:
    """``samples.jsonl`` by example id (the last line of an id wins, as on resume)."""
    if not path.is_file():
        raise RunRecordError(f"{path}: missing; is {path.parent} a finished run directory?")
    samples: dict[str, dict[str, Any]] = {}
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise RunRecordError(f"{path}: line {number}: not valid JSON ({e.msg})") from e
            if not isinstance(record, dict) or "id" not in record or "status" not in record:
                raise RunRecordError(f"{path}: line {number}: a sample needs 'id' and 'status'")
            samples[str(record["id"])] = record
    return samples


def load_run(folder: str | Path, *, with_samples: bool = True) -> RunRecord:
    """The run in ``folder``; :class:`RunRecordError` naming the file when it is not one."""
    path = Path(folder)
    if not path.is_dir():
        raise RunRecordError(f"{path}: not a directory; give a run directory (it holds run.json)")
    run = _read_json(path / "run.json")
    results = _read_json(path / "results.json")
    for key in ("overall", "by_tier"):
        if not isinstance(results.get(key), dict):
            raise RunRecordError(f"{path / 'results.json'}: no {key!r} section; re-score the run")
    samples = load_samples(path / "samples.jsonl") if with_samples else {}
    return RunRecord(path, run, results, samples)


def find_runs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (any depth): folders with run.json and results.json."""
    base = Path(root)
    if not base.is_dir():
        raise RunRecordError(f"{base}: not a directory of runs")
    return sorted(p.parent for p in base.rglob("results.json") if (p.parent / "run.json").is_file())
