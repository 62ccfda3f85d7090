"""synth-table: generated tables with WikiTableQuestions-style questions whose answers come from hidden SQL.

From a seed and a size, ``generate`` draws tables from six domains (league
standings, city statistics, product lists, election results, film lists,
athletics results; 4-40 rows; integer, decimal, date and text columns, some
empty cells, messy headers such as ``Area (km²)``, ``%`` or an empty one) and
asks questions of them from a set of families (lookups, counts, max/min, argmax,
sums, comparisons of two rows, "how many more", lists of values...). Each
question has a hidden SQL query; its answer is what that query returns on the
table loaded exactly as scoring loads it (``harness.execution.duckdb_tables``),
written in the ``targetValue`` form. The tier is the shape of the hidden SQL
(``sql_tier``). The suite is exported in the WTQ layout and read back with
``suites.wtq.load_wtq``; docs/synth-table.md lists the families, the tier rules
and measured counts.

**Supervision is the answer.** The hidden SQL is kept in ``metadata["sql"]`` (the
family in ``metadata["family"]``) for analysis and for fully supervised methods;
a trainer that claims weak supervision must not read it.

The tables come from :mod:`suites.synth_table_domains`, the questions from
:mod:`suites.synth_table_families`; this module holds the tiers, the drawing of
questions with their answers, the export and the loader.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.suite import DataError, Suite
from suites.synth_table_domains import DOMAINS, Table, table_csv
from suites.synth_table_families import FAMILIES, Ask
from suites.tiny import cache_dir

VERSION = "v1"
TIERS = ["easy", "medium", "hard"]
SPLITS = ("train", "dev", "test")
# tables per split (train, dev, test); each table gets QUESTIONS_PER_TIER questions of each tier family
SIZES = {"small": (12, 4, 4), "default": (150, 40, 40), "large": (1200, 150, 150)}
QUESTIONS_PER_TIER = 3
MAX_ANSWER_VALUES = 8
TSV_COLUMNS = ("id", "utterance", "context", "targetValue", "tier", "family", "sql")


def sql_shape(sql: str) -> dict[str, int]:
    """Counts of the constructs ``sql_tier`` weighs, read with sqlglot."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, dialect="duckdb")
    selects = list(tree.find_all(exp.Select))
    predicates = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Like, exp.Is, exp.Between)
    return {
        "subqueries": len(selects) - 1,
        "conditions": sum(1 for _ in tree.find_all(*predicates)),
        "group_by": sum(1 for s in selects if s.args.get("group")),
        "having": sum(1 for s in selects if s.args.get("having")),
        "order_by": sum(1 for s in selects if s.args.get("order")),
        "arithmetic": sum(1 for _ in tree.find_all(exp.Add, exp.Sub, exp.Mul, exp.Div)),
    }


def sql_tier(sql: str) -> str:
    """easy / medium / hard from the hidden SQL's shape (points: see docs/synth-table.md).

    2 points per subquery, 1 each for GROUP BY, HAVING and ORDER BY, 1 for any
    arithmetic, 1 per filter condition beyond the first; 0 is easy, 1-2
    medium, 3 or more hard.

    >>> sql_tier("SELECT team FROM t WHERE pos = 3"), sql_tier("SELECT MAX(a) - MIN(a) FROM t")
    ('easy', 'medium')
    >>> sql_tier("SELECT team FROM t WHERE pos = (SELECT pos FROM t WHERE team = 'X') + 1")
    'hard'
    """
    s = sql_shape(sql)
    points = (2 * s["subqueries"] + s["group_by"] + s["having"] + s["order_by"]
              + min(s["arithmetic"], 1) + max(0, s["conditions"] - 1))
    return "easy" if points == 0 else "medium" if points <= 2 else "hard"


