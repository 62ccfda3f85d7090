"""Read a split from a `datasets` dataset: a saved dataset folder or a hub id.

`datasets` is optional (extra ``hub``) and imported only here. Databases are not
part of hub datasets, so the database folder still comes from a local path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.suite import DataError, content_hash

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
