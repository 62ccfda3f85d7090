from __future__ import annotations

import importlib
import os
import sqlite3
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def spider_dev_path() -> Path | None:
    """The real Spider dev set beside the checkout, or None (tests using it skip)."""
    path = Path(os.environ.get("HARNESS_SPIDER_DEV") or REPO.parent / "shared" / "data" / "spider-dev")
    return path if (path / "dev.json").is_file() else None


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def tiny_dir(tmp_path) -> Path:
    """A freshly generated tiny suite folder (Spider layout)."""
    from suites.tiny import generate

    folder = tmp_path / "tiny"
    generate(folder, seed=0)
    return folder


def make_db(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The tiny suite (30 questions on 2 databases) with tiers (Spider hardness) resolved;
    shared by the trainer tests of a module."""
    from suites.tiny import generate, load_tiny
    from trainers.data import resolve_tiers

    folder = tmp_path_factory.mktemp("tiny-suite")
    generate(folder, seed=0)
    loaded = load_tiny(folder)
    resolve_tiers(loaded)
    return loaded


def throwaway_server(driver: str, module: str, server: str, unavailable: str):
    """Start ``module.server`` for this test process, skipping where it or ``driver`` is missing.

    In CI (``CI`` set) a missing server or driver is a failure, not a skip: ``.ci/run`` installs them.
    """
    if not os.environ.get("CI"):
        pytest.importorskip(driver)
    found = importlib.import_module(module)
    try:
        return getattr(found, server)().__enter__()
    except getattr(found, unavailable) as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 for this test process."""
    server = throwaway_server("psycopg", "harness.engines.local_postgres", "LocalPostgres", "PostgresUnavailable")
    yield server
    server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def mysql_server():
    """A real MariaDB server on 127.0.0.1 for this test process."""
    server = throwaway_server("pymysql", "harness.engines.local_mysql", "LocalMySQL", "MySQLUnavailable")
    yield server
    server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real Ray runtime on 127.0.0.1 with 2 CPUs, its head in a process of its own
    (see ``tests/ray_cluster.py``); skips without Ray, except in CI where that fails."""
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    from tests.ray_cluster import RayCluster

    cluster = RayCluster(tmp_path_factory.mktemp("ray"))
    yield cluster
    cluster.close()
