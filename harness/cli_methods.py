"""``harness methods``: the training methods and their options."""

from __future__ import annotations

import typer


def methods_command() -> None:
    """List every training method with its options, defaults and help."""
    from harness import registry

    typer.echo("none                     score the base model as it is (no training)")
    for name in registry.names("trainers"):
        try:
            trainer = registry.load("trainers", name)()
            options = trainer.options()
        except Exception as e:  # a broken plugin must not hide the others
            typer.echo(f"{name:24} failed to load: {type(e).__name__}: {e}")
            continue
        doc = (type(trainer).__doc__ or "").strip().splitlines()
        typer.echo(f"\n{name:24} {doc[0] if doc else ''}")
        settings = [f"-M {option.name}={option.default!s}" for option in options]
        width = max(map(len, settings), default=0)
        for setting, option in zip(settings, options):
            typer.echo(f"  {setting:<{width}}  {option.help}")
