"""``harness load-db``: copy a suite's SQLite databases into PostgreSQL, MySQL or a DuckDB file, so
that ``harness eval --engine postgresql|mysql|duckdb --db-url ...`` can score on them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def load_db_command(
    suite: Annotated[
        str, typer.Option(help="Suite name (see harness suites); default: the generated synth-sql.")
    ] = "synth-sql",
    data: Annotated[
        str | None,
        typer.Option(help="Suite folder in its official layout, a saved dataset, or a dataset id."),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Split whose databases to load: dev, train, mini_dev (BIRD).")
    ] = "dev",
    db_dir: Annotated[
        Path | None, typer.Option(help="Database folder, if not the layout's default.")
    ] = None,
    suite_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--suite-arg", "-S", help="KEY=VALUE passed to the suite loader, e.g. -S size=tiny."
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="Where to load: postgresql, mysql (MySQL 8 or MariaDB) or duckdb.")
    ] = "postgresql",
    url: Annotated[
        str,
        typer.Option(
            "--url",
            "--db-url",
            help="PostgreSQL: a SQLAlchemy URL of a role that may create schemas and roles "
            "(the database must exist). MySQL: mysql+pymysql://USER:PASSWORD@HOST:PORT/ of an "
            "account that may create databases and users (root, say). DuckDB: the file to write.",
        ),
    ] = "",
    reader: Annotated[
        str,
        typer.Option(
            help="PostgreSQL, MySQL: the read-only login role (MySQL: account 'NAME'@'%') "
            "to create or update for harness eval."
        ),
    ] = "harness_reader",
    reader_password: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL, MySQL: the reader's password (default: a random one for a new "
            "role or account; an existing one keeps its own)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Reload databases that are already up to date.")
    ] = False,
    skip_missing_db: Annotated[
        bool, typer.Option(help="Skip examples whose database file is absent.")
    ] = False,
) -> None:
    """Load a suite's databases into PostgreSQL, MySQL or DuckDB, one schema (MySQL: database)
    per database."""
    from harness.cli import fail
    from harness.cli_common import load_suite, report_skipped
    from harness.engines.loader import DatabaseLoad, load_databases
    from harness.registry import RegistryError
    from harness.suite import DataError

    if not url:
        fail(f"--db-url is required: where to load (engine {engine})")
    try:
        loaded = load_suite(
            suite,
            data,
            split=split,
            db_dir=db_dir,
            skip_missing_db=skip_missing_db,
            suite_args=suite_arg or [],
        )
    except (DataError, RegistryError, FileNotFoundError, ValueError) as e:
        fail(str(e))
        return
    report_skipped(loaded)
    db_paths = list(dict.fromkeys(path for example in loaded.examples for path in example.db_paths))
    if not db_paths:
        fail(f"suite {loaded.name!r} ({split}) names no SQLite databases; nothing to load")
    try:
        with typer.progressbar(length=len(db_paths), label="load-db", file=sys.stderr) as bar:

            def progress(done: DatabaseLoad, count: int, total: int) -> None:
                bar.label = f"{done.schema} ({done.status})"
                bar.update(1)

            report = load_databases(
                db_paths,
                engine,
                url,
                reader=reader,
                reader_password=reader_password,
                force=force,
                progress=progress,
            )
    except (FileNotFoundError, ValueError, RuntimeError, PermissionError) as e:
        fail(str(e))
        return
    typer.echo(report.render())
    typer.echo(f"read-only URL for harness eval --engine {engine} --db-url: {report.reader_url}")
