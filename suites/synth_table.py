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
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.suite import DataError, Suite
from suites.tiny import cache_dir

VERSION = "v1"
TIERS = ["easy", "medium", "hard"]
SPLITS = ("train", "dev", "test")
# tables per split (train, dev, test); each table gets QUESTIONS_PER_TIER questions of each tier family
SIZES = {"small": (12, 4, 4), "default": (150, 40, 40), "large": (1200, 150, 150)}
QUESTIONS_PER_TIER = 3
MAX_ANSWER_VALUES = 8
TSV_COLUMNS = ("id", "utterance", "context", "targetValue", "tier", "family", "sql")

FIRST = ("Anna Ben Carla David Elena Felix Greta Hugo Ines Jonas Kira Leo Maria Nils Olga Pablo Rosa Sven "
         "Tara Umar Vera Wim Xenia Yusuf Zoe Ali Beth Chen Dina Emil").split()
LAST = ("Adler Berg Costa Dahl Evans Fischer Garcia Hansen Ito Jensen Klein Lopez Moreau Novak Olsen Petrov "
        "Quinn Rossi Silva Tanaka Ueda Vogel Weber Young Zeller Brandt Castro Duarte Eriksen Fontaine").split()
PLACE_HEAD = "Ash Bel Brook Clay Cor Dun Elm Fal Gran Har Kel Lor Mar Nor Oak Ros Stan Tor Val West".split()
PLACE_TAIL = "ford haven mouth ton ville burg field dale wick stead port more".split()
COUNTRIES = "France Italy Spain Germany Brazil Japan Canada Kenya Norway Chile India Egypt".split()
CLUB_SUFFIX = "United City Rovers Athletic Wanderers Town Albion Rangers".split()
PARTIES = ["Green Party", "Labour", "Liberal Democrats", "Conservative", "Independent", "Reform", "Pirate Party"]
BRANDS = "Astra Nova Pixel Zen Volt Aero Terra Luma".split()
GADGETS = {"Phone": "Phones", "Tab": "Tablets", "Book": "Laptops", "Watch": "Wearables", "Cam": "Cameras"}
ADJECTIVES = "Silent Last Golden Broken Hidden Crimson Midnight Lost Iron Paper Quiet Distant".split()
NOUNS = "River Crown Garden Signal Harbor Promise Mirror Winter Road Empire Letter Island".split()


@dataclass(frozen=True)
class Col:
    header: str  # the CSV header
    kind: str  # key (unique names), cat (repeated text), num, date, text, rank
    noun: str = ""  # how questions name it: "What is the {noun} of X?" (cat: singular)
    fmt: str = "int"  # int, comma (thousands separators), float1, float2, date, text
    plural: str = ""  # cat columns: "How many different {plural} are listed?"
    additive: bool = False  # a total makes sense ("total number of votes")


@dataclass
class Table:
    domain: str
    entity: str  # singular noun of a row
    entities: str
    cat_phrase: str  # "from {v}"
    cols: list[Col]
    rows: list[list[Any]] = field(default_factory=list)  # typed values, None = empty cell


def _people(rng: random.Random, n: int) -> list[str]:
    return [f"{a} {b}" for a, b in rng.sample([(a, b) for a in FIRST for b in LAST], n)]


def _places(rng: random.Random, n: int) -> list[str]:
    return [a + b for a, b in rng.sample([(a, b) for a in PLACE_HEAD for b in PLACE_TAIL], n)]


def _maybe(rng: random.Random, value: Any, p: float = 0.08) -> Any:
    return None if rng.random() < p else value


def _date(rng: random.Random, start: int, end: int) -> dt.date:
    return dt.date(start, 1, 1) + dt.timedelta(days=rng.randrange((dt.date(end, 12, 31) - dt.date(start, 1, 1)).days))


