"""A throwaway MySQL-compatible server (MariaDB) on 127.0.0.1, for tests.

``LocalMySQL`` runs ``mariadb-install-db`` into a fresh temporary folder, starts
``mariadbd`` listening on 127.0.0.1 only (and on a Unix socket inside that
folder) at a free port, and on exit stops it and deletes the folder. It needs
Debian's ``mariadb-server`` package (``.ci/run`` installs it); Oracle's
``mysqld`` is used the same way when only that is installed.

Under root the server runs as the ``mysql`` system user (which the package
creates), as ``mariadbd --user`` asks. ``root`` from 127.0.0.1 has no password,
fine for a server in a private folder, on loopback, gone when the block ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["LocalMySQL", "MySQLUnavailable", "find_mysql_server"]


class MySQLUnavailable(RuntimeError):
    """No MariaDB/MySQL server binaries here (install Debian's ``mariadb-server`` package)."""


def find_mysql_server() -> tuple[Path, Path]:
    """The server binary and the program that makes a data folder; MySQLUnavailable if none."""
    for server, install in (("mariadbd", "mariadb-install-db"), ("mysqld", "mysql_install_db")):
        found = shutil.which(server) or shutil.which(server, path="/usr/sbin:/usr/local/sbin")
        setup = shutil.which(install) or shutil.which(install, path="/usr/bin:/usr/local/bin")
        if found and setup:
            return Path(found), Path(setup)
    raise MySQLUnavailable(
        "no MariaDB or MySQL server found (mariadbd, mariadb-install-db); "
        "install it with `apt-get install mariadb-server`"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalMySQL:
    """``with LocalMySQL() as server: server.url("harness")`` -> a root SQLAlchemy URL."""

    def __init__(self) -> None:
        self.server, self.install = find_mysql_server()
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None

    def _user(self) -> list[str]:
        return ["--user=mysql"] if os.geteuid() == 0 else []

    def __enter__(self) -> LocalMySQL:
        self.folder = Path(tempfile.mkdtemp(prefix="harness-mysql-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "mysql")
        data = self.folder / "data"
        made = subprocess.run(
            [str(self.install), "--no-defaults", f"--datadir={data}", *self._user(),
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True,
        )  # fmt: skip
        if made.returncode != 0:
            self.__exit__(None, None, None)
            raise MySQLUnavailable(f"{self.install.name} failed: {made.stderr.strip()[-2000:]}")
        for attempt in range(5):
            self.port = _free_port()
            self.process = subprocess.Popen(
                [str(self.server), "--no-defaults", f"--datadir={data}", f"--socket={self.folder / 'sock'}",
                 f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-name-resolve", *self._user(),
                 f"--log-error={self.folder / 'log'}", f"--pid-file={self.folder / 'pid'}",
                 "--innodb-buffer-pool-size=32M", "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._wait_ready(30):
                break
            self._stop()
            if attempt == 4:
                log = (self.folder / "log").read_text(errors="replace")[-2000:]
                self.__exit__(None, None, None)
                raise MySQLUnavailable(f"{self.server.name} did not start:\n{log}")
        self.sql("CREATE DATABASE harness")
        return self

    def _wait_ready(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(1):  # the server's handshake: it takes connections now
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def url(self, database: str = "harness", user: str = "root", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"mysql+pymysql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str | None = None) -> list[tuple]:
        """Run one statement as root; its rows."""
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", database=database, autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
