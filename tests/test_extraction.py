"""Golden (completion, expected prediction) pairs for every extractor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.extraction import EXTRACTORS

CASES = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "extraction_cases.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['kind']}-{i}" for i, c in enumerate(CASES)])
def test_extraction_golden(case):
    assert EXTRACTORS[case["kind"]](case["completion"]) == case["expected"]
