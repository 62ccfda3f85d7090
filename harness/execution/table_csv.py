"""A WikiTableQuestions CSV table read into a header, safe column names and typed columns.

**Reading** (``read_table_csv``). Files are read in the WikiTableQuestions CSV
dialect: UTF-8 (a BOM is dropped), comma-separated, fields in double quotes,
``\\"`` and ``\\\\`` escaped with a backslash, line breaks inside quoted
fields. The first row is the header. A row shorter than the widest row is
padded with empty cells; a header shorter than the widest row gets empty names
(which become ``col_N``).

**The table is named ``t``** (``TABLE_NAME``) and its column names are made safe
and unique (``safe_column_names``): ASCII (accents dropped), lower case, every run
of other characters one ``_``; ``#`` reads ``num``, ``%`` reads ``pct``, ``&`` reads
``and``; an empty result becomes ``col_N`` (N the 1-based position), a leading
digit gets a ``col_`` prefix, a DuckDB keyword that cannot be a bare column name
gets a trailing ``_`` (``order_``); names are cut to 64 characters and repeats get
``_2``, ``_3``... ``TableInfo.columns`` keeps each original header beside its safe
name (for prompts: ``TableInfo.schema_sql()``).

**Typing** (``infer_column``), decided by us, deterministically, from all cells of
a column: an empty or blank cell is NULL (in every column); so is a placeholder
cell (only dashes, or ``n/a``) in a column typed by its other cells; a column whose other
cells are all integers (optionally with thousands commas, ``12,467``; no leading
zeros, which would lose ``007``) is BIGINT; all numbers with a decimal part
allowed is DOUBLE; all ISO dates ``YYYY-MM-DD`` is DATE; anything else, and a
column of only NULLs, is VARCHAR holding the cell text unchanged.

Nothing here touches DuckDB: :mod:`harness.execution.duckdb_tables` loads the
result into its locked-down engine (``load_table``) and runs queries on it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "TABLE_NAME",
    "Column",
    "TableError",
    "TableInfo",
    "infer_column",
    "read_table_csv",
    "safe_column_names",
]

TABLE_NAME = "t"
MAX_NAME_CHARS = 64

# Keywords that DuckDB refuses as a bare column name (keyword_category 'reserved'
# and 'type_function' of duckdb_keywords(), DuckDB 2.0); fixed here so that names
# do not change with the installed DuckDB.
_RESERVED = frozenset(
    "all analyse analyze and anti any array as asc asof asymmetric at authorization binary both by "
    "case cast check collate collation column concurrently constraint create cross default deferrable "
    "desc describe distinct do else end except false fetch for foreign freeze from full glob group "
    "having ilike in initially inner intersect into is isnull join lambda lateral leading left like "
    "limit natural not notnull null offset on only or order outer overlaps pivot pivot_longer "
    "pivot_wider placing positional primary qualify references returning right select semi show "
    "similar some summarize symmetric table tablesample then to trailing true try_cast union unique "
    "unpack unpivot using variadic verbose when where window with".split()
)
_SYMBOL_WORDS = {"#": " num ", "%": " pct ", "&": " and "}
_INT = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*|0)")
_DECIMAL = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*|0)?\.\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT64_MAX = 2**63 - 1
_PLACEHOLDER = re.compile(r"[-‐‑‒–—−]+|n/a", re.IGNORECASE)


class TableError(ValueError):
    """A table file that cannot be read or loaded; the message names the file."""


@dataclass(frozen=True)
class Column:
    name: str  # the safe SQL name
    original: str  # the header text as in the file
    type: str  # BIGINT, DOUBLE, DATE or VARCHAR


@dataclass(frozen=True)
class TableInfo:
    """What was loaded: the file, its columns (safe name, original header, type) and row count."""

    path: str
    columns: tuple[Column, ...]
    n_rows: int

    def column_map(self) -> dict[str, str]:
        """Original header → safe name (a repeated header maps to its first column)."""
        mapping: dict[str, str] = {}
        for column in self.columns:
            mapping.setdefault(column.original, column.name)
        return mapping

    def schema_sql(self) -> str:
        """A CREATE TABLE statement for prompts, each column commented with its original header.

        >>> info = TableInfo("x.csv", (Column("year", "Year", "BIGINT"), Column("col_2", "", "VARCHAR")), 3)
        >>> print(info.schema_sql())
        CREATE TABLE t (
          year BIGINT, -- Year
          col_2 VARCHAR -- (empty header)
        );
        """
        lines = []
        for i, column in enumerate(self.columns):
            comma = "," if i < len(self.columns) - 1 else ""
            original = " ".join(column.original.split()) or "(empty header)"
            lines.append(f"  {column.name} {column.type}{comma} -- {original}")
        return f"CREATE TABLE {TABLE_NAME} (\n" + "\n".join(lines) + "\n);"


def safe_column_names(headers: list[str]) -> list[str]:
    """SQL-safe, unique column names for ``headers``, following the rules of the module docstring.

    >>> safe_column_names(["Year", "", "Chart-Positions\\nUK", "Film", "Film", "#", "Año", "2010", "Order"])
    ['year', 'col_2', 'chart_positions_uk', 'film', 'film_2', 'num', 'ano', 'col_2010', 'order_']
    """
    names: list[str] = []
    taken: set[str] = set()
    for position, header in enumerate(headers, 1):
        text = "".join(_SYMBOL_WORDS.get(ch, ch) for ch in header)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:MAX_NAME_CHARS].rstrip("_")
        if not base:
            base = f"col_{position}"
        elif base[0].isdigit():
            base = f"col_{base}"[:MAX_NAME_CHARS].rstrip("_")
        elif base in _RESERVED:
            base += "_"
        name, suffix = base, 1
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        taken.add(name)
        names.append(name)
    return names


def _parse_int(text: str) -> int | None:
    if not _INT.fullmatch(text):
        return None
    value = int(text.replace(",", ""))
    return value if -_INT64_MAX <= value <= _INT64_MAX else None


def _parse_number(text: str) -> float | None:
    if _INT.fullmatch(text) or _DECIMAL.fullmatch(text):
        return float(text.replace(",", ""))
    return None


def _parse_date(text: str) -> dt.date | None:
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _is_placeholder(cell: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(cell))


def infer_column(cells: list[str]) -> tuple[str, list[Any]]:
    """The column's SQL type and its values converted to it (None for an empty cell).

    A placeholder cell (only dashes, or ``n/a``) is NULL in a typed column and
    keeps its text in a VARCHAR one.

    >>> infer_column(["1,000", "25", ""])
    ('BIGINT', [1000, 25, None])
    >>> infer_column(["1.5", "2", "—"])
    ('DOUBLE', [1.5, 2.0, None])
    >>> infer_column(["007", "12", "-"])
    ('VARCHAR', ['007', '12', '-'])
    >>> infer_column(["2001-02-03", " "])[0], infer_column(["", ""])[0], infer_column(["-"])[0]
    ('DATE', 'VARCHAR', 'VARCHAR')
    """
    stripped = [c.strip() for c in cells]
    present = [c for c in stripped if c and not _is_placeholder(c)]
    if present:
        for sql_type, parse in (("BIGINT", _parse_int), ("DOUBLE", _parse_number), ("DATE", _parse_date)):
            parsed = [parse(c) for c in present]
            if all(p is not None for p in parsed):
                values = iter(parsed)
                return sql_type, [next(values) if c and not _is_placeholder(c) else None for c in stripped]
    return "VARCHAR", [c if c.strip() else None for c in cells]


def read_table_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV in the WikiTableQuestions dialect, padded to one width.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text('"A","B"\\n"say \\\\"hi\\\\"","back\\\\\\\\slash"\\n"two\\nlines"\\n', encoding="utf-8")
    >>> read_table_csv(p)
    (['A', 'B'], [['say "hi"', 'back\\\\slash'], ['two\\nlines', '']])
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise TableError(f"{path}: cannot read the table ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise TableError(f"{path}: not UTF-8 text ({e})") from e
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), escapechar="\\", doublequote=False, strict=True))
    except csv.Error as e:
        raise TableError(f"{path}: malformed CSV ({e})") from e
    if not rows:
        raise TableError(f"{path}: empty table file (no header row)")
    width = max(len(r) for r in rows)
    if width == 0:
        raise TableError(f"{path}: the header row is empty")
    padded = [r + [""] * (width - len(r)) for r in rows]
    return padded[0], padded[1:]
