"""Build a whole dataset: databases per split, and tier-balanced, validated questions per database.

>>> data = build(seed=0, size="tiny")
>>> sorted(data.splits), len(data.databases)
(['dev', 'pretrain', 'test', 'train'], 8)
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import suites.synth_sql.intents_easy  # noqa: F401  (the intent modules register themselves)
import suites.synth_sql.intents_extra  # noqa: F401
import suites.synth_sql.intents_hard  # noqa: F401
import suites.synth_sql.intents_medium  # noqa: F401
from suites.synth_sql.context import INTENTS, Ctx, NoCandidate
from suites.synth_sql.data import instantiate
from suites.synth_sql.domains import DOMAINS
from suites.synth_sql.schema import Database
from suites.synth_sql.validate import check

TIERS = ("easy", "medium", "hard", "extra")
SPLITS = ("train", "dev", "test", "pretrain")


@dataclass(frozen=True)
class Size:
    """Databases per split, and questions per database (pretraining databases get more)."""

    train: int
    dev: int
    test: int
    pretrain: int
    questions: int
    pretrain_questions: int

    def databases(self, split: str) -> int:
        return getattr(self, split)


SIZES = {
    "tiny": Size(train=3, dev=2, test=2, pretrain=1, questions=12, pretrain_questions=24),
    "default": Size(train=20, dev=6, test=6, pretrain=8, questions=64, pretrain_questions=128),
    "large": Size(train=120, dev=20, test=20, pretrain=80, questions=96, pretrain_questions=192),
}


@dataclass
class Item:
    """One question with its gold SQL."""

    db_id: str
    question: str
    query: str
    evidence: str
    hardness: str
    intent: str


@dataclass
class Dataset:
    seed: int
    size: str
    databases: dict[str, Database]
    split_dbs: dict[str, list[str]]
    splits: dict[str, list[Item]]
    rejected: Counter[str] = field(default_factory=Counter)


def size_spec(size: str) -> Size:
    if size not in SIZES:
        raise ValueError(f"unknown synth-sql size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size]


def plan(seed: int, size: str) -> dict[str, list[tuple[str, str]]]:
    """(db_id, domain) per split: each split cycles through the domains from a random start.

    >>> plan(0, "tiny")["dev"]
    [('company_1', 'company'), ('restaurants_1', 'restaurants')]
    """
    spec = size_spec(size)
    rng = random.Random(f"synth-sql:{seed}:plan")
    order = sorted(DOMAINS)
    rng.shuffle(order)
    used: Counter[str] = Counter()
    out: dict[str, list[tuple[str, str]]] = {}
    for split in SPLITS:
        start = rng.randrange(len(order))
        out[split] = []
        for k in range(spec.databases(split)):
            domain = order[(start + k) % len(order)]
            used[domain] += 1
            out[split].append((f"{domain}_{used[domain]}", domain))
    return out


@lru_cache(maxsize=4)
def build(seed: int = 0, size: str = "default") -> Dataset:
    """The dataset for (seed, size); the same arguments always give the same dataset."""
    spec = size_spec(size)
    data = Dataset(seed, size, {}, {}, {})
    for split, dbs in plan(seed, size).items():
        data.split_dbs[split] = [db_id for db_id, _ in dbs]
        data.splits[split] = []
        n = spec.pretrain_questions if split == "pretrain" else spec.questions
        for db_id, domain in dbs:
            db = instantiate(DOMAINS[domain], db_id, random.Random(f"{seed}:{db_id}:data"))
            data.databases[db_id] = db
            data.splits[split] += questions_for(db, n, random.Random(f"{seed}:{db_id}:questions"), data.rejected)
    return data


def questions_for(db: Database, n: int, rng: random.Random, rejected: Counter[str] | None = None) -> list[Item]:
    """``n`` validated questions on ``db``, a quarter in each Spider hardness tier (as measured)."""
    rejected = Counter() if rejected is None else rejected
    conn, schema = db.connect(), db.spider_schema()
    quota = {tier: n // 4 + (i < n % 4) for i, tier in enumerate(TIERS)}
    have: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    seen: set[str] = set()
    items: list[Item] = []
    try:
        for _ in range(40 * n):
            short = [tier for tier in TIERS if have[tier] < quota[tier]]
            if not short:
                break
            aim = rng.choice(short)
            # sorted by name: the registration order depends on which module was imported first
            options = sorted((name, fn) for tier, name, fn in INTENTS if tier == aim)
            fewest = min(tried[name] for name, _ in options)
            name, fn = rng.choice([(nm, f) for nm, f in options if tried[nm] == fewest])
            tried[name] += 1
            ctx = Ctx(db, rng)
            try:
                made = fn(ctx)
            except NoCandidate:
                made = None
            if made is None:
                rejected["not applicable"] += 1
                continue
            query, question = made
            sql = query.sql()
            if sql in seen or question in seen:
                rejected["duplicate"] += 1
                continue
            verdict = check(conn, schema, query)
            if not verdict.ok:
                rejected[verdict.reason.split(":")[0]] += 1
                continue
            if have[verdict.hardness] >= quota[verdict.hardness]:
                rejected["tier full"] += 1
                continue
            seen.update((sql, question))
            have[verdict.hardness] += 1
            table = db.table(query.from_.split()[0])
            evidence = ctx.evidence() or f"{table.plural} refers to the {table.name} table"
            items.append(Item(db.db_id, question, sql, evidence, verdict.hardness, name))
    finally:
        conn.close()
    return items
