"""The Python sandbox against ordinary and hostile programs, each in a real process."""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.execution.python import code_execution_allowed, run_python
from harness.execution.sandbox_child import _install_landlock, _install_seccomp
from harness.options import EvalOptions

LINUX = sys.platform.startswith("linux")


def run_layer(layer, call: str, after: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run one kernel layer alone (no audit hook) in a plain child, then ``after``."""
    source = f"{inspect.getsource(layer)}\nprint({call}, flush=True)\n{textwrap.dedent(after)}"
    return subprocess.run([sys.executable, "-c", source], cwd=cwd, capture_output=True, text=True, timeout=30)


def assert_gone(pid: int, workdir: str) -> None:
    """No process of the program's group is left, and its temporary directory is removed."""
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(p) == pid] if LINUX else []
    assert leftovers == []
    assert not Path(workdir).exists() and not Path(workdir).parent.exists()


def _pgid(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


PID_AND_DIR = "import os\nprint(os.getpid(), os.getcwd(), flush=True)\n"


def started(result) -> tuple[int, str]:
    pid, workdir = result.stdout.split("\n", 1)[0].split(" ", 1)
    return int(pid), workdir


def test_output_stdin_and_deterministic_hashing():
    result = run_python("import sys\nprint(sys.stdin.read().upper(), end='')\nprint({'ab', 'cd', 'ef', 'gh'})",
                        stdin="hello\n")
    assert result.status == "ok" and result.returncode == 0 and result.error is None
    assert result.stdout.startswith("HELLO\n")
    assert run_python("print({'ab', 'cd', 'ef', 'gh'})").stdout == result.stdout.split("\n", 1)[1]


def test_syntax_error_and_exception_are_errors_with_the_last_line():
    syntax = run_python("def f(:\n    pass\n")
    assert syntax.status == "error" and syntax.error.startswith("exit code 1: SyntaxError")
    raised = run_python("print('before')\n1 / 0\n")
    assert raised.status == "error" and raised.returncode == 1 and raised.stdout == "before\n"
    assert raised.error == "exit code 1: ZeroDivisionError: division by zero"
    assert 'File "<program>", line 2' in raised.stderr and "_sandbox_main" not in raised.stderr


def test_threads_and_stdlib_still_work():
    source = "import threading, json, math, re\nt = threading.Thread(target=print, args=(math.gcd(12, 18),))\nt.start(); t.join()"
    assert run_python(source).stdout == "6\n"


def test_infinite_loop_is_killed_at_the_wall_clock_deadline():
    result = run_python(PID_AND_DIR + "while True:\n    pass\n", timeout_s=1.0)
    assert result.status == "timeout" and result.error == "timeout after 1 s" and result.returncode is None
    assert result.elapsed_s < 2.0
    assert_gone(*started(result))


def test_sleeping_program_with_closed_pipes_is_killed_too():
    result = run_python("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n", timeout_s=0.5)
    assert result.status == "timeout" and result.elapsed_s < 1.5


def test_cpu_limit_stops_a_busy_program():
    result = run_python("while True:\n    pass\n", timeout_s=10.0, cpu_s=1)
    assert result.status == "timeout" and "CPU time limit" in result.error and result.elapsed_s < 4.0


@pytest.mark.parametrize(
    "bomb",
    [
        "while True:\n    try:\n        os.fork()\n    except Exception:\n        pass\n",
        "import subprocess\nsubprocess.Popen(['sleep', '60'])\n",
        "os.system('sleep 60 &')\n",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()\n",
    ],
    ids=["fork-loop", "subprocess", "system", "multiprocessing"],
)
def test_fork_bombs_are_denied(bomb):
    result = run_python(PID_AND_DIR + bomb, timeout_s=5.0)
    assert result.status == "error" and result.error.startswith("denied by the sandbox: ")
    assert result.elapsed_s < 3.0
    assert_gone(*started(result))


@pytest.mark.skipif(not LINUX, reason="seccomp is Linux-only")
def test_seccomp_alone_refuses_fork_and_exec_even_for_root(tmp_path):
    # The layer that holds where the audit hook is bypassed and RLIMIT_NPROC does not bind (root).
    after = """
        import os, socket, threading
        for attempt in (os.fork, lambda: os.execv('/bin/true', ['true']), socket.socket):
            try:
                attempt()
                print('allowed')
            except PermissionError:
                print('refused')
        t = threading.Thread(target=print, args=('thread ok',)); t.start(); t.join()
    """
    done = run_layer(_install_seccomp, "_install_seccomp()", after, tmp_path)
    if done.stdout.startswith("False"):
        pytest.skip("seccomp is not available here")
    assert done.stdout.split() == ["True", "refused", "refused", "refused", "thread", "ok"], done.stderr


def landlock_available(tmp_path: Path) -> bool:
    return run_layer(_install_landlock, f"_install_landlock({str(tmp_path)!r})", "", tmp_path).stdout.strip() == "True"


@pytest.mark.skipif(not LINUX, reason="Landlock is Linux-only")
def test_landlock_alone_confines_writes_to_the_directory(tmp_path):
    inner, outer = tmp_path / "work", tmp_path / "outside.txt"
    inner.mkdir()
    after = f"""
        open('inside.txt', 'w').write('ok')
        try:
            open({str(outer)!r}, 'w')
            print('allowed')
        except PermissionError:
            print('refused')
    """
    done = run_layer(_install_landlock, f"_install_landlock({str(inner)!r})", after, inner)
    if done.stdout.startswith("False"):
        pytest.skip("Landlock is not enabled in this kernel")
    assert done.stdout.split() == ["True", "refused"], done.stderr
    assert (inner / "inside.txt").read_text() == "ok" and not outer.exists()


@pytest.mark.parametrize("bomb", ["x = 'a' * 10**10\n", "xs = []\nwhile True:\n    xs.append([0] * 10000)\n"],
                         ids=["string", "growing-list"])
def test_memory_bombs_hit_the_memory_limit(bomb):
    result = run_python(PID_AND_DIR + bomb, memory_mb=256, timeout_s=10.0)
    assert result.status == "error" and result.error.startswith("memory limit of 256 MB exceeded")
    assert_gone(*started(result))


def test_writing_outside_the_directory_is_denied(tmp_path):
    target = tmp_path / "escape.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('x')\n")
    assert result.status == "error" and "denied by the sandbox: writing" in result.error
    removal = run_python(f"import os\nos.remove({str(tmp_path)!r})\n")
    assert removal.status == "error" and "os.remove" in removal.error
    assert not target.exists() and tmp_path.is_dir()


