"""Worker processes that can be killed: a small pool for untrusted, possibly endless work.

Each worker is a forked process running a plain loop: receive an item on its
pipe, call ``fn(item)``, send the result back. The parent keeps at most one item
in flight per worker and waits on all of them with
``multiprocessing.connection.wait``, with a timeout that ends at the earliest
deadline. A worker that overruns ``deadline_s`` is SIGKILLed and replaced, and its
item ends as ``Outcome(killed=True)``; SIGKILL works even when the worker is stuck
inside C code (a SQLite statement with no deadline of its own, a regex). A
worker that dies (segfault, ``os._exit``, the OOM killer) gives
``Outcome(crashed=...)`` and is replaced; an exception raised by ``fn`` gives
``Outcome(crashed="ExcType: message")`` and the worker lives on.

Why the choices:

- **fork**: start-up is a few milliseconds even with sqlglot imported, and
  ``fn``, ``initializer`` and their closures need not be picklable (items and
  results still travel pickled). A worker is always a separate process, also
  for ``jobs=1``: only a process can be killed at a deadline.
- **Children never outlive the parent**: ``close()`` (also on ``__exit__``, and
  at garbage collection or interpreter exit) closes the pipes and kills whatever
  has not exited; an idle worker exits on EOF when the parent end of its pipe
  closes (each worker closes the inherited parent ends of every pool's pipes so
  that EOF really arrives); on Linux each worker also asks the kernel for
  SIGKILL when the thread that forked it dies (``PR_SET_PDEATHSIG``), which
  covers a busy worker whose parent was killed. Create and use a pool from one
  long-lived thread.
- **Resource limits**: core dumps are switched off in workers (a segfaulting
  worker must not write ``core`` files into the working directory).
  ``RLIMIT_AS`` is not set: it breaks libraries that reserve large virtual
  ranges (numpy/BLAS, some allocators); an ``initializer`` can set limits
  where they are wanted.
- Workers are daemonic, so ``fn`` cannot start ``multiprocessing`` processes of
  its own; ``subprocess`` works.
- ``items`` is consumed lazily: only as many items are taken as there are free
  workers, so memory stays flat for any number of items.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

__all__ = ["Outcome", "WorkerInitError", "WorkerPool", "die_with_parent"]

Key = TypeVar("Key")

_OK, _RAISED, _INIT_FAILED = "ok", "raised", "init_failed"
_CLOSE_GRACE_S = 1.0
# Parent ends of the pipes of every live worker of every pool in this process.
# A freshly forked worker closes them all, so that a worker's pipe reaches EOF
# when the parent goes away even though its siblings were forked later.
_PARENT_ENDS: weakref.WeakSet[Connection] = weakref.WeakSet()


@dataclass(frozen=True)
class Outcome:
    """How one item ended: ``value`` when ok, else ``killed`` or ``crashed`` says why not."""

    value: Any = None
    killed: bool = False
    crashed: str | None = None

    @property
    def ok(self) -> bool:
        return not self.killed and self.crashed is None


class WorkerInitError(RuntimeError):
    """A worker's ``initializer`` raised: the pool cannot run anything."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@functools.cache
def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux, else None; looked up in the parent, before the first fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """In a child process: ask Linux for SIGKILL when the thread that started it dies.

    False where the kernel has no such request (not Linux).
    """
    prctl = _load_prctl()
    if prctl is None:
        return False
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    return True


def _prepare_child(parent_pid: int) -> None:
    """Process-wide settings of a freshly forked worker."""
    for conn in list(_PARENT_ENDS):
        try:
            conn.close()
        except OSError:
            pass
    _PARENT_ENDS.clear()
    # Ctrl-C reaches the whole process group; the parent handles it and kills us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM handler inherited from the parent (a graceful-shutdown hook) must not run here.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if die_with_parent() and os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def _send(conn: Connection, message: tuple[str, Any]) -> bool:
    """Send ``message``; an unpicklable value is reported instead. False when the pipe is gone."""
    try:
        conn.send(message)
    except OSError:
        return False
    except Exception as exc:  # pickling failed before anything was written
        try:
            conn.send((_RAISED, f"result could not be sent to the parent: {_describe(exc)}"))
        except OSError:
            return False
    return True


def _worker_main(
    conn: Connection,
    fn: Callable[[Any], Any],
    initializer: Callable[..., None] | None,
    initargs: tuple,
    parent_pid: int,
) -> None:
    _prepare_child(parent_pid)
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:
            _send(conn, (_INIT_FAILED, _describe(exc)))
            return
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # the item could not be unpickled
            message: tuple[str, Any] = (_RAISED, f"item could not be received: {_describe(exc)}")
        else:
            try:
                message = (_OK, fn(item))
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from fn included
                message = (_RAISED, _describe(exc))
        if not _send(conn, message):
            return


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    key: Any = None
    started: float = 0.0


