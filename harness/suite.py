"""What a suite loader returns, and helpers loaders share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.types import Example


class DataError(ValueError):
    """A malformed or missing input file; the message names the file (and line)."""


@dataclass
class Suite:
    """A loaded suite: its examples plus what scoring needs to know about it.

    ``source`` is the file the examples came from and ``source_ids`` the ids of
    all its entries in file order, including any skipped for a missing database:
    prediction files are aligned against those.
    ``resolve_tier`` and ``context`` are used inside worker processes:
    ``resolve_tier(example, context)`` computes a tier that is not in the data
    (Spider hardness is computed from the gold SQL).
    """

    name: str
    examples: list[Example]
    version: str
    tiers: list[str]
    semantics: str
    metrics: list[str]
    context: dict[str, Any] = field(default_factory=dict)
    resolve_tier: Callable[[Example, dict[str, Any]], str] | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""
    source_ids: list[str] = field(default_factory=list)
    task: str = "text-to-sql"  # or "code-output", "code-completion", "table-qa"
    tag_sql_features: bool = True  # tag examples with SQL features of their gold (SQL suites)
    runs_model_code: bool = False  # scoring executes model-written Python: needs --allow-code-execution
    gold_kind: str = "sql"  # what Example.gold holds: "sql", "output", "line", "answer"
    gold_dialect: str = "sqlite"  # the sqlglot dialect of gold SQL (BIRD mini-dev ships postgres and mysql too)


def read_json(path: Path) -> Any:
    """Read a JSON file, turning any failure into a DataError naming the file and line.

    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "bad.json"
    >>> _ = p.write_text('[1,\\n 2,,]')
    >>> try:
    ...     read_json(p)
    ... except DataError as e:
    ...     print(str(e).split(": ", 1)[1])
    malformed JSON at line 2 column 4: Expecting value
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e


def content_hash(*parts: str | bytes) -> str:
    """Short, stable hash of the data a suite was loaded from.

    >>> content_hash("a", b"b")
    'fb8e20fc2e4c'
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:12]


def file_digest(path: Path) -> str:
    return content_hash(path.read_bytes())


def require_fields(record: Any, fields: tuple[str, ...], path: Path, index: int) -> None:
    if not isinstance(record, dict):
        raise DataError(f"{path}: entry {index} is a {type(record).__name__}, expected an object")
    missing = [f for f in fields if f not in record]
    if missing:
        raise DataError(f"{path}: entry {index} lacks field(s) {', '.join(missing)}")
