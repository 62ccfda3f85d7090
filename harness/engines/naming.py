"""Where a suite's SQLite database lives on another engine: one schema per database.

Every SQLite database of a suite becomes one schema, named by ``schema_name``:
the file's stem in lower case (Spider and BIRD name each file after its
``db_id``). Tables and columns keep their SQLite names in lower case: SQLite
compares identifiers without regard to case, and lower case is what
PostgreSQL folds an unquoted name to, so ``SELECT Name FROM Singer`` finds
``singer.name`` on every engine.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["META_SCHEMA", "schema_name", "table_name"]

META_SCHEMA = "harness_meta"
_SAFE = re.compile(r"^[a-z_][a-z0-9_$]*$")


def schema_name(db_path: str | Path) -> str:
    """The schema that holds the database at ``db_path``.

    >>> schema_name("spider/database/concert_singer/concert_singer.sqlite")
    'concert_singer'
    >>> schema_name("dev_databases/California_Schools/california_schools.sqlite")
    'california_schools'
    """
    name = Path(db_path).stem.lower()
    if not name or name == META_SCHEMA or name.startswith("pg_") or name == "information_schema":
        raise ValueError(f"{db_path}: {name!r} cannot be a schema name; rename the database file")
    return name


def table_name(name: str) -> str:
    """A SQLite table or column name as it is on every other engine.

    >>> table_name("Singer_in_Concert")
    'singer_in_concert'
    """
    return name.lower()


def quote(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (standard SQL, PostgreSQL and DuckDB).

    >>> quote('Free Meal Count (K-12)')
    '"Free Meal Count (K-12)"'
    >>> quote('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def is_plain(name: str) -> bool:
    """Whether ``name`` needs no quotes (lower case letters, digits, ``_``, ``$``).

    >>> is_plain("singer"), is_plain("Free Meal")
    (True, False)
    """
    return bool(_SAFE.match(name))