def _league(rng: random.Random) -> Table:
    n = rng.randint(8, 20)
    played = 2 * (n - 1)
    teams = [f"{p} {rng.choice(CLUB_SUFFIX)}" for p in _places(rng, n)]
    rows = []
    for team in teams:
        won = rng.randint(0, played)
        drawn = rng.randint(0, played - won)
        goals_for = rng.randint(won, 3 * won + drawn + 5)
        rows.append([team, played, won, drawn, played - won - drawn, goals_for, rng.randint(5, 70), 3 * won + drawn])
    rows.sort(key=lambda r: (-r[7], -(r[5] - r[6]), r[0]))
    cols = [Col("Pos", "rank", "position"), Col("Team", "key"), Col("Played", "num", "number of games played"),
            Col("Won", "num", "number of wins", additive=True), Col("Drawn", "num", "number of draws", additive=True),
            Col("Lost", "num", "number of losses", additive=True), Col("Goals for", "num", "goals scored", additive=True),
            Col("Goals against", "num", "goals conceded", additive=True), Col("Points", "num", "points", additive=True)]
    return Table("league", "team", "teams", "", cols, [[i + 1, *r] for i, r in enumerate(rows)])


def _cities(rng: random.Random) -> Table:
    n = rng.randint(5, 40)
    countries = rng.sample(COUNTRIES, rng.randint(2, 5))
    rows = [[city, rng.choice(countries), rng.randint(20, 4000) * 1000 + rng.randint(0, 999),
             _maybe(rng, round(rng.uniform(15, 900), 1)), rng.randint(800, 1950),
             _maybe(rng, rng.randint(-5, 2400)), _maybe(rng, rng.choice(_people(rng, 1)), 0.2)]
            for city in _places(rng, n)]
    cols = [Col("City", "key"), Col("Country", "cat", "country", "text", "countries"), Col("Population", "num", "population", "comma", additive=True),
            Col("Area (km²)", "num", "area", "float1"), Col("Founded", "num", "founding year"),
            Col("Elevation (m)", "num", "elevation"), Col("Mayor", "text", "mayor", "text")]
    return Table("cities", "city", "cities", "in {v}", cols, rows)


def _products(rng: random.Random) -> Table:
    n = rng.randint(6, 30)
    names = rng.sample([(b, g, k) for b in BRANDS for g in GADGETS for k in range(1, 6)], n)
    rows = [[f"{b} {g} {k}", GADGETS[g], round(rng.uniform(29, 1999), 2), rng.randint(500, 250000),
             _maybe(rng, round(rng.uniform(2.0, 5.0), 1)), _date(rng, 2012, 2024),
             _maybe(rng, rng.choice(["Discontinued", "Limited edition", "Refurbished"]), 0.75)]
            for b, g, k in names]
    cols = [Col("Model", "key"), Col("Category", "cat", "category", "text", "categories"), Col("Price ($)", "num", "price", "float2"),
            Col("Units sold", "num", "number of units sold", "comma", additive=True), Col("Rating", "num", "rating", "float1"),
            Col("Release date", "date", "release date", "date"), Col("Notes", "text")]
    return Table("products", "product", "products", "in the {v} category", cols, rows)


