"""Execution sandboxes: read-only SQLite execution and worker processes that can be killed."""

from __future__ import annotations

from harness.execution.pool import Outcome, WorkerInitError, WorkerPool
from harness.execution.sqlite import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    LossyText,
    QueryFailed,
    QueryResult,
    connect_readonly,
    run_query,
    time_execute,
)

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "LossyText",
    "Outcome",
    "QueryFailed",
    "QueryResult",
    "WorkerInitError",
    "WorkerPool",
    "connect_readonly",
    "run_query",
    "time_execute",
]
