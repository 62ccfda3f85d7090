"""The MySQL side of ``harness load-db`` (MySQL 8 or MariaDB): one database per SQLite database.

Each SQLite database becomes the MySQL database ``schema_name(path)``, the one
the mysql engine selects per query. Tables are InnoDB and utf8mb4; text columns
take the server's binary no-pad collation (``no_pad_collation``), so text
compares byte by byte as in SQLite: ``'a ' <> 'a'`` and ``'A' <> 'a'``. Types
come from :mod:`harness.engines.column_types`; a table whose ``VARCHAR``
columns would pass MySQL's 65,535-byte row limit gets ``LONGTEXT`` for its
widest ones. The loading session is strict (``STRICT_ALL_TABLES``: a value that
does not fit is an error, never cut short) and runs with ``foreign_key_checks``
off, so foreign keys are added without checking the rows (as PostgreSQL's
``NOT VALID``). Infinite reals, which MySQL cannot store, load as NULL.

MySQL's DDL is not transactional (each CREATE, ALTER or DROP commits), so a
load cannot be one transaction. It is crash-safe instead, under ``GET_LOCK('harness
load-db <database>')`` so two loads of one database never interleave:

1. the tables are created, filled and keyed in a staging database
   (``<database>__load_<hash>``; one that a crashed load left is dropped first)
   while the previous copy stays as it was, readable and recorded;
2. ``record`` deletes the database's row in ``harness_meta.loaded``, drops the
   old database, creates it anew, moves the staging tables in with one ``RENAME
   TABLE``, drops the staging database, and only then inserts the new row.

A crash in step 1 leaves the previous copy and its row; a crash in step 2 leaves
no row, so the mysql engine's ``missing()`` reports the database as not loaded
and the next ``harness load-db`` loads it again.

The reader is the account ``'<reader>'@'%'`` with SELECT on each loaded database
and on ``harness_meta`` and nothing else (the mysql engine refuses an account
that may do more). Database grants name a pattern, so ``_`` and ``%`` in a
database's name are escaped: the grant covers that database only.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from sqlalchemy.engine import URL, make_url

from harness.engines.mysql import connect, error_message, no_pad_collation, rights_beyond_reading
from harness.engines.naming import META_SCHEMA
from harness.engines.sqlite_source import SourceColumn, SourceTable

__all__ = ["MySQLTarget", "staging_name"]

NAME_LIMIT = 64  # characters in a MySQL database, table or column name
ROW_LIMIT = 65_535  # bytes of a row, not counting BLOB/TEXT values
LOCK_WAIT_S = 3600
_SYSTEM = {"mysql", "sys", "performance_schema", "information_schema"}
_NO_SUCH_GRANT = 1141
_LOCK_PREFIX = "harness load-db "


def _q(name: str) -> str:
    """``name`` as a backquoted identifier, cut to MySQL's 64 characters (``create_table`` says so).

    >>> _q("Free Meal Count (K-12)"), _q("a`b")
    ('`Free Meal Count (K-12)`', '`a``b`')
    """
    return "`" + name[:NAME_LIMIT].replace("`", "``") + "`"


def _grant_db(name: str) -> str:
    r"""A database name for ``GRANT ... ON <db>.*``, where ``_`` and ``%`` are wildcards.

    >>> print(_grant_db("mixed_db"))
    `mixed\_db`
    """
    for char in ("\\", "_", "%"):
        name = name.replace(char, "\\" + char)
    return _q(name)


def staging_name(database: str) -> str:
    """The database a load of ``database`` fills before moving its tables in.

    >>> staging_name("concert_singer")
    'concert_singer__load_20926a3d'
    """
    digest = hashlib.sha256(database.encode()).hexdigest()[:8]
    return f"{database[:40]}__load_{digest}"


def _lock_name(database: str) -> str:
    """The ``GET_LOCK`` name for loading ``database`` (at most 64 characters).

    >>> _lock_name("shop"), len(_lock_name("x" * 64))
    ('harness load-db shop', 56)
    """
    name = _LOCK_PREFIX + database
    if len(name) <= NAME_LIMIT:
        return name
    return _LOCK_PREFIX + hashlib.sha256(database.encode()).hexdigest()[:40]


def _row_bytes(sql_type: str) -> int:
    """Bytes a column of ``sql_type`` counts towards MySQL's row limit (utf8mb4 text).

    >>> [_row_bytes(t) for t in ("VARCHAR(100)", "LONGTEXT", "BIGINT", "DATE")]
    [402, 12, 8, 3]
    """
    if sql_type.startswith("VARCHAR("):
        return 4 * int(sql_type[8:-1]) + 2
    return {"LONGTEXT": 12, "LONGBLOB": 12, "DATE": 3}.get(sql_type, 8)


def _fit_row(columns: list[SourceColumn]) -> list[str]:
    """Each column's MySQL type; the widest VARCHARs become LONGTEXT while the row is too long."""
    types = [c.type.mysql for c in columns]
    size = sum(map(_row_bytes, types)) + (len(columns) + 7) // 8
    widest = sorted(
        (i for i, t in enumerate(types) if t.startswith("VARCHAR(")),
        key=lambda i: -_row_bytes(types[i]),
    )
    for i in widest:
        if size <= ROW_LIMIT:
            break
        size -= _row_bytes(types[i]) - _row_bytes("LONGTEXT")
        types[i] = "LONGTEXT"
    return types