def _elections(rng: random.Random) -> Table:
    n = rng.randint(4, 12)
    votes = [rng.randint(800, 90000) for _ in range(n)]
    total = sum(votes)
    rows = sorted(([name, rng.choice(PARTIES), v, round(100 * v / total, 2), rng.randint(0, 12)]
                   for name, v in zip(_people(rng, n), votes)), key=lambda r: (-r[2], r[0]))
    for i, row in enumerate(rows):
        row.append("Yes" if i < max(1, n // 3) else "No")
    cols = [Col("Candidate", "key"), Col("Party", "cat", "party", "text", "parties"), Col("Votes", "num", "number of votes", "comma", additive=True),
            Col("%", "num", "vote share", "float2"), Col("Seats", "num", "number of seats", additive=True), Col("Elected", "text", "election result", "text")]
    return Table("elections", "candidate", "candidates", "from the {v}", cols, rows)


def _films(rng: random.Random) -> Table:
    n = rng.randint(6, 25)
    titles = rng.sample([f"The {a} {b}" for a in ADJECTIVES for b in NOUNS], n)
    directors = _people(rng, rng.randint(2, 5))
    rows = sorted(([rng.randint(1975, 2023), title, rng.choice(directors), rng.choice(FIRST),
                    _maybe(rng, round(rng.uniform(0.5, 450), 1), 0.15), _maybe(rng, "Cameo", 0.85)]
                   for title in titles), key=lambda r: (r[0], r[1]))
    cols = [Col("Year", "num", "release year"), Col("Title", "key"), Col("Director", "cat", "director", "text", "directors"),
            Col("Role", "text", "role", "text"), Col("Box office\n(millions)", "num", "box office in millions", "float1", additive=True), Col("Notes", "text")]
    return Table("films", "film", "films", "directed by {v}", cols, rows)


def _athletics(rng: random.Random) -> Table:
    n = rng.randint(8, 16)
    times = sorted(rng.sample(range(980, 1120), n))
    rows = [[i + 1, name, rng.choice(COUNTRIES[:6]), t / 100, _date(rng, 2015, 2023), _maybe(rng, "PB", 0.7)]
            for i, (name, t) in enumerate(zip(_people(rng, n), times))]
    cols = [Col("Rank", "rank", "rank"), Col("Athlete", "key"), Col("Nation", "cat", "nation", "text", "nations"),
            Col("Time", "num", "time", "float2"), Col("Date", "date", "date", "date"), Col("", "text")]
    return Table("athletics", "athlete", "athletes", "from {v}", cols, rows)


DOMAINS: list[Callable[[random.Random], Table]] = [_league, _cities, _products, _elections, _films, _athletics]


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return ""
    if fmt == "comma":
        return f"{value:,}"
    if fmt in ("float1", "float2"):
        return f"{value:.{fmt[-1]}f}"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def table_csv(table: Table) -> str:
    """The table in the WTQ CSV dialect: every field quoted, ``\\`` and ``"`` escaped with a backslash."""
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [",".join(quote(c.header) for c in table.cols)]
    lines += [",".join(quote(_cell(v, c.fmt)) for v, c in zip(row, table.cols)) for row in table.rows]
    return "\n".join(lines) + "\n"


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


@dataclass
class _Ask:
    """What the question families see: the table, its SQL names, and a random source."""

    table: Table
    names: list[str]
    rng: random.Random

    def cols(self, *kinds: str) -> list[int]:
        return [i for i, c in enumerate(self.table.cols) if c.kind in kinds and c.noun]

    def present(self, i: int) -> list[Any]:
        return [r[i] for r in self.table.rows if r[i] is not None]

    def key(self) -> int:
        return next(i for i, c in enumerate(self.table.cols) if c.kind == "key")

    def show(self, value: Any, i: int) -> str:
        return _cell(value, self.table.cols[i].fmt)

    def lit(self, value: Any, i: int) -> str:
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, dt.date):
            return f"DATE '{value.isoformat()}'"
        return self.show(value, i).replace(",", "")

    def pick_row(self, *need: int) -> list[Any] | None:
        rows = [r for r in self.table.rows if all(r[i] is not None for i in need)]
        return self.rng.choice(rows) if rows else None

    def threshold(self, i: int) -> Any | None:
        values = sorted(set(self.present(i)))
        return self.rng.choice(values[1:-1]) if len(values) >= 4 else None

    def say(self, *variants: str, **fields: str) -> str:
        return self.rng.choice(variants).format(**fields)


Family = Callable[[_Ask], "tuple[str, str] | None"]  # (question, hidden SQL) or None when it does not apply


def _num_col(a: _Ask, additive: bool = False) -> int | None:
    cols = [i for i in a.cols("num") if a.table.cols[i].additive or not additive]
    return a.rng.choice(cols) if cols else None


def f_lookup(a: _Ask) -> tuple[str, str] | None:
    k, c = a.key(), a.rng.choice(a.cols("num", "date", "cat", "text", "rank"))
    row = a.pick_row(c)
    if row is None:
        return None
    q = a.say("What is the {n} of {k}?", "What was {k}'s {n}?", "Tell me the {n} of {k}.",
              n=a.table.cols[c].noun, k=row[k])
    return q, f"SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(row[k], k)}"


def f_extreme(a: _Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    high = a.rng.random() < 0.5
    q = a.say("What is the {w} {n}?", "What was the {w} {n} in the table?", w="highest" if high else "lowest",
              n=a.table.cols[c].noun)
    return q, f"SELECT {'MAX' if high else 'MIN'}({a.names[c]}) FROM t"


def f_count_threshold(a: _Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    x = a.threshold(c)
    if x is None:
        return None
    above = a.rng.random() < 0.5
    q = a.say("How many {es} have {n} {d} {x}?", "How many {es} had {n} {d} {x}?", es=a.table.entities,
              n=a.table.cols[c].noun, d="above" if above else "below", x=a.show(x, c))
    return q, f"SELECT COUNT(*) FROM t WHERE {a.names[c]} {'>' if above else '<'} {a.lit(x, c)}"


def _cat_value(a: _Ask) -> tuple[int, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.rng.choice(cats)
    return c, a.rng.choice(sorted(set(a.present(c))))


def f_count_cat(a: _Ask) -> tuple[str, str] | None:
    cv = _cat_value(a)
    if cv is None:
        return None
    c, v = cv
    where = a.table.cat_phrase.format(v=v)
    q = a.say("How many {es} are {w}?", "How many of the {es} are {w}?", "What is the number of {es} {w}?",
              es=a.table.entities, w=where)
    return q, f"SELECT COUNT(*) FROM t WHERE {a.names[c]} = {a.lit(v, c)}"


def f_list_cat(a: _Ask) -> tuple[str, str] | None:
    cv = _cat_value(a)
    if cv is None:
        return None
    c, v = cv
    q = a.say("Which {es} are {w}?", "List the {es} {w}.", es=a.table.entities, w=a.table.cat_phrase.format(v=v))
    return q, f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} = {a.lit(v, c)}"


def f_count_distinct(a: _Ask) -> tuple[str, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.rng.choice(cats)
    q = a.say("How many different {p} are listed?", "How many distinct {p} appear in the table?", p=a.table.cols[c].plural)
    return q, f"SELECT COUNT(DISTINCT {a.names[c]}) FROM t"


def _sum(a: _Ask, c: int, inner: str) -> str:
    return f"ROUND({inner}, 2)" if a.table.cols[c].fmt.startswith("float") else inner


def f_sum_cat(a: _Ask) -> tuple[str, str] | None:
    cv, c = _cat_value(a), _num_col(a, additive=True)
    if cv is None or c is None:
        return None
    cat, v = cv
    q = a.say("What is the total {n} of {es} {w}?", "What is the combined {n} of the {es} {w}?",
              n=a.table.cols[c].noun, es=a.table.entities, w=a.table.cat_phrase.format(v=v))
    return q, f"SELECT {_sum(a, c, f'SUM({a.names[c]})')} FROM t WHERE {a.names[cat]} = {a.lit(v, cat)}"


def f_list_threshold(a: _Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    x = a.threshold(c)
    if x is None:
        return None
    q = a.say("Which {es} have {n} above {x}?", "List the {es} with {n} greater than {x}.",
              es=a.table.entities, n=a.table.cols[c].noun, x=a.show(x, c))
    return q, f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} > {a.lit(x, c)}"


def f_argmax(a: _Ask) -> tuple[str, str] | None:
    c = a.rng.choice(a.cols("num", "date"))
    high = a.rng.random() < 0.5
    word = ("latest" if high else "earliest") if a.table.cols[c].kind == "date" else ("highest" if high else "lowest")
    q = a.say("Which {e} has the {w} {n}?", "Which {e} had the {w} {n}?", e=a.table.entity, w=word, n=a.table.cols[c].noun)
    return q, (f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} = "
               f"(SELECT {'MAX' if high else 'MIN'}({a.names[c]}) FROM t)")


def f_compare_two(a: _Ask) -> tuple[str, str] | None:
    c, k = _num_col(a), a.key()
    rows = [r for r in a.table.rows if r[c] is not None]
    if len(rows) < 2:
        return None
    r1, r2 = a.rng.sample(rows, 2)
    if r1[c] == r2[c]:
        return None
    q = a.say("Which has higher {n}, {x} or {y}?", "Which is greater in {n}: {x} or {y}?",
              n=a.table.cols[c].noun, x=r1[k], y=r2[k])
    return q, (f"SELECT {a.names[k]} FROM t WHERE {a.names[k]} IN ({a.lit(r1[k], k)}, {a.lit(r2[k], k)}) "
               f"ORDER BY {a.names[c]} DESC LIMIT 1")


def f_count_two(a: _Ask) -> tuple[str, str] | None:
    cv, c = _cat_value(a), _num_col(a)
    x = a.threshold(c) if c is not None else None
    if cv is None or x is None:
        return None
    cat, v = cv
    q = a.say("How many {es} {w} have {n} above {x}?", es=a.table.entities, w=a.table.cat_phrase.format(v=v),
              n=a.table.cols[c].noun, x=a.show(x, c))
    return q, f"SELECT COUNT(*) FROM t WHERE {a.names[cat]} = {a.lit(v, cat)} AND {a.names[c]} > {a.lit(x, c)}"


def f_range(a: _Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    q = a.say("What is the difference between the highest and the lowest {n}?",
              "How far apart are the largest and smallest {n}?", n=a.table.cols[c].noun)
    return q, f"SELECT {_sum(a, c, f'MAX({a.names[c]}) - MIN({a.names[c]})')} FROM t"


def f_above_average(a: _Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    q = a.say("Which {es} have above-average {n}?", "List the {es} whose {n} is higher than average.",
              es=a.table.entities, n=a.table.cols[c].noun)
    return q, f"SELECT {a.names[a.key()]} FROM t WHERE {a.names[c]} > (SELECT AVG({a.names[c]}) FROM t)"


def f_top_group(a: _Ask) -> tuple[str, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.rng.choice(cats)
    counts = sorted(_group_counts(a, c).values(), reverse=True)
    if len(counts) < 2 or counts[0] == counts[1]:
        return None
    q = a.say("Which {c} has the most {es}?", "Which {c} appears most often?", c=a.table.cols[c].noun, es=a.table.entities)
    return q, f"SELECT {a.names[c]} FROM t GROUP BY {a.names[c]} ORDER BY COUNT(*) DESC LIMIT 1"


def _group_counts(a: _Ask, c: int) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for v in a.present(c):
        counts[v] = counts.get(v, 0) + 1
    return counts


def f_how_many_more(a: _Ask) -> tuple[str, str] | None:
    c, k = _num_col(a, additive=True), a.key()
    rows = [r for r in a.table.rows if c is not None and r[c] is not None]
    if len(rows) < 2:
        return None
    r1, r2 = sorted(a.rng.sample(rows, 2), key=lambda r: r[c], reverse=True)
    if r1[c] == r2[c]:
        return None
    q = a.say("How much higher was the {n} of {x} than that of {y}?", "By how much did {x} exceed {y} in {n}?",
              n=a.table.cols[c].noun, x=r1[k], y=r2[k])
    inner = (f"(SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(r1[k], k)}) - "
             f"(SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(r2[k], k)})")
    return q, f"SELECT {_sum(a, c, inner)}"


def f_argmax_in_cat(a: _Ask) -> tuple[str, str] | None:
    cv, c = _cat_value(a), _num_col(a)
    if cv is None:
        return None
    cat, v = cv
    high = a.rng.random() < 0.5
    agg, cond = ("MAX" if high else "MIN"), f"{a.names[cat]} = {a.lit(v, cat)}"
    q = a.say("Among the {es} {w}, which has the {h} {n}?", "Of the {es} {w}, which had the {h} {n}?",
              es=a.table.entities, w=a.table.cat_phrase.format(v=v), h="highest" if high else "lowest",
              n=a.table.cols[c].noun)
    return q, (f"SELECT {a.names[a.key()]} FROM t WHERE {cond} AND {a.names[c]} = "
               f"(SELECT {agg}({a.names[c]}) FROM t WHERE {cond})")


def f_count_beyond_row(a: _Ask) -> tuple[str, str] | None:
    c, k = _num_col(a), a.key()
    row = a.pick_row(c)
    if row is None:
        return None
    q = a.say("How many {es} have higher {n} than {x}?", "How many {es} exceed {x} in {n}?",
              es=a.table.entities, n=a.table.cols[c].noun, x=row[k])
    return q, (f"SELECT COUNT(*) FROM t WHERE {a.names[c]} > "
               f"(SELECT {a.names[c]} FROM t WHERE {a.names[k]} = {a.lit(row[k], k)})")


def f_next_rank(a: _Ask) -> tuple[str, str] | None:
    ranks, k = a.cols("rank"), a.key()
    if not ranks:
        return None
    r = ranks[0]
    row = a.rng.choice(a.table.rows[:-1])
    q = a.say("Which {e} finished right after {x}?", "Who was ranked directly below {x}?", e=a.table.entity, x=row[k])
    return q, (f"SELECT {a.names[k]} FROM t WHERE {a.names[r]} = "
               f"(SELECT {a.names[r]} FROM t WHERE {a.names[k]} = {a.lit(row[k], k)}) + 1")


def f_second_highest(a: _Ask) -> tuple[str, str] | None:
    c = _num_col(a)
    n = a.names[c]
    q = a.say("Which {e} has the second highest {n}?", "Which {e} ranks second by {n}?",
              e=a.table.entity, n=a.table.cols[c].noun)
    return q, (f"SELECT {a.names[a.key()]} FROM t WHERE {n} = "
               f"(SELECT MAX({n}) FROM t WHERE {n} < (SELECT MAX({n}) FROM t))")


def f_group_most(a: _Ask) -> tuple[str, str] | None:
    cats = a.cols("cat")
    if not cats:
        return None
    c = a.names[a.rng.choice(cats)]
    q = a.say("Which {c} has the largest number of {es}?", c=a.table.cols[a.names.index(c)].noun, es=a.table.entities)
    return q, (f"SELECT {c} FROM t GROUP BY {c} HAVING COUNT(*) = "
               f"(SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM t GROUP BY {c}))")


FAMILIES: dict[str, list[Family]] = {
    "easy": [f_lookup, f_lookup, f_extreme, f_count_threshold, f_count_cat, f_list_cat, f_count_distinct,
             f_sum_cat, f_list_threshold],
    "medium": [f_argmax, f_argmax, f_compare_two, f_count_two, f_range, f_above_average, f_top_group],
    "hard": [f_how_many_more, f_argmax_in_cat, f_count_beyond_row, f_next_rank, f_second_highest, f_group_most],
}


def _questions(table: Table, names: list[str], conn: Any, rng: random.Random) -> list[tuple[str, str, str, str, str]]:
    """(family, question, sql, tier, answer) for one table: QUESTIONS_PER_TIER drawn from each tier's families."""
    from harness.execution.duckdb_tables import run_table_query
    from harness.metrics.table_qa import result_values
    from harness.metrics.wtq_eval import check_denotation, format_answer_list, parse_answer_list

    ask = _Ask(table, names, rng)
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
