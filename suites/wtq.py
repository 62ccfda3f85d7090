"""WikiTableQuestions in its official layout: question TSV files and ``csv/<folder>/<n>.csv`` tables.

Splits: ``train`` = ``random-split-1-train.tsv``, ``dev`` = ``random-split-1-dev.tsv``
(tables disjoint from train), ``test`` = ``pristine-unseen-tables.tsv``; any other
split name is read as ``<split>.tsv`` (e.g. ``training``, ``random-split-2-dev``).
The TSV files may sit in the data folder or in its ``data/`` subfolder, as in
the official repository. Each line holds id, utterance, context (the table's
path relative to the data folder, or to its parent when that holds ``csv/`` and
the data folder does not, or to ``db_dir`` when given) and targetValue
(the answer list, ``|``-separated with TSV escapes); the header names the columns.

An example's ``id`` is the TSV id, ``db_id`` the context path, ``question`` the
unescaped utterance, ``gold`` the targetValue text as in the file and
``db_paths`` the absolute CSV path. Optional extra columns are read too: ``tier``
becomes the example's tier, any other column goes into ``metadata`` (unescaped);
the synth-table export uses them.

**Tiers are a proxy.** WTQ has no official difficulty, so the tier is the size of
the table: ``small`` (at most 10 rows), ``medium`` (11-20), ``large`` (more);
these thresholds split each official split into roughly equal thirds (dev:
31% / 36% / 33%). Larger tables make it harder to find the answer by reading
the table, not necessarily to write the SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.execution.table_csv import TableError, read_table_csv
from harness.metrics.wtq_eval import tsv_unescape
from harness.suite import DataError, Suite, content_hash
from harness.types import Example

SPLIT_FILES = {
    "train": "random-split-1-train.tsv",
    "dev": "random-split-1-dev.tsv",
    "test": "pristine-unseen-tables.tsv",
}
SIZE_TIERS = ["small", "medium", "large"]
SMALL_MAX_ROWS = 10
MEDIUM_MAX_ROWS = 20
REQUIRED_COLUMNS = ("id", "utterance", "context", "targetValue")
KNOWN_TIER_ORDER = ["easy", "medium", "hard", *SIZE_TIERS]


def size_tier(n_rows: int) -> str:
    """The table-size tier of a table with ``n_rows`` rows.

    >>> [size_tier(n) for n in (3, 10, 11, 20, 21)]
    ['small', 'small', 'medium', 'medium', 'large']
    """
    if n_rows <= SMALL_MAX_ROWS:
        return "small"
    return "medium" if n_rows <= MEDIUM_MAX_ROWS else "large"


def split_path(root: Path, split: str) -> Path:
    """The TSV file of ``split`` under ``root`` (or ``root/data``); DataError listing the candidates if none."""
    name = SPLIT_FILES.get(split, split if split.endswith(".tsv") else f"{split}.tsv")
    candidates = [root / name, root / "data" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{candidates[0]}: WikiTableQuestions split {split!r} not found (also looked in {candidates[1].parent}); "
        f"expected {', '.join(SPLIT_FILES.values())} with csv/ beside them"
    )


def read_tsv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, fields)]) of a WTQ TSV file; DataError naming file:line when malformed."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e
    lines = text.split("\n")
    header = lines[0].rstrip("\r").split("\t")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}:1: header lacks column(s) {', '.join(missing)} (found {', '.join(header)})")
    if len(set(header)) != len(header):
        raise DataError(f"{path}:1: repeated column name in the header")
    records: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(lines[1:], 2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}:{lineno}: {len(fields)} tab-separated fields, expected {len(header)}")
        records.append((lineno, fields))
    return header, records


def load_wtq(
    data: str | Path | None = None,
    *,
    split: str = "dev",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Load a WikiTableQuestions split from a folder in the official layout."""
    if data is None:
        raise DataError("the wtq suite needs --data: the WikiTableQuestions folder (TSV files and csv/)")
    root = Path(data)
    if not root.is_dir():
        raise DataError(f"{root}: WikiTableQuestions folder not found")
    tsv = split_path(root, split)
    table_root = Path(db_dir) if db_dir else root
    if not db_dir and not (root / "csv").is_dir() and (root.parent / "csv").is_dir():
        table_root = root.parent  # data= the official data/ subfolder
    header, records = read_tsv(tsv)
    col = {name: i for i, name in enumerate(header)}
    extras = [n for n in header if n not in REQUIRED_COLUMNS and n != "tier"]
    examples: list[Example] = []
    skipped: dict[str, int] = {}
    source_ids: list[str] = []
    seen: set[str] = set()
    tables: dict[str, tuple[str, int] | None] = {}  # context -> (sha of bytes, rows) or None when missing
    for lineno, fields in records:
        example_id, context = fields[col["id"]], fields[col["context"]]
        if not example_id or example_id in seen:
            raise DataError(f"{tsv}:{lineno}: {'empty' if not example_id else 'repeated'} id {example_id!r}")
        seen.add(example_id)
        source_ids.append(example_id)
        csv_path = (table_root / context).absolute()
        if context not in tables:
            tables[context] = _table_facts(csv_path, tsv, lineno)
        if tables[context] is None:
            if skip_missing_db:
                skipped[context] = skipped.get(context, 0) + 1
                continue
            raise DataError(
                f"{tsv}:{lineno}: example {example_id} uses table {context!r}, but {csv_path} does not exist. "
                "Add the table or pass --skip-missing-db to score the others."
            )
        _, n_rows = tables[context]
        tier = fields[col["tier"]] if "tier" in col else size_tier(n_rows)
        examples.append(
            Example(
                id=example_id,
                suite="wtq",
                db_id=context,
                question=tsv_unescape(fields[col["utterance"]]),
                gold=fields[col["targetValue"]],
                tier=tier,
                db_paths=[str(csv_path)],
                metadata={name: tsv_unescape(fields[col[name]]) for name in extras},
            )
        )
    if limit is not None:
        examples = examples[:limit]
    digests = [f"{c}:{facts[0]}" for c, facts in sorted(tables.items()) if facts is not None]
    return Suite(
        name="wtq",
        examples=examples,
        version=content_hash(tsv.read_bytes(), *digests),
        tiers=_tiers(examples) if "tier" in col else list(SIZE_TIERS),
        semantics="denotation",
        metrics=["answer_acc"],
        context={"table_info_for": wtq_table_info},
        skipped=skipped,
        source=str(tsv),
        source_ids=source_ids,
        task="table-qa",
        tag_sql_features=False,
        runs_model_code=False,
        gold_kind="answer",
    )


def _table_facts(path: Path, tsv: Path, lineno: int) -> tuple[str, int] | None:
    """(content hash, row count) of a table, None when the file is missing; DataError when unreadable."""
    if not path.is_file():
        return None
    try:
        _, rows = read_table_csv(path)
    except TableError as e:
        raise DataError(f"{tsv}:{lineno}: {e}") from e
    return content_hash(path.read_bytes()), len(rows)


def _tiers(examples: list[Example]) -> list[str]:
    present = {e.tier for e in examples if e.tier}
    known = [t for t in KNOWN_TIER_ORDER if t in present]
    return known + sorted(present - set(known))


def wtq_table_info(example: Example, context: dict[str, Any]) -> Any:
    """The loaded table's ``TableInfo`` (safe column names, original headers, types) for prompts."""
    from harness.execution.duckdb_tables import table_connection

    return table_connection(example.db_paths[0])[1]
