"""``harness suites``: list the registered suites, and show examples of one."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

suites_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False, help="List suites with their size and tier counts."
)


def _load(name: str, data: str | None, split: str):
    from harness import registry

    return registry.load("suites", name)(data, split=split)


def _resolve_tiers(suite) -> None:
    """Fill in tiers computed from the gold (Spider hardness), as scoring would."""
    if suite.resolve_tier is not None:
        for example in suite.examples:
            if example.tier is None:
                example.tier = suite.resolve_tier(example, suite.context)


def _tier_counts(suite) -> str:
    counts = Counter(ex.tier for ex in suite.examples)
    known = [t for t in suite.tiers if t in counts] + sorted(str(t) for t in counts if t not in suite.tiers)
    return ", ".join(f"{t} {counts[t]}" for t in known)


@suites_app.callback()
def list_suites(
    ctx: typer.Context,
    split: Annotated[str, typer.Option(help="Split to count.")] = "dev",
) -> None:
    """Every registered suite: its size and tier counts on a split (suites that need --data say so)."""
    if ctx.invoked_subcommand is not None:
        return
    from harness import registry
    from harness.suite import DataError

    for name in registry.names("suites"):
        try:
            suite = _load(name, None, split)
        except DataError as e:
            typer.echo(f"{name:24} needs --data ({e})" if "needs --data" not in str(e) else f"{name:24} needs --data")
            continue
        except Exception as e:  # a broken plugin must not hide the others
            typer.echo(f"{name:24} failed to load: {type(e).__name__}: {e}")
            continue
        _resolve_tiers(suite)
        typer.echo(f"{name:24} {suite.task:16} {len(suite.examples):6} examples  {_tier_counts(suite)}")


@suites_app.command("show")
def show(
    name: str,
    data: Annotated[str | None, typer.Option(help="Suite folder, for suites that need one.")] = None,
    split: Annotated[str, typer.Option(help="Split.")] = "dev",
    per_tier: Annotated[int, typer.Option(help="Examples shown per tier.")] = 2,
) -> None:
    """A few examples of each tier of one suite."""
    from harness import registry
    from harness.suite import DataError

    try:
        suite = _load(name, data, split)
    except (DataError, registry.RegistryError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    _resolve_tiers(suite)
    typer.echo(f"{suite.name}: {len(suite.examples)} examples ({split}), task {suite.task}, tiers: {_tier_counts(suite)}")
    shown: Counter[str] = Counter()
    for example in suite.examples:
        tier = str(example.tier)
        if shown[tier] >= per_tier:
            continue
        shown[tier] += 1
        typer.echo(f"\n[{tier}] {example.id}  {example.db_id}")
        typer.echo(f"  question: {example.question}")
        if example.evidence:
            typer.echo(f"  evidence: {example.evidence}")
        typer.echo(f"  gold:     {example.gold}")
