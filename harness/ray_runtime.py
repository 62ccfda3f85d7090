"""Connecting to Ray, for sharded evaluation and sweeps: reuse, join, or start on 127.0.0.1 only.

Ray is an optional extra (``pip install 'sql-harness[ray]'``), imported only here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["LOCAL", "LOOPBACK", "connect", "import_ray", "unplaceable", "warn_if_unplaceable"]

LOCAL = "local"  # an address that means: a runtime of this machine, whatever $RAY_ADDRESS says
LOOPBACK = "127.0.0.1"
_LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def import_ray(missing: str = "Ray is not installed: pip install 'sql-harness[ray]'") -> Any:
    """The ``ray`` module; ImportError with ``missing`` (the fix) when it is not installed."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(missing) from e
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None, missing: str | None = None) -> Any:
    """The ``ray`` module, connected: reuse this process's runtime, else join ``address`` (or
    ``$RAY_ADDRESS``), else start a local runtime on 127.0.0.1 with ``num_cpus``. ``address``
    ``"local"`` starts a local runtime even when ``$RAY_ADDRESS`` is set."""
    ray = import_ray(*([missing] if missing else []))
    if ray.is_initialized():
        return ray
    address = address if address == LOCAL else address or os.environ.get("RAY_ADDRESS") or None
    if address and address != LOCAL:
        host = address.split("://")[-1].rsplit(":", 1)[0]
        try:
            with _loopback(host in ("127.0.0.1", "localhost", "::1", "[::1]")):
                ray.init(address=address, logging_level="warning")
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConnectionError(
                f"cannot reach a Ray cluster at {address!r}: {e}; start one with `ray start --head` and pass "
                f"its address (host:port), or 'local' for a runtime on this machine{_auth_hint()}"
            ) from e
    else:
        with _loopback(True):
            ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address=LOOPBACK,
                     logging_level="warning")  # fmt: skip
    return ray


def unplaceable(ray: Any, cpus: float, gpus: float = 0) -> str | None:
    """None when a live node of the cluster has ``cpus`` CPUs and ``gpus`` GPUs; else what the
    nodes have (``"2 CPUs, 0 GPUs"``, the largest first). Ray holds a task that fits no node
    until one joins: from an autoscaler, or never."""
    sizes = sorted(((node["Resources"].get("CPU", 0), node["Resources"].get("GPU", 0))
                    for node in ray.nodes() if node.get("Alive")), reverse=True)  # fmt: skip
    if any(c >= cpus and g >= gpus for c, g in sizes):
        return None
    shown = "; ".join(f"{c:g} CPUs, {g:g} GPUs" for c, g in sizes[:4]) + ("; ..." if len(sizes) > 4 else "")
    return shown or "no live node"


def warn_if_unplaceable(ray: Any, cpus: float, gpus: float, what: str, fix: str) -> bool:
    """Say on stderr that ``what`` (asking ``cpus`` and ``gpus`` per task) fits no node of the
    cluster now, and ``fix``; True when it said so. Callers still submit the tasks: an
    autoscaling cluster may add a node that fits."""
    nodes = unplaceable(ray, cpus, gpus)
    if nodes is None:
        return False
    gpu_part = f" and {gpus:g} GPUs" if gpus else ""
    print(f"warning: {what} asks for {cpus:g} CPUs{gpu_part} per task, but no node of the Ray cluster has "
          f"that many now (nodes: {nodes}); Ray holds such tasks until a node that fits joins (an autoscaler's), "
          f"forever otherwise: {fix}", file=sys.stderr, flush=True)  # fmt: skip
    return True


def _auth_hint() -> str:
    """Ray refuses a client without the token of a cluster that asks for one, and says only
    that it failed to connect."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return ""
    return ("; a cluster with token authentication (what `ray.init()` starts, and `ray start` where "
            "~/.ray/auth_token exists) takes only clients with RAY_AUTH_MODE=token set, and its token "
            "in ~/.ray/auth_token or $RAY_AUTH_TOKEN")  # fmt: skip


@contextmanager
def _loopback(wanted: bool) -> Iterator[None]:
    """While Ray starts or joins a runtime: keep it on 127.0.0.1.

    Ray turns a loopback node address into the machine's reachable one (and binds
    its servers there) unless its "clusters" are off, as on macOS and Windows.
    """
    if not wanted:
        yield
        return
    from ray._private import ray_constants  # where Ray reads it when picking the node's address

    saved_env, saved_flag = os.environ.get(_LOCAL_ONLY_ENV), getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_LOCAL_ONLY_ENV] = "0"  # the runtime's own processes read it when they start
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop(_LOCAL_ONLY_ENV, None)
        else:
            os.environ[_LOCAL_ONLY_ENV] = saved_env
        if saved_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = saved_flag
