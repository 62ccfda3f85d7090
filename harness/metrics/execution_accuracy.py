"""Execution accuracy under two named semantics, each the rules of an official evaluator.

- ``spider``: test-suite-sql-eval. Both queries are normalised as it does
  (``> =`` joined, DISTINCT removed unless ``keep_distinct``, ``YEAR(CURDATE())``
  read as 2020); rows compare as a bag with columns matched up to permutation, in
  order only when the gold contains ORDER BY; the prediction must match on every
  database instance of the db_id. Text that is not valid UTF-8 is decoded with
  ``errors="ignore"``, as the official code does.
- ``bird``: BIRD's evaluation.py. Prediction and gold run on one database and
  their rows compare as sets. Text that is not valid UTF-8 is an execution
  error, as with sqlite3's default decoding there. The script replaces a failed
  query's rows by ``[('error',)]`` or ``[('timeout',)]`` before comparing, so a
  prediction that fails the same way as a failing gold counts as correct; we
  keep that verdict (status ``gold_error``/``gold_timeout``, ``official_match``
  set) unless ``strict_gold`` is on.

Departures, all documented in README.md: queries have a deadline that really
fires (the Spider script's never does) and a row cap; a gold that fails is
``gold_error`` instead of a crash (Spider), and scores 0 there.
"""

from __future__ import annotations

from typing import Any

from harness.execution.sqlite import QueryResult, connect_readonly, run_query
from harness.options import EvalOptions
from harness.types import Example, Execution, Status

SEMANTICS = ("spider", "bird")


class QueryRunner:
    """Runs queries on cached read-only connections, caching gold results per (db, SQL)."""

    def __init__(self, timeout_s: float | None, max_rows: int | None, gold_cache_size: int = 4096):
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._connections: dict[str, Any] = {}
        self._gold: dict[tuple[str, str], QueryResult] = {}
        self._gold_cache_size = gold_cache_size

    def run(self, db_path: str, sql: str) -> QueryResult:
        conn = self._connections.get(db_path)
        if conn is None:
            conn = self._connections[db_path] = connect_readonly(db_path)
        return run_query(conn, sql, timeout_s=self.timeout_s, max_rows=self.max_rows)

    def run_gold(self, db_path: str, sql: str) -> QueryResult:
        key = (db_path, sql)
        hit = self._gold.get(key)
        if hit is None:
            hit = self.run(db_path, sql)
            if len(self._gold) >= self._gold_cache_size:
                self._gold.pop(next(iter(self._gold)))
            self._gold[key] = hit
        return hit


_runners: dict[tuple[float | None, int | None], QueryRunner] = {}


def query_runner(options: EvalOptions) -> QueryRunner:
    """This process's runner for the options' deadline and row cap (connections and gold cache live on it)."""
    key = (options.timeout_s or None, options.max_rows or None)
    if key not in _runners:
        _runners[key] = QueryRunner(*key)
    return _runners[key]


def _failed(result: QueryResult, side: str) -> Status | None:
    if result.status == "ok":
        return None
    if result.status == "timeout":
        return Status.PRED_TIMEOUT if side == "pred" else Status.GOLD_TIMEOUT
    return Status.PRED_ERROR if side == "pred" else Status.GOLD_ERROR


def execute_spider(example: Example, pred: str, options: EvalOptions) -> Execution:
    from harness.metrics.spider_exec import prepare_spider_pair, replace_cur_year, result_eq

    runner, db_paths = query_runner(options), example.db_paths
    p_sql, g_sql, order_matters = prepare_spider_pair(pred, example.gold, keep_distinct=options.keep_distinct)
    p_sql, g_sql = replace_cur_year(p_sql), replace_cur_year(g_sql)
    outcome = Execution(Status.MATCH)
    for db_path in db_paths:
        gold_result = runner.run_gold(db_path, g_sql)
        pred_result = runner.run(db_path, p_sql)
        outcome.latency_s["gold"] = outcome.latency_s.get("gold", 0.0) + gold_result.elapsed_s
        outcome.latency_s["pred"] = outcome.latency_s.get("pred", 0.0) + pred_result.elapsed_s
        if outcome.gold_rows is None:
            outcome.gold_rows, outcome.pred_rows = gold_result.rows, pred_result.rows
        failed = _failed(gold_result, "gold") or _failed(pred_result, "pred")
        if failed is not None:
            source = gold_result if failed in (Status.GOLD_ERROR, Status.GOLD_TIMEOUT) else pred_result
            outcome.status, outcome.error = failed, f"{source.error} [{db_path}]"
            return outcome
        if not result_eq(gold_result.rows, pred_result.rows, order_matters=order_matters):
            outcome.status = Status.MISMATCH
            return outcome
    return outcome


def _decode_strict(result: QueryResult) -> QueryResult:
    from harness.metrics.bird import has_lossy_text

    if result.status == "ok" and has_lossy_text(result.rows):
        return QueryResult("error", None, "OperationalError: Could not decode to UTF-8", result.elapsed_s)
    return result


def execute_bird(example: Example, pred: str, options: EvalOptions) -> Execution:
    from harness.metrics.bird import bird_exec_match

    runner, db_path = query_runner(options), example.db_paths[0]
    pred_result = _decode_strict(runner.run(db_path, pred))
    gold_result = _decode_strict(runner.run_gold(db_path, example.gold))
    outcome = Execution(
        Status.MATCH,
        gold_rows=gold_result.rows,
        pred_rows=pred_result.rows,
        latency_s={"pred": pred_result.elapsed_s, "gold": gold_result.elapsed_s},
    )
    gold_failed = _failed(gold_result, "gold")
    failed = gold_failed or _failed(pred_result, "pred")
    if failed is not None:
        source = gold_result if gold_failed else pred_result
        outcome.status, outcome.error = failed, source.error
        outcome.official_match = (
            bool(gold_failed) and not options.strict_gold and pred_result.status == gold_result.status
        )
    elif not bird_exec_match(gold_result.rows, pred_result.rows):
        outcome.status = Status.MISMATCH
    return outcome



def timed_repetitions(
    db_path: str, pred: str, gold: str, repetitions: int, timeout_s: float | None, *, fetch: bool = False
) -> tuple[list[float], list[float]]:
    """Re-time a correct prediction and its gold, alternating as BIRD's VES scripts do.

    Raises QueryFailed when a run fails or passes its deadline.
    """
    from harness.execution.sqlite import time_execute

    pred_times, gold_times = [], []
    for _ in range(repetitions):
        pred_times.append(time_execute(db_path, pred, timeout_s=timeout_s, fetch=fetch))
        gold_times.append(time_execute(db_path, gold, timeout_s=timeout_s, fetch=fetch))
    return gold_times, pred_times
