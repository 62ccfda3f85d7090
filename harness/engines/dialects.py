"""SQL written for one engine, rewritten with sqlglot for another.

Gold SQL of Spider and BIRD is written for SQLite; ``transpile`` rewrites it for
the engine that runs it, and does the same to predictions written for SQLite
(``--pred-dialect sqlite``). Beyond sqlglot's own translation (function names,
``NULLS`` ordering, ``IIF``, ``GROUP_CONCAT``...), three SQLite rules are kept:

- **Double-quoted strings.** SQLite reads ``"Bob"`` as an identifier when a
  column of that name exists and as the string ``'Bob'`` otherwise (Spider's
  gold relies on it). With the database's names at hand (``names``), such a
  quoted name that is no column, table or alias becomes a string literal.
- **Names without case.** SQLite compares identifiers without regard to case,
  quoted or not; every identifier is lowered, which is how ``harness load-db``
  names tables and columns on the other engines (``harness.engines.naming``).
- **LIKE without case.** SQLite's ``LIKE`` ignores the case of ASCII letters;
  PostgreSQL's and DuckDB's do not, so it becomes ``ILIKE`` there.
- **Bare columns in an aggregate query.** SQLite lets ``SELECT T2.name, count(*)
  ... GROUP BY T1.id`` name a column that is neither grouped nor aggregated and
  takes it from some row of the group; PostgreSQL refuses. Where the query's
  aggregates are not a single ``max()``/``min()``, such a column becomes
  ``MIN(column)``: the same value whenever the column has one value per group
  (the case such queries are written for). With a single ``max()``/``min()``
  SQLite takes the column from the row that holds the extreme, which has no
  plain PostgreSQL form; those queries stay as they are (and fail there).
- **Derived tables need no name.** SQLite takes ``FROM (SELECT ...)``; PostgreSQL
  before 16 wants an alias, so an unnamed one is called ``_derived1``, ...
- **Decimal literals are doubles.** ``1.5`` is a REAL (a double) in SQLite but an
  exact NUMERIC in PostgreSQL and a DECIMAL in DuckDB, so ``price * 1.1`` would
  round differently; such literals are cast to ``DOUBLE PRECISION``.
- **Integer division.** ``/`` of two integers truncates in SQLite; where the
  operands are surely integers (the database's INTEGER columns at hand,
  ``integer_columns``), it becomes the target's integer division
  (``harness.engines.integer_division``).

>>> transpile('SELECT Name FROM Singer WHERE Country = "France" AND name LIKE "a%"',
...           source="sqlite", target="postgres", names={"singer", "name", "country"})
"SELECT name FROM singer WHERE country = 'France' AND name ILIKE 'a%'"
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from harness.engines.integer_division import integer_division

__all__ = ["SqliteSchema", "TranspileError", "sqlite_names", "sqlite_schema", "transpile"]


class TranspileError(ValueError):
    """sqlglot could not read or rewrite the SQL."""


@dataclass(frozen=True)
class SqliteSchema:
    """What ``transpile`` needs of a SQLite database: every table and column name, and each
    table's columns of INTEGER affinity; all lower-cased."""

    names: frozenset[str]
    integer_columns: Mapping[str, frozenset[str]]


