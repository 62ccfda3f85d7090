"""Result values from any engine, made the values SQLite would have returned.

The metrics compare rows with Python equality, as the official Spider and BIRD
evaluators do on SQLite's rows. Drivers of other engines return richer types,
so every row of a non-SQLite engine passes through ``normalise_row`` first:

==========================  ==========================  =============================
engine value                becomes                     why
==========================  ==========================  =============================
``bool``                    ``1`` / ``0``               SQLite has no boolean; ``a > b``
                                                        is the integer 1 or 0 there
``decimal.Decimal``         ``int`` if whole, else the  SQLite computes in 64-bit
                            nearest ``float``           integers and doubles
                                                        (``AVG`` is a double there)
``datetime.date``           ``'YYYY-MM-DD'``            SQLite stores dates as text
``datetime.datetime``       ``'YYYY-MM-DD HH:MM:SS'``   the text form SQLite's
                            (``[.ffffff]``, offset      ``datetime()`` writes
                            kept when aware)
``datetime.time``           ``'HH:MM:SS[.ffffff]'``     as ``time()`` writes it
``datetime.timedelta``      seconds as ``float``        an interval has no SQLite form
``memoryview``/``bytearray``  ``bytes``                 what ``sqlite3`` gives a BLOB
``uuid.UUID``               its text                    stored as text in SQLite
``float`` NaN               ``None``                    SQLite turns NaN into NULL
==========================  ==========================  =============================

``int``, ``float``, ``str``, ``bytes`` and ``None`` pass unchanged. A whole
``float`` stays a float: ``3.0 == 3`` already holds in Python, and both hash
alike, so bags and sets of rows compare as SQLite's would.

>>> import datetime, decimal
>>> normalise_row((True, decimal.Decimal("2.50"), decimal.Decimal("4.000"), datetime.date(2020, 1, 2)))
(1, 2.5, 4, '2020-01-02')
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from typing import Any

__all__ = ["normalise_row", "normalise_rows", "normalise_value"]


def normalise_value(value: Any) -> Any:
    """One value as SQLite would have returned it (see the module's table).

    >>> normalise_value(decimal.Decimal("1.6666666666666667"))
    1.6666666666666667
    >>> normalise_value(datetime.datetime(2020, 1, 2, 3, 4, 5))
    '2020-01-02 03:04:05'
    >>> normalise_value(memoryview(b"ab"))
    b'ab'
    """
    kind = type(value)
    if value is None or kind is int or kind is str or kind is bytes:
        return value
    if kind is float:
        return None if math.isnan(value) else value
    if kind is bool:
        return int(value)
    if kind is decimal.Decimal:
        if not value.is_finite():
            return None if value.is_nan() else float(value)
        whole = value.to_integral_value()
        return int(whole) if whole == value else float(value)
    if kind is datetime.datetime:
        return str(value)
    if kind is datetime.date or kind is datetime.time:
        return value.isoformat()
    if kind is datetime.timedelta:
        return value.total_seconds()
    if kind is memoryview or kind is bytearray:
        return bytes(value)
    if kind is uuid.UUID:
        return str(value)
    return value


def normalise_row(row: tuple) -> tuple:
    return tuple(normalise_value(value) for value in row)


def normalise_rows(rows: list[tuple]) -> list[tuple]:
    return [normalise_row(row) for row in rows]
