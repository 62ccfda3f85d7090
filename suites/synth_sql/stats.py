"""Counts for the documentation: hardness tiers, SQL features and intents per split.

``python -m suites.synth_sql --seed 0 --size default`` prints them as Markdown.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from harness.metrics.features import sql_features
from suites.synth_sql.generate import SPLITS, TIERS, build


def summary(seed: int = 0, size: str = "default") -> dict[str, Any]:
    """Generation time (of a fresh build), and tier, feature and intent counts per split."""
    build.cache_clear()
    start = time.perf_counter()
    data = build(seed, size)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"seconds": seconds, "rejected": dict(data.rejected.most_common()), "splits": {}}
    for split in SPLITS:
        items = data.splits[split]
        features: Counter[str] = Counter(f for item in items for f in sql_features(item.query))
        out["splits"][split] = {
            "databases": len(data.split_dbs[split]),
            "questions": len(items),
            "tiers": {tier: sum(item.hardness == tier for item in items) for tier in TIERS},
            "features": dict(sorted(features.items())),
            "intents": dict(sorted(Counter(item.intent for item in items).items())),
        }
    return out


def markdown(stats: dict[str, Any]) -> str:
    splits = list(stats["splits"])
    lines = [f"Generated in {stats['seconds']:.1f} s.", "", "| | " + " | ".join(splits) + " |",
             "|---|" + "---:|" * len(splits)]
    first = stats["splits"][splits[0]]
    rows = [("databases", lambda s: s["databases"]), ("questions", lambda s: s["questions"])]
    rows += [(tier, lambda s, t=tier: s["tiers"][t]) for tier in TIERS]
    rows += [(f"feature: {f}", lambda s, f=f: s["features"].get(f, 0)) for f in sorted(
        {f for s in stats["splits"].values() for f in s["features"]})]
    for name, get in rows:
        lines.append(f"| {name} | " + " | ".join(str(get(stats["splits"][s])) for s in splits) + " |")
    lines += ["", "Rejected candidates: " + ", ".join(f"{k} {v}" for k, v in stats["rejected"].items()), ""]
    lines += ["| intent | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for intent in sorted({i for s in stats["splits"].values() for i in s["intents"]}, key=lambda i: (
            -first["intents"].get(i, 0), i)):
        lines.append(f"| {intent} | " + " | ".join(str(stats["splits"][s]["intents"].get(intent, 0)) for s in splits) + " |")
    return "\n".join(lines)
