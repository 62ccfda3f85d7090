"""A run directory: run.json (spec), samples.jsonl (append-only), results.json.

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
        self.results_path = self.dir / "results.json"
        self.run_path = self.dir / "run.json"
        self._file: Any = None
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
            for path in (self.samples_path, self.results_path):
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
        return done

    def _recover(self) -> dict[str, dict[str, Any]]:
        if not self.samples_path.exists():
            return {}
        done: dict[str, dict[str, Any]] = {}
        good_bytes = 0
        with self.samples_path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                    done[str(record["id"])] = record
                except (json.JSONDecodeError, KeyError, UnicodeDecodeError):
                    break
                good_bytes += len(line)
        if good_bytes != self.samples_path.stat().st_size:
            with self.samples_path.open("r+b") as f:
                f.truncate(good_bytes)
        return done

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self._file.flush()
            self._last_flush = now

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def rewrite_samples(self, records: list[dict[str, Any]]) -> None:
        """Replace samples.jsonl by ``records`` (a finished run, in suite order), atomically."""
        tmp = self.samples_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.samples_path)

    def samples(self) -> list[dict[str, Any]]:
        with self.samples_path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def write_results(self, results: dict[str, Any]) -> None:
        self._write_json(self.results_path, results)

    @staticmethod
    def _write_json(path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
