"""The type a SQLite column gets on another engine, chosen from the values it actually holds.

SQLite is dynamically typed: a column declared ``INTEGER`` may hold ``'N/A'``,
one declared ``DATE`` may hold ``'2020-02-30'``. PostgreSQL, DuckDB and MySQL
reject such values, so each column's type comes from its data:

=====================================  ================  =========  ==============
what the non-NULL values are           PostgreSQL        DuckDB     MySQL
=====================================  ================  =========  ==============
all integers                           BIGINT            BIGINT     BIGINT
reals (with or without integers)       DOUBLE PRECISION  DOUBLE     DOUBLE
all blobs                              BYTEA             BLOB       LONGBLOB
all text, declared ``*DATE*`` and
every value a ``YYYY-MM-DD`` date      DATE              DATE       DATE
all text, declared DATETIME/TIMESTAMP
and every value ``YYYY-MM-DD HH:MM:SS``
(optionally ``.ffffff``, six digits)   TIMESTAMP         TIMESTAMP  DATETIME(6)
any other mix, or text                 TEXT              VARCHAR    VARCHAR(n) or
                                                                    LONGTEXT
=====================================  ================  =========  ==============

MySQL's text type depends on the longest value (``ColumnProfile.longest``):
``VARCHAR(n)`` while it fits an index key (at most ``MYSQL_MAX_VARCHAR``, 768
characters: 3072 bytes of utf8mb4), so the column can hold a primary or
foreign key, else ``LONGTEXT``. ``n`` is the longest value's length but at
least ``MYSQL_MIN_VARCHAR`` (64): a column that may hold more than 255 bytes is
one InnoDB can move off the row's page, so a table of many short text columns
does not pass InnoDB's row-size limit.

A column of NULLs only takes its declared type's SQLite affinity: ``INT``
BIGINT, ``REAL``/``FLOA``/``DOUB`` DOUBLE, ``BLOB`` a blob, else text.

A column that mixes text with numbers or blobs becomes text, each value in its
SQLite text form (``CAST(x AS TEXT)``: ``1.0`` stays ``'1.0'``); the loader
reads such columns through that cast. A type that departs from the declared one
comes with a ``reason`` for the load report.
"""

from __future__ import annotations

import datetime
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "MYSQL_MAX_VARCHAR",
    "MYSQL_MIN_VARCHAR",
    "ColumnProfile",
    "ColumnType",
    "LossyText",
    "affinity",
    "choose_type",
    "decode_text",
]

_ENGINES = ("postgresql", "duckdb", "mysql")
_TYPES: dict[str, tuple[str, str, str]] = {
    "integer": ("BIGINT", "BIGINT", "BIGINT"),
    "real": ("DOUBLE PRECISION", "DOUBLE", "DOUBLE"),
    "blob": ("BYTEA", "BLOB", "LONGBLOB"),
    "date": ("DATE", "DATE", "DATE"),
    "timestamp": ("TIMESTAMP", "TIMESTAMP", "DATETIME(6)"),
    "text": ("TEXT", "VARCHAR", "LONGTEXT"),
}
_CLASS = {int: "integer", float: "real", str: "text", bytes: "blob"}
MYSQL_MAX_VARCHAR = 768  # characters: 3072 bytes of utf8mb4, InnoDB's longest index key
MYSQL_MIN_VARCHAR = 64  # over 255 bytes, so InnoDB may store the value off the row's page
# The longest text SQLite writes for a number: a 64-bit integer has at most 20
# characters, a double at most 17 digits, sign, point and exponent ("e-308").
_NUMBER_TEXT = 25


class LossyText(str):
    """Text that was not valid UTF-8 in SQLite; its invalid bytes were dropped."""


