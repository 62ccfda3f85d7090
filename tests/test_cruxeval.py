"""The cruxeval loader and executor: small hand-written files, then the real set when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.execution.pool import WorkerPool
from harness.metrics.code_exec import execute_cruxeval
from harness.options import EvalOptions
from harness.suite import DataError
from harness.types import Status
from suites.cruxeval import load_cruxeval

REPO = Path(__file__).resolve().parent.parent
ALLOWED = EvalOptions(semantics="cruxeval", metrics=("output_acc",), allow_code_execution=True, timeout_s=5.0)

FUNCTIONS = [
    {"code": "def f(nums):\n    return sorted(nums, reverse=True)", "input": "[3, 1, 2]", "output": "[3, 2, 1]",
     "id": "sample_0"},
    {"code": "def f(text, n):\n    out = ''\n    for i, c in enumerate(text):\n        if i % n == 0:\n"
             "            out += c.upper()\n        else:\n            out += c\n    return out",
     "input": "'abcdef', 2", "output": "'AbCdEf'", "id": "sample_1"},
    {"code": "def f(d):\n    return {v: k for k, v in d.items()}", "input": "{'a': 1, 'b': 2}",
     "output": "{1: 'a', 2: 'b'}", "id": "sample_2"},
    {"code": "def f(s):\n    return set(s.split())", "input": "'b a b c'", "output": "{'a', 'b', 'c'}",
     "id": "sample_3"},
]
WRONG = {"sample_0": "[1, 2, 3]", "sample_1": "'abcdef'", "sample_2": "{'a': 1}", "sample_3": "{'a'}"}


@pytest.fixture
def crux_file(tmp_path) -> Path:
    path = tmp_path / "cruxeval.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in FUNCTIONS))
    return path


def test_loads_examples_and_suite_fields(crux_file):
    suite = load_cruxeval(crux_file.parent)
    assert suite.name == "cruxeval" and suite.semantics == "cruxeval" and suite.metrics == ["output_acc"]
    assert suite.task == "code-output" and suite.runs_model_code and not suite.tag_sql_features
    assert suite.gold_kind == "output" and suite.tiers == ["easy", "medium", "hard"]
    assert suite.source == str(crux_file) and suite.source_ids == ["sample_0", "sample_1", "sample_2", "sample_3"]
    first = suite.examples[0]
    assert first.question == "def f(nums):\n    return sorted(nums, reverse=True)\nassert f([3, 1, 2]) == ??"
    assert first.gold == "[3, 2, 1]" and first.metadata == {"code": FUNCTIONS[0]["code"], "input": "[3, 1, 2]"}
    assert all(e.tier in suite.tiers for e in suite.examples) and suite.examples[1].tier != "easy"
    assert load_cruxeval(crux_file, limit=2).source_ids == suite.source_ids
    assert len(load_cruxeval(crux_file, limit=2).examples) == 2


def test_gold_matches_and_wrong_predictions_mismatch(crux_file):
    for example in load_cruxeval(crux_file).examples:
        assert execute_cruxeval(example, example.gold, ALLOWED).status is Status.MATCH, example.id
        wrong = execute_cruxeval(example, WRONG[example.id], ALLOWED)
        assert wrong.status is Status.MISMATCH and wrong.pred_rows == [WRONG[example.id]]


ERROR, TIMEOUT = {Status.PRED_ERROR}, {Status.PRED_TIMEOUT}


@pytest.mark.parametrize(
    ("pred", "statuses"),
    [
        ("__import__('os').system('echo hi')", ERROR),
        # an endless list: the deadline or the memory limit, whichever comes first
        ("[i for i in iter(int, 1)]", ERROR | TIMEOUT),
        ("next(i for i in iter(int, 1) if i)", TIMEOUT),
        ("undefined_name", ERROR),
        ("[3, 2, 1]) or (True", ERROR),
        ("[3, 2, 1]\nimport os", ERROR),
        ("f([3, 1, 2])", {Status.MISMATCH}),
        ("", ERROR),
    ],
    ids=["system", "endless-list", "endless-loop", "name-error", "breakout", "second-statement", "calls-f", "empty"],
)
def test_hostile_and_broken_predictions(crux_file, pred, statuses):
    example = load_cruxeval(crux_file).examples[0]
    outcome = execute_cruxeval(example, pred, EvalOptions(allow_code_execution=True, timeout_s=1.0))
    assert outcome.status in statuses, outcome.error
    if "system" in pred:
        assert outcome.error == "denied by the sandbox: os.system"


def test_opt_in_is_enforced(crux_file):
    example = load_cruxeval(crux_file).examples[0]
    with pytest.raises(PermissionError, match="--allow-code-execution"):
        execute_cruxeval(example, example.gold, EvalOptions(semantics="cruxeval"))


def test_malformed_files_name_file_and_line(tmp_path):
    with pytest.raises(DataError, match="--data"):
        load_cruxeval(None)
    with pytest.raises(DataError, match="no cruxeval.jsonl"):
        load_cruxeval(tmp_path)
    bad = tmp_path / "cruxeval.jsonl"
    bad.write_text(json.dumps(FUNCTIONS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"cruxeval.jsonl:2: malformed JSON"):
        load_cruxeval(bad)
    bad.write_text(json.dumps(FUNCTIONS[0]) + "\n\n" + json.dumps({"code": "def f(): pass", "id": "x"}) + "\n")
    with pytest.raises(DataError, match=r"cruxeval.jsonl:3: lacks string field\(s\) input, output"):
        load_cruxeval(bad)
    bad.write_text(json.dumps(FUNCTIONS[0]) + "\n" + json.dumps(FUNCTIONS[0]) + "\n")
    with pytest.raises(DataError, match="id 'sample_0' repeats line 1"):
        load_cruxeval(bad)


def real_cruxeval() -> Path | None:
    path = Path(os.environ.get("HARNESS_CRUXEVAL") or REPO.parent / "shared" / "data" / "cruxeval" / "cruxeval.jsonl")
    return path if path.is_file() else None


_REAL: list = []


def _score_gold(index: int) -> tuple[str, str | None]:
    example = _REAL[index]
    outcome = execute_cruxeval(example, example.gold, ALLOWED)
    return outcome.status.value, outcome.error


@pytest.mark.skipif(real_cruxeval() is None, reason="the real CRUXEval file is not here (set HARNESS_CRUXEVAL)")
def test_real_set_loads_and_every_gold_output_matches():
    suite = load_cruxeval(real_cruxeval())
    assert len(suite.examples) == 800 and len(set(suite.source_ids)) == 800
    _REAL[:] = suite.examples
    failures = []
    with WorkerPool(_score_gold, jobs=max(2, min(4, os.cpu_count() or 2))) as pool:
        for index, outcome in pool.imap_unordered(((i, i) for i in range(len(_REAL))), deadline_s=30):
            if not outcome.ok or outcome.value[0] != "match":
                failures.append((_REAL[index].id, outcome))
    assert failures == []
