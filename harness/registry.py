"""Find suites, runners, trainers and metrics through entry points.

Built-ins register in pyproject.toml exactly as a third-party package would, and
nothing is imported until it is asked for by name, so a heavy dependency
(vllm, torch) is only imported when its runner or trainer is chosen.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

GROUPS = ("suites", "runners", "trainers", "metrics")


class RegistryError(LookupError):
    """An unknown name or group; the message lists what is available."""


@cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    if group not in GROUPS:
        raise RegistryError(f"unknown registry group {group!r}; groups: {', '.join(GROUPS)}")
    return {ep.name: ep for ep in entry_points(group=f"harness.{group}")}


def names(group: str) -> list[str]:
    """Registered names in a group, sorted.

    >>> "spider" in names("suites")
    True
    """
    return sorted(_entry_points(group))


def load(group: str, name: str) -> Any:
    """Import and return the object registered as ``name`` in ``group``."""
    found = _entry_points(group)
    if name not in found:
        available = ", ".join(sorted(found)) or "none"
        raise RegistryError(
            f"no {group[:-1]} named {name!r} (available: {available}). "
            "If it comes from a plugin, install the plugin package; if it is built in, "
            "reinstall this project (pip install -e .) so its entry points are registered."
        )
    return found[name].load()
