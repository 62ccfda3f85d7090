"""Answer (denotation) matching of the official WikiTableQuestions evaluator.

Ported from ``evaluator.py`` of the WikiTableQuestions dataset
(https://github.com/ppasupat/WikiTableQuestions, Panupong Pasupat and Percy
Liang, version 0.5), distributed with the dataset under the Creative Commons
Attribution-ShareAlike 4.0 license. The port keeps the official rules and
verdicts (Python 2 code rewritten for Python 3: string normalisation, the three
value types, ``to_value``, ``to_value_list``, ``check_denotation`` and the TSV
unescaping); the batch script around them is not ported.

The rules, as the official docstring states them: a denotation is a set of
values. Each string becomes a number if ``int()``/``float()`` accept it, a date
if it reads ``yyyy-mm-dd`` (``xx`` for an unknown field; a date with only a year
is a number), else a string. A prediction is correct when it has as many
distinct values as the gold and every gold value matches some predicted value:
equal normalised strings, or equal numbers (to 1e-6), or equal dates.
``normalize`` removes diacritics, unifies quotes and dashes, drops trailing
citations (``[1]``, ``*``, ``†``...), a trailing ``(...)``, outer quotes and a final
period, collapses whitespace and lower-cases.

**One departure, for the gold only.** The official script reads each gold
value's number or date from CoreNLP-tagged files (``tagged/data/*.tagged``,
column ``targetCanon``) that the TSV layout does not include. Without them a gold
"12,467" would stay a string and never match a SQL result 12467. So
``check_denotation`` canonicalises gold values itself (``canonical_value``):
numbers with thousands separators (``12,467`` → 12467) and English dates
(``January 5, 1990``, ``5 January 1990``, ``January 1990``, ``January 5``) become
the ``yyyy-mm-dd`` form CoreNLP gives. Anything else is left to ``to_value``, as
without tagging. ``canon_gold=False`` turns this off. Predictions are never
canonicalised, as in the official script.
"""

from __future__ import annotations

import re
import unicodedata
from math import isinf, isnan

__all__ = [
    "DateValue",
    "NumberValue",
    "StringValue",
    "Value",
    "canonical_value",
    "check_denotation",
    "check_values",
    "format_answer_list",
    "normalize",
    "parse_answer_list",
    "to_value",
    "to_value_list",
    "tsv_unescape",
]

_CITATION = re.compile(r"((?<!^)\[[^\]]*\]|\[[0-9]+\]|[•♦†‡*#+])*$")
_PARENTHESIS = re.compile(r"(?<!^)( \([^)]*\))*$")
_OUTER_QUOTES = re.compile(r'^"([^"]*)"$')


def normalize(x: str) -> str:
    """The official string normalisation.

    >>> normalize("  Café “Noir” [1]")
    'cafe "noir"'
    >>> normalize('"Hello (band)"'), normalize("Done."), normalize("A–B†"), normalize("(x)")
    ('hello', 'done', 'a-b', '(x)')
    """
    x = "".join(c for c in unicodedata.normalize("NFKD", x) if unicodedata.category(c) != "Mn")
    x = re.sub(r"[‘’´`]", "'", x)
    x = re.sub(r"[“”]", '"', x)
    x = re.sub(r"[‐‑‒–—−]", "-", x)
    while True:
        old = x
        x = _CITATION.sub("", x.strip())
        x = _PARENTHESIS.sub("", x.strip())
        x = _OUTER_QUOTES.sub(r"\1", x.strip())
        if x == old:
            break
    if x and x[-1] == ".":
        x = x[:-1]
    return re.sub(r"\s+", " ", x).lower().strip()


class Value:
    """A typed answer value; ``normalized`` is its normalised string."""

    normalized: str

    def match(self, other: Value) -> bool:
        raise NotImplementedError


