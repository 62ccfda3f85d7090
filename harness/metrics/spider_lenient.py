"""The lenient parse of Spider EM: rewrites of valid SQL into the subset the official parser accepts.

Used by :func:`harness.metrics.spider_em.parse_spider_sql` with ``lenient=True``,
only after the official parse has failed, so it never changes a verdict the
official parser reaches. The rewrites: LEFT/RIGHT/INNER/OUTER/CROSS/NATURAL/FULL
JOIN as JOIN; double-quoted or back-quoted identifiers unquoted; table aliases
without AS and ``t AS t``; column aliases in the SELECT list dropped (and
replaced by their expression in GROUP BY, HAVING and ORDER BY); literal IN-lists
reduced to one value (values are ignored anyway); ``IS [NOT] NULL``; ``<>``.

>>> from harness.metrics.spider_sql import Schema
>>> lenient_tokens("SELECT s.name FROM singer s", Schema({"singer": ["name"]}))
['select', 's.name', 'from', 'singer', 'as', 's']
"""

from __future__ import annotations

import re

from harness.metrics.spider_sql import AGG_OPS, CLAUSE_KEYWORDS, Schema, tokenize

__all__ = ["lenient_tokens"]

_IDENT = re.compile(r"[a-z_][a-z0-9_]*$")
_RESERVED = set(CLAUSE_KEYWORDS) | {
    "join", "on", "as", "and", "or", "not", "in", "like", "between", "is", "null", "having", "by", "asc", "desc",
    "left", "right", "inner", "outer", "cross", "natural", "full", "using", "distinct", "exists", "case", "when",
    "then", "else", "end", "offset",
} | set(AGG_OPS)
_JOIN_MODIFIERS = {"left", "right", "inner", "outer", "cross", "natural", "full"}


def _unquote_identifiers(sql: str, schema: Schema) -> str:
    names = set(schema.schema) | {c for cols in schema.schema.values() for c in cols}

    def repl(m: re.Match[str]) -> str:
        inner = m.group(2)
        qualified = sql[m.end() : m.end() + 1] == "." or sql[m.start() - 1 : m.start()] == "."
        return inner if m.group(1) == "`" or inner.lower() in names or qualified else m.group(0)

    return re.sub(r'(["`])([A-Za-z_][A-Za-z0-9_]*)\1', repl, sql)


def _close(toks: list[str], i: int) -> int:
    """Index of the ')' closing the '(' at i (or len(toks))."""
    depth = 0
    for j in range(i, len(toks)):
        depth += {"(": 1, ")": -1}.get(toks[j], 0)
        if depth == 0:
            return j
    return len(toks)


def _is_literal(tok: str) -> bool:
    if '"' in tok:
        return True
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _select_aliases(toks: list[str]) -> list[str]:
    """Drop column aliases from every SELECT list; later uses get the aliased expression."""
    out: list[str] = []
    aliases: dict[str, list[str]] = {}
    i = 0
    while i < len(toks):
        out.append(toks[i])
        if toks[i] != "select":
            i += 1
            continue
        depth, item = 0, []
        i += 1
        while i < len(toks) and not (depth == 0 and toks[i] in CLAUSE_KEYWORDS):
            tok = toks[i]
            depth += {"(": 1, ")": -1}.get(tok, 0)
            if depth < 0:
                break
            if depth == 0 and tok == ",":
                out.extend(_strip_alias(item, aliases) + [","])
                item = []
            else:
                item.append(tok)
            i += 1
        out.extend(_strip_alias(item, aliases))
    if not aliases:
        return out
    # an alias stands for its expression in GROUP BY, HAVING and ORDER BY
    res: list[str] = []
    active = False
    for tok in out:
        if tok == "having" or (tok == "by" and res and res[-1] in ("group", "order")):
            active = True
        elif tok in CLAUSE_KEYWORDS or tok in ("on", "join"):
            active = False
        res.extend(aliases[tok] if active and tok in aliases else [tok])
    return res


def _strip_alias(item: list[str], aliases: dict[str, list[str]]) -> list[str]:
    if len(item) >= 3 and item[-2] == "as" and _IDENT.match(item[-1]):
        aliases[item[-1]] = item[:-2]
        return item[:-2]
    if len(item) >= 2 and _IDENT.match(item[-1]) and item[-1] not in _RESERVED and (
        item[-2] == ")" or (_IDENT.match(item[-2].replace(".", "_")) and item[-2] not in _RESERVED)
    ):
        aliases[item[-1]] = item[:-1]
        return item[:-1]
    return item


def lenient_tokens(sql: str, schema: Schema) -> list[str]:
    """The tokens of ``sql`` after the rewrites of the module docstring, for ``parse_tokens``."""
    toks = tokenize(_unquote_identifiers(sql, schema))
    toks = [t for t in toks if t != "`"]
    out: list[str] = []
    i, in_from = 0, False
    while i < len(toks):
        tok, nxt = toks[i], toks[i + 1] if i + 1 < len(toks) else None
        if tok in ("from", "join"):
            in_from = True
        elif tok == "on" or tok in CLAUSE_KEYWORDS:
            in_from = False
        if tok in _JOIN_MODIFIERS and nxt in _JOIN_MODIFIERS | {"join"}:
            i += 1
            continue
        if tok == "<" and nxt == ">":
            out.append("!=")
            i += 2
            continue
        if tok == "is" and nxt == "not" and i + 2 < len(toks) and toks[i + 2] == "null":
            out += ["not", "is", '"null"']
            i += 3
            continue
        if tok == "null" and out and out[-1] == "is":
            out.append('"null"')
            i += 1
            continue
        if tok == "(" and out and out[-1] == "in" and nxt is not None and _is_literal(nxt):
            end = _close(toks, i)
            if all(_is_literal(t) or t == "," for t in toks[i + 1 : end]):
                out.append(nxt)
                i = end + 1
                continue
        if tok in schema.schema and in_from and out and out[-1] in ("from", "join", ","):
            out.append(tok)
            if nxt == "as" and i + 2 < len(toks) and toks[i + 2] == tok:
                i += 3  # "t AS t"
                continue
            if nxt is not None and _IDENT.match(nxt) and nxt not in _RESERVED and nxt not in schema.schema:
                out.append("as")
            i += 1
            continue
        out.append(tok)
        i += 1
    return _select_aliases(out)