class MySQLTarget:
    """Loads databases into the MySQL or MariaDB server that ``url`` names, as the URL's user."""

    engine = "mysql"
    foreign_keys_refused = None

    def __init__(self, url: str, reader: str, reader_password: str | None) -> None:
        self.url = url
        self.conn = connect(url)
        self.reader = reader
        self.reader_password = reader_password
        self.notes: list[str] = []
        self.collation = "utf8mb4_bin"

    def _run(self, statement: str, params: Any = None) -> list[tuple]:
        """Run one statement; ``params`` only with statements that name no identifier
        (PyMySQL %-formats the statement when given them)."""
        with self.conn.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    @property
    def _account(self) -> str:
        return f"{self.conn.escape(self.reader)}@'%'"

    def prepare(self) -> None:
        """The session's settings, the meta table and the reader account."""
        self._run("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'")
        self._run("SET SESSION foreign_key_checks = 0")
        self.collation = no_pad_collation(self.conn)
        if self.collation == "utf8mb4_bin":
            self.notes.append(
                "this server has no binary no-pad collation (utf8mb4_0900_bin, utf8mb4_nopad_bin): "
                "text is loaded as utf8mb4_bin, where 'a ' = 'a' (in SQLite they differ)"
            )
        self._run(f"CREATE DATABASE IF NOT EXISTS {META_SCHEMA} CHARACTER SET utf8mb4")
        self._run(
            f"CREATE TABLE IF NOT EXISTS {META_SCHEMA}.loaded (schema_name VARCHAR(64) PRIMARY KEY, "
            "source_sha256 CHAR(64) NOT NULL, loader_version INT NOT NULL, "
            "loaded_at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )
        self._ensure_reader()

    def _ensure_reader(self) -> None:
        (me,) = self._run("SELECT CURRENT_USER()")[0]
        if me.rsplit("@", 1)[0] == self.reader:
            raise ValueError(
                f"--reader {self.reader!r} is the user loading the data; "
                "name another account for read-only access"
            )
        try:
            grants: list[str] | None = [
                row[0] for row in self._run(f"SHOW GRANTS FOR {self._account}")
            ]
        except pymysql.Error as e:
            if e.args[0] != _NO_SUCH_GRANT:
                raise
            grants = None
        if grants is None:
            self.reader_password = self.reader_password or secrets.token_urlsafe(18)
            self._run(
                f"CREATE USER IF NOT EXISTS {self._account} "
                f"IDENTIFIED BY {self.conn.escape(self.reader_password)}"
            )
            return
        extra = rights_beyond_reading(grants)
        if extra:
            raise ValueError(
                f"account '{self.reader}'@'%' already exists with {', '.join(extra[:6])}; a reader "
                "may only SELECT: pass another --reader, or revoke them"
            )
        if self.reader_password:
            self._run(
                f"ALTER USER {self._account} IDENTIFIED BY {self.conn.escape(self.reader_password)}"
            )
        else:
            self.notes.append(
                f"account {self.reader!r} already existed and kept its password: the URL "
                "below has none; add it, or pass --reader-password to set a new one"
            )

    @contextmanager
    def transaction(self, database: str) -> Iterator[None]:
        """Hold the database's lock; on failure drop the staging database (the old copy stays)."""
        if database in _SYSTEM or len(database) > NAME_LIMIT:
            why = "a MySQL system database" if database in _SYSTEM else "over MySQL's 64 characters"
            raise ValueError(
                f"cannot load into database {database!r}: {why}; rename its SQLite file"
            )
        (got,) = self._run("SELECT GET_LOCK(%s, %s)", [_lock_name(database), LOCK_WAIT_S])[0]
        if got != 1:
            raise RuntimeError(
                f"database {database!r} is being loaded by another harness load-db "
                f"(waited {LOCK_WAIT_S} s for it to finish)"
            )
        try:
            self._run(f"DROP DATABASE IF EXISTS {_q(staging_name(database))}")
            yield
        except BaseException:
            try:
                self._run(f"DROP DATABASE IF EXISTS {_q(staging_name(database))}")
            except pymysql.Error:
                pass  # the connection is gone; the next load drops it
            raise
        finally:
            try:
                self._run("SELECT RELEASE_LOCK(%s)", [_lock_name(database)])
            except pymysql.Error:
                pass  # a lost connection released it

    def recorded(self, database: str) -> tuple[str, int] | None:
        rows = self._run(
            f"SELECT source_sha256, loader_version FROM {META_SCHEMA}.loaded "
            "WHERE schema_name = %s",
            [database],
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def table_count(self, database: str) -> int | None:
        """How many tables ``database`` holds; None if there is no such database."""
        rows = self._run(
            "SELECT COUNT(t.TABLE_NAME) FROM information_schema.SCHEMATA s "
            "LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME "
            "AND t.TABLE_TYPE = 'BASE TABLE' WHERE s.SCHEMA_NAME = %s GROUP BY s.SCHEMA_NAME",
            [database],
        )
        return rows[0][0] if rows else None

    def replace_schema(self, database: str) -> None:
        """Make the (empty) staging database the next steps fill; ``record`` swaps it in."""
        self._run(
            f"CREATE DATABASE {_q(staging_name(database))} "
            f"CHARACTER SET utf8mb4 COLLATE {self.collation}"
        )

    def create_table(self, database: str, table: SourceTable) -> list[str]:
        types = _fit_row(table.columns)
        columns = ", ".join(
            f"{_q(c.target)} {sql_type}"
            + (f" CHARACTER SET utf8mb4 COLLATE {self.collation}" if c.type.kind == "text" else "")
            for c, sql_type in zip(table.columns, types)
        )
        self._run(
            f"CREATE TABLE {_q(staging_name(database))}.{_q(table.target)} ({columns}) "
            f"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.collation}"
        )
        notes = [
            f"{table.target}.{name}: longer than 64 characters, MySQL's limit, so it was cut to "
            f"{name[:NAME_LIMIT]!r} (SQL naming it in full fails)"
            for name in [table.target, *(c.target for c in table.columns)]
            if len(name) > NAME_LIMIT
        ]
        widened = [c.target for c, t in zip(table.columns, types) if t != c.type.mysql]
        if widened:
            notes.append(
                f"{table.target}: {', '.join(widened)} loaded as LONGTEXT, not VARCHAR: at full "
                f"length the table's rows would pass MySQL's {ROW_LIMIT:,}-byte row limit"
            )
        return notes

    def copy(self, database: str, table: SourceTable) -> list[str]:
        """Insert the rows a chunk at a time (PyMySQL sends multi-row INSERTs of about 1 MB)."""
        into = f"{_q(staging_name(database))}.{_q(table.target)}".replace("%", "%%")
        statement = f"INSERT INTO {into} VALUES ({', '.join(['%s'] * len(table.columns))})"
        infinite = [
            i for i, c in enumerate(table.columns) if c.type.kind == "real" and c.profile.infinite
        ]
        nulled = [0] * len(table.columns)
        with self.conn.cursor() as cursor:
            for rows in table.chunks():
                if infinite:
                    rows = [_finite(row, infinite, nulled) for row in rows]
                cursor.executemany(statement, rows)
        return [
            f"{table.target}.{c.target}: {n} infinite values loaded as NULL "
            "(MySQL's DOUBLE cannot hold them)"
            for c, n in zip(table.columns, nulled)
            if n
        ]

    def add_primary_key(self, database: str, table: str, columns: list[str]) -> str | None:
        """Add the key; the reason MySQL refused it (duplicates, NULLs, LONGTEXT), or None."""
        name = f"{_q(staging_name(database))}.{_q(table)}"
        why = self._try(f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(map(_q, columns))})")
        if why is None:
            return None
        # MySQL words a NULL in the key as "Data truncated" or "Invalid use of NULL value".
        nulls = " OR ".join(f"{_q(c)} IS NULL" for c in columns)
        (count,) = self._run(f"SELECT COUNT(*) FROM {name} WHERE {nulls}")[0]
        return f"{count} rows have NULL in the key" if count else why

    def add_foreign_key(
        self, database: str, table: str, columns: list[str], ref_table: str, ref_columns: list[str]
    ) -> str | None:
        """Add the key, the rows unchecked (foreign_key_checks is off); the reason it failed, or None.

        InnoDB wants an index on the referenced columns: the referenced table's primary key.
        """
        staging = _q(staging_name(database))
        return self._try(
            f"ALTER TABLE {staging}.{_q(table)} ADD FOREIGN KEY ({', '.join(map(_q, columns))}) "
            f"REFERENCES {staging}.{_q(ref_table)} ({', '.join(map(_q, ref_columns))})"
        )

    def _try(self, statement: str) -> str | None:
        try:
            self._run(statement)
        except pymysql.Error as e:
            return error_message(e, None)
        return None

    def grant(self, database: str) -> None:
        """Let the reader read ``database`` (a grant outlives dropping the database)."""
        self._run(f"GRANT SELECT ON {_grant_db(database)}.* TO {self._account}")

    def record(self, database: str, digest: str, version: int) -> None:
        """Swap the staging database in for the old copy, then record it (see the module)."""
        staging = staging_name(database)
        tables = [
            name
            for (name,) in self._run(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                [staging],
            )
        ]
        self._run(f"DELETE FROM {META_SCHEMA}.loaded WHERE schema_name = %s", [database])
        self._run(f"DROP DATABASE IF EXISTS {_q(database)}")
        self._run(f"CREATE DATABASE {_q(database)} CHARACTER SET utf8mb4 COLLATE {self.collation}")
        self._move(staging, database, tables)
        self._run(f"DROP DATABASE {_q(staging)}")
        self._run(
            f"INSERT INTO {META_SCHEMA}.loaded VALUES (%s, %s, %s, UTC_TIMESTAMP(6))",
            [database, digest, version],
        )

    def _move(self, source: str, database: str, tables: list[str]) -> None:
        """Move every table of ``source`` into ``database`` in one (atomic) RENAME TABLE."""
        if tables:
            self._run(
                "RENAME TABLE "
                + ", ".join(f"{_q(source)}.{_q(t)} TO {_q(database)}.{_q(t)}" for t in tables)
            )

    def finish(self) -> tuple[str, list[str]]:
        """Let the reader read the meta table too; its URL (no database: it picks one per
        query) and notes about it."""
        self.grant(META_SCHEMA)
        url = make_url(self.url)
        reader_url = URL.create(
            url.drivername,
            username=self.reader,
            password=self.reader_password,
            host=url.host,
            port=url.port,
            query=url.query,
        )
        return reader_url.render_as_string(hide_password=False), self.notes

    def close(self) -> None:
        self.conn.close()


def _finite(row: tuple, columns: list[int], nulled: list[int]) -> tuple:
    """``row`` with the infinite floats of ``columns`` made None (counted in ``nulled``)."""
    if not any(isinstance(row[i], float) and math.isinf(row[i]) for i in columns):
        return row
    values = list(row)
    for i in columns:
        if isinstance(values[i], float) and math.isinf(values[i]):
            values[i] = None
            nulled[i] += 1
    return tuple(values)
