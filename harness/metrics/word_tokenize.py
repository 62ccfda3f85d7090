"""NLTK's ``word_tokenize`` for English, without NLTK or its downloaded Punkt model.

The official Spider tokenizer (``process_sql.py``) splits words with
``nltk.word_tokenize``: Punkt sentence splitting with the English model's
parameters, then NLTK's improved Treebank word tokenizer on each sentence
(NLTK 3.10 regexes). Punkt's orthographic statistics (20,366 words) are kept
only for SQL keywords and a few common words (:data:`_ORTHO_CONTEXT`); they
decide something only after a single-letter "initial" or an abbreviation such
as ``co.`` that ends in a period and is followed by whitespace and a
capitalised word, where another word may be treated as NLTK would treat an
unseen one. Ported from NLTK (Apache License 2.0).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

# --------------------------------------------------------------------------
# nltk.word_tokenize without NLTK: Punkt (English) + NLTKWordTokenizer
# --------------------------------------------------------------------------

_ABBREV_TYPES = frozenset(
    """a.a a.c a.d a.g a.h a.m a.m.e a.s a.t adm ala ariz aug ave b.f b.v bros c c.i.t c.o.m.b
    c.v calif chg cie co col colo conn corp cos ct d d.c d.h d.w dec dr e e.f e.h e.l e.m f f.g
    f.j feb fla fri ft g g.d g.f g.k ga gen h h.c h.f h.m i.m.s ill inc j.b j.c j.j j.k j.p j.r
    jan jr k kan ky l l.a l.f l.p lt ltd m m.b.a m.d.c m.j maj messrs mg mich minn mr mrs ms n
    n.c n.d n.h n.j n.m n.v n.y nev nov oct ok okla ore p p.a.m p.m pa ph.d prof r r.a r.h r.i
    r.j r.k r.t rep reps s s.a s.a.y s.c s.g s.p.a s.s sen sep sept sr st sw t t.j tenn tues u.k
    u.n u.s u.s.a u.s.s.r v va vs vt w w.c w.r w.va w.w wash wed wis yr""".split()
) | {". . "}
_SENT_STARTERS = frozenset(
    """according although among both but despite even he however i if in indeed instead it many
    meanwhile moreover most nevertheless nonetheless nor sales separately similarly since so some
    the there these they this though thus under when while yet""".split()
)
_COLLOCATIONS = frozenset(
    [("##number##", w) for w in """abreast aes business cbot colgate commodities cooper corrections
    credit dividend financing genentech henley insider international leisure letters notable
    pay-fone pegasus pepper review rj wedgestone who zimmer""".split()]
    + [("b", w) for w in ("edelman", "levine", "smith", "stewart", "wigton")]
    + [("i", "magnin"), ("i", "toussie"), ("j", "aron"), ("j", "fialka"), ("j", "walter"), ("o", "ludcke")]
)
# Orthographic context flags of the English Punkt model, for SQL vocabulary and the
# only four words whose lower-case form the model does not rule out as a sentence start.
_ORTHO_CONTEXT = {
    "select": 32, "from": 110, "where": 38, "group": 46, "by": 126, "order": 36, "having": 46,
    "limit": 36, "union": 46, "except": 32, "and": 126, "or": 102, "not": 46, "in": 110,
    "like": 102, "between": 34, "is": 110, "as": 110, "join": 36, "on": 110, "inner": 32,
    "left": 44, "right": 34, "outer": 32, "cross": 44, "natural": 44, "count": 36, "max": 12,
    "min": 4, "sum": 40, "distinct": 32, "exists": 32, "case": 36, "when": 110, "then": 126,
    "else": 32, "end": 36, "cast": 32, "using": 42, "all": 46, "any": 46, "values": 32,
    "with": 110, "over": 110, "true": 34, "false": 36, "if": 46, "length": 32, "lower": 46,
    "upper": 44, "round": 40, "date": 40, "time": 44, "replace": 32, "trim": 32, "total": 46,
    "escape": 32, "offset": 40, "year": 46, "month": 38, "day": 36, "name": 36, "id": 4,
    "a": 126, "b": 44, "c": 36,
    "administrators": 48, "b-week": 16, "r-revised": 16, "z-holiday": 16,
}
_ORTHO_BEG_LC, _ORTHO_MID_UC = 1 << 4, 1 << 2
_ORTHO_UC = (1 << 1) + (1 << 2) + (1 << 3)
_ORTHO_LC = (1 << 4) + (1 << 5) + (1 << 6)

_NON_WORD = r"(?:[)\";}\]\*:@\'\({\[\u2018\u2019\u201c\u201d\xab\xbb?!])"
_MULTI_CHAR = r"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)"
_PUNKT_WORD_RE = re.compile(
    rf"""({_MULTI_CHAR}
    |(?=[^\(\"\`{{\[:;&\#\*@\)}}\]\-,])\S+?(?=\s|$|{_NON_WORD}|{_MULTI_CHAR}|,(?=$|\s|{_NON_WORD}|{_MULTI_CHAR}))
    |\S)""",
    re.VERBOSE,
)
_PERIOD_CONTEXT_RE = re.compile(rf"[\.\?!](?=(?P<after_tok>{_NON_WORD}|\s+(?P<next_tok>\S+)))")
_BOUNDARY_REALIGNMENT_RE = re.compile(r'["\')\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\s+|(?=--)|$)', re.MULTILINE)
_RE_NUMERIC = re.compile(r"^-?[\.,]?\d[\d,\.-]*\.?$")
_RE_INITIAL = re.compile(r"[^\W\d]\.$")
_RE_ELLIPSIS = re.compile(r"\.\.+$")


class _PunktToken:
    __slots__ = ("tok", "type", "period_final", "sentbreak", "abbr", "ellipsis")

    def __init__(self, tok: str):
        self.tok = tok
        self.type = _RE_NUMERIC.sub("##number##", tok.lower())
        self.period_final = tok.endswith(".")
        self.sentbreak = self.abbr = self.ellipsis = False

    @property
    def type_no_period(self) -> str:
        return self.type[:-1] if len(self.type) > 1 and self.type[-1] == "." else self.type

    @property
    def type_no_sentperiod(self) -> str:
        return self.type_no_period if self.sentbreak else self.type


def _punkt_first_pass(tok: _PunktToken) -> None:
    t = tok.tok
    if t in (".", "?", "!"):
        tok.sentbreak = True
    elif _RE_ELLIPSIS.match(t):
        tok.ellipsis = True
    elif tok.period_final and not t.endswith(".."):
        low = t[:-1].lower()
        if low in _ABBREV_TYPES or low.split("-")[-1] in _ABBREV_TYPES:
            tok.abbr = True
        else:
            tok.sentbreak = True


def _ortho_heuristic(tok: _PunktToken) -> bool | str:
    if tok.tok in (";", ":", ",", ".", "!", "?"):
        return False
    ctx = _ORTHO_CONTEXT.get(tok.type_no_sentperiod, 0)
    if tok.tok[0].isupper() and ctx & _ORTHO_LC and not ctx & _ORTHO_MID_UC:
        return True
    if tok.tok[0].islower() and (ctx & _ORTHO_UC or not ctx & _ORTHO_BEG_LC):
        return False
    return "unknown"


def _punkt_second_pass(tok1: _PunktToken, tok2: _PunktToken) -> None:
    if not tok1.period_final:
        return
    typ, next_typ = tok1.type_no_period, tok2.type_no_sentperiod
    is_initial = _RE_INITIAL.match(tok1.tok)
    if (typ, next_typ) in _COLLOCATIONS:
        tok1.sentbreak, tok1.abbr = False, True
        return
    if (tok1.abbr or tok1.ellipsis) and not is_initial:
        if _ortho_heuristic(tok2) is True or (tok2.tok[0].isupper() and next_typ in _SENT_STARTERS):
            tok1.sentbreak = True
            return
    if is_initial or typ == "##number##":
        starter = _ortho_heuristic(tok2)
        if starter is False or (
            starter == "unknown"
            and is_initial
            and tok2.tok[0].isupper()
            and not _ORTHO_CONTEXT.get(next_typ, 0) & _ORTHO_LC
        ):
            tok1.sentbreak, tok1.abbr = False, True


def _contains_sentbreak(text: str) -> bool:
    toks = [_PunktToken(t) for line in text.split("\n") if line.strip() for t in _PUNKT_WORD_RE.findall(line)]
    for tok in toks:
        _punkt_first_pass(tok)
    for i, tok in enumerate(toks[:-1]):
        _punkt_second_pass(tok, toks[i + 1])
        if tok.sentbreak:
            return True  # a break before the context's last token
    return False


def _end_contexts(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Candidate sentence ends with the word before them (Punkt's overlap rules)."""
    prev_slice, prev_match = slice(0, 0), None
    for match in _PERIOD_CONTEXT_RE.finditer(text):
        before = text[prev_slice.stop : match.start()]
        last_ws = next((i for i in range(len(before) - 1, -1, -1) if before[i] in string.whitespace), 0)
        start = last_ws + prev_slice.stop + 1 if last_ws else prev_slice.start
        word = slice(start, match.start())
        if prev_match and prev_slice.stop <= word.start:
            yield prev_match, text[prev_slice] + prev_match.group() + prev_match.group("after_tok")
        prev_match, prev_slice = match, word
    if prev_match:
        yield prev_match, text[prev_slice] + prev_match.group() + prev_match.group("after_tok")


def sent_tokenize(text: str) -> list[str]:
    """Punkt sentence splitting as ``nltk.sent_tokenize(text)`` does it.

    >>> sent_tokenize("select T1.* from t")
    ['select T1.', '* from t']
    >>> sent_tokenize("where x > 3. AND y = 1")
    ['where x > 3.', 'AND y = 1']
    """
    slices, last = [], 0
    for match, context in _end_contexts(text):
        if _contains_sentbreak(context):
            slices.append(slice(last, match.end()))
            last = match.start("next_tok") if match.group("next_tok") else match.end()
    slices.append(slice(last, len(text.rstrip())))
    out, realign = [], 0
    for i, sent in enumerate(slices):
        sent = slice(sent.start + realign, sent.stop)
        nxt = slices[i + 1] if i + 1 < len(slices) else None
        m = _BOUNDARY_REALIGNMENT_RE.match(text[nxt]) if nxt else None
        if m:
            out.append(text[sent.start : nxt.start + len(m.group(0).rstrip())])
            realign = m.end()
        else:
            realign = 0
            if text[sent]:
                out.append(text[sent])
    return out


_Q = "\u201d\u2019\xbb"  # closing quotes
_TREEBANK_STEPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, flags), repl)
    for p, flags, repl in [
        # starting quotes
        ("([\xab\u201c\u2018\u201e]|[`]+)", 0, r" \1 "),
        (r'^\"', 0, r"``"),
        (r"(``)", 0, r" \1 "),
        (r"([ \(\[{<])(\"|\'{2})", 0, r"\1 `` "),
        (r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", 0, r"\1 "),
        # punctuation (NLTK makes the first class possessive; the tokens are the same)
        (rf"([^\.])(\.)([\]\)}}>\"\'{_Q} ]*)\s*$", 0, r"\1 \2 \3 "),
        (r"([:,])([^\d])", 0, r" \1 \2"),
        (r"([:,])$", 0, r" \1 "),
        (r"\.{2,}", 0, r" \g<0> "),
        (r"[;@#$%&]", 0, r" \g<0> "),
        ("[\u2012-\u2015]", 0, r" \g<0> "),
        (r"([^\.])(\.)([\]\)}>\"\']*)\s*$", 0, r"\1 \2\3 "),
        (r"[?!]", 0, r" \g<0> "),
        (r"([^'])' ", 0, r"\1 ' "),
        (r"[*]", 0, r" \g<0> "),
        (r"[\]\[\(\)\{\}\<\>]", 0, r" \g<0> "),  # parentheses and brackets
        (r"--", 0, r" -- "),
    ]
]
_ENDING_STEPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), repl)
    for p, repl in [
        (f"([{_Q}])", r" \1 "),
        (r"''", " '' "),
        (r'"', " '' "),
        (r"\s+", " "),
        (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
        (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
    ]
] + [
    (re.compile(p), r" \1 \2 ")
    for p in [
        r"(?i)\b(can)(?#X)(not)\b", r"(?i)\b(d)(?#X)('ye)\b", r"(?i)\b(gim)(?#X)(me)\b",
        r"(?i)\b(gon)(?#X)(na)\b", r"(?i)\b(got)(?#X)(ta)\b", r"(?i)\b(lem)(?#X)(me)\b",
        r"(?i)\b(more)(?#X)('n)\b", r"(?i)\b(wan)(?#X)(na)(?=\s)",
        r"(?i) ('t)(?#X)(is)\b", r"(?i) ('t)(?#X)(was)\b",
    ]
]


def treebank_tokenize(text: str) -> list[str]:
    """``nltk.tokenize.NLTKWordTokenizer().tokenize`` on one sentence.

    >>> treebank_tokenize("count(*) > =3.")
    ['count', '(', '*', ')', '>', '=3', '.']
    """
    for regexp, repl in _TREEBANK_STEPS:
        text = regexp.sub(repl, text)
    text = " " + text + " "
    for regexp, repl in _ENDING_STEPS:
        text = regexp.sub(repl, text)
    return text.split()


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)`` (English, ``preserve_line=False``).

    >>> word_tokenize("SELECT name FROM t WHERE a = __val_30_35__ AND T1.x>5.")
    ['SELECT', 'name', 'FROM', 't', 'WHERE', 'a', '=', '__val_30_35__', 'AND', 'T1.x', '>', '5', '.']
    """
    return [tok for sent in sent_tokenize(text) for tok in treebank_tokenize(sent)]