def decode_text(raw: bytes) -> str:
    """A SQLite ``text_factory``: UTF-8 text, dropping invalid bytes as Spider's evaluator does.

    A value that lost bytes comes back as :class:`LossyText`, so it can be counted.

    >>> decode_text(b"caf\\xc3\\xa9"), decode_text(b"caf\\xe9")
    ('café', 'caf')
    >>> isinstance(decode_text(b"caf\\xe9"), LossyText)
    True
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return LossyText(raw.decode("utf-8", errors="ignore"))


def affinity(declared: str) -> str:
    """SQLite's type affinity for a declared column type (section 3.1 of its datatype docs).

    >>> [affinity(t) for t in ["INT", "varchar(20)", "", "DOUBLE", "DATE", "decimal(10,2)"]]
    ['integer', 'text', 'blob', 'real', 'numeric', 'numeric']
    """
    upper = declared.upper()
    if "INT" in upper:
        return "integer"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in upper or not upper.strip():
        return "blob"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _temporal(declared: str) -> str | None:
    upper = declared.upper()
    if "DATETIME" in upper or "TIMESTAMP" in upper:
        return "timestamp"
    if "DATE" in upper:
        return "date"
    return None


def _is_date(value: str) -> bool:
    try:
        return datetime.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _is_timestamp(value: str) -> bool:
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    # A zone offset would be dropped silently by a TIMESTAMP column.
    return moment.tzinfo is None and str(moment) == value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class ColumnType:
    """A chosen type: ``kind`` (integer, real, blob, date, timestamp, text), and why if odd.

    ``longest`` (text only) is the most characters a value has, which sizes
    MySQL's ``VARCHAR``; None (not known) makes it ``LONGTEXT``.
    """

    kind: str
    reason: str | None = None
    longest: int | None = field(default=None, repr=False)

    @property
    def postgresql(self) -> str:
        return _TYPES[self.kind][0]

    @property
    def duckdb(self) -> str:
        return _TYPES[self.kind][1]

    @property
    def mysql(self) -> str:
        """MySQL's type: for text ``VARCHAR(n)`` or ``LONGTEXT`` (see the module's docstring).

        >>> ColumnType("text", longest=7).mysql, ColumnType("text", longest=100).mysql
        ('VARCHAR(64)', 'VARCHAR(100)')
        >>> ColumnType("text", longest=769).mysql, ColumnType("text").mysql
        ('LONGTEXT', 'LONGTEXT')
        """
        if self.kind == "text" and self.longest is not None and self.longest <= MYSQL_MAX_VARCHAR:
            return f"VARCHAR({max(self.longest, MYSQL_MIN_VARCHAR)})"
        return _TYPES[self.kind][2]

    def on(self, engine: str) -> str:
        """The type's name on ``engine`` ("postgresql", "duckdb" or "mysql").

        >>> ColumnType("real").on("duckdb"), ColumnType("timestamp").on("mysql")
        ('DOUBLE', 'DATETIME(6)')
        """
        if engine not in _ENGINES:
            raise ValueError(
                f"no column types for engine {engine!r}; use postgresql, duckdb or mysql"
            )
        return getattr(self, engine)


@dataclass
class ColumnProfile:
    """What one column holds, gathered chunk by chunk (``add``), then ``choose()`` its type.

    ``counts`` is per SQLite storage class (integer, real, text, blob); ``samples``
    the first value of each; ``lossy`` counts text that was not valid UTF-8 (read
    through :func:`decode_text`), ``nul`` text holding NUL characters and
    ``infinite`` reals that are infinite (MySQL cannot store them). ``longest``
    is the most characters a value's SQLite text form can have: exact for text,
    an upper bound for numbers and blobs (read as text when the column is mixed).
    """

    declared: str
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, object] = field(default_factory=dict)
    lossy: int = 0
    nul: int = 0
    infinite: int = 0
    longest: int = 0
    not_temporal: str | None = None

    def add(self, values: Iterable[object]) -> None:
        values = list(values)
        types = Counter(map(type, values))
        types.pop(type(None), None)
        temporal = _temporal(self.declared)
        for kind, count in types.items():
            storage = "text" if issubclass(kind, str) else _CLASS.get(kind, "blob")
            self.counts[storage] += count
            if storage not in self.samples:
                self.samples[storage] = next(v for v in values if type(v) is kind)
            if storage == "blob":
                self.longest = max(self.longest, *(len(v) for v in values if type(v) is kind))
            elif storage != "text":
                self.longest = max(self.longest, _NUMBER_TEXT)
        if float in types:
            self.infinite += sum(1 for v in values if type(v) is float and math.isinf(v))
        if LossyText in types:
            self.lossy += types[LossyText]
        if str in types or LossyText in types:
            texts = [v for v in values if isinstance(v, str)]
            self.longest = max(self.longest, *map(len, texts))
            if "\x00" in "".join(texts):
                self.nul += sum("\x00" in v for v in texts)
            if temporal and self.not_temporal is None:
                check = _is_date if temporal == "date" else _is_timestamp
                self.not_temporal = next((v for v in texts if not check(v)), None)

    def choose(self) -> ColumnType:
        """The column's type on the target, following the table in this module's docstring."""
        found = set(self.counts)
        temporal = _temporal(self.declared)
        if not found:
            kind = _by_affinity(self.declared)
            return ColumnType(kind, longest=0 if kind == "text" else None)
        if found == {"text"} and temporal and self.not_temporal is not None:
            shape = "YYYY-MM-DD" if temporal == "date" else "YYYY-MM-DD HH:MM:SS[.ffffff]"
            return ColumnType(
                "text",
                f"{self._says()} values like {_show(self.not_temporal)} that are not {shape}",
                self.longest,
            )
        if found == {"text"}:
            return ColumnType(temporal) if temporal else ColumnType("text", longest=self.longest)
        if found <= {"integer", "real"} or len(found) == 1:
            kind = "integer" if found == {"integer"} else "real" if "real" in found else "blob"
            return ColumnType(kind, self._departure(kind))
        # A mix: the odd one out is text in a column declared numeric, else the non-text values.
        if "text" in found and affinity(self.declared) != "text":
            odd = "text"
        else:
            odd = next(c for c in ("blob", "real", "integer") if c in found)
        rest = " and ".join(sorted(found - {odd}))
        return ColumnType(
            "text",
            f"{self._says()} {odd} values like {_show(self.samples[odd])} "
            f"beside {rest} values (kept as SQLite's text of them)",
            self.longest,
        )

    def _says(self) -> str:
        return f"declared {self.declared} but holds" if self.declared else "untyped, holds"

    def _departure(self, kind: str) -> str | None:
        expected = {
            "integer": {"integer"},
            "real": {"real", "integer"},
            "text": {"text"},
            "numeric": {"integer", "real"},
            "blob": set(_TYPES),
        }[affinity(self.declared)]
        if kind in expected and not _temporal(self.declared):
            return None
        return f"{self._says()} {kind} values like {_show(self.samples[kind])}"


def _by_affinity(declared: str) -> str:
    if "BLOB" in declared.upper():
        return "blob"
    return {"integer": "integer", "real": "real"}.get(affinity(declared), "text")


def choose_type(declared: str, values: Iterable[object]) -> ColumnType:
    """The target type of a column declared ``declared`` holding ``values`` (as sqlite3 reads them).

    >>> choose_type("INTEGER", [1, 2, None])
    ColumnType(kind='integer', reason=None)
    >>> choose_type("NUMERIC", [1, 2.5]).on("postgresql")
    'DOUBLE PRECISION'
    >>> choose_type("DATE", ["2020-01-31", "2021-12-01"]).kind
    'date'
    >>> choose_type("date", ["2020-02-30"]).reason
    "declared date but holds values like '2020-02-30' that are not YYYY-MM-DD"
    >>> choose_type("DATETIME", ["2020-01-31 10:00:00", "2020-01-31 10:00:00.5"]).kind
    'text'
    >>> mixed = choose_type("INTEGER", [3, "N/A"])
    >>> mixed.kind, mixed.reason[:49]
    ('text', "declared INTEGER but holds text values like 'N/A'")
    >>> choose_type("REAL", [None]).on("duckdb"), choose_type("DATE", []).kind
    ('DOUBLE', 'text')
    >>> choose_type("TEXT", ["ab", "x" * 300]).on("mysql"), choose_type("", [1, "x"]).on("mysql")
    ('VARCHAR(300)', 'VARCHAR(64)')
    """
    profile = ColumnProfile(declared)
    profile.add(values)
    return profile.choose()
