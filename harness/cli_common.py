"""What the ``eval`` and ``run`` commands share: loading a suite, the code opt-in, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from harness import registry
from harness.suite import Suite


def parse_suite_args(pairs: list[str]) -> dict[str, object]:
    """``["seed=3", "size=tiny"]`` -> ``{"seed": 3, "size": "tiny"}`` (integers where they parse).

    >>> parse_suite_args(["seed=3", "size=tiny"])
    {'seed': 3, 'size': 'tiny'}
    """
    parsed: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--suite-arg {pair!r}: expected KEY=VALUE")
        parsed[key.strip().replace("-", "_")] = parse_value(value)
    return parsed


def parse_value(text: str) -> object:
    """An option value from the command line: int, float, bool, null, or the string.

    >>> [parse_value(v) for v in ("3", "1e-3", "true", "none", "stack")]
    [3, 0.001, True, None, 'stack']
    """
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load_suite(
    name: str,
    data: str | None,
    *,
    split: str,
    db_dir: Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
    suite_args: list[str] | None = None,
) -> Suite:
    """Load a registered suite; a loader option it does not take is a ValueError naming it."""
    loader = registry.load("suites", name)
    kwargs: dict[str, Any] = {"split": split, "db_dir": db_dir, "skip_missing_db": skip_missing_db, "limit": limit}
    kwargs.update(parse_suite_args(suite_args or []))
    try:
        return loader(data, **kwargs)
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        raise ValueError(f"suite {name!r} does not take that --suite-arg: {e}") from e


def require_code_opt_in(suite: Suite, allowed: bool) -> None:
    """Refuse, before any work starts, to score a suite that runs model-written code without the opt-in."""
    if suite.runs_model_code and not allowed:
        raise PermissionError(
            f"scoring suite {suite.name!r} runs model-written Python; pass --allow-code-execution "
            "(programs run in the sandbox: separate process, resource limits, no network, temp dir)"
        )


def report_skipped(suite: Suite) -> None:
    if suite.skipped:
        skipped = ", ".join(f"{db} ({n})" for db, n in sorted(suite.skipped.items()))
        typer.echo(f"skipped {sum(suite.skipped.values())} examples with a missing database: {skipped}", err=True)
