"""A throwaway PostgreSQL server on 127.0.0.1, for tests and the parity study.

``LocalPostgres`` runs ``initdb`` into a fresh temporary folder, starts
``postgres`` listening on 127.0.0.1 only (and on a Unix socket inside that
folder) at a free port, and on exit stops it and deletes the folder. It needs
the server binaries (Debian's ``postgresql`` package; ``.ci/run`` installs it):
``find_server_bin`` looks on PATH and under ``/usr/lib/postgresql/*/bin``.

PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user (which the Debian package creates) and the binaries run
through ``runuser``. The superuser of the cluster is ``postgres`` and local
connections are trusted, which is fine for a server that lives in a private
folder, listens on loopback and is gone when the block ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["LocalPostgres", "PostgresUnavailable", "find_server_bin"]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (install Debian's ``postgresql`` package)."""


def find_server_bin() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``; PostgresUnavailable if none."""
    for candidate in [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]:
        if candidate and Path(candidate).resolve().with_name("pg_ctl").exists():
            return Path(candidate).resolve().parent
    raise PostgresUnavailable(
        "no PostgreSQL server found (initdb, pg_ctl); install it with `apt-get install postgresql`"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """``with LocalPostgres() as pg: pg.url("harness")`` -> a superuser SQLAlchemy URL."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bin = find_server_bin()
        self.settings = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off", **(settings or {})}
        self.port = 0
        self.folder: Path | None = None

    def _as_owner(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def __enter__(self) -> LocalPostgres:
        self.folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        data = self.folder / "data"
        subprocess.run(
            self._as_owner(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                           "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"),
            check=True, capture_output=True,
        )  # fmt: skip
        for attempt in range(5):
            self.port = _free_port()
            options = [f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder}"]
            options += [f"-c {name}={value}" for name, value in self.settings.items()]
            started = subprocess.run(
                self._as_owner(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"),
                               "-w", "-t", "30", "-o", " ".join(options), "start"),
                capture_output=True, text=True,
            )  # fmt: skip
            if started.returncode == 0:
                break
            if attempt == 4:
                log = (self.folder / "log").read_text(errors="replace")[-2000:]
                self.__exit__(None, None, None)
                raise PostgresUnavailable(f"PostgreSQL did not start: {started.stderr.strip()}\n{log}")
            time.sleep(0.2)
        self.psql("CREATE DATABASE harness")
        return self

    def url(self, database: str = "harness", user: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser through psql; its output."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def __exit__(self, *exc: object) -> None:
        if self.folder is None:
            return
        if (self.folder / "data" / "postmaster.pid").exists():
            subprocess.run(
                self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"),
                capture_output=True,
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
