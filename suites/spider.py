"""Spider in its official layout: dev.json / train_spider.json, tables.json, database/.

Each example's ``id`` is its 0-based position in the split file. Every
``*.sqlite`` file in ``database/<db_id>/`` is one instance of that database: with
several, the folder is a test suite and a prediction must match on all of them
(as test-suite-sql-eval does). The tier is Spider hardness, computed from the gold
SQL with the official rules inside the scoring workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.suite import DataError, Suite, content_hash, file_digest, read_json, require_fields
from harness.types import Example
from suites.hub import read_split

SPLIT_FILES = {"dev": "dev.json", "train": "train_spider.json", "train_others": "train_others.json"}
HARDNESS = ["easy", "medium", "hard", "extra"]


def database_instances(db_root: Path, db_id: str) -> list[str]:
    """All database files of one db_id, the way test-suite-sql-eval lists them."""
    folder = db_root / db_id
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.iterdir() if ".sqlite" in p.name and p.is_file())


def load_spider(
    data: str | Path | None,
    *,
    split: str = "dev",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Load a Spider split from a folder in the official layout (or a saved dataset dir)."""
    root, split_path, records, source_hash = read_split(
        data, split, suite="Spider", layout="dev.json, tables.json, database/",
        split_file=lambda root, split: root / SPLIT_FILES.get(split, split),
    )
    db_root = Path(db_dir) if db_dir else root / "database"
    if not db_root.is_dir():
        raise DataError(f"{db_root}: database folder not found; pass --db-dir")
    candidates = [folder / "tables.json" for folder in (root, db_root.parent, db_root) if folder.is_dir()]
    tables_json = next((c for c in candidates if c.is_file()), None)
    if tables_json is None:
        raise DataError(
            f"{candidates[0]}: tables.json not found; Spider exact match needs it "
            "(it holds the foreign keys). Put it beside the data or the database folder."
        )
    fk_maps = _foreign_key_maps(tables_json)
    examples: list[Example] = []
    skipped: dict[str, int] = {}
    instances: dict[str, list[str]] = {}
    for index, record in enumerate(records):
        require_fields(record, ("db_id", "query", "question"), split_path, index)
        db_id = record["db_id"]
        if db_id not in fk_maps:
            raise DataError(f"{split_path}: example {index} uses db_id {db_id!r}, which {tables_json} does not describe")
        if db_id not in instances:
            instances[db_id] = database_instances(db_root, db_id)
        if not instances[db_id]:
            if skip_missing_db:
                skipped[db_id] = skipped.get(db_id, 0) + 1
                continue
            raise DataError(
                f"{split_path}: example {index} uses db_id {db_id!r}, but "
                f"{db_root / db_id / (db_id + '.sqlite')} does not exist. "
                "Add the database or pass --skip-missing-db to score the others."
            )
        examples.append(
            Example(
                id=str(index),
                suite="spider",
                db_id=db_id,
                question=record["question"],
                evidence=record.get("evidence", "") or "",
                gold=record["query"],
                db_paths=instances[db_id],
            )
        )
    if limit is not None:
        examples = examples[:limit]
    return Suite(
        name="spider",
        examples=examples,
        version=content_hash(source_hash, file_digest(tables_json)),
        tiers=HARDNESS,
        semantics="spider",
        metrics=["ex", "em"],
        context={"tables_json": str(tables_json), "fk_maps": fk_maps, "schema_for": spider_schema_for},
        resolve_tier=spider_tier,
        skipped=skipped,
        source=str(split_path),
        source_ids=[str(i) for i in range(len(records))],
    )


def _foreign_key_maps(tables_json: Path) -> dict[str, dict[str, str]]:
    from harness.metrics.spider_em import load_foreign_key_maps

    read_json(tables_json)  # a malformed file is a DataError naming it
    try:
        return load_foreign_key_maps(tables_json)
    except (KeyError, IndexError, TypeError) as e:
        raise DataError(f"{tables_json}: not in Spider's tables.json format ({type(e).__name__}: {e})") from e


def spider_tier(example: Example, context: dict[str, Any]) -> str:
    """Spider hardness of the gold SQL (official rules); 'unparsed' if the parser rejects it."""
    from harness.metrics.spider_em import SpiderParseError, spider_hardness

    try:
        return spider_hardness(example.gold, spider_schema_for(example, context))
    except SpiderParseError:
        return "unparsed"


_schemas: dict[str, Any] = {}


def spider_schema_for(example: Example, context: dict[str, Any]) -> Any:
    """The official evaluator's schema for an example's database, cached per process."""
    from harness.metrics.spider_em import load_foreign_key_maps, spider_schema

    key = example.db_paths[0]
    if key not in _schemas:
        if "fk_maps" not in context:
            context["fk_maps"] = load_foreign_key_maps(context["tables_json"])
        db_file = Path(key).parent / f"{example.db_id}.sqlite"
        db_file = db_file if db_file.is_file() else Path(key)
        _schemas[key] = spider_schema(db_file, context["fk_maps"].get(example.db_id, {}))
    return _schemas[key]
