"""The Python sandbox: run one untrusted program (model output) in a limited, separate process.

>>> r = run_python("print(sum(range(10)))")
>>> r.status, r.stdout, r.error
('ok', '45\\n', None)
>>> run_python("import os; os.fork()").error
'denied by the sandbox: os.fork'

``run_python`` never raises for anything the program does: it returns a
``ProgramResult`` whose ``status`` is ``ok``, ``error`` or ``timeout``.

The process
-----------
Each program runs in a fresh ``sys.executable -s -P -S -B -c PRELUDE`` process
(``-P`` from Python 3.11), started with ``start_new_session=True`` in a new
temporary directory ``T`` (``T/work`` is its working directory, ``HOME`` and
``TMPDIR``; the program text is ``T/program.py``, its stdin ``T/stdin``). ``T`` is
removed afterwards, whatever happens. The environment is built from nothing:
``PATH=/usr/bin:/bin``, ``LANG=C.UTF-8``, ``HOME``, ``TMPDIR`` and
``PYTHONHASHSEED=0``, so no variable of the harness (keys, tokens) reaches the
program. We do not pass ``-I``: it implies ``-E``, which would ignore
``PYTHONHASHSEED`` and make the order of sets of strings, and so printed
output, differ from run to run; ``-s -P`` are the rest of what ``-I`` means,
and with an environment we wrote ourselves ``-E`` has nothing left to hide.
``-S`` (no site-packages: the standard library only) and ``-B`` (no ``.pyc``
writes) keep the start small.

Layers, each covering what the one before cannot
------------------------------------------------
1. **Audit hook** (``sys.addaudithook``, installed by the prelude before the
   program's first line; hooks cannot be removed). It denies process creation
   (``os.fork``, ``os.system``, ``os.exec``, ``os.posix_spawn``,
   ``subprocess.Popen``...), signals (``os.kill``...), every ``socket.*`` and
   ``ctypes.*`` event, raising resource limits, ``gc`` walks (the way to reach
   the hook itself), links, and any write outside ``T/work``: ``open`` with a
   write mode or flag, ``os.remove/rename/mkdir/rmdir/chmod/chown/utime/
   truncate...``. A denied event ends the process at once (exit code
   ``DENIED_EXIT``) with ``sandbox: denied <event>`` on stderr, so a program
   cannot swallow the refusal and loop on it (a fork bomb in ``try/except``);
   the result reads ``denied by the sandbox: <event>``. The hook gives clear
   messages, but it lives inside the interpreter: CPython's own docs say it is
   no sandbox, and code can reach a fork that raises no event
   (``importlib.import_module("_posixsubprocess").fork_exec``).
2. **seccomp filter** (Linux x86_64 and aarch64; installed by the prelude with
   ``prctl``, inherited by every thread and irrevocable). The kernel refuses
   with EPERM ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD`` (threads
   still work; ``clone3`` answers ENOSYS so glibc falls back to ``clone``),
   ``execve``, ``socket``, ``kill``/``tgkill``..., ``ptrace``, raising rlimits,
   mounts, ``mknod``, ``io_uring`` and other administrator calls; foreign
   architectures (x32, i386) are killed. **This is what really stops a fork
   bomb when the harness runs as root**, where ``RLIMIT_NPROC`` is not
   enforced (CAP_SYS_RESOURCE) and the audit hook can be bypassed.
3. **Landlock** (Linux 5.13+, when the kernel enables it; ruleset applied by
   the prelude): file writes, removals, new files, directories, links, device
   nodes and renames are allowed only beneath ``T/work`` (plus writing
   ``/dev/null``), and nothing may be executed; from ABI 4 TCP bind/connect are
   refused and from ABI 6 signals cannot leave the sandbox. Landlock binds root
   too, so writes outside the directory fail in the kernel even if the audit
   hook were bypassed. Reading files is not restricted.
4. **rlimits** (set in ``preexec_fn``): ``RLIMIT_CPU`` (``cpu_s``, default the
   wall-clock timeout + 1 s), ``RLIMIT_AS`` (``memory_mb``), ``RLIMIT_FSIZE``
   (10 MB), ``RLIMIT_NPROC`` (16; counts the user's processes and threads and
   does not bind root), ``RLIMIT_NOFILE`` (64), ``RLIMIT_CORE`` 0; and
   ``PR_SET_PDEATHSIG`` so the program dies with the process that started it
   (a scoring worker killed at its deadline).
5. **The parent** reads stdout and stderr incrementally (``max_output_bytes``
   over both), waits on a pidfd, and at the wall-clock deadline or the output
   cap SIGKILLs the whole process group; the group is SIGKILLed again before
   the leader is reaped (the leader is waited with ``WNOWAIT``, so its pid, the
   group id, cannot be reused meanwhile).

Layers 2 and 3 are best effort: where the kernel lacks them (not Linux, an old
kernel, Landlock off) the program still runs under layers 1, 4 and 5.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DENIED_EXIT", "ProgramResult", "code_execution_allowed", "run_python"]

DENIED_EXIT = 77  # sysexits EX_NOPERM: the audit hook ended the program
FILE_SIZE_LIMIT = 10 * 2**20
PROCESS_LIMIT = 16
OPEN_FILES_LIMIT = 64
_READ_CHUNK = 65536


@dataclass(frozen=True)
class ProgramResult:
    """How one program ended. ``status``: ``ok`` (exit code 0), ``error`` or ``timeout``.

    ``error`` says why it was not ok ("timeout after 5 s", "exit code 1:
    ZeroDivisionError: division by zero", "memory limit of 512 MB exceeded",
    "output cap of N bytes exceeded", "denied by the sandbox: os.fork");
    ``returncode`` is None when the sandbox killed the program.
    """

    status: str
    stdout: str
    stderr: str
    returncode: int | None
    elapsed_s: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def code_execution_allowed(options: Any) -> None:
    """Raise PermissionError unless ``options.allow_code_execution``; executors call it first.

    >>> from harness.options import EvalOptions
    >>> code_execution_allowed(EvalOptions(allow_code_execution=True))
    """
    if not getattr(options, "allow_code_execution", False):
        raise PermissionError(
            "scoring this suite runs model-written Python; pass --allow-code-execution "
            "(it runs in the sandbox: a separate process per program with CPU, memory, file-size "
            "and process limits, no network, no new processes, writes only inside a temporary "
            "directory, and a wall-clock kill)"
        )


def run_python(
    source: str,
    *,
    stdin: str = "",
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_output_bytes: int = 1_000_000,
    cpu_s: float | None = None,
) -> ProgramResult:
    """Run ``source`` as ``__main__`` in the sandbox (see the module docstring)."""
    cpu_limit = math.ceil(cpu_s) if cpu_s is not None else math.ceil(timeout_s) + 1
    limits = _rlimits(cpu_limit, memory_mb)
    from harness.execution.pool import _load_prctl  # libc's prctl, looked up before the fork

    prctl = _load_prctl()
    tmp = Path(tempfile.mkdtemp(prefix="harness-py-"))
    try:
        workdir = tmp / "work"
        workdir.mkdir()
        program = tmp / "program.py"
        program.write_text(source, encoding="utf-8", errors="replace")
        (tmp / "stdin").write_text(stdin, encoding="utf-8", errors="replace")
        argv = [sys.executable, "-s", "-S", "-B", *(["-P"] if sys.version_info >= (3, 11) else [])]
        argv += ["-c", _prelude_source(), str(program), str(DENIED_EXIT)]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir), "TMPDIR": str(workdir),
               "PYTHONHASHSEED": "0"}
        start = time.monotonic()
        with open(tmp / "stdin", "rb") as stdin_file:
            proc = subprocess.Popen(
                argv, stdin=stdin_file, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir,
                env=env, start_new_session=True, close_fds=True,
                preexec_fn=functools.partial(_limit_child, limits, prctl),
            )
        try:
            stopped, out, err = _pump(proc, start + timeout_s, max_output_bytes)
        finally:
            _reap(proc)
        elapsed = time.monotonic() - start
        return _result(proc.returncode, stopped, out, err, elapsed, timeout_s, memory_mb, cpu_limit,
                       max_output_bytes)
    finally:
        _remove_tree(tmp)


def _rlimits(cpu_limit: int, memory_mb: int) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) to set in the child, never above the current hard limit."""
    wanted = [
        (resource.RLIMIT_CPU, cpu_limit, cpu_limit + 1),
        (resource.RLIMIT_AS, memory_mb * 2**20, memory_mb * 2**20),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
        (resource.RLIMIT_NPROC, PROCESS_LIMIT, PROCESS_LIMIT),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    limits = []
    for res, soft, hard in wanted:
        current_hard = resource.getrlimit(res)[1]
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        limits.append((res, soft, hard))
    return limits


def _limit_child(limits: list[tuple[int, int, int]], prctl: Any) -> None:
    """preexec_fn: runs in the forked child before exec, so it only calls what is loaded."""
    for res, soft, hard in limits:
        resource.setrlimit(res, (soft, hard))
    if prctl is not None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


def _pump(proc: subprocess.Popen, deadline: float, cap: int) -> tuple[str | None, bytes, bytes]:
    """Read both pipes until the program has exited and they are closed.

    Returns (why it was stopped: 'timeout', 'cap' or None, stdout, stderr); the
    caller then kills the group (``_reap``).
    """
    assert proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    streams, total, exited, stopped = set(chunks), 0, False, None
    pidfd = _pidfd_open(proc.pid)
    with selectors.DefaultSelector() as sel:
        for fd in streams | ({pidfd} if pidfd is not None else set()):
            sel.register(fd, selectors.EVENT_READ)
        try:
            while streams or not exited:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    stopped = "timeout"
                    break
                # without a pidfd, wake now and then to see whether the program has exited
                for key, _ in sel.select(remaining if pidfd is not None else min(remaining, 0.05)):
                    if key.fd == pidfd:
                        sel.unregister(pidfd)
                        exited = True
                        continue
                    data = os.read(key.fd, _READ_CHUNK)
                    if not data:
                        sel.unregister(key.fd)
                        streams.discard(key.fd)
                        continue
                    chunks[key.fd].append(data[: max(0, cap - total)])
                    total += len(data)
                if total > cap:
                    stopped = "cap"
                    break
                if pidfd is None and not exited:
                    exited = _has_exited(proc.pid)
                if exited and streams:
                    _kill_group(proc.pid)  # whatever still holds the pipes goes with the program
        finally:
            if pidfd is not None:
                os.close(pidfd)
    return stopped, b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


def _pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]  # Linux 5.3+, Python 3.9+
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(proc: subprocess.Popen) -> None:
    """Kill the group while the leader is still unreaped (so its id is not reused), then reap.

    The leader has normally exited already; killing its group then ends anything it left.
    """
    _kill_group(proc.pid)
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        pass
    _kill_group(proc.pid)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _remove_tree(path: Path) -> None:
    """rmtree that also gets through directories the program made unreadable."""

    def retry(func: Any, target: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(target), 0o700)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, 0o700)
                shutil.rmtree(target, ignore_errors=True)
            else:
                func(target)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


