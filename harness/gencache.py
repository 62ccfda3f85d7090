"""A persistent cache of generations, keyed by (runner config, prompt, generation parameters).

Greedy outputs are reused; sampled ones only when a seed is fixed (otherwise a
repeat is a new draw and must not be served from the cache). One SQLite file
in the harness cache directory; safe across processes (WAL, short writes).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from runners.base import GenerationParams, GenerationRequest


def cacheable(params: GenerationParams) -> bool:
    """Whether outputs under ``params`` are reproducible, and so may be reused.

    >>> cacheable(GenerationParams()), cacheable(GenerationParams(temperature=0.7))
    (True, False)
    >>> cacheable(GenerationParams(temperature=0.7, seed=1))
    True
    """
    return params.greedy or params.seed is not None


def cache_key(runner_config: dict[str, Any], request: GenerationRequest, params: GenerationParams) -> str:
    payload = [runner_config, request.prompt, list(request.messages), request.adapter, params.to_json()]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class GenerationCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS generation (key TEXT PRIMARY KEY, texts TEXT NOT NULL, created REAL)")

    def get(self, key: str) -> list[str] | None:
        row = self._conn.execute("SELECT texts FROM generation WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, texts: list[str]) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO generation VALUES (?, ?, ?)", (key, json.dumps(texts), time.time())
        )

    def close(self) -> None:
        self._conn.close()
