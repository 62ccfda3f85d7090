"""Prompts per task: what the model sees for an example.

- text-to-sql: the database schema as CREATE TABLE statements with primary and
  foreign keys, a few sample rows per table (``sample_rows``), the BIRD evidence
  when there is one, the question; optional few-shot question/SQL pairs.
- code-output: the program, asking for exactly what it prints.
- code-completion: the program up to the missing line, asking for that line.
- table-qa: the table as CREATE TABLE plus its first ``table_rows`` rows, asking for
  a DuckDB query over ``t``.

A suite can replace these with its own ``context["prompt"]`` function
``(example, context, options) -> GenerationRequest``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harness.suite import Suite
from harness.types import Example
from runners.base import GenerationRequest

SYSTEM = "You are an expert programmer. Answer with exactly what is asked, nothing else."


@dataclass(frozen=True)
class PromptOptions:
    sample_rows: int = 3
    table_rows: int = 30
    shots: int = 0
    dialect: str = "sqlite"  # the engine SQL prompts ask for (harness.engines): sqlite, duckdb, postgresql, mysql


DIALECT_NAMES = {"sqlite": "SQLite", "duckdb": "DuckDB", "postgresql": "PostgreSQL", "mysql": "MySQL"}


def _quote(name: str) -> str:
    return name if name.replace("_", "").isalnum() and not name[0].isdigit() else '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def sqlite_schema(db_path: str, sample_rows: int = 3, lower_names: bool = False) -> str:
    """CREATE TABLE statements (columns, types, keys) and sample rows of a SQLite database.

    Opened read-only; the statements are rebuilt from PRAGMA output, so they look
    the same whatever DDL the database was created with. ``lower_names`` shows
    table and column names in lower case, as ``harness load-db`` names them on
    other engines.
    """
    from harness.execution.sqlite import connect_readonly

    conn = connect_readonly(db_path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )]
        parts = []
        for table in tables:
            columns = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
            if lower_names:
                columns = [(c[0], c[1].lower(), *c[2:]) for c in columns]
            lines = [f"  {_quote(c[1])} {c[2] or ''}".rstrip() for c in columns]
            keys = [c[1] for c in sorted(columns, key=lambda c: c[5]) if c[5]]
            if keys:
                lines.append(f"  PRIMARY KEY ({', '.join(_quote(k) for k in keys)})")
            for fk in conn.execute(f"PRAGMA foreign_key_list({_quote(table)})").fetchall():
                if lower_names:
                    fk = tuple(v.lower() if isinstance(v, str) else v for v in fk)
                target = f"{_quote(fk[2])}({_quote(fk[4])})" if fk[4] else _quote(fk[2])
                lines.append(f"  FOREIGN KEY ({_quote(fk[3])}) REFERENCES {target}")
            shown_table = table.lower() if lower_names else table
            text = f"CREATE TABLE {_quote(shown_table)} (\n" + ",\n".join(lines) + "\n);"
            if sample_rows > 0:
                try:
                    rows = conn.execute(f"SELECT * FROM {_quote(table)} LIMIT {int(sample_rows)}").fetchall()
                except sqlite3.Error:
                    rows = []
                if rows:
                    header = " | ".join(c[1] for c in columns)
                    shown = "\n".join(" | ".join(_cell(v) for v in row) for row in rows)
                    text += f"\n/* {len(rows)} example rows:\n{header}\n{shown}\n*/"
            parts.append(text)
        return "\n\n".join(parts)
    finally:
        conn.close()


def _cell(value: Any, width: int = 40) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _shot_sql(shot: Example, dialect: str) -> str:
    """A shot's gold SQL in the prompt's dialect (as written when sqlglot cannot rewrite it)."""
    from harness.engines import engine_dialect
    from harness.engines.dialects import TranspileError, sqlite_schema, transpile

    schema = sqlite_schema(shot.db_paths[0])
    try:
        return transpile(shot.gold, source="sqlite", target=engine_dialect(dialect), names=schema.names,
                         integer_columns=schema.integer_columns)  # fmt: skip
    except TranspileError:
        return shot.gold


def sql_prompt(example: Example, options: PromptOptions, shots: list[Example]) -> str:
    if options.dialect not in DIALECT_NAMES:
        raise ValueError(f"no SQL prompt for dialect {options.dialect!r}; use one of {', '.join(DIALECT_NAMES)}")
    name, other = DIALECT_NAMES[options.dialect], options.dialect != "sqlite"
    schema = sqlite_schema(example.db_paths[0], options.sample_rows, lower_names=other)
    parts = [f"-- {name} database `{example.db_id}`:\n{schema}"]
    for shot in shots:
        hint = f"\n-- Evidence: {shot.evidence}" if shot.evidence else ""
        gold = _shot_sql(shot, options.dialect) if other else shot.gold
        parts.append(f"-- Question: {shot.question}{hint}\n{gold}")
    hint = f"\n-- Evidence: {example.evidence}" if example.evidence else ""
    parts.append(
        f"-- Question: {example.question}{hint}\n"
        f"-- Answer with one {name} query in a ```sql block, and nothing else."
    )
    return "\n\n".join(parts)


def code_output_prompt(example: Example, options: PromptOptions, shots: list[Example]) -> str:
    demos = "".join(f"```python\n{s.question.rstrip()}\n```\nOutput:\n```\n{s.gold}\n```\n\n" for s in shots)
    return (
        f"{demos}What does this program print? Answer with its exact output in a ``` block.\n"
        f"```python\n{example.question.rstrip()}\n```\nOutput:"
    )


def completion_prompt(example: Example, options: PromptOptions, shots: list[Example]) -> str:
    return (
        "Write the next line of this program (one line, with its indentation), and nothing else.\n"
        f"```python\n{example.question}"
    )


def table_prompt(example: Example, options: PromptOptions, shots: list[Example], context: dict[str, Any]) -> str:
    from harness.execution.duckdb_tables import run_table_query

    info = context["table_info_for"](example, context) if "table_info_for" in context else None
    schema = info.schema_sql() if info is not None else "CREATE TABLE t (...);"
    result = run_table_query(example.db_paths[0], f"SELECT * FROM t LIMIT {int(options.table_rows)}", timeout_s=10)
    rows = "\n".join(" | ".join(_cell(v) for v in row) for row in (result.rows or []))
    return (
        f"-- DuckDB table t:\n{schema}\n/* first rows:\n{rows}\n*/\n\n"
        f"-- Question: {example.question}\n"
        "-- Answer with one DuckDB SQL query over table t in a ```sql block, and nothing else."
    )


def build_request(suite: Suite, example: Example, options: PromptOptions, shots: list[Example]) -> GenerationRequest:
    """The prompt for one example of ``suite``, as text and as chat turns."""
    custom = suite.context.get("prompt")
    if custom is not None:
        return custom(example, suite.context, options)
    if suite.task == "text-to-sql":
        text = sql_prompt(example, options, shots)
    elif suite.task == "code-output":
        text = code_output_prompt(example, options, shots)
    elif suite.task == "code-completion":
        text = completion_prompt(example, options, shots)
    elif suite.task == "table-qa":
        text = table_prompt(example, options, shots, suite.context)
    else:
        raise ValueError(f"no prompt for task {suite.task!r} of suite {suite.name!r}; give it context['prompt']")
    return GenerationRequest(id=example.id, prompt=text, messages=(("system", SYSTEM), ("user", text)))


# what to extract from a completion, by the kind of gold a suite scores against
EXTRACTION_FOR_GOLD = {"sql": "sql", "output": "output", "line": "line", "answer": "sql"}
