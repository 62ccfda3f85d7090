"""The six table domains of synth-table: word lists, the table model and one generator per domain.

Each domain generator (``DOMAINS``) draws one table from a random stream:
league standings, city statistics, product lists, election results, film lists
and athletics results (4-40 rows; integer, decimal, date and text columns, some
empty cells, messy headers such as ``Area (km²)``, ``%`` or an empty one).
A :class:`Table` keeps typed values and, per column (:class:`Col`), what the
question families need to talk about it; ``table_csv`` writes it in the WTQ
CSV dialect, each cell formatted by ``cell_text``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def cell_text(value: Any, fmt: str) -> str:
    """A typed value as the CSV writes it (``""`` for an empty cell), in the column's format."""
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
    lines += [",".join(quote(cell_text(v, c.fmt)) for v, c in zip(row, table.cols)) for row in table.rows]
    return "\n".join(lines) + "\n"
