"""The floor: execute each gold and predicted query once, compare nothing.

Usage: python benchmarks/floor_exec.py DATA_DIR PREDICTIONS
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path


def main(data: Path, predictions: Path) -> None:
    examples = json.loads((data / "dev.json").read_text())
    preds = predictions.read_text().splitlines()
    connections: dict[str, sqlite3.Connection] = {}
    for example, pred in zip(examples, preds):
        db = data / "database" / example["db_id"] / f"{example['db_id']}.sqlite"
        if not db.exists():
            continue
        conn = connections.get(example["db_id"])
        if conn is None:
            conn = connections[example["db_id"]] = sqlite3.connect(db)
            conn.text_factory = lambda b: b.decode(errors="ignore")
        for sql in (example["query"], pred.split("\t")[0].strip()):
            try:
                conn.execute(sql).fetchall()
            except Exception:
                pass


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
