"""The execution reward GRPO trains with: pure scoring of one judged prediction, plus supervision.

A completion's reward is ``parse bonus (if it parses) + one outcome term``:

==============  =====================================================  ===================
outcome         when                                                   term (default)
==============  =====================================================  ===================
``error``       no answer extracted, or the prediction fails to run    ``error_penalty`` -1
``match``       the suite's executor (or the answer bag) says correct  ``match_reward`` +1
``overbroad``   wrong and more than ``overbroad_factor`` (3) x the     ``overbroad_penalty``
                gold's rows/values and more than gold + 2              -0.5, no partial
``empty``       wrong with an empty result while the gold is not       0 (no partial)
``partial`` /   any other wrong result                                 ``partial_weight`` x
``wrong``                                                              overlap F1 (0.5 x F1)
``no_signal``   the gold itself failed (gold_error / gold_timeout)     0, parse bonus too
==============  =====================================================  ===================

The scheme follows the execution-based rewards of SQL-R1 (Ma et al., 2025: a format
reward, an execution reward for SQL that runs, a result reward for the correct
result) and Reasoning-SQL (Pourreza et al., 2025: syntax check and execution
accuracy), with partial credit for partly correct results as in Think2SQL (Papicchio
et al., 2025: precision and recall of the result). The magnitudes are this harness's:
a small parse bonus (0.1), a large error penalty (-1), a large exact-match reward (+1)
and at most half of it (+0.5) for overlap. A pure overlap reward can be hacked by
over-broad answers (``SELECT * FROM t`` shares rows with almost any gold): a result
much larger than the gold earns no overlap and a penalty instead.

**Overlap** is an F1 over multisets: ``2 |P ∩ G| / (|P| + |G|)`` with ``∩`` the
multiset intersection. Items are what the executor compared: a result row is the
multiset of its normalised cells (column order ignored, as Spider's comparison
allows column permutations); an answer value or an output line is one normalised
string. Normalised: ``harness.metrics.table_qa.cell_text`` (NULL -> "", 2.0 -> "2"),
floats to 10 significant digits, stripped, case-folded. Exact match is never
decided here but by the executor's verdict (or the answer bag, below).

**Supervision** (:func:`supervision_for`): ``sql`` compares with the rows of the gold
SQL through the suite's own executor (``trainers.feedback.judge``). ``answers`` uses
only each question's gold *answers*: the values of the gold result, flattened into a
bag of normalised strings (:func:`gold_answers`, computed once per question), with the
prediction's values compared as a bag (:func:`execute_answers`: match when the bags are
equal), so no row/column structure and no gold SQL enter the reward. Table-QA suites
(``gold_kind == "answer"``) have only answers: their executor already compares the
predicted query's values with the answer list. Code-output suites compare printed
lines with the gold output (the gold *is* the answer).

**Parses** (:func:`completion_parses`): SQL: sqlglot parses the extracted prediction
as a query (dialect sqlite; duckdb for table QA), as ``harness.metrics.features`` does;
printed output: the completion has a fenced block; a Python value: it parses as an
expression; a code line: it is not blank.
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.options import EvalOptions
from harness.suite import Suite
from harness.types import Example, Execution, Status

SUPERVISIONS = ("auto", "sql", "answers")
FAILED = (Status.PRED_ERROR, Status.PRED_TIMEOUT)
NO_SIGNAL = (Status.GOLD_ERROR, Status.GOLD_TIMEOUT)


@dataclass(frozen=True)
class RewardScheme:
    """Reward magnitudes (defaults documented in the module docstring)."""

    parse_bonus: float = 0.1
    error_penalty: float = -1.0
    match_reward: float = 1.0
    partial_weight: float = 0.5
    overbroad_factor: float = 3.0
    overbroad_min_excess: int = 2
    overbroad_penalty: float = -0.5


@dataclass(frozen=True)
class RewardBreakdown:
    """One completion's reward and why: ``outcome`` is one of the module table's names."""

    reward: float
    outcome: str
    parses: bool
    overlap: float = 0.0


def normalise_value(value: Any) -> str:
    """A cell, answer or output line as compared for overlap.

    >>> [normalise_value(v) for v in (None, 2.0, 1 / 3, " Paris ", "ROME")]
    ['', '2', '0.3333333333', 'paris', 'rome']
    """
    from harness.metrics.table_qa import cell_text

    if isinstance(value, float) and math.isfinite(value):
        value = float(f"{value:.10g}")
    return cell_text(value).strip().casefold()


def item_key(item: Any) -> Any:
    """A result row as the sorted tuple of its normalised cells; any other item as its string.

    >>> item_key(("b", 1)) == item_key((1, "B")), item_key("Line ")
    (True, 'line')
    """
    if isinstance(item, (tuple, list)):
        return tuple(sorted(normalise_value(cell) for cell in item))
    return normalise_value(item)


def overlap_f1(pred_rows: Sequence[Any], gold_rows: Sequence[Any]) -> float:
    """F1 of the multiset intersection of the two item lists (0 when either is empty).

    >>> overlap_f1([(1,), (2,), (2,)], [(2,), (3,)])
    0.4
    >>> overlap_f1([("x", 1)], [(1, "X")])
    1.0
    """
    if not pred_rows or not gold_rows:
        return 0.0
    common = Counter(map(item_key, pred_rows)) & Counter(map(item_key, gold_rows))
    return 2 * sum(common.values()) / (len(pred_rows) + len(gold_rows))


def is_overbroad(n_pred: int, n_gold: int, scheme: RewardScheme = RewardScheme()) -> bool:
    """More than ``overbroad_factor`` x the gold's size and more than gold + ``overbroad_min_excess``.

    >>> is_overbroad(40, 1), is_overbroad(3, 1), is_overbroad(3, 0), is_overbroad(31, 10)
    (True, False, True, True)
    """
    return n_pred > scheme.overbroad_factor * n_gold and n_pred > n_gold + scheme.overbroad_min_excess


def score(
    status: Status,
    pred_rows: Sequence[Any] | None,
    gold_rows: Sequence[Any] | None,
    parses: bool,
    scheme: RewardScheme = RewardScheme(),
) -> RewardBreakdown:
    """The reward of one judged prediction (see the module table)."""
    if status in NO_SIGNAL:
        return RewardBreakdown(0.0, "no_signal", parses)
    bonus = scheme.parse_bonus if parses else 0.0
    if status in FAILED:
        return RewardBreakdown(bonus + scheme.error_penalty, "error", parses)
    if status == Status.MATCH:
        return RewardBreakdown(bonus + scheme.match_reward, "match", parses, 1.0)
    pred, gold = list(pred_rows or []), list(gold_rows or [])
    if is_overbroad(len(pred), len(gold), scheme):
        return RewardBreakdown(bonus + scheme.overbroad_penalty, "overbroad", parses)
    if not pred and gold:
        return RewardBreakdown(bonus, "empty", parses)
    f1 = overlap_f1(pred, gold)
    return RewardBreakdown(bonus + scheme.partial_weight * f1, "partial" if f1 > 0 else "wrong", parses, f1)


def reward(
    status: Status,
    pred_rows: Sequence[Any] | None,
    gold_rows: Sequence[Any] | None,
    parses: bool,
    scheme: RewardScheme = RewardScheme(),
) -> float:
    """:func:`score`'s reward alone.

    >>> reward(Status.MATCH, [(1,)], [(1,)], True), reward(Status.PRED_ERROR, None, [(1,)], False)
    (1.1, -1.0)
    """
    return score(status, pred_rows, gold_rows, parses, scheme).reward


def rewards_for(
    executions: Sequence[Execution],
    predictions: Sequence[str],
    parsed: Sequence[bool],
    scheme: RewardScheme = RewardScheme(),
) -> list[RewardBreakdown]:
    """Rewards of judged predictions; a prediction with no extracted answer counts as an error."""
    out = []
    for execution, prediction, ok in zip(executions, predictions, parsed, strict=True):
        status = execution.status
        if not prediction.strip() and status not in NO_SIGNAL:
            status = Status.PRED_ERROR
        out.append(score(status, execution.pred_rows, execution.gold_rows, ok, scheme))
    return out


# -- supervision -----------------------------------------------------------------------------


def supervision_for(suite: Suite, requested: str) -> str:
    """The supervision a run uses: ``sql`` or ``answers`` (text-to-SQL), ``answers`` (table QA),
    ``output`` (code suites, whose gold is the answer). ``auto``: the strongest the suite has."""
    if requested not in SUPERVISIONS:
        raise ValueError(f"grpo: supervision must be one of {', '.join(SUPERVISIONS)}, got {requested!r}")
    if suite.task == "table-qa" or suite.gold_kind == "answer":
        if requested == "sql":
            raise ValueError(
                f"grpo: suite {suite.name!r} is supervised by answers only (table QA: its gold is an answer list, "
                "its hidden SQL is off-limits); use -M supervision=answers (or auto)"
            )
        return "answers"
    if suite.gold_kind == "sql":
        return "sql" if requested == "auto" else requested
    if suite.task in ("code-output", "code-completion"):
        return "output"
    raise ValueError(f"grpo: no execution reward for suite {suite.name!r} (task {suite.task!r})")


def answer_bag(rows: Sequence[Any]) -> list[str]:
    """Every value of a result, flattened and normalised (row/column structure dropped).

    >>> answer_bag([("Paris", 3), ("Rome", None)])
    ['paris', '3', 'rome', '']
    """
    return [normalise_value(v) for row in rows for v in (row if isinstance(row, (tuple, list)) else (row,))]


def gold_answers(example: Example, options: EvalOptions) -> list[str] | None:
    """The answer bag of a text-to-SQL example: its gold SQL's result on its first database
    (None when the gold fails). Run once per question, before any reward is computed, on a
    connection of its own (closed again: forked judges must not inherit it)."""
    from harness.execution.sqlite import connect_readonly, run_query
    from harness.metrics.spider_exec import replace_cur_year

    conn = connect_readonly(example.db_paths[0])
    try:
        sql = replace_cur_year(example.gold)
        result = run_query(conn, sql, timeout_s=options.timeout_s or None, max_rows=options.max_rows or None)
    finally:
        conn.close()
    return answer_bag(result.rows) if result.status == "ok" and result.rows is not None else None


def answers_example(example: Example, answers: list[str] | None) -> Example:
    """A copy of ``example`` carrying only its answers (``metadata["answers"]``), the gold SQL blanked."""
    from dataclasses import replace

    return replace(example, gold="", metadata={"answers": answers})


def execute_answers(example: Example, pred: str, options: EvalOptions) -> Execution:
    """Executor for answers supervision on SQL suites: run ``pred`` on the first database and
    compare its value bag with ``metadata["answers"]`` (match: equal bags). Never reads a gold SQL."""
    from harness.metrics.execution_accuracy import query_runner

    answers = example.metadata.get("answers")
    if answers is None:
        return Execution(Status.GOLD_ERROR, error=f"example {example.id}: no gold answers")
    result = query_runner(options).run(example.db_paths[0], pred)
    latency = {"pred": result.elapsed_s}
    if result.status != "ok":
        status = Status.PRED_TIMEOUT if result.status == "timeout" else Status.PRED_ERROR
        return Execution(status, gold_rows=answers, error=result.error, latency_s=latency)
    values = answer_bag(result.rows or [])
    status = Status.MATCH if Counter(values) == Counter(answers) else Status.MISMATCH
    return Execution(status, gold_rows=answers, pred_rows=values, latency_s=latency)


# -- parsing ---------------------------------------------------------------------------------


def extraction_kind(suite: Suite) -> str:
    """What the suite's extractor takes out of a completion: sql, output, value or line."""
    from harness.prompts import EXTRACTION_FOR_GOLD

    return suite.context.get("extract") or EXTRACTION_FOR_GOLD.get(suite.gold_kind, "sql")


def sql_parses(sql: str, dialect: str = "sqlite") -> bool:
    """Whether sqlglot reads ``sql`` as queries in ``dialect``.

    >>> sql_parses("SELECT a FROM t"), sql_parses("SELEC a FROM t"), sql_parses("hello world"), sql_parses("")
    (True, False, False, False)
    """
    from sqlglot import exp, parse
    from sqlglot.errors import SqlglotError

    try:
        statements = [s for s in parse(sql, read=dialect) if s is not None]
    except (SqlglotError, RecursionError, ValueError):
        return False
    return bool(statements) and all(isinstance(s, exp.Query) for s in statements)


def completion_parses(suite: Suite, text: str, prediction: str) -> bool:
    """Whether a completion earns the parse bonus (see the module docstring)."""
    from harness.extraction import fenced

    kind = extraction_kind(suite)
    if kind == "sql":
        return sql_parses(prediction, "duckdb" if suite.task == "table-qa" else "sqlite")
    if kind == "output":
        return fenced(text) is not None
    if kind == "value":
        try:
            ast.parse(prediction, mode="eval")
        except (SyntaxError, ValueError, RecursionError):
            return False
        return bool(prediction.strip())
    return bool(prediction.strip())
