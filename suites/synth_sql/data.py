"""Draw one concrete database from a domain template: names, column subset and rows.

Everything comes from the ``random.Random`` passed in, consumed in a fixed order,
so the same seed gives the same database.

>>> import random
>>> from suites.synth_sql.domains import DOMAINS
>>> db = instantiate(DOMAINS["company"], "company_1", random.Random(7))
>>> [t.spec.key for t in db.tables], [t.name for t in db.tables]
(['department', 'employee', 'project', 'assignment'], ['division', 'employee', 'initiative', 'assignment'])
>>> db.tables[1].columns[2].name, db.tables[1].rows[0][:3]
('division_id', (1, 'Sofia Patel', 9))
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from suites.synth_sql import words as w
from suites.synth_sql.schema import Column, ColumnSpec, Database, DomainSpec, Table, TableSpec


def _unique(rng: random.Random, n: int, make: Callable[[random.Random], str]) -> list[str]:
    """``n`` distinct strings from ``make``; a numeral disambiguates when the space runs out."""
    out: list[str] = []
    seen: set[str] = set()
    misses = 0
    while len(out) < n:
        value = make(rng)
        if value in seen:
            misses += 1
            if misses < 40 * n:
                continue
            value = f"{value} {len(out) + 2}"
        seen.add(value)
        out.append(value)
    return out


def _flight_maker(rng: random.Random) -> Callable[[random.Random], str]:
    carriers = rng.sample(["SK", "LH", "AF", "BA", "IB", "KL", "AZ", "TP", "LO", "OS", "AY", "EI"], 2)
    return lambda r: f"{r.choice(carriers)}{r.randint(100, 2999)}"


LABELS: dict[str, Callable[[random.Random], str]] = {
    "person": lambda r: f"{r.choice(w.FIRST_NAMES)} {r.choice(w.LAST_NAMES)}",
    "title": lambda r: r.choice(["The {a} {n}", "{a} {n}", "{n} of the {a} {m}"]).format(
        a=r.choice(w.ADJECTIVES), n=r.choice(w.NOUNS), m=r.choice(w.NOUNS)),
    "band": lambda r: f"{r.choice(['The ', ''])}{r.choice(w.ADJECTIVES)} {r.choice(w.BAND_WORDS)}",
    "team": lambda r: f"{r.choice(w.CITIES)} {r.choice(w.MASCOTS)}",
    "product": lambda r: f"{r.choice(w.PRODUCT_ADJ)} {r.choice(w.PRODUCT_NOUNS)}",
    "dish": lambda r: f"{r.choice(w.DISH_STYLES)} {r.choice(w.DISHES)}",
    "course": lambda r: f"{r.choice(w.COURSE_LEVELS)} {r.choice(w.SUBJECTS)}",
    "dept": lambda r: r.choice(w.DEPARTMENTS),
    "airport": lambda r: f"{r.choice(w.CITIES)} {r.choice(['International', 'Airport', 'Central'])}",
    "aircraft": lambda r: r.choice(w.AIRCRAFT),
    "project": lambda r: f"{r.choice(w.NOUNS)} {r.choice(['Initiative', 'Program', 'Platform', 'Upgrade', 'Migration'])}",
    "restaurant": lambda r: r.choice(["The {a} {n}", "{a} {n} {k}"]).format(
        a=r.choice(w.ADJECTIVES), n=r.choice(w.NOUNS), k=r.choice(["Bistro", "Kitchen", "Grill", "Cafe", "Diner"])),
}


def _skewed_weights(n: int, rng: random.Random) -> list[float]:
    """Zipf-like weights in a random order: some values are common, some rare."""
    weights = [1 / (rank + 1) ** 0.8 for rank in range(n)]
    rng.shuffle(weights)
    return weights


def _snap(spec: ColumnSpec, x: float) -> int | float:
    steps = round((min(max(x, spec.low), spec.high) - spec.low) / spec.step)
    value = spec.low + steps * spec.step
    return round(value, 2) if spec.kind == "real" else int(value)


class _ColumnDrawer:
    """Draws the values of one column; per-instance choices (subset, weights) are fixed up front."""

    def __init__(self, spec: ColumnSpec, rng: random.Random, parent_ids: list[int] | None = None):
        self.spec, self.rng = spec, rng
        self.choices: list[Any] = []
        self.weights: list[float] = []
        if spec.kind == "cat":
            k = min(len(spec.choices), rng.randint(4, 8))
            self.choices = rng.sample(list(spec.choices), k)
            self.weights = _skewed_weights(k, rng)
        elif spec.kind == "code":
            self.choices = [c for c, _ in spec.choices]
            self.weights = _skewed_weights(len(self.choices), rng)
        elif spec.kind == "fk":
            assert parent_ids
            self.choices = list(parent_ids)
            self.weights = _skewed_weights(len(parent_ids), rng)
            # some parents get no children, so "which X have no Y" has answers
            for i in rng.sample(range(len(parent_ids)), len(parent_ids) // 6):
                self.weights[i] = 0.0

    def draw(self) -> Any:
        spec, rng = self.spec, self.rng
        if spec.nulls and rng.random() < spec.nulls:
            return None
        if self.choices:
            return rng.choices(self.choices, self.weights)[0]
        if spec.kind == "date":
            return f"{rng.randint(int(spec.low), int(spec.high)):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if spec.normal:
            return _snap(spec, rng.gauss((spec.low + spec.high) / 2, (spec.high - spec.low) / 5))
        return _snap(spec, rng.uniform(spec.low, spec.high))


def _key_name(table_name: str) -> str:
    return (table_name[:-1] if table_name.endswith("s") else table_name) + "_id"


def instantiate(domain: DomainSpec, db_id: str, rng: random.Random) -> Database:
    """One database of ``domain``: table/column naming variants, optional parts and rows."""
    specs = [t for t in domain.tables if not t.optional or rng.random() < 0.6]
    names = {t.key: rng.choice(t.names) for t in specs}
    short_keys = rng.random() < 0.4  # primary keys named "id" instead of "<table>_id"
    tables: dict[str, Table] = {}
    for spec in specs:
        tables[spec.key] = table = _table(spec, names, short_keys, rng)
        _fill(table, tables, rng)
    return Database(db_id, domain.name, list(tables.values()))


def _table(spec: TableSpec, names: dict[str, str], short_keys: bool, rng: random.Random) -> Table:
    name = names[spec.key]
    columns: list[Column] = []
    for col in spec.columns:
        if col.optional and rng.random() < 0.35:
            continue
        if col.kind == "pk":
            col_name = "id" if short_keys else _key_name(name)
        elif col.kind == "fk":
            col_name = _key_name(names[col.ref])
        else:
            col_name = rng.choice(col.names)
        if any(c.name == col_name for c in columns):
            col_name = col.key
        columns.append(Column(col, col_name, names.get(col.ref, "")))
    return Table(spec, name, columns)


def _fill(table: Table, done: dict[str, Table], rng: random.Random) -> None:
    n = rng.randint(*table.spec.rows)
    drawers: list[_ColumnDrawer | None] = []
    for col in table.columns:
        if col.kind in ("pk", "label"):
            drawers.append(None)
        elif col.kind == "fk":
            parent = done[col.spec.ref]
            drawers.append(_ColumnDrawer(col.spec, rng, [row[0] for row in parent.rows]))
        else:
            drawers.append(_ColumnDrawer(col.spec, rng))
    label = table.label
    labels = _unique(rng, n, _label_maker(label.spec.gen, rng)) if label else []
    fk_at = [i for i, c in enumerate(table.columns) if c.kind == "fk"]
    seen_pairs: set[tuple[Any, ...]] = set()
    for i in range(n):
        for _attempt in range(20):
            row = [d.draw() if d else (i + 1 if c.kind == "pk" else labels[i]) for c, d in zip(table.columns, drawers)]
            pair = tuple(row[j] for j in fk_at)
            # a link table (two parents) lists each pair once, as an enrollment would
            if len(fk_at) < 2 or pair not in seen_pairs:
                break
        seen_pairs.add(pair)
        table.rows.append(tuple(row))


def _label_maker(gen: str, rng: random.Random) -> Callable[[random.Random], str]:
    return _flight_maker(rng) if gen == "flight" else LABELS[gen]