def _exit_reason(process: BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "worker died"
    if code < 0:
        try:
            return f"worker died from signal {signal.Signals(-code).name}"
        except ValueError:
            return f"worker died from signal {-code}"
    return f"worker exited with code {code}"


def _stop(worker: _Worker, *, kill: bool) -> None:
    """Close the worker's pipe, SIGKILL it if asked, and reap it."""
    _PARENT_ENDS.discard(worker.conn)
    worker.conn.close()
    if kill and worker.process.exitcode is None:
        worker.process.kill()
    worker.process.join()
    worker.process.close()


def _shutdown(workers: list[_Worker]) -> None:
    """Let idle workers exit on EOF for a moment, then kill the rest."""
    for worker in workers:
        _PARENT_ENDS.discard(worker.conn)
        worker.conn.close()
    until = time.monotonic() + _CLOSE_GRACE_S
    for worker in workers:
        worker.process.join(max(0.0, until - time.monotonic()))
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join()
        worker.process.close()
    workers.clear()


class WorkerPool:
    """Run ``fn`` on items in ``jobs`` forked worker processes, killing any that overrun.

    >>> with WorkerPool(abs, jobs=2) as pool:
    ...     sorted((k, o.value) for k, o in pool.imap_unordered([("a", -1), ("b", 2)], deadline_s=10))
    [('a', 1), ('b', 2)]
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        jobs: int = 1,
        *,
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
    ) -> None:
        self._fn = fn
        self._jobs = max(1, int(jobs))
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []  # every live worker, idle or busy
        self._idle: list[_Worker] = []
        self._running = False
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)

    @property
    def jobs(self) -> int:
        return self._jobs

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker: idle ones exit on EOF, anything still running is killed."""
        self._closed = True
        self._idle.clear()
        self._finalizer()

    def _spawn(self) -> _Worker:
        _load_prctl()
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_end, self._fn, self._initializer, self._initargs, os.getpid()),
            name="harness-worker",
            daemon=True,
        )
        _PARENT_ENDS.add(parent_end)
        try:
            process.start()
        finally:
            child_end.close()
        worker = _Worker(process, parent_end)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker, *, kill: bool) -> None:
        self._workers.remove(worker)
        _stop(worker, kill=kill)

    def _dispatch(self, key: Any, item: Any) -> tuple[_Worker | None, Outcome | None]:
        """Send ``item`` to an idle (or new) worker: (busy worker, None) or (None, failure)."""
        for _ in range(2):  # an idle worker may have died since its last item
            worker = self._idle.pop() if self._idle else self._spawn()
            worker.key, worker.started = key, time.monotonic()
            try:
                worker.conn.send(item)
            except OSError:
                self._retire(worker, kill=True)
                continue
            except Exception as exc:  # unpicklable item: nothing was written
                self._idle.append(worker)
                return None, Outcome(
                    crashed=f"item could not be sent to a worker: {_describe(exc)}"
                )
            return worker, None
        return None, Outcome(crashed="could not start a worker that accepts items")

    def _collect(self, worker: _Worker) -> Outcome:
        """The outcome of a worker whose pipe or process became ready."""
        try:
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(1.0)
            reason = _exit_reason(worker.process)
            self._retire(worker, kill=True)
            return Outcome(crashed=reason)
        if kind == _INIT_FAILED:
            self._retire(worker, kill=True)
            raise WorkerInitError(f"worker initializer failed: {payload}")
        self._idle.append(worker)
        return Outcome(value=payload) if kind == _OK else Outcome(crashed=payload)

    def imap_unordered(
        self, items: Iterable[tuple[Key, Any]], *, deadline_s: float | None
    ) -> Iterator[tuple[Key, Outcome]]:
        """Yield ``(key, Outcome)`` for every ``(key, item)`` as soon as it is done.

        ``deadline_s`` counts from when the item is handed to a worker; None
        means no deadline. Keys stay in the parent and need not be picklable.
        Leaving the loop early kills the workers still busy.
        """
        if self._closed:
            raise ValueError("WorkerPool is closed")
        if self._running:
            raise RuntimeError("WorkerPool runs one imap_unordered at a time")
        self._running = True
        source = iter(items)
        exhausted = False
        busy: list[_Worker] = []
        try:
            while True:
                done: list[tuple[Any, Outcome]] = []
                while not exhausted and len(busy) < self._jobs:
                    try:
                        key, item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    worker, failure = self._dispatch(key, item)
                    if worker is not None:
                        busy.append(worker)
                    else:
                        done.append((key, failure))
                if not busy and not done:
                    return
                timeout = 0.0 if done else None
                if deadline_s is not None and busy and not done:
                    first = min(w.started for w in busy)
                    timeout = max(0.0, first + deadline_s - time.monotonic())
                by_handle: dict[Any, _Worker] = {}
                for worker in busy:
                    by_handle[worker.conn] = by_handle[worker.process.sentinel] = worker
                ready = (
                    {id(by_handle[h]) for h in wait(list(by_handle), timeout)} if busy else set()
                )
                now = time.monotonic()
                still_busy: list[_Worker] = []
                for worker in busy:
                    overdue = deadline_s is not None and now - worker.started >= deadline_s
                    # poll(): a result that came in after wait() returned still counts.
                    if id(worker) in ready or (overdue and worker.conn.poll()):
                        done.append((worker.key, self._collect(worker)))
                    elif overdue:
                        self._retire(worker, kill=True)
                        done.append((worker.key, Outcome(killed=True)))
                    else:
                        still_busy.append(worker)
                busy = still_busy
                yield from done
        finally:
            for worker in busy:
                if worker in self._workers:
                    self._retire(worker, kill=True)
            self._running = False
