"""The ``synth-sql`` and ``synth-sql-bird`` suites: the generated data through the Spider and BIRD loaders."""

from __future__ import annotations

from pathlib import Path

from harness.suite import DataError, Suite
from suites.synth_sql.export import cached_export
from suites.synth_sql.generate import SIZES

# split name -> what the Spider loader takes ("train" it maps itself; other names are file names)
SPIDER_SPLITS = {"train": "train", "dev": "dev", "test": "test.json", "pretrain": "pretrain.json"}
BIRD_SPLITS = {"train": "train", "dev": "dev", "test": "test.json"}


def _folder(kind: str, data: str | Path | None, seed: int, size: str) -> Path:
    if data is not None:
        return Path(data)
    if size not in SIZES:
        raise DataError(f"synth-sql: unknown size {size!r}; choose one of {', '.join(SIZES)}")
    return cached_export(kind, seed, size)


def _rename(suite: Suite, name: str) -> Suite:
    suite.name = name
    for example in suite.examples:
        example.suite = name
    return suite


def load_synth_sql(
    data: str | Path | None = None,
    *,
    split: str = "dev",
    seed: int = 0,
    size: str = "default",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Spider-style synthetic suite: ``split`` is train, dev, test or pretrain.

    Without ``data`` the folder for (seed, size) is generated once into the cache;
    with it, ``data`` is a folder :func:`suites.synth_sql.export_spider` wrote.
    """
    from suites.spider import load_spider

    if split not in SPIDER_SPLITS:
        raise DataError(f"synth-sql: unknown split {split!r}; choose one of {', '.join(SPIDER_SPLITS)}")
    folder = _folder("spider", data, seed, size)
    suite = load_spider(folder, split=SPIDER_SPLITS[split], db_dir=db_dir, skip_missing_db=skip_missing_db,
                        limit=limit)
    return _rename(suite, "synth-sql")


def load_synth_sql_bird(
    data: str | Path | None = None,
    *,
    split: str = "dev",
    seed: int = 0,
    size: str = "default",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """BIRD-style synthetic suite (with evidence and BIRD difficulty): ``split`` is train, dev or test."""
    from suites.bird import load_bird

    if split not in BIRD_SPLITS:
        raise DataError(f"synth-sql-bird: unknown split {split!r}; choose one of {', '.join(BIRD_SPLITS)}")
    folder = _folder("bird", data, seed, size)
    if split == "test" and db_dir is None:
        db_dir = folder / "test_databases"  # the BIRD loader knows only train and dev database folders
    suite = load_bird(folder, split=BIRD_SPLITS[split], db_dir=db_dir, skip_missing_db=skip_missing_db, limit=limit)
    return _rename(suite, "synth-sql-bird")
