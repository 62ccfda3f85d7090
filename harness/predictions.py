"""Read saved predictions and align them with a suite's examples.

Three formats:

- ``lines``: one SQL per line in the suite file's order (Spider style). As the
  official evaluator does, each line is stripped and anything after a TAB is
  dropped; CRLF endings and a missing final newline are fine, blank lines at the
  end are ignored, and a blank line elsewhere is an empty prediction.
- ``bird``: BIRD's JSON, ``{"0": "SQL\\t----- bird -----\\tdb_id", ...}``, keyed by
  the position of the question in the suite file.
- ``jsonl``: one ``{"id": ..., "sql": ...}`` object per line (``"prediction"``
  may stand for ``"sql"``, for suites whose predictions are not SQL).

Any count, id or db_id mismatch is an error naming both files and the first
offending id: a partial file never yields a partial score.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.suite import DataError, Suite

BIRD_SEPARATOR = "\t----- bird -----\t"
FORMATS = ("lines", "bird", "jsonl")


def detect_format(path: Path) -> str:
    """Guess the format from the file name.

    >>> detect_format(Path("predict_dev.json")), detect_format(Path("p.jsonl")), detect_format(Path("p.sql"))
    ('bird', 'jsonl', 'lines')
    """
    if path.suffix == ".json":
        return "bird"
    if path.suffix == ".jsonl":
        return "jsonl"
    return "lines"


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: malformed JSON: {e.msg}") from e


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: predictions file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e


def read_lines(path: Path) -> list[str]:
    """One prediction per line, as the official Spider evaluator reads them.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "p.sql"
    >>> _ = p.write_bytes(b"SELECT 1\\tdb\\r\\n\\r\\n SELECT 2 \\r\\n\\n")
    >>> read_lines(p)
    ['SELECT 1', '', 'SELECT 2']
    """
    lines = _read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip().split("\t")[0].strip() for line in lines]


def _by_position(path: Path, preds: list[str], suite: Suite) -> dict[str, str]:
    expected = len(suite.source_ids)
    if len(preds) != expected:
        first_missing = suite.source_ids[len(preds)] if len(preds) < expected else None
        hint = (
            f"first example without a prediction: id {first_missing}"
            if first_missing is not None
            else f"{len(preds) - expected} line(s) too many"
        )
        raise DataError(
            f"{path} has {len(preds)} predictions but {suite.source} has {expected} examples; {hint}"
        )
    return dict(zip(suite.source_ids, preds))


def _read_bird(path: Path, suite: Suite) -> dict[str, str]:
    try:
        raw = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object keyed by question position")
    db_of = {ex.id: ex.db_id for ex in suite.examples}
    preds: dict[str, str] = {}
    for key, value in raw.items():
        if not str(key).isdigit() or int(key) >= len(suite.source_ids):
            raise DataError(f"{path}: key {key!r} is not a question position of {suite.source}")
        qid = suite.source_ids[int(key)]
        sql, db_id = value, None
        if isinstance(value, str) and BIRD_SEPARATOR in value:
            sql, db_id = value.split(BIRD_SEPARATOR, 1)
        elif not isinstance(value, str):
            sql = ""
        if db_id is not None and qid in db_of and db_id.strip() != db_of[qid]:
            raise DataError(
                f"{path}: prediction {key} names db_id {db_id.strip()!r} but question {qid} "
                f"in {suite.source} uses {db_of[qid]!r}"
            )
        preds[qid] = sql
    return preds


def _read_jsonl_predictions(path: Path) -> dict[str, str]:
    preds: dict[str, str] = {}
    for lineno, record in read_jsonl(path):
        field = "sql" if isinstance(record, dict) and "sql" in record else "prediction"
        if not isinstance(record, dict) or "id" not in record or field not in record:
            raise DataError(f'{path}:{lineno}: expected an object with "id" and "sql" (or "prediction")')
        key = str(record["id"])
        if key in preds:
            raise DataError(f"{path}:{lineno}: id {key} appears twice")
        preds[key] = str(record[field] or "")
    return preds


def read_predictions(path: str | Path, suite: Suite, fmt: str | None = None) -> dict[str, str]:
    """Map every example id of ``suite`` to its predicted SQL, or raise DataError."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "lines":
        preds = _by_position(path, read_lines(path), suite)
    elif fmt == "bird":
        preds = _read_bird(path, suite)
    elif fmt == "jsonl":
        preds = _read_jsonl_predictions(path)
        unknown = sorted(set(preds) - set(suite.source_ids))
        if unknown:
            raise DataError(f"{path}: id {unknown[0]} is not an example of {suite.source}")
    else:
        raise DataError(f"unknown predictions format {fmt!r}; use one of {', '.join(FORMATS)}")
    missing = [ex.id for ex in suite.examples if ex.id not in preds]
    if missing:
        raise DataError(
            f"{path} has no prediction for {len(missing)} example(s) of {suite.source}; "
            f"first missing id: {missing[0]}"
        )
    return preds
