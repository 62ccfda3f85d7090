"""Read a split's records from a local JSON/JSONL file or a `datasets` dataset.

`datasets` is optional (extra ``hub``) and imported only here. Databases are not
part of hub datasets, so the database folder still comes from a local path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.suite import DataError, content_hash, file_digest, read_json

SAVED_DATASET_MARKERS = ("dataset_dict.json", "dataset_info.json", "state.json")


def is_hub_source(data: str | Path) -> bool:
    """True for a saved `datasets` folder or a hub id such as ``owner/name``.

    >>> is_hub_source("xlangai/spider") and not is_hub_source("/no/such/dir")
    True
    """
    path = Path(data)
    if path.is_dir():
        return any((path / m).is_file() for m in SAVED_DATASET_MARKERS)
    text = str(data)
    return not path.exists() and not text.startswith(("/", ".", "~")) and text.count("/") == 1


def load_hub_records(data: str, split: str) -> tuple[list[dict[str, Any]], str]:
    """Rows of ``split`` as plain dicts, and a hash identifying the source."""
    try:
        import datasets
    except ImportError as e:
        raise DataError(
            f"{data}: reading a dataset id or saved dataset needs the 'datasets' package: "
            "pip install 'sql-harness[hub]'"
        ) from e
    path = Path(data)
    try:
        if path.is_dir():
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(data)
    except Exception as e:  # the library raises many types; all mean "cannot read this"
        where = "saved dataset folder" if path.is_dir() else "no such folder here, and as a dataset id"
        raise DataError(f"{data}: could not load it ({where}): {e}") from e
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(f"{data}: no split {split!r} (splits: {', '.join(loaded)})")
        loaded = loaded[split]
    rows = [dict(r) for r in loaded]
    fingerprint = getattr(loaded, "_fingerprint", None) or content_hash(repr(rows))
    return rows, content_hash(str(fingerprint))


def read_split(
    data: str | Path | None, split: str, *, suite: str, layout: str, split_file: Callable[[Path, str], Path]
) -> tuple[Path, Path, list[dict[str, Any]], str]:
    """(root, file, records, source hash) of a split, from a folder or a dataset.

    ``split_file(root, split)`` names the split's file in the suite's layout;
    ``layout`` describes that layout for error messages.
    """
    if data is None:
        raise DataError(f"the {suite} suite needs --data: its folder in the official layout, or a dataset")
    root = Path(data)
    if is_hub_source(root):
        records, source_hash = load_hub_records(str(data), split)
        return root, root, records, source_hash
    if not root.is_dir():
        raise DataError(f"{root}: {suite} data folder not found (expected {layout})")
    path = split_file(root, split)
    if path.suffix == ".jsonl":
        from harness.predictions import read_jsonl

        records: Any = [r for _, r in read_jsonl(path)]
    else:
        records = read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of examples")
    return root, path, records, file_digest(path)
