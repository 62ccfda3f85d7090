"""The PostgreSQL side of ``harness load-db``: connecting, bulk copy, keys and the reader role.

:class:`PostgresTarget` gives :func:`harness.engines.loader.load_databases` the
steps of loading one database (all inside the transaction it opens), then
:meth:`PostgresTarget.finish` leaves a login role that may only read the loaded
schemas: CONNECT, USAGE and SELECT, read-only transactions by default and a 60 s
statement timeout.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import URL, make_url

from harness.engines.naming import META_SCHEMA
from harness.engines.postgres import connect, safe_url
from harness.engines.sqlite_source import SourceTable

__all__ = ["PostgresTarget", "connect", "safe_url"]

_FORBIDDEN = {
    "rolsuper": "SUPERUSER",
    "rolcreatedb": "CREATEDB",
    "rolcreaterole": "CREATEROLE",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}


class PostgresTarget:
    """Loads schemas into the PostgreSQL database that ``url`` names, as the URL's user."""

    engine = "postgresql"
    foreign_keys_refused = None

    def __init__(self, url: str, reader: str, reader_password: str | None) -> None:
        self.url = url
        self.conn = connect(url)
        self.reader = reader
        self.reader_password = reader_password
        self.notes: list[str] = []

    def _run(self, statement: Any, params: Any = None) -> Any:
        return self.conn.execute(statement, params)

    def prepare(self) -> None:
        """The meta table, and the reader role with its settings (before any schema is granted)."""
        with self.conn.transaction():
            self._run(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(META_SCHEMA)))
            self._run(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.loaded (schema_name text PRIMARY KEY, "
                    "source_sha256 text NOT NULL, loader_version int NOT NULL, "
                    "loaded_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(META_SCHEMA))
            )
        with self.conn.transaction():
            self._ensure_reader()

    def _ensure_reader(self) -> None:
        role = sql.Identifier(self.reader)
        me = self._run("SELECT current_user, current_database()").fetchone()
        if me[0] == self.reader:
            raise ValueError(
                f"--reader {self.reader!r} is the user loading the data; "
                "name another role for read-only access"
            )
        found = self._run(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
            "rolcanlogin FROM pg_roles WHERE rolname = %s",
            [self.reader],
        ).fetchone()
        if found is None:
            self.reader_password = self.reader_password or secrets.token_urlsafe(18)
            self._run(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    role, sql.Literal(self.reader_password)
                )
            )
        else:
            extra = [word for word, on in zip(_FORBIDDEN.values(), found[:5]) if on]
            if extra:
                raise ValueError(
                    f"role {self.reader!r} already exists with {', '.join(extra)}; a reader "
                    "may have none of these: pass another --reader, or remove them"
                )
            if not found[5]:
                self._run(sql.SQL("ALTER ROLE {} LOGIN").format(role))
            if self.reader_password:
                self._run(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        role, sql.Literal(self.reader_password)
                    )
                )
            else:
                self.notes.append(
                    f"role {self.reader!r} already existed and kept its password: the URL "
                    "below has none; add it, or pass --reader-password to set a new one"
                )
        groups = self._run(
            "SELECT string_agg(g.rolname, ', ') FROM pg_auth_members m JOIN pg_roles g "
            "ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            [self.reader],
        ).fetchone()[0]
        if groups:
            self.notes.append(
                f"role {self.reader!r} is a member of {groups} and has their privileges too"
            )
        self._run(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
        self._run(sql.SQL("ALTER ROLE {} SET statement_timeout = '60s'").format(role))
        self._run(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(me[1]), role))

    @contextmanager
    def transaction(self, schema: str) -> Iterator[None]:
        """One transaction, holding a lock so two loads of ``schema`` never interleave."""
        with self.conn.transaction():
            self._run(
                "SELECT pg_advisory_xact_lock(hashtext('harness load-db'), hashtext(%s))", [schema]
            )
            yield

    def recorded(self, schema: str) -> tuple[str, int] | None:
        row = self._run(
            f"SELECT source_sha256, loader_version FROM {META_SCHEMA}.loaded "
            "WHERE schema_name = %s",
            [schema],
        ).fetchone()
        return (row[0], row[1]) if row else None

    def table_count(self, schema: str) -> int | None:
        """How many tables ``schema`` holds; None if there is no such schema."""
        row = self._run(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid AND relkind = 'r') "
            "FROM pg_namespace n WHERE nspname = %s",
            [schema],
        ).fetchone()
        return row[0] if row else None

    def replace_schema(self, schema: str) -> None:
        self._run(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        self._run(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    def create_table(self, schema: str, table: SourceTable) -> list[str]:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c.target), sql.SQL(c.type.postgresql))
            for c in table.columns
        )
        self._run(
            sql.SQL("CREATE TABLE {}.{} ({})").format(
                sql.Identifier(schema), sql.Identifier(table.target), columns
            )
        )
        return [
            f"{table.target}.{name}: longer than 63 bytes, so PostgreSQL cut the name short"
            for name in [table.target, *(c.target for c in table.columns)]
            if len(name.encode()) > 63
        ]

    def copy(self, schema: str, table: SourceTable) -> list[str]:
        """COPY the rows in; NUL characters (PostgreSQL text cannot hold them) are dropped."""
        strip = [
            i
            for i, c in enumerate(table.columns)
            if c.type.kind == "text" and (c.profile.nul or c.read_as_text)
        ]
        stripped = [0] * len(table.columns)
        statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
            sql.Identifier(schema),
            sql.Identifier(table.target),
            sql.SQL(", ").join(sql.Identifier(c.target) for c in table.columns),
        )
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for rows in table.chunks():
                for row in rows:
                    if strip:
                        row = list(row)
                        for i in strip:
                            if isinstance(row[i], str) and "\x00" in row[i]:
                                row[i] = row[i].replace("\x00", "")
                                stripped[i] += 1
                    copy.write_row(row)
        return [
            f"{table.target}.{c.target}: NUL characters removed from {n} values "
            "(PostgreSQL text cannot hold them)"
            for c, n in zip(table.columns, stripped)
            if n
        ]

    def add_primary_key(self, schema: str, table: str, columns: list[str]) -> str | None:
        """Add the key in a savepoint; the reason it was refused (duplicates, NULLs), or None."""
        statement = sql.SQL("ALTER TABLE {}.{} ADD PRIMARY KEY ({})").format(
            sql.Identifier(schema),
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
        )
        return self._try(statement)

    def add_foreign_key(
        self, schema: str, table: str, columns: list[str], ref_table: str, ref_columns: list[str]
    ) -> str | None:
        """Add the key NOT VALID (existing rows are not checked); the reason it failed, or None."""

        def names(items: list[str]) -> sql.Composable:
            return sql.SQL(", ").join(map(sql.Identifier, items))

        statement = sql.SQL(
            "ALTER TABLE {}.{} ADD FOREIGN KEY ({}) REFERENCES {}.{} ({}) NOT VALID"
        ).format(
            sql.Identifier(schema),
            sql.Identifier(table),
            names(columns),
            sql.Identifier(schema),
            sql.Identifier(ref_table),
            names(ref_columns),
        )
        return self._try(statement)

    def _try(self, statement: Any) -> str | None:
        try:
            with self.conn.transaction():
                self._run(statement)
        except psycopg.Error as e:
            return " ".join(str(e).split())
        return None

    def grant(self, schema: str) -> None:
        """Let the reader read (only read) ``schema``; part of the load's transaction."""
        names = {"schema": sql.Identifier(schema), "role": sql.Identifier(self.reader)}
        for statement in (
            "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM PUBLIC, {role}",
            "REVOKE ALL ON SCHEMA {schema} FROM PUBLIC, {role}",
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
        ):
            self._run(sql.SQL(statement).format(**names))

    def record(self, schema: str, digest: str, version: int) -> None:
        self._run(
            f"INSERT INTO {META_SCHEMA}.loaded (schema_name, source_sha256, loader_version) "
            "VALUES (%s, %s, %s) ON CONFLICT (schema_name) DO UPDATE SET "
            "source_sha256 = excluded.source_sha256, loader_version = excluded.loader_version, "
            "loaded_at = now()",
            [schema, digest, version],
        )

    def finish(self) -> tuple[str, list[str]]:
        """Grant the meta schema too; the reader's URL and notes about it."""
        with self.conn.transaction():
            self.grant(META_SCHEMA)
        admin = make_url(self.url)
        # URL.set(password=None) keeps the admin's password: build the reader's URL afresh
        reader_url = URL.create(admin.drivername, self.reader, self.reader_password, admin.host, admin.port,
                                admin.database, admin.query)  # fmt: skip
        return reader_url.render_as_string(hide_password=False), self.notes

    def close(self) -> None:
        self.conn.close()
