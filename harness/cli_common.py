"""What the ``eval`` and ``run`` commands share: loading a suite, the code opt-in, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from harness import registry
from harness.suite import Suite


def command_errors() -> tuple[type[Exception], ...]:
    """What ``eval`` and ``run`` report as one ``error:`` line, not a traceback: bad input or
    settings, an unreachable cluster, a failed shard; each message says what to do."""
    from harness.sharding import ShardFailed
    from harness.suite import DataError

    return (DataError, registry.RegistryError, FileNotFoundError, ValueError, PermissionError, ImportError,
            ConnectionError, ShardFailed)  # fmt: skip


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


def sql_dialect(name: str) -> str:
    """A sqlglot dialect from an engine name (``postgresql``) or a dialect name (``postgres``, ``mysql``).

    >>> sql_dialect("postgresql"), sql_dialect("sqlite")
    ('postgres', 'sqlite')
    """
    import sqlglot

    from harness.engines import DIALECTS

    dialect = DIALECTS.get(name.lower(), name.lower())
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as e:
        raise ValueError(f"unknown SQL dialect {name!r}: {e}") from e
    return dialect


def engine_options(
    engine: str, db_url: str | None, db_schema: str | None, suite: Suite, *, pred_dialect: str | None = None
) -> dict[str, Any]:
    """The engine part of EvalOptions for ``--engine/--db-url/--db-schema/--pred-dialect``, checked."""
    from harness.engines import EngineSpec

    spec = EngineSpec(engine, db_url, db_schema)
    if engine != "sqlite" and suite.task != "text-to-sql":
        raise ValueError(f"--engine {engine} applies to Text-to-SQL suites; {suite.name!r} is {suite.task}")
    if engine == "duckdb" and db_url and "://" not in db_url:
        db_url = str(Path(db_url).resolve())
    if engine != "sqlite":
        check_engine(EngineSpec(engine, db_url, db_schema), suite)
    return {
        "engine": spec.name,
        "db_url": db_url,
        "db_schema": db_schema,
        "gold_dialect": suite.gold_dialect,
        "pred_dialect": sql_dialect(pred_dialect) if pred_dialect else None,
    }


def check_engine(spec: Any, suite: Suite) -> None:
    """Connect once before any work starts: a bad URL, a writable role or a database not loaded is
    an error now, with the fix, not a failure in every example."""
    from harness.engines import open_engine

    db_paths = [path for example in suite.examples for path in example.db_paths]
    engine = open_engine(spec)
    try:
        missing = engine.missing(db_paths)
    except RuntimeError as e:
        raise ValueError(str(e)) from e
    finally:
        engine.close()
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(
            f"the {spec.name} data at --db-url has no schema {shown}; load the suite's databases with "
            f"`harness load-db --suite {suite.name} --engine {spec.name} --url <admin URL>`"
            + (" or check --db-schema" if spec.schema else "")
        )


def report_skipped(suite: Suite) -> None:
    if suite.skipped:
        skipped = ", ".join(f"{db} ({n})" for db, n in sorted(suite.skipped.items()))
        typer.echo(f"skipped {sum(suite.skipped.values())} examples with a missing database: {skipped}", err=True)
