"""``synth-sql``: generated multi-database Text-to-SQL data with all four Spider hardness tiers.

From a seed and a size, SQLite databases are drawn from ten domain templates
(:mod:`suites.synth_sql.domains`), questions with gold SQL and BIRD-style
evidence are generated and validated on them (:mod:`suites.synth_sql.generate`),
and the result is written in Spider's and BIRD's layouts
(:mod:`suites.synth_sql.export`). See docs/synth-sql.md.

    from suites.synth_sql import build, export_spider, export_bird
    export_spider("out/synth-spider", seed=0, size="default")
    export_bird("out/synth-bird", seed=0, size="default")
"""

from __future__ import annotations

from suites.synth_sql.export import BIRD_DIFFICULTY, cached_export, export_bird, export_spider
from suites.synth_sql.generate import SIZES, TIERS, Dataset, Item, build
from suites.synth_sql.loaders import load_synth_sql, load_synth_sql_bird

__all__ = [
    "BIRD_DIFFICULTY",
    "SIZES",
    "TIERS",
    "Dataset",
    "Item",
    "build",
    "cached_export",
    "export_bird",
    "export_spider",
    "load_synth_sql",
    "load_synth_sql_bird",
]
