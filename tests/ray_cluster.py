"""A real local Ray runtime for tests, kept out of the pytest process.

The runtime's head is a process of its own (started through ``harness.ray_runtime.connect``,
so on 127.0.0.1 only), and every Ray driver a test needs runs in another process: the CLI,
or ``RayCluster.call``. A Ray driver inside a pytest-xdist worker takes the whole worker
down when anything in Ray fails (its core worker exits the process), which reports as a
crashed worker with no cause; out here such a failure is a test failure with Ray's logs.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

HEAD = """
import os, sys
from harness.ray_runtime import connect
ray = connect("local", num_cpus=int(sys.argv[1]))
print(ray.get_runtime_context().gcs_address, os.environ.get("RAY_AUTH_MODE", ""),
      ray._private.worker._global_node.get_session_dir_path(), flush=True)
sys.stdin.read()  # until the test module is done: its end closes our stdin
ray.shutdown()
"""
RAY_ENV = ("RAY_ADDRESS", "RAY_AUTH_MODE")


def without_ray_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in RAY_ENV}


class RayCluster:
    """The head process of a local runtime; ``env`` joins it (``RAY_ADDRESS``, and the auth
    mode the head chose), ``call`` runs a function in a driver process joined to it."""

    def __init__(self, workdir: Path, num_cpus: int = 2):
        self._stderr = workdir / "ray-head.err"
        with self._stderr.open("w") as err:
            self._head = subprocess.Popen([sys.executable, "-c", HEAD, str(num_cpus)], env=without_ray_settings(), text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)  # fmt: skip
        line = self._head.stdout.readline().split()
        if len(line) != 3:
            self.close()
            raise RuntimeError(f"the Ray head did not start:\n{self._stderr.read_text()[-4000:]}")
        self.address, auth_mode, session = line
        self.session_dir = Path(session)
        self.joining = {"RAY_ADDRESS": self.address, **({"RAY_AUTH_MODE": auth_mode} if auth_mode else {})}
        self._driver: ProcessPoolExecutor | None = None

    @property
    def env(self) -> dict[str, str]:
        """This process's environment, joining the runtime instead of any other."""
        return {**without_ray_settings(), **self.joining}

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a driver process (fresh interpreter, kept for the next call) whose
        environment joins this runtime; its exceptions come back raised here."""
        if self._driver is None:
            self._driver = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=_join, initargs=(self.joining,))  # fmt: skip
        try:
            return self._driver.submit(fn, *args).result(timeout=300)
        except BrokenProcessPool as e:
            self._driver = None
            raise AssertionError(f"the Ray driver process died\n{self.logs()}") from e

    def first_warning(self, harness_args: list[str], wait_s: float = 120) -> str:
        """The first ``warning:`` line of ``harness *harness_args`` joined to this runtime, which is
        then killed (a command the warning is about would wait forever); "" if none came."""
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *harness_args], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        stop = threading.Timer(wait_s, proc.kill)
        stop.start()
        try:
            return next((line for line in iter(proc.stderr.readline, "") if line.startswith("warning:")), "")
        finally:
            stop.cancel()
            proc.kill()
            proc.wait()

    def logs(self, lines: int = 30) -> str:
        """The last lines of the runtime's own logs, for a failure message."""
        out = [f"--- ray head stderr\n{self._stderr.read_text()[-3000:]}"]
        for name in ("raylet.out", "gcs_server.out"):
            path = self.session_dir / "logs" / name
            if path.exists():
                out.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.shutdown(cancel_futures=True)
            self._driver = None
        if self._head.stdin:
            self._head.stdin.close()
        try:
            self._head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._head.kill()
            self._head.wait()


def _join(settings: dict[str, str]) -> None:
    for name in RAY_ENV:
        os.environ.pop(name, None)
    os.environ.update(settings)
