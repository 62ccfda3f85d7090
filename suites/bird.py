"""BIRD in its official layout: dev.json (or the mini-dev JSON) and dev_databases/.

Each example's ``id`` is its ``question_id``; the tier is BIRD's own
``difficulty`` (simple / moderate / challenging) read from the data.

BIRD mini-dev publishes its gold SQL for SQLite, MySQL and PostgreSQL
(``mini_dev_sqlite.json``, ``mini_dev_mysql.json``, ``mini_dev_postgresql.json``);
``-S dialect=postgresql`` reads the PostgreSQL file, whose gold then runs on
``--engine postgresql`` as written (no transpilation). The SQLite databases are
still read for prompts.
"""

from __future__ import annotations

from pathlib import Path

from harness.suite import DataError, Suite, content_hash, require_fields
from harness.types import Example
from suites.hub import read_split

SPLIT_FILES = {
    "dev": ("dev.json",),
    "mini_dev": ("mini_dev_sqlite.json", "mini_dev_sqlite.jsonl"),
    "train": ("train.json",),
}
GOLD_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}  # mini-dev's, as sqlglot names them
DB_FOLDERS = {"dev": "dev_databases", "mini_dev": "dev_databases", "train": "train_databases"}
DIFFICULTY = ["simple", "moderate", "challenging"]


def _split_file(root: Path, split: str, dialect: str = "sqlite") -> Path:
    names = SPLIT_FILES.get(split, (split,))
    if dialect != "sqlite":
        names = (f"mini_dev_{dialect}.json", f"mini_dev_{dialect}.jsonl")
    for name in names:
        if (root / name).is_file():
            return root / name
    names = " or ".join(names)
    raise DataError(f"{root}: no {names} for split {split!r}")


def load_bird(
    data: str | Path | None,
    *,
    split: str = "dev",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
    dialect: str = "sqlite",
) -> Suite:
    """Load a BIRD split (dev, mini_dev or train) from a local folder or a saved dataset.

    ``dialect`` (mini_dev only): sqlite, postgresql or mysql, the gold SQL file to read.
    """
    if dialect not in GOLD_DIALECTS:
        raise DataError(f"BIRD mini-dev has no {dialect!r} gold; use -S dialect= one of {', '.join(GOLD_DIALECTS)}")
    if dialect != "sqlite" and split != "mini_dev":
        raise DataError(f"BIRD publishes {dialect} gold SQL for mini_dev only; pass --split mini_dev")
    root, split_path, records, source_hash = read_split(
        data, split, suite="BIRD", layout="dev.json and dev_databases/",
        split_file=lambda folder, name: _split_file(folder, name, dialect),
    )
    db_root = Path(db_dir) if db_dir else root / DB_FOLDERS.get(split, "dev_databases")
    if not db_root.is_dir():
        raise DataError(f"{db_root}: database folder not found; pass --db-dir")
    examples: list[Example] = []
    skipped: dict[str, int] = {}
    seen: set[str] = set()
    for index, record in enumerate(records):
        require_fields(record, ("db_id", "question", "SQL"), split_path, index)
        qid = str(record.get("question_id", index))
        if qid in seen:
            raise DataError(f"{split_path}: entry {index} repeats question_id {qid}")
        seen.add(qid)
        db_id = record["db_id"]
        db_file = db_root / db_id / f"{db_id}.sqlite"
        if not db_file.is_file():
            if skip_missing_db:
                skipped[db_id] = skipped.get(db_id, 0) + 1
                continue
            raise DataError(
                f"{split_path}: question {qid} uses db_id {db_id!r}, but {db_file} does not exist. "
                "Add the database or pass --skip-missing-db to score the others."
            )
        examples.append(
            Example(
                id=qid,
                suite="bird",
                db_id=db_id,
                question=record["question"],
                evidence=record.get("evidence", "") or "",
                gold=record["SQL"],
                tier=record.get("difficulty") or "unknown",
                db_paths=[str(db_file)],
            )
        )
    if limit is not None:
        examples = examples[:limit]
    return Suite(
        name="bird",
        examples=examples,
        version=content_hash(source_hash),
        tiers=DIFFICULTY,
        semantics="bird",
        metrics=["ex", "soft_f1"],
        skipped=skipped,
        source=str(split_path),
        source_ids=[str(r.get("question_id", i)) for i, r in enumerate(records)],
        gold_dialect=GOLD_DIALECTS[dialect],
    )