class StringValue(Value):
    def __init__(self, content: str) -> None:
        self.normalized = normalize(content)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StringValue) and self.normalized == other.normalized

    def __hash__(self) -> int:
        return hash(self.normalized)

    def __repr__(self) -> str:
        return f"S[{self.normalized!r}]"

    def match(self, other: Value) -> bool:
        return self.normalized == other.normalized


class NumberValue(Value):
    def __init__(self, amount: int | float, original_string: str | None = None) -> None:
        self.amount: int | float = int(amount) if abs(amount - round(amount)) < 1e-6 else float(amount)
        self.normalized = normalize(original_string) if original_string else str(self.amount)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumberValue) and self.amount == other.amount

    def __hash__(self) -> int:
        return hash(self.amount)

    def __repr__(self) -> str:
        return f"N({self.amount})[{self.normalized!r}]"

    def match(self, other: Value) -> bool:
        if self.normalized == other.normalized:
            return True
        return isinstance(other, NumberValue) and abs(self.amount - other.amount) < 1e-6

    @staticmethod
    def parse(text: str) -> int | float | None:
        """``int(text)`` or a finite ``float(text)``, as Python 2 read them (no ``1_000``)."""
        if "_" in text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            amount = float(text)
        except ValueError:
            return None
        return None if isnan(amount) or isinf(amount) else amount


class DateValue(Value):
    """A date; -1 marks an unknown year, month or day."""

    def __init__(self, year: int, month: int, day: int, original_string: str | None = None) -> None:
        if not (month == -1 or 1 <= month <= 12) or not (day == -1 or 1 <= day <= 31):
            raise ValueError(f"not a date: {year}-{month}-{day}")
        if year == month == day == -1:
            raise ValueError("a date needs at least one known field")
        self.ymd = (year, month, day)
        if original_string:
            self.normalized = normalize(original_string)
        else:
            self.normalized = "-".join("xx" if v == -1 else str(v) for v in self.ymd)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DateValue) and self.ymd == other.ymd

    def __hash__(self) -> int:
        return hash(self.ymd)

    def __repr__(self) -> str:
        return f"D{self.ymd}[{self.normalized!r}]"

    def match(self, other: Value) -> bool:
        if self.normalized == other.normalized:
            return True
        return isinstance(other, DateValue) and self.ymd == other.ymd

    @staticmethod
    def parse(text: str) -> tuple[int, int, int] | None:
        """(year, month, day) of ``yyyy-mm-dd`` with ``xx`` (``xxxx`` for the year) for unknowns."""
        parts = text.lower().split("-")
        if len(parts) != 3:
            return None
        try:
            year = -1 if parts[0] in ("xx", "xxxx") else int(parts[0])
            month = -1 if parts[1] == "xx" else int(parts[1])
            day = -1 if parts[2] == "xx" else int(parts[2])
        except ValueError:
            return None
        if year == month == day == -1 or not (month == -1 or 1 <= month <= 12) or not (day == -1 or 1 <= day <= 31):
            return None
        return year, month, day


def to_value(original_string: str | Value, corenlp_value: str | None = None) -> Value:
    """The Value of a string; ``corenlp_value`` (a canonical form) decides the type when given.

    >>> to_value("1,000"), to_value("1,000", "1000"), to_value("2004"), to_value("xx-01-02")
    (S['1,000'], N(1000)['1,000'], N(2004)['2004'], D(-1, 1, 2)['xx-01-02'])
    """
    if isinstance(original_string, Value):
        return original_string
    source = corenlp_value or original_string
    amount = NumberValue.parse(source)
    if amount is not None:
        return NumberValue(amount, original_string)
    ymd = DateValue.parse(source)
    if ymd is not None:
        if ymd[1] == ymd[2] == -1:
            return NumberValue(ymd[0], original_string)
        return DateValue(*ymd, original_string)
    return StringValue(original_string)


