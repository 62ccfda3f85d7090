"""Print the synth-sql statistics (tiers, features, intents, generation time) as Markdown."""

from __future__ import annotations

import argparse

from suites.synth_sql.stats import markdown, summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m suites.synth_sql", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="default")
    args = parser.parse_args()
    print(markdown(summary(args.seed, args.size)))


if __name__ == "__main__":
    main()
