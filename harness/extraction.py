"""Turn a model's completion into the prediction a suite scores.

- SQL: the first fenced block if there is one (a ``sql`` fence preferred), else the
  last step's SQL of a step-by-step answer (``SubSQL 1: ...`` ... ``SubSQL k: ...``,
  each on one line), else the raw text after a leading ``SQL:``/``Answer:`` label;
  then the first statement only, and prose after a blank line or after the statement
  dropped.
- printed output (code execution): the fenced block or the raw text, stripped.
- a code line (completion): the first non-blank line of the fence or the text.
- a Python value (CRUXEval): the fence or text, without a repeated ``assert f(...) ==``.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_STEP_SQL = re.compile(r"^[ \t]*SubSQL[ \t]*\d*[ \t]*:[ \t]*(\S.*)$", re.IGNORECASE | re.MULTILINE)
_LABEL = re.compile(r"^\s*(?:sql(?:ite)? query|sql|query|answer|output)\s*:\s*", re.IGNORECASE)


def fenced(text: str, prefer: tuple[str, ...] = ()) -> str | None:
    """The body of the first fenced block (of a preferred language if any), or None.

    >>> fenced("Here:\\n```python\\nx = 1\\n```\\n```sql\\nSELECT 1\\n```", prefer=("sql",))
    'SELECT 1'
    >>> fenced("no fence") is None
    True
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    for language, body in blocks:
        if language in prefer:
            return body.strip("\n").rstrip()
    return blocks[0][1].strip("\n").rstrip() if blocks else None


def first_statement(sql: str) -> str:
    """Everything up to the first ``;`` outside quotes and comments (the ``;`` dropped).

    >>> first_statement("SELECT 'a;b' FROM t; DROP TABLE t")
    "SELECT 'a;b' FROM t"
    """
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            return sql[:i].strip()
        i += 1
    return sql.strip()


def extract_sql(text: str) -> str:
    """The SQL query in a completion.

    >>> extract_sql("```sql\\nSELECT name FROM t;\\n```\\nThis lists names.")
    'SELECT name FROM t'
    >>> extract_sql("SQL: SELECT count(*)\\nFROM t\\n\\nThe count of rows.")
    'SELECT count(*)\\nFROM t'
    >>> extract_sql("  SELECT 1; SELECT 2")
    'SELECT 1'
    >>> extract_sql("Sub-question 1: List a.\\nSubSQL 1: SELECT a FROM t\\n"
    ...             "Sub-question 2: Keep a > 1.\\nSubSQL 2: SELECT a FROM t WHERE a > 1")
    'SELECT a FROM t WHERE a > 1'
    """
    body = fenced(text, prefer=("sql", "sqlite"))
    steps = _STEP_SQL.findall(text) if body is None else []
    if steps:
        return first_statement(steps[-1])
    if body is None:
        body = _LABEL.sub("", text.strip(), count=1)
        body = re.split(r"\n\s*\n", body, maxsplit=1)[0]
    return first_statement(body)


def extract_output(text: str) -> str:
    """Printed output: the fenced block or the raw text, without a leading ``Output:``.

    >>> extract_output("Output:\\n```\\n3\\n4\\n```")
    '3\\n4'
    """
    body = fenced(text)
    if body is None:
        body = _LABEL.sub("", text.strip(), count=1)
    return body.strip("\n").rstrip()


def extract_line(text: str) -> str:
    """The first non-blank line (of the fenced block if any), indentation kept.

    >>> extract_line("\\n```python\\n    y = x + 1\\n```")
    '    y = x + 1'
    """
    body = fenced(text)
    source = body if body is not None else text
    return next((line.rstrip() for line in source.splitlines() if line.strip()), "")


def extract_value(text: str) -> str:
    """A Python literal completing ``assert f(...) == ??``.

    >>> extract_value("assert f([1, 2]) == [2, 1]")
    '[2, 1]'
    >>> extract_value("```python\\n'abc'\\n```")
    "'abc'"
    """
    body = fenced(text, prefer=("python", "py"))
    body = (body if body is not None else text).strip()
    match = re.match(r"assert\s+f\(.*\)\s*==\s*(.+)$", body, re.DOTALL)
    return (match.group(1) if match else body).strip()


EXTRACTORS = {
    "sql": extract_sql,
    "output": extract_output,
    "line": extract_line,
    "value": extract_value,
}