@lru_cache(maxsize=256)
def sqlite_schema(db_path: str) -> SqliteSchema:
    """The :class:`SqliteSchema` of the database at ``db_path`` (read-only; from its declarations,
    no table is scanned)."""
    from harness.engines.column_types import affinity
    from harness.execution.sqlite import connect_readonly

    conn = connect_readonly(db_path)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        names, integers = {name.lower() for name in tables}, {}
        for table in tables:
            columns = [(row[1].lower(), row[2] or "") for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
            names.update(name for name, _ in columns)
            integers[table.lower()] = frozenset(name for name, declared in columns if affinity(declared) == "integer")
        return SqliteSchema(frozenset(names), integers)
    finally:
        conn.close()


def sqlite_names(db_path: str) -> frozenset[str]:
    """The lower-cased names of every table and column of a SQLite database (read-only)."""
    return sqlite_schema(db_path).names


def _defined_names(tree: exp.Expression) -> set[str]:
    names = {alias.alias.lower() for alias in tree.find_all(exp.Alias) if alias.alias}
    names.update(node.name.lower() for node in tree.find_all(exp.TableAlias) if node.name)
    names.update(column.name.lower() for node in tree.find_all(exp.TableAlias) for column in node.columns)
    return names


def _quoted_strings(tree: exp.Expression, names: Collection[str]) -> exp.Expression:
    known = {name.lower() for name in names} | _defined_names(tree)
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if (isinstance(ident, exp.Identifier) and ident.quoted and not column.table
                and ident.name.lower() not in known):  # fmt: skip
            column.replace(exp.Literal.string(ident.name))
    return tree


def _case_free_like(tree: exp.Expression) -> exp.Expression:
    for like in list(tree.find_all(exp.Like)):
        like.replace(exp.ILike(this=like.this, expression=like.expression))
    return tree


def _double_literals(tree: exp.Expression) -> exp.Expression:
    for literal in list(tree.find_all(exp.Literal)):
        if not literal.is_string and any(mark in literal.this for mark in ".eE"):
            literal.replace(exp.cast(literal.copy(), exp.DataType.Type.DOUBLE))
    return tree


def _owner(node: exp.Expression) -> exp.Select | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        parent = parent.parent
    return parent


def _aggregates(select: exp.Select) -> list[exp.AggFunc]:
    return [agg for expression in select.expressions for agg in expression.find_all(exp.AggFunc)
            if _owner(agg) is select]  # fmt: skip


def _bare_columns(tree: exp.Expression) -> exp.Expression:
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        aggregates = _aggregates(select)
        if group is None and not aggregates:
            continue
        if len(aggregates) == 1 and isinstance(aggregates[0], (exp.Max, exp.Min)):
            continue
        grouped = {key.sql() for key in (group.expressions if group else [])}
        aliases = {e.alias for e in select.expressions if e.alias}
        places = [*select.expressions, *(select.args["order"].expressions if select.args.get("order") else [])]
        for place in places:
            for column in list(place.find_all(exp.Column)):
                if _owner(column) is not select or (not column.table and column.name in aliases):
                    continue
                node, covered = column, False
                while node is not None and node is not place.parent and not covered:
                    covered = isinstance(node, exp.AggFunc) or node.sql() in grouped
                    node = node.parent
                if not covered:
                    column.replace(exp.Min(this=column.copy()))
    return tree


def _name_derived_tables(tree: exp.Expression) -> exp.Expression:
    for number, subquery in enumerate(tree.find_all(exp.Subquery), start=1):
        if isinstance(subquery.parent, (exp.From, exp.Join)) and not subquery.alias:
            subquery.set("alias", exp.TableAlias(this=exp.to_identifier(f"_derived{number}")))
    return tree


def transpile(sql: str, *, source: str, target: str, names: Collection[str] | None = None,
              integer_columns: Mapping[str, Collection[str]] | None = None) -> str:
    """``sql`` written for dialect ``source`` rewritten for ``target`` (sqlglot dialect names).

    ``names`` (the database's table and column names) lets a SQLite
    double-quoted string be told from an identifier; without it quoted names
    stay identifiers. ``integer_columns`` (table to its INTEGER columns, as in
    :class:`SqliteSchema`) lets a division of such columns stay an integer one;
    without it only literals, counts and the like are known to be integers. Several statements stay several (joined by ``; ``), so
    the engine refuses them as it would have. Raises TranspileError when
    sqlglot cannot read the SQL. Same source and target: ``sql`` unchanged.

    >>> transpile("SELECT count(*) FROM t", source="sqlite", target="sqlite")
    'SELECT count(*) FROM t'
    >>> transpile("SELECT a FROM t ORDER BY a DESC LIMIT 1", source="sqlite", target="postgres")
    'SELECT a FROM t ORDER BY a DESC NULLS LAST LIMIT 1'
    """
    if source == target:
        return sql
    try:
        trees = [tree for tree in sqlglot.parse(sql, read=source) if tree is not None]
        if not trees:
            raise TranspileError("no SQL statement")
        out = []
        for tree in trees:
            if source == "sqlite":
                if names is not None:
                    tree = _quoted_strings(tree, names)
                tree = normalize_identifiers(tree, dialect=source)
                if target != "sqlite":
                    tree = _name_derived_tables(_bare_columns(_double_literals(_case_free_like(tree))))
                    tree = integer_division(tree, target, integer_columns or {})
            out.append(tree.sql(dialect=target))
    except SqlglotError as e:
        raise TranspileError(f"sqlglot cannot rewrite this {source} SQL for {target}: {str(e).splitlines()[0]}") from e
    return "; ".join(out)