def test_write_that_slips_past_the_audit_hook_meets_landlock(tmp_path):
    if not landlock_available(tmp_path):
        pytest.skip("Landlock is not enabled in this kernel")
    # os.open's audit event carries no dir_fd, so the hook judges this path relative to the cwd
    source = f"import os\nd = os.open({str(tmp_path)!r}, os.O_RDONLY)\nos.open('slipped.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d)\n"
    result = run_python(source)
    assert result.status == "error" and "PermissionError" in result.error
    assert not (tmp_path / "slipped.txt").exists()


def test_writing_inside_its_directory_is_allowed_and_removed_afterwards():
    source = PID_AND_DIR + "import tempfile\nopen('out.txt', 'w').write('data')\nos.mkdir('sub')\n"
    source += "tempfile.mkstemp()\nprint(sorted(os.listdir('.'))[:2])\n"
    result = run_python(source)
    assert result.status == "ok", result.stderr
    assert result.stdout.splitlines()[1] == "['out.txt', 'sub']"
    assert_gone(*started(result))


def test_socket_to_localhost_is_denied():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        source = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}))\ns.sendall(b'leak')\n"
        result = run_python(source)
        assert result.status == "error" and result.error.startswith("denied by the sandbox: socket.")
        with pytest.raises(TimeoutError):
            server.accept()


def test_environment_secrets_do_not_reach_the_program(monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_SECRET", "hunter2-do-not-leak")
    result = run_python("import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ', 'rb').read())\n")
    assert result.status == "ok"
    assert "hunter2" not in result.stdout and "HARNESS_TEST_SECRET" not in result.stdout
    assert "'PYTHONHASHSEED': '0'" in result.stdout


def test_output_flood_is_capped_and_killed():
    result = run_python(PID_AND_DIR + "while True:\n    print('x' * 1000)\n", max_output_bytes=100_000, timeout_s=10.0)
    assert result.status == "error" and result.error == "output cap of 100000 bytes exceeded"
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= 100_000
    assert result.elapsed_s < 3.0
    assert_gone(*started(result))


def test_raising_limits_and_signalling_others_are_denied():
    raise_limit = run_python("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n")
    assert raise_limit.error == "denied by the sandbox: resource.setrlimit"
    kill = run_python(f"import os\nos.kill({os.getpid()}, 9)\n")
    assert kill.error == "denied by the sandbox: os.kill"


def test_code_execution_needs_the_opt_in():
    with pytest.raises(PermissionError, match="--allow-code-execution"):
        code_execution_allowed(EvalOptions())
    code_execution_allowed(EvalOptions(allow_code_execution=True))
