"""``harness leaderboard``: the runs under a folder as a static site, Markdown or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def leaderboard_command(
    runs: Annotated[Path, typer.Option("--runs", help="Folder of runs (any depth), or one run.")],
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write the site: this page, and runs/<run>.html beside it.")] = None,
    md: Annotated[Path | None, typer.Option("--md", help="Write the table as Markdown.")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the table as CSV.")] = None,
) -> None:
    """Tabulate runs: accuracy overall and per tier, EM, VES, error and timeout rates."""
    from leaderboards.records import RunRecordError, find_runs, load_run
    from leaderboards.table import leaderboard_rows, to_csv, to_markdown

    if html is None and md is None and csv is None:
        _fail("nothing to write: give at least one of --html, --md, --csv")
    try:
        folders = find_runs(runs)
        if not folders:
            _fail(f"no run found under {runs} (a run directory holds run.json and results.json)")
        records = [load_run(folder, with_samples=html is not None) for folder in folders]
    except RunRecordError as e:
        _fail(str(e))
        return
    written: list[Path] = []
    try:
        if html is not None:
            from leaderboards.html import write_site

            written += write_site(records, html)
        rows = leaderboard_rows(records)
        for path, text in ((md, to_markdown), (csv, to_csv)):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text(rows), encoding="utf-8")
                written.append(path)
    except OSError as e:
        _fail(f"cannot write {e.filename or 'output'}: {e.strerror or e}")
    for path in written:
        typer.echo(str(path))
