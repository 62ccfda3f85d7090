"""Spider's SQL tokenizer and parser: a port of ``process_sql.py``.

Ported from taoyds/spider ``process_sql.py`` (the copy test-suite-sql-eval's
``evaluation.py`` imports), Copyright Tao Yu et al., Apache License 2.0. The
logic, including its quirks, is kept: the same token list, the same nested
``dict`` (see :func:`get_sql`), and a failure wherever the original raises.

The original splits words with ``nltk.word_tokenize``, which needs NLTK's
downloaded Punkt model at run time; :mod:`harness.metrics.word_tokenize`
re-implements it without NLTK.

>>> tokenize("SELECT T1.name FROM singer AS T1 WHERE T1.age >= 20 AND name != 'Joe'")
['select', 't1.name', 'from', 'singer', 'as', 't1', 'where', 't1.age', '>=', '20', 'and', 'name', '!=', '"Joe"']
>>> schema = Schema({"singer": ["singer_id", "name", "age"]})
>>> sql = get_sql(schema, "SELECT count(*) FROM singer WHERE age > 20")
>>> sql["select"], sql["where"]
((False, [(3, (0, (0, '__all__', False), None))]), [(False, 3, (0, (0, '__singer.age__', False), None), 20.0, None)])
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.metrics.word_tokenize import word_tokenize

CLAUSE_KEYWORDS = ("select", "from", "where", "group", "order", "limit", "intersect", "union", "except")
JOIN_KEYWORDS = ("join", "on", "as")
WHERE_OPS = ("not", "between", "=", ">", "<", ">=", "<=", "!=", "in", "like", "is", "exists")
UNIT_OPS = ("none", "-", "+", "*", "/")
AGG_OPS = ("none", "max", "min", "count", "sum", "avg")
TABLE_TYPE = {"sql": "sql", "table_unit": "table_unit"}
COND_OPS = ("and", "or")
SQL_OPS = ("intersect", "union", "except")
ORDER_OPS = ("desc", "asc")


class SpiderParseError(ValueError):
    """The official Spider parser rejects this SQL."""


def tokenize(sql: str) -> list[str]:
    """``process_sql.tokenize``: quoted values become single tokens, the rest is lower-cased.

    Single quotes are turned into double quotes first, so an odd number of quote
    characters of either kind is an error.

    >>> tokenize("select * from t where a ! = \\"x y\\"")
    ['select', '*', 'from', 't', 'where', 'a', '!=', '"x y"']
    """
    sql = str(sql).replace("'", '"')
    quote_idxs = [i for i, ch in enumerate(sql) if ch == '"']
    if len(quote_idxs) % 2:
        raise SpiderParseError("Unexpected quote")
    vals = {}
    for i in range(len(quote_idxs) - 1, -1, -2):
        q1, q2 = quote_idxs[i - 1], quote_idxs[i]
        key = f"__val_{q1}_{q2}__"
        vals[key] = sql[q1 : q2 + 1]
        sql = sql[:q1] + key + sql[q2 + 1 :]
    toks = [vals.get(w, w) for w in (word.lower() for word in word_tokenize(sql))]
    for eq_idx in reversed([i for i, tok in enumerate(toks) if tok == "="]):
        pre = toks[eq_idx - 1]  # index -1 when '=' comes first, as in the original
        if pre in ("!", ">", "<"):
            toks = toks[: eq_idx - 1] + [pre + "="] + toks[eq_idx + 1 :]
    return toks


def prediction_from_line(line: str) -> str:
    """The prediction ``evaluate()`` reads from one line of a prediction file.

    The line is stripped and cut at its first tab. (A blank line separates
    interactions there: a Spider prediction file with one fails its
    "number of sessions must equal" check.)

    >>> prediction_from_line("SELECT a FROM t ;\\r\\n")
    'SELECT a FROM t ;'
    >>> prediction_from_line("SELECT a FROM t WHERE x IN ( \\tSELECT b FROM u )")
    'SELECT a FROM t WHERE x IN ( '
    """
    return line.strip().split("\t")[0]


def plug_value_placeholder(pred: str) -> str:
    """``evaluate()`` turns the placeholder word ``value`` into ``1`` before scoring a prediction.

    >>> plug_value_placeholder("SELECT a FROM t WHERE b = value ")
    'SELECT a FROM t WHERE b = 1 '
    """
    return pred.replace(" value ", " 1 ")


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


class Schema:
    """Table and column names mapped to the ids the parsed SQL uses.

    >>> Schema({"Singer": ["Name"]}).idMap
    {'*': '__all__', 'singer.name': '__singer.name__', 'singer': '__singer__'}
    """

    def __init__(self, schema: dict[str, list[str]]):
        self._schema = schema
        id_map = {"*": "__all__"}
        for key, vals in schema.items():
            for val in vals:
                id_map[f"{key.lower()}.{val.lower()}"] = f"__{key.lower()}.{val.lower()}__"
        for key in schema:
            id_map[key.lower()] = f"__{key.lower()}__"
        self._id_map = id_map

    @property
    def schema(self) -> dict[str, list[str]]:
        return self._schema

    @property
    def idMap(self) -> dict[str, str]:  # noqa: N802 - the original's name
        return self._id_map


@lru_cache(maxsize=256)
def _cached_schema(path: str) -> Schema:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT name FROM sqlite_master WHERE type='table';")
        tables = [str(row[0].lower()) for row in cursor.fetchall()]
        schema = {}
        for table in tables:
            cursor.execute(f"PRAGMA table_info({table})")  # unquoted, as the original
            schema[table] = [str(col[1].lower()) for col in cursor.fetchall()]
        return Schema(schema)
    finally:
        conn.close()


def schema_from_sqlite(db_path: str | Path) -> Schema:
    """The schema ``get_schema`` reads: every table of ``sqlite_master``, names lower-cased.

    Opened read-only (the original would create a missing file). Cached by path.
    """
    if not Path(db_path).is_file():
        raise FileNotFoundError(db_path)
    return _cached_schema(str(db_path))


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


def _check(cond: Any, message: str = "parse error") -> None:
    if not cond:
        raise SpiderParseError(message)


class _Parser:
    """The recursive-descent functions of process_sql.py, one method each."""

    def __init__(self, toks: list[str], tables_with_alias: dict[str, str], schema: Schema):
        self.toks = toks
        self.tables_with_alias = tables_with_alias
        self.schema = schema

    def parse_col(self, start_idx: int, default_tables: list[str] | None, toks: list[str] | None = None):
        toks = self.toks if toks is None else toks
        tok = toks[start_idx]
        if tok == "*":
            return start_idx + 1, self.schema.idMap[tok]
        if "." in tok:
            alias, col = tok.split(".")
            return start_idx + 1, self.schema.idMap[self.tables_with_alias[alias] + "." + col]
        _check(default_tables, "Default tables should not be None or empty")
        for alias in default_tables:
            table = self.tables_with_alias[alias]
            if tok in self.schema.schema[table]:
                return start_idx + 1, self.schema.idMap[table + "." + tok]
        raise SpiderParseError(f"Error col: {tok}")

    def parse_col_unit(self, start_idx: int, default_tables, toks: list[str] | None = None):
        toks = self.toks if toks is None else toks
        idx, len_ = start_idx, len(toks)
        is_block = is_distinct = False
        if toks[idx] == "(":
            is_block = True
            idx += 1
        if toks[idx] in AGG_OPS:
            agg_id = AGG_OPS.index(toks[idx])
            idx += 1
            _check(idx < len_ and toks[idx] == "(")
            idx += 1
            if toks[idx] == "distinct":
                idx += 1
                is_distinct = True
            idx, col_id = self.parse_col(idx, default_tables, toks)
            _check(idx < len_ and toks[idx] == ")")
            return idx + 1, (agg_id, col_id, is_distinct)
        if toks[idx] == "distinct":
            idx += 1
            is_distinct = True
        idx, col_id = self.parse_col(idx, default_tables, toks)
        if is_block:
            _check(toks[idx] == ")")
            idx += 1
        return idx, (AGG_OPS.index("none"), col_id, is_distinct)

    def parse_val_unit(self, start_idx: int, default_tables):
        toks = self.toks
        idx, len_ = start_idx, len(toks)
        is_block = toks[idx] == "("
        if is_block:
            idx += 1
        col_unit2 = None
        unit_op = UNIT_OPS.index("none")
        idx, col_unit1 = self.parse_col_unit(idx, default_tables)
        if idx < len_ and toks[idx] in UNIT_OPS:
            unit_op = UNIT_OPS.index(toks[idx])
            idx, col_unit2 = self.parse_col_unit(idx + 1, default_tables)
        if is_block:
            _check(toks[idx] == ")")
            idx += 1
        return idx, (unit_op, col_unit1, col_unit2)

    def parse_table_unit(self, start_idx: int):
        toks = self.toks
        key = self.tables_with_alias[toks[start_idx]]
        idx = start_idx + 3 if start_idx + 1 < len(toks) and toks[start_idx + 1] == "as" else start_idx + 1
        return idx, self.schema.idMap[key], key

    def parse_value(self, start_idx: int, default_tables):
        toks = self.toks
        idx, len_ = start_idx, len(toks)
        is_block = toks[idx] == "("
        if is_block:
            idx += 1
        if toks[idx] == "select":
            idx, val = self.parse_sql(idx)
        elif '"' in toks[idx]:
            val = toks[idx]
            idx += 1
        else:
            try:
                val = float(toks[idx])
                idx += 1
            except ValueError:
                end_idx = idx
                while (
                    end_idx < len_
                    and toks[end_idx] not in (",", ")", "and")
                    and toks[end_idx] not in CLAUSE_KEYWORDS
                    and toks[end_idx] not in JOIN_KEYWORDS
                ):
                    end_idx += 1
                # the original re-slices from start_idx, i.e. before any '('
                _, val = self.parse_col_unit(0, default_tables, toks[start_idx:end_idx])
                idx = end_idx
        if is_block:
            _check(toks[idx] == ")")
            idx += 1
        return idx, val

    def parse_condition(self, start_idx: int, default_tables):
        toks = self.toks
        idx, len_ = start_idx, len(toks)
        conds: list[Any] = []
        while idx < len_:
            idx, val_unit = self.parse_val_unit(idx, default_tables)
            not_op = False
            if toks[idx] == "not":
                not_op = True
                idx += 1
            _check(idx < len_ and toks[idx] in WHERE_OPS, "Error condition")
            op_id = WHERE_OPS.index(toks[idx])
            idx += 1
            val2 = None
            if op_id == WHERE_OPS.index("between"):
                idx, val1 = self.parse_value(idx, default_tables)
                _check(toks[idx] == "and")
                idx, val2 = self.parse_value(idx + 1, default_tables)
            else:
                idx, val1 = self.parse_value(idx, default_tables)
            conds.append((not_op, op_id, val_unit, val1, val2))
            if idx < len_ and (toks[idx] in CLAUSE_KEYWORDS or toks[idx] in (")", ";") or toks[idx] in JOIN_KEYWORDS):
                break
            if idx < len_ and toks[idx] in COND_OPS:
                conds.append(toks[idx])
                idx += 1
        return idx, conds

    def parse_select(self, start_idx: int, default_tables):
        toks = self.toks
        idx, len_ = start_idx, len(toks)
        _check(toks[idx] == "select", "'select' not found")
        idx += 1
        is_distinct = False
        if idx < len_ and toks[idx] == "distinct":
            idx += 1
            is_distinct = True
        val_units = []
        while idx < len_ and toks[idx] not in CLAUSE_KEYWORDS:
            agg_id = AGG_OPS.index("none")
            if toks[idx] in AGG_OPS:
                agg_id = AGG_OPS.index(toks[idx])
                idx += 1
            idx, val_unit = self.parse_val_unit(idx, default_tables)
            val_units.append((agg_id, val_unit))
            if idx < len_ and toks[idx] == ",":
                idx += 1
        return idx, (is_distinct, val_units)

    def parse_from(self, start_idx: int):
        toks = self.toks
        _check("from" in toks[start_idx:], "'from' not found")
        len_ = len(toks)
        idx = toks.index("from", start_idx) + 1
        default_tables: list[str] = []
        table_units: list[tuple[str, Any]] = []
        conds: list[Any] = []
        while idx < len_:
            is_block = toks[idx] == "("
            if is_block:
                idx += 1
            if toks[idx] == "select":
                idx, sql = self.parse_sql(idx)
                table_units.append((TABLE_TYPE["sql"], sql))
            else:
                if idx < len_ and toks[idx] == "join":
                    idx += 1
                idx, table_unit, table_name = self.parse_table_unit(idx)
                table_units.append((TABLE_TYPE["table_unit"], table_unit))
                default_tables.append(table_name)
            if idx < len_ and toks[idx] == "on":
                idx, this_conds = self.parse_condition(idx + 1, default_tables)
                if conds:
                    conds.append("and")
                conds.extend(this_conds)
            if is_block:
                _check(toks[idx] == ")")
                idx += 1
            if idx < len_ and (toks[idx] in CLAUSE_KEYWORDS or toks[idx] in (")", ";")):
                break
        return idx, table_units, conds, default_tables

    def parse_where(self, idx: int, default_tables):
        if idx >= len(self.toks) or self.toks[idx] != "where":
            return idx, []
        return self.parse_condition(idx + 1, default_tables)

    def parse_group_by(self, idx: int, default_tables):
        toks, len_ = self.toks, len(self.toks)
        col_units: list[Any] = []
        if idx >= len_ or toks[idx] != "group":
            return idx, col_units
        idx += 1
        _check(toks[idx] == "by")
        idx += 1
        while idx < len_ and not (toks[idx] in CLAUSE_KEYWORDS or toks[idx] in (")", ";")):
            idx, col_unit = self.parse_col_unit(idx, default_tables)
            col_units.append(col_unit)
            if idx < len_ and toks[idx] == ",":
                idx += 1
            else:
                break
        return idx, col_units

    def parse_order_by(self, idx: int, default_tables):
        toks, len_ = self.toks, len(self.toks)
        val_units: list[Any] = []
        order_type = "asc"
        if idx >= len_ or toks[idx] != "order":
            return idx, val_units
        idx += 1
        _check(toks[idx] == "by")
        idx += 1
        while idx < len_ and not (toks[idx] in CLAUSE_KEYWORDS or toks[idx] in (")", ";")):
            idx, val_unit = self.parse_val_unit(idx, default_tables)
            val_units.append(val_unit)
            if idx < len_ and toks[idx] in ORDER_OPS:
                order_type = toks[idx]
                idx += 1
            if idx < len_ and toks[idx] == ",":
                idx += 1
            else:
                break
        return idx, (order_type, val_units)

    def parse_having(self, idx: int, default_tables):
        if idx >= len(self.toks) or self.toks[idx] != "having":
            return idx, []
        return self.parse_condition(idx + 1, default_tables)

    def parse_limit(self, idx: int):
        if idx < len(self.toks) and self.toks[idx] == "limit":
            return idx + 2, int(self.toks[idx + 1])
        return idx, None

    def skip_semicolon(self, idx: int) -> int:
        while idx < len(self.toks) and self.toks[idx] == ";":
            idx += 1
        return idx

    def parse_sql(self, start_idx: int):
        toks, len_ = self.toks, len(self.toks)
        idx = start_idx
        is_block = toks[idx] == "("
        if is_block:
            idx += 1
        # FROM first, for the default tables; it searches from start_idx, as the original
        from_end_idx, table_units, conds, default_tables = self.parse_from(start_idx)
        sql: dict[str, Any] = {"from": {"table_units": table_units, "conds": conds}}
        _, sql["select"] = self.parse_select(idx, default_tables)
        idx, sql["where"] = self.parse_where(from_end_idx, default_tables)
        idx, sql["groupBy"] = self.parse_group_by(idx, default_tables)
        idx, sql["having"] = self.parse_having(idx, default_tables)
        idx, sql["orderBy"] = self.parse_order_by(idx, default_tables)
        idx, sql["limit"] = self.parse_limit(idx)
        idx = self.skip_semicolon(idx)
        if is_block:
            _check(toks[idx] == ")")
            idx += 1
        idx = self.skip_semicolon(idx)
        for op in SQL_OPS:
            sql[op] = None
        if idx < len_ and toks[idx] in SQL_OPS:
            sql_op = toks[idx]
            idx, sql[sql_op] = self.parse_sql(idx + 1)
        return idx, sql


def scan_alias(toks: list[str]) -> dict[str, str]:
    """Every ``x AS y`` as ``{y: x}``, wherever it is (column aliases too)."""
    return {toks[i + 1]: toks[i - 1] for i, tok in enumerate(toks) if tok == "as"}


def get_tables_with_alias(schema: dict[str, list[str]], toks: list[str]) -> dict[str, str]:
    tables = scan_alias(toks)
    for key in schema:
        _check(key not in tables, f"Alias {key} has the same name in table")
        tables[key] = key
    return tables


def parse_tokens(schema: Schema, toks: list[str]) -> dict[str, Any]:
    """Parse an already tokenized query (tokens after the last clause are ignored)."""
    tables_with_alias = get_tables_with_alias(schema.schema, toks)
    return _Parser(toks, tables_with_alias, schema).parse_sql(0)[1]


def get_sql(schema: Schema, query: str) -> dict[str, Any]:
    """``process_sql.get_sql``: the nested dict, or an exception where the original raises one.

    The exception types differ from the original's (``AssertionError``,
    ``KeyError``, ...); the evaluator only cares that one is raised.

    >>> get_sql(Schema({"t": ["a"]}), "SELECT a FROM t LIMIT 3")["limit"]
    3
    >>> get_sql(Schema({"t": ["a"]}), "SELECT b FROM t")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    SpiderParseError: Error col: b
    """
    return parse_tokens(schema, tokenize(query))
