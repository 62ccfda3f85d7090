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

import os
from dataclasses import replace

from harness.engines import EngineSpec, engine_dialect, open_engine
from harness.execution.sqlite import QueryResult
from harness.options import EvalOptions
from harness.types import Example, Execution, Status

SEMANTICS = ("spider", "bird")


class QueryRunner:
    """Runs queries on one engine (``harness.engines``), caching gold results per (db, SQL).

    SQL written in another dialect than the engine's is transpiled first
    (``harness.engines.dialects``); SQL that cannot be transpiled is an error
    result, and a failing transpiled query names the SQL that actually ran.
    """

    def __init__(self, timeout_s: float | None, max_rows: int | None, engine: EngineSpec | None = None,
                 gold_cache_size: int = 4096) -> None:  # fmt: skip
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.spec = engine or EngineSpec()
        self.engine = open_engine(self.spec)
        self._gold: dict[tuple[str, str, str | None], QueryResult] = {}
        self._gold_cache_size = gold_cache_size

    def run(self, db_path: str, sql: str, dialect: str | None = None) -> QueryResult:
        """Run ``sql`` (written in ``dialect``; None: the engine's own) on the database at ``db_path``."""
        from harness.engines.dialects import TranspileError, sqlite_schema, transpile

        target = self.spec.dialect
        if dialect is not None and dialect != target:
            try:
                schema = sqlite_schema(db_path) if dialect == "sqlite" else None
                ran = transpile(sql, source=dialect, target=target, names=schema and schema.names,
                                integer_columns=schema and schema.integer_columns)  # fmt: skip
            except TranspileError as e:
                return QueryResult("error", None, f"TranspileError: {e}", 0.0)
            result = self.engine.run(db_path, ran, timeout_s=self.timeout_s, max_rows=self.max_rows)
            if result.status != "ok":
                return replace(result, error=f"{result.error} [as {target}: {ran}]")
            return result
        return self.engine.run(db_path, sql, timeout_s=self.timeout_s, max_rows=self.max_rows)

    def run_gold(self, db_path: str, sql: str, dialect: str | None = None) -> QueryResult:
        key = (db_path, sql, dialect)
        hit = self._gold.get(key)
        if hit is None:
            hit = self.run(db_path, sql, dialect)
            if len(self._gold) >= self._gold_cache_size:
                self._gold.pop(next(iter(self._gold)))
            self._gold[key] = hit
        return hit


_runners: dict[tuple, QueryRunner] = {}


def query_runner(options: EvalOptions) -> QueryRunner:
    """This process's runner for the options' engine, deadline and row cap (connections and gold cache live on it)."""
    spec = EngineSpec(options.engine, options.db_url, options.db_schema)
    key = (os.getpid(), options.timeout_s or None, options.max_rows or None, spec)
    if key not in _runners:
        _runners[key] = QueryRunner(options.timeout_s or None, options.max_rows or None, spec)
    return _runners[key]


def dialects(options: EvalOptions) -> tuple[str | None, str | None]:
    """The dialects (prediction, gold) are written in; None where it is the engine's own."""
    own = engine_dialect(options.engine)
    pred = options.pred_dialect if options.pred_dialect not in (None, own) else None
    gold = options.gold_dialect if options.gold_dialect != own else None
    return pred, gold


def _failed(result: QueryResult, side: str) -> Status | None:
    if result.status == "ok":
        return None
    if result.status == "timeout":
        return Status.PRED_TIMEOUT if side == "pred" else Status.GOLD_TIMEOUT
    return Status.PRED_ERROR if side == "pred" else Status.GOLD_ERROR


def execute_spider(example: Example, pred: str, options: EvalOptions) -> Execution:
    from harness.metrics.spider_exec import prepare_spider_pair, replace_cur_year, result_eq

    runner, db_paths = query_runner(options), example.db_paths
    pred_dialect, gold_dialect = dialects(options)
    p_sql, g_sql, order_matters = prepare_spider_pair(pred, example.gold, keep_distinct=options.keep_distinct)
    p_sql, g_sql = replace_cur_year(p_sql), replace_cur_year(g_sql)
    outcome = Execution(Status.MATCH)
    for db_path in db_paths:
        gold_result = runner.run_gold(db_path, g_sql, gold_dialect)
        pred_result = runner.run(db_path, p_sql, pred_dialect)
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
    pred_dialect, gold_dialect = dialects(options)
    pred_result = _decode_strict(runner.run(db_path, pred, pred_dialect))
    gold_result = _decode_strict(runner.run_gold(db_path, example.gold, gold_dialect))
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
    db_path: str, pred: str, gold: str, repetitions: int, timeout_s: float | None, *, fetch: bool = False,
    options: EvalOptions | None = None,
) -> tuple[list[float], list[float]]:
    """Re-time a correct prediction and its gold, alternating as BIRD's VES scripts do.

    On SQLite each run opens a fresh connection and times ``execute`` (and the
    fetch with ``fetch``), as BIRD's scripts do. On another engine (``options``)
    each run goes through that engine, execute and fetch together, as BIRD
    mini-dev's MySQL and PostgreSQL scripts time them. Raises QueryFailed when
    a run fails or passes its deadline.
    """
    from harness.execution.sqlite import QueryFailed, time_execute

    if options is not None and options.engine != "sqlite":
        runner, (pred_dialect, gold_dialect) = query_runner(options), dialects(options)

        def timed(sql: str, dialect: str | None) -> float:
            result = runner.run(db_path, sql, dialect)
            if result.status != "ok":
                raise QueryFailed(result.status, result.error or "")
            return result.elapsed_s
    else:
        def timed(sql: str, dialect: str | None) -> float:
            return time_execute(db_path, sql, timeout_s=timeout_s, fetch=fetch)

        pred_dialect = gold_dialect = None
    pred_times, gold_times = [], []
    for _ in range(repetitions):
        pred_times.append(timed(pred, pred_dialect))
        gold_times.append(timed(gold, gold_dialect))
    return gold_times, pred_times