def to_value_list(original_strings: list[str], corenlp_values: list[str | None] | None = None) -> list[Value]:
    """The distinct Values of a list of strings (a set: duplicates collapse)."""
    if corenlp_values is None:
        return list({to_value(x): None for x in original_strings})
    if len(corenlp_values) != len(original_strings):
        raise ValueError("original and canonical value lists differ in length")
    return list({to_value(x, y): None for x, y in zip(original_strings, corenlp_values)})


def check_values(target_values: list[Value], predicted_values: list[Value]) -> bool:
    """The official check: same number of values, and each target matches some prediction."""
    if len(target_values) != len(predicted_values):
        return False
    return all(any(t.match(p) for p in predicted_values) for t in target_values)


_MONTHS = {
    name: i
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")],
        1,
    )
    for name in names
}
_MONTH = r"(?P<month>[a-z]+)\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_DATE_FORMS = [
    re.compile(rf"{_MONTH} {_DAY},? {_YEAR}"),
    re.compile(rf"{_DAY} {_MONTH},? {_YEAR}"),
    re.compile(rf"{_MONTH},? {_YEAR}"),
    re.compile(rf"{_MONTH} {_DAY}"),
    re.compile(rf"{_DAY} {_MONTH}"),
]
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def canonical_value(text: str) -> str | None:
    """Our stand-in for CoreNLP's ``targetCanon`` of a gold value, or None to leave it to ``to_value``.

    >>> canonical_value("12,467"), canonical_value("January 5, 1990"), canonical_value("5 Feb 1990")
    ('12467', '1990-01-05', '1990-02-05')
    >>> canonical_value("March 2001"), canonical_value("July 4th"), canonical_value("Paris")
    ('2001-03-xx', 'xx-07-04', None)
    """
    stripped = " ".join(text.split())
    if _GROUPED_NUMBER.fullmatch(stripped):
        return stripped.replace(",", "")
    lowered = stripped.lower()
    for form in _DATE_FORMS:
        m = form.fullmatch(lowered)
        if m is None or m["month"] not in _MONTHS:
            continue
        groups = m.groupdict()
        year = groups.get("year") or "xx"
        day = int(groups["day"]) if groups.get("day") else None
        if day is not None and not 1 <= day <= 31:
            return None
        return f"{year}-{_MONTHS[m['month']]:02d}-{'xx' if day is None else f'{day:02d}'}"
    return None


def check_denotation(gold: list[str], pred: list[str], *, canon_gold: bool = True) -> bool:
    """True when the predicted answer list is correct for the gold one (official rules).

    >>> check_denotation(["1,000"], ["1000"]), check_denotation(["1,000"], ["1000"], canon_gold=False)
    (True, False)
    >>> check_denotation(["Paris", "Rome"], ["rome ", "PARIS"]), check_denotation(["Paris"], ["Paris", "Rome"])
    (True, False)
    >>> check_denotation(["January 5, 1990"], ["1990-01-05"]), check_denotation(["2"], ["2.0"])
    (True, True)
    """
    canon = [canonical_value(g) for g in gold] if canon_gold else None
    return check_values(to_value_list(gold, canon), to_value_list(pred))


def tsv_unescape(x: str) -> str:
    r"""Undo the TSV escapes ``\n``, ``\p`` (a pipe) and ``\\``, replaced one after the other as officially."""
    return x.replace(r"\n", "\n").replace(r"\p", "|").replace("\\\\", "\\")


def parse_answer_list(text: str) -> list[str]:
    r"""The values of a ``targetValue`` field: split on ``|``, then unescaped.

    >>> parse_answer_list(r"Paris|Rome"), parse_answer_list(r"a\pb|c\\d|e\nf")
    (['Paris', 'Rome'], ['a|b', 'c\\d', 'e\nf'])
    """
    return [tsv_unescape(part) for part in text.split("|")]


def format_answer_list(values: list[str]) -> str:
    r"""The ``targetValue`` text of a list of values: escaped and joined with ``|``.

    >>> format_answer_list(["a|b", "c\\d", "e\nf"])
    'a\\pb|c\\\\d|e\\nf'
    """
    return "|".join(v.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\p") for v in values)