def _result(
    returncode: int, stopped: str | None, out: bytes, err: bytes, elapsed: float, timeout_s: float,
    memory_mb: int, cpu_limit: int, cap: int,
) -> ProgramResult:
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    status, error, code = "error", None, returncode
    if stopped == "timeout":
        status, error, code = "timeout", f"timeout after {timeout_s:g} s", None
    elif stopped == "cap":
        error, code = f"output cap of {cap} bytes exceeded", None
    elif returncode == 0:
        status = "ok"
    elif returncode == -signal.SIGXCPU:
        status, error = "timeout", f"CPU time limit of {cpu_limit} s exceeded"
    elif returncode == DENIED_EXIT and last.startswith("sandbox: denied "):
        error = "denied by the sandbox: " + last[len("sandbox: denied "):]
    elif last.startswith("MemoryError"):
        error = f"memory limit of {memory_mb} MB exceeded ({last})"
    elif returncode < 0:
        error = f"killed by signal {_signal_name(-returncode)}"
    else:
        error = f"exit code {returncode}: {last}" if last else f"exit code {returncode}"
    return ProgramResult(status, stdout, stderr, code, elapsed, error)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


@functools.cache
def _prelude_source() -> str:
    """The program the sandboxed interpreter runs first: the functions below, then the call."""
    from harness.execution import sandbox_child as child

    functions = (child._install_landlock, child._install_seccomp, child._install_audit_hook, child._sandbox_main)
    parts = [inspect.getsource(f) for f in functions]
    return "from __future__ import annotations\n\n" + "\n\n".join(parts) + "\n_sandbox_main()\n"