def _questions(table: Table, names: list[str], conn: Any, rng: random.Random) -> list[tuple[str, str, str, str, str]]:
    """(family, question, sql, tier, answer) for one table: QUESTIONS_PER_TIER drawn from each tier's families."""
    from harness.execution.duckdb_tables import run_table_query
    from harness.metrics.table_qa import result_values
    from harness.metrics.wtq_eval import check_denotation, format_answer_list, parse_answer_list

    ask = Ask(table, names, rng)
    out: list[tuple[str, str, str, str, str]] = []
    seen: set[str] = set()
    for tier in TIERS:
        found = 0
        for _ in range(40):
            if found == QUESTIONS_PER_TIER:
                break
            family = rng.choice(FAMILIES[tier])
            made = family(ask)
            if made is None or made[0] in seen or made[1] in seen:
                continue  # one phrasing per query, and no repeated question
            question, sql = made
            result = run_table_query(conn, sql, timeout_s=10.0, max_rows=MAX_ANSWER_VALUES)
            values = result_values(result.rows) if result.status == "ok" and result.rows else []
            if not values or "" in values:
                continue  # no answer, a NULL answer, or too long a list (the row cap)
            answer = format_answer_list(values)
            if not check_denotation(parse_answer_list(answer), values):
                raise AssertionError(f"answer {answer!r} does not round-trip for {sql}")
            seen.update(made)
            out.append((family.__name__[2:], question, sql, sql_tier(sql), answer))
            found += 1
    return out


def _escape(text: str) -> str:
    from harness.metrics.wtq_eval import format_answer_list

    return format_answer_list([text])


def generate(folder: str | Path, seed: int = 0, size: str = "default") -> dict[str, int]:
    """Write the suite for ``seed`` and ``size`` into ``folder`` in the WTQ layout; question counts per split.

    Same seed and size, same bytes. Tables never repeat across splits: each is
    drawn from its own random stream ``(seed, split, index)``.
    """
    from harness.execution.duckdb_tables import load_table, new_engine
    from suites.wtq import SPLIT_FILES

    if size not in SIZES:
        raise DataError(f"unknown synth-table size {size!r}; use one of {', '.join(SIZES)}")
    folder = Path(folder)
    counts: dict[str, int] = {}
    engine = new_engine()
    try:
        for split, n_tables in zip(SPLITS, SIZES[size]):
            lines = ["\t".join(TSV_COLUMNS + ("domain",))]
            for index in range(n_tables):
                rng = random.Random(f"synth-table-{VERSION}/{seed}/{split}/{index}")
                table = DOMAINS[rng.randrange(len(DOMAINS))](rng)
                context = f"csv/{split}-csv/{index}.csv"
                path = folder / context
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(table_csv(table).encode("utf-8"))
                conn, info = load_table(path, engine)
                try:
                    questions = _questions(table, [c.name for c in info.columns], conn, rng)
                finally:
                    conn.close()
                for n, (family, question, sql, tier, answer) in enumerate(questions):
                    fields = [f"st-{split}-{index}-{n}", _escape(question), context, answer, tier, family,
                              _escape(sql), table.domain]
                    lines.append("\t".join(fields))
            (folder / SPLIT_FILES[split]).write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
            counts[split] = len(lines) - 1
    finally:
        engine.close()
    return counts


def synth_table_folder(seed: int = 0, size: str = "default") -> Path:
    """The generated folder for ``seed`` and ``size`` in the cache, created atomically on first use."""
    from suites.wtq import SPLIT_FILES

    folder = cache_dir() / f"synth-table-{VERSION}-seed{seed}-{size}"
    if not all((folder / name).is_file() for name in SPLIT_FILES.values()):
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".synth-table-", dir=folder.parent))
        try:
            generate(staging, seed, size)
            try:
                os.replace(staging, folder)
            except OSError:  # another process won the race
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_synth_table(
    data: str | Path | None = None,
    *,
    split: str = "dev",
    seed: int = 0,
    size: str = "default",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Load synth-table (generating it into the cache if needed), or an exported copy at ``data``."""
    from suites.wtq import load_wtq

    folder = Path(data) if data else synth_table_folder(seed, size)
    suite = load_wtq(folder, split=split, db_dir=db_dir, skip_missing_db=skip_missing_db, limit=limit)
    suite.name = "synth-table"
    suite.tiers = list(TIERS)
    for example in suite.examples:
        example.suite = "synth-table"
    return suite
