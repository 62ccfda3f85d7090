"""SQLite's integer division, kept when its SQL runs on another engine.

In SQLite ``/`` of two integers is an integer, truncated toward zero (``7 / 2`` is
3, ``-7 / 2`` is -3), and ``x / 0`` is NULL. MySQL and DuckDB divide exactly
(3.5), and PostgreSQL does where an operand is NUMERIC, which its ``SUM`` of a
BIGINT column is. BIRD's gold SQL leans on SQLite's rule (``SUM(IIF(x, 1, 0)) /
COUNT(*)`` is 0 or 1 there), so a ``/`` whose operands are surely integers in
SQLite becomes the target's integer division: ``a // NULLIF(b, 0)`` (DuckDB),
``a DIV NULLIF(b, 0)`` (MySQL), ``DIV(a, NULLIF(b, 0))`` (PostgreSQL).

Surely integer: integer literals; ``COUNT``, ``LENGTH``, ``INSTR``, ``UNICODE``;
casts to an integer type; a column declared with INTEGER affinity (its type
name holds "INT") of a table the query names; ``SUM``, ``MIN``, ``MAX``,
``ABS``, unary minus, ``+ - * %`` and ``/`` of surely-integer operands;
``CASE``/``IIF`` whose every result is one (or NULL); a scalar subquery
selecting one. Anything else (``AVG``, ``ROUND``, reals, text, a column of a
derived table) is left to the target's own ``/``: the rewrite never turns a real
division into an integer one, at worst it misses an integer one. SQLite decides
per value, so a column declared INTEGER that holds reals divides exactly there and
is truncated here; ``harness load-db`` reports such columns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlglot import exp

__all__ = ["integer_division"]

_INTEGER_TYPES = exp.DataType.INTEGER_TYPES
_ALWAYS_INTEGER = (exp.Count, exp.Length, exp.StrPosition, exp.Unicode, exp.IntDiv)  # IntDiv: rewritten here
_INTEGER_OF_OPERANDS = (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Div)
_INTEGER_OF_ARGUMENT = (exp.Sum, exp.Abs, exp.Neg, exp.Paren, exp.Alias, exp.Nullif)


def integer_division(
    tree: exp.Expression, target: str, integer_columns: Mapping[str, Collection[str]]
) -> exp.Expression:
    """``tree`` (SQLite, identifiers lower-cased) with each ``/`` of surely-integer operands
    made ``target``'s integer division; ``integer_columns`` maps a table to its INTEGER columns.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one("SELECT SUM(IIF(a > 1, 1, 0)) / COUNT(*), a / 2, b / 2 FROM t", read="sqlite")
    >>> integer_division(tree, "duckdb", {"t": {"a"}}).sql("duckdb")
    'SELECT SUM(CASE WHEN a > 1 THEN 1 ELSE 0 END) // NULLIF(COUNT(*), 0), a // NULLIF(2, 0), b / NULLIF(2, 0) FROM t'
    """
    # deepest first, so an inner division is judged before it is rewritten
    divisions = sorted(tree.find_all(exp.Div), key=lambda node: -node.depth)
    if target not in ("duckdb", "mysql", "postgres") or not divisions:
        return tree  # most queries divide nothing: no table map to build for them
    columns = {table.lower(): {c.lower() for c in names} for table, names in integer_columns.items()}
    for div in divisions:
        if _integer(div.left, columns) and _integer(div.right, columns):
            right = exp.Nullif(this=div.right.copy(), expression=exp.Literal.number(0))
            left = div.left.copy()
            if target == "postgres":
                div.replace(exp.Anonymous(this="DIV", expressions=[left, right]))
            else:
                div.replace(exp.IntDiv(this=left, expression=right))
    return tree


def _integer(node: exp.Expression, columns: Mapping[str, set[str]]) -> bool:
    if isinstance(node, exp.Literal):
        return node.is_int
    if isinstance(node, _ALWAYS_INTEGER):
        return True
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return node.to.is_type(*_INTEGER_TYPES)
    if isinstance(node, _INTEGER_OF_OPERANDS):
        return _integer(node.left, columns) and _integer(node.right, columns)
    if isinstance(node, _INTEGER_OF_ARGUMENT):
        return _integer(node.this, columns)
    if isinstance(node, (exp.Min, exp.Max, exp.Greatest, exp.Least)):  # aggregate, or scalar min(a, b, ...)
        return all(_integer(arg, columns) for arg in [node.this, *node.expressions])
    if isinstance(node, exp.Anonymous) and node.name.upper() == "DIV":  # one already rewritten
        return True
    if isinstance(node, exp.If):
        return _integer_or_null(node.args.get("true"), columns) and _integer_or_null(node.args.get("false"), columns)
    if isinstance(node, exp.Case):
        results = [branch.args.get("true") for branch in node.args.get("ifs") or []] + [node.args.get("default")]
        return all(_integer_or_null(result, columns) for result in results)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and len(node.this.expressions) == 1:
        return _integer(node.this.expressions[0], columns)
    if isinstance(node, exp.Column):
        return _column_is_integer(node, columns)
    return False


def _integer_or_null(node: exp.Expression | None, columns: Mapping[str, set[str]]) -> bool:
    return node is None or isinstance(node, exp.Null) or _integer(node, columns)


def _column_is_integer(column: exp.Column, columns: Mapping[str, set[str]]) -> bool:
    """Whether ``column`` names an INTEGER column of a table of its own SELECT: by the table or
    alias it is qualified with, else the one table there that has a column of that name."""
    select = column.find_ancestor(exp.Select)
    if select is None:
        return False
    tables = {}
    for table in select.find_all(exp.Table):
        if table.find_ancestor(exp.Select) is select:
            tables[table.alias_or_name.lower()] = table.name.lower()
    name = column.name.lower()
    if column.table:
        table = tables.get(column.table.lower())
        return table is not None and name in columns.get(table, ())
    # several tables with such a column: SQLite itself refuses the name as ambiguous
    return sum(name in columns.get(table, ()) for table in set(tables.values())) == 1
