"""A run directory: run.json (spec), samples.jsonl (append-only), latency.jsonl, results.json.

samples.jsonl holds what was scored, and nothing measured: two runs of the same
spec (sharded or not, any number of workers) write it byte for byte the same
whenever their metrics are deterministic. The measured query times
(``latency_s``) go beside it, one line per example in latency.jsonl; records
read back (``samples()``, a resume) carry them again.

samples.jsonl gets one line per finished example, flushed at least every
``FLUSH_INTERVAL_S``, so a killed run loses at most the last fraction of a
second of work; ``open_run`` drops a torn last line and returns the ids already
done, and the run resumes from there: nothing is lost and nothing is scored twice.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import harness
from harness.suite import DataError, content_hash

FLUSH_INTERVAL_S = 0.25


def git_revision() -> str | None:
    """The harness's own git commit, when it runs from a checkout."""
    here = Path(harness.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "harness": harness.__version__}
    for name in ("sqlglot", "sqlparse"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def spec_hash(spec: dict[str, Any]) -> str:
    return content_hash(json.dumps(spec, sort_keys=True))


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.samples_path = self.dir / "samples.jsonl"
        self.latency_path = self.dir / "latency.jsonl"
        self.results_path = self.dir / "results.json"
        self.run_path = self.dir / "run.json"
        self._file: Any = None
        self._latency: Any = None
        self._last_flush = 0.0

    def open_run(self, spec: dict[str, Any], *, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """Create or resume the run; returns the records already scored, by id."""
        self.dir.mkdir(parents=True, exist_ok=True)
        digest = spec_hash(spec)
        if self.run_path.exists() and not fresh:
            previous = json.loads(self.run_path.read_text())
            if previous.get("spec_hash") != digest:
                raise DataError(
                    f"{self.run_path}: this run directory holds a run with a different spec "
                    "(suite, data, predictions or options differ). Use another --out, or --fresh to start over."
                )
            done = self._recover()
        else:
            for path in (self.samples_path, self.latency_path, self.results_path):
                path.unlink(missing_ok=True)
            done = {}
            record = {
                "schema_version": harness.SCHEMA_VERSION,
                "spec": spec,
                "spec_hash": digest,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "git_revision": git_revision(),
                "versions": package_versions(),
            }
            self._write_json(self.run_path, record)
        self._file = self.samples_path.open("a", encoding="utf-8", buffering=1 << 16)
        self._latency = self.latency_path.open("a", encoding="utf-8", buffering=1 << 16)
        return done

    def _recover(self) -> dict[str, dict[str, Any]]:
        done = {str(record["id"]): record for record in read_json_lines(self.samples_path)}
        for line in read_json_lines(self.latency_path):
            if str(line.get("id")) in done:
                done[str(line["id"])]["latency_s"] = line.get("latency_s", {})
        return done

    def append(self, record: dict[str, Any]) -> None:
        scored, latency = _split_latency(record)
        self._file.write(json.dumps(scored, ensure_ascii=False) + "\n")
        if latency is not None:
            self._latency.write(json.dumps({"id": record["id"], "latency_s": latency}) + "\n")
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self._file.flush()
            self._latency.flush()
            self._last_flush = now

    def close(self) -> None:
        for handle in (self._file, self._latency):
            if handle is not None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
        self._file = self._latency = None

    def rewrite_samples(self, records: list[dict[str, Any]]) -> None:
        """Replace samples.jsonl (and latency.jsonl) by ``records`` (a finished run, in suite order), atomically."""
        split = [_split_latency(record) for record in records]
        latencies = [{"id": scored["id"], "latency_s": latency} for scored, latency in split if latency is not None]
        for path, lines in ((self.latency_path, latencies), (self.samples_path, [scored for scored, _ in split])):
            tmp = path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as f:
                for line in lines:
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)

    def samples(self) -> list[dict[str, Any]]:
        """The records of samples.jsonl in file order, each with its ``latency_s`` when measured."""
        latency = {str(line["id"]): line.get("latency_s", {}) for line in read_json_lines(self.latency_path)}
        records = read_json_lines(self.samples_path)
        for record in records:
            if str(record["id"]) in latency:
                record["latency_s"] = latency[str(record["id"])]
        return records

    def write_results(self, results: dict[str, Any]) -> None:
        self._write_json(self.results_path, results)

    @staticmethod
    def _write_json(path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)


def _split_latency(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float] | None]:
    """The record without ``latency_s``, and ``latency_s`` (None when absent)."""
    if "latency_s" not in record:
        return record, None
    return {k: v for k, v in record.items() if k != "latency_s"}, record["latency_s"]


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` up to the first torn or unreadable one, which is cut off there
    (a run killed mid-write); [] when there is no file."""
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    good_bytes = 0
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
                str(record["id"])
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                break
            records.append(record)
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_bytes)
    return records
