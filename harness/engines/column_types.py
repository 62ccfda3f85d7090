"""The type a SQLite column gets on another engine, chosen from the values it actually holds.

SQLite is dynamically typed: a column declared ``INTEGER`` may hold ``'N/A'``,
one declared ``DATE`` may hold ``'2020-02-30'``. PostgreSQL and DuckDB reject
such values, so each column's type comes from its data:

=====================================  ==================  ==========
what the non-NULL values are           PostgreSQL          DuckDB
=====================================  ==================  ==========
all integers                           BIGINT              BIGINT
reals (with or without integers)       DOUBLE PRECISION    DOUBLE
all blobs                              BYTEA               BLOB
all text, declared ``*DATE*`` and
every value a ``YYYY-MM-DD`` date      DATE                DATE
all text, declared DATETIME/TIMESTAMP
and every value ``YYYY-MM-DD HH:MM:SS``
(optionally ``.ffffff``, six digits)  TIMESTAMP           TIMESTAMP
any other mix, or text                 TEXT                VARCHAR
=====================================  ==================  ==========

A column of NULLs only takes its declared type's SQLite affinity: ``INT``
BIGINT, ``REAL``/``FLOA``/``DOUB`` DOUBLE, ``BLOB`` BYTEA/BLOB, else text.

A column that mixes text with numbers or blobs becomes text, each value in its
SQLite text form (``CAST(x AS TEXT)``: ``1.0`` stays ``'1.0'``); the loader
reads such columns through that cast. A type that departs from the declared one
comes with a ``reason`` for the load report.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ColumnProfile", "ColumnType", "LossyText", "affinity", "choose_type", "decode_text"]

_TYPES: dict[str, tuple[str, str]] = {
    "integer": ("BIGINT", "BIGINT"),
    "real": ("DOUBLE PRECISION", "DOUBLE"),
    "blob": ("BYTEA", "BLOB"),
    "date": ("DATE", "DATE"),
    "timestamp": ("TIMESTAMP", "TIMESTAMP"),
    "text": ("TEXT", "VARCHAR"),
}
_CLASS = {int: "integer", float: "real", str: "text", bytes: "blob"}


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
    """A chosen type: ``kind`` (integer, real, blob, date, timestamp, text), and why if odd."""

    kind: str
    reason: str | None = None

    @property
    def postgresql(self) -> str:
        return _TYPES[self.kind][0]

    @property
    def duckdb(self) -> str:
        return _TYPES[self.kind][1]

    def on(self, engine: str) -> str:
        """The type's name on ``engine`` ("postgresql" or "duckdb").

        >>> ColumnType("real").on("duckdb")
        'DOUBLE'
        """
        if engine not in ("postgresql", "duckdb"):
            raise ValueError(f"no column types for engine {engine!r}; use postgresql or duckdb")
        return self.postgresql if engine == "postgresql" else self.duckdb


@dataclass
class ColumnProfile:
    """What one column holds, gathered chunk by chunk (``add``), then ``choose()`` its type.

    ``counts`` is per SQLite storage class (integer, real, text, blob); ``samples``
    the first value of each; ``lossy`` counts text that was not valid UTF-8 (read
    through :func:`decode_text`) and ``nul`` text holding NUL characters.
    """

    declared: str
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, object] = field(default_factory=dict)
    lossy: int = 0
    nul: int = 0
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
        if LossyText in types:
            self.lossy += types[LossyText]
        if str in types or LossyText in types:
            texts = [v for v in values if isinstance(v, str)]
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
            return ColumnType(_by_affinity(self.declared))
        if found == {"text"} and temporal and self.not_temporal is not None:
            shape = "YYYY-MM-DD" if temporal == "date" else "YYYY-MM-DD HH:MM:SS[.ffffff]"
            return ColumnType(
                "text",
                f"{self._says()} values like {_show(self.not_temporal)} that are not {shape}",
            )
        if found == {"text"}:
            return ColumnType(temporal or "text")
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
    """
    profile = ColumnProfile(declared)
    profile.add(values)
    return profile.choose()
