"""synth-code: generated TinyPy programs, their tiers, the TinyPy format and both loaders."""

from __future__ import annotations

import ast
import statistics
from collections import Counter
from pathlib import Path

import pytest

from harness.suite import DataError
from harness.types import Example
from suites.code_difficulty import code_difficulty, code_features, code_metrics, code_tier
from suites.synth_code import (
    SPLIT_ORDER,
    export_synth_code,
    load_synth_code,
    load_synth_code_completion,
    split_sizes,
)
from suites.tinypy import export_tinypy, load_tinypy, parse_tinypy

SMALL = 12  # dev and test hold 12 programs, train 80


@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    return export_synth_code(tmp_path_factory.mktemp("synth-code") / "seed0", seed=0, size=SMALL)


def _loops(program: str) -> int:
    return sum(isinstance(node, (ast.For, ast.While)) for node in ast.walk(ast.parse(program)))


def test_same_seed_same_bytes_and_other_seed_differs(small_export, tmp_path):
    again = export_synth_code(tmp_path / "again", seed=0, size=SMALL)
    other = export_synth_code(tmp_path / "other", seed=1, size=SMALL)
    for split in SPLIT_ORDER:
        assert (again / f"{split}.txt").read_bytes() == (small_export / f"{split}.txt").read_bytes()
        assert (other / f"{split}.txt").read_bytes() != (small_export / f"{split}.txt").read_bytes()
    suite = load_synth_code(small_export, split="dev")
    assert suite.version == load_synth_code(again, split="dev").version != load_synth_code(other, split="dev").version


def test_split_sizes_and_disjoint_splits(small_export):
    programs = {split: [e.question for e in load_synth_code(small_export, split=split).examples] for split in SPLIT_ORDER}
    assert {split: len(p) for split, p in programs.items()} == split_sizes(SMALL) == {"dev": 12, "test": 12, "train": 80}
    every = [p for split in SPLIT_ORDER for p in programs[split]]
    assert len(set(every)) == len(every)  # no program twice, within or across splits


def test_stored_outputs_match_a_fresh_sandbox_run(small_export):
    from harness.execution.python import run_python

    examples = load_synth_code(small_export, split="test").examples
    for example in examples[::3]:
        result = run_python(example.question)
        assert result.status == "ok", result.error
        assert result.stdout == example.gold, example.id


def test_programs_are_short_tinypy_and_print_a_few_values(small_export):
    for split in SPLIT_ORDER:
        for example in load_synth_code(small_export, split=split).examples:
            program = example.question
            assert 5 <= program.count("\n") <= 25 and program.endswith("\n")
            names = {type(node).__name__ for node in ast.walk(ast.parse(program))}
            assert names <= {
                "Module", "Assign", "AugAssign", "Name", "Store", "Load", "Constant", "BinOp", "Add", "Sub",
                "Mult", "FloorDiv", "Mod", "Compare", "Lt", "LtE", "Gt", "GtE", "Eq", "NotEq", "BoolOp",
                "And", "Or", "UnaryOp", "Not", "If", "For", "While", "Call", "Expr",
            }, names
            calls = {node.func.id for node in ast.walk(ast.parse(program)) if isinstance(node, ast.Call)}
            assert calls <= {"print", "range"}
            assert 1 <= len(example.gold.splitlines()) <= 10


def test_suite_settings_and_example_fields(small_export):
    suite = load_synth_code(small_export, split="dev", limit=5)
    assert (suite.name, suite.task, suite.semantics, suite.metrics, suite.gold_kind) == (
        "synth-code", "code-output", "output", ["output_acc"], "output"
    )
    assert suite.tiers == ["easy", "medium", "hard"]
    assert not suite.tag_sql_features and not suite.runs_model_code
    assert len(suite.examples) == 5 and suite.source_ids == [f"dev-{i}" for i in range(SMALL)]
    example = suite.examples[0]
    assert (example.id, example.suite, example.db_id) == ("dev-0", "synth-code", "")
    assert example.tier == code_tier(example.question)
    assert example.features == code_features(example.question)
    with pytest.raises(DataError, match="no split 'validation'"):
        load_synth_code(small_export, split="validation")


def test_default_dev_split_is_balanced_and_harder_tiers_are_harder():
    # the default size (300 dev programs), generated into the test session's cache
    suite = load_synth_code()
    counts = Counter(e.tier for e in suite.examples)
    assert len(suite.examples) == 300
    for tier in ("easy", "medium", "hard"):
        assert abs(counts[tier] / 300 - 1 / 3) <= 0.10, counts
    by_tier = {tier: [e.question for e in suite.examples if e.tier == tier] for tier in suite.tiers}
    for measure in (
        lambda p: code_metrics(p).nesting,
        lambda p: code_metrics(p).cyclomatic,
        _loops,
        lambda p: p.count("\n"),
    ):
        means = [statistics.mean(measure(p) for p in by_tier[tier]) for tier in suite.tiers]
        assert means[0] < means[1] < means[2], means
    assert load_synth_code().examples[0].question == suite.examples[0].question  # cached
    assert load_synth_code(seed=1, size=3).examples[0].question != suite.examples[0].question


def test_completion_examples_split_the_program_at_one_line(small_export):
    suite = load_synth_code_completion(small_export, split="dev")
    assert (suite.name, suite.task, suite.semantics, suite.gold_kind, suite.runs_model_code) == (
        "synth-code-completion", "code-completion", "completion", "line", True
    )
    assert suite.metrics == ["next_line_em", "output_acc"] and not suite.tag_sql_features
    outputs = {e.id: e for e in load_synth_code(small_export, split="dev").examples}
    lines_chosen = set()
    for example in suite.examples:
        meta = example.metadata
        assert example.question + example.gold + meta["suffix"] == meta["program"]
        assert meta["program"] == outputs[example.id].question and meta["output"] == outputs[example.id].gold
        assert example.gold.strip() and "\n" not in example.gold and meta["line"] >= 1
        assert example.question.endswith("\n") and example.question.count("\n") == meta["line"]
        assert example.tier == outputs[example.id].tier
        lines_chosen.add(meta["line"])
    assert len(lines_chosen) > 3  # not always the same position
    again = load_synth_code_completion(small_export, split="dev")
    assert [e.gold for e in again.examples] == [e.gold for e in suite.examples]


def test_tinypy_round_trip(tmp_path, small_export):
    examples = load_synth_code(small_export, split="dev").examples
    path = export_tinypy(examples, tmp_path / "programs.txt")
    suite = load_tinypy(path)
    assert (suite.name, suite.task, suite.semantics, suite.gold_kind) == ("tinypy", "code-output", "output", "output")
    assert [(e.question, e.gold, e.tier) for e in suite.examples] == [(e.question, e.gold, e.tier) for e in examples]
    assert [e.id for e in suite.examples] == [f"programs-{i}" for i in range(len(examples))]
    assert export_tinypy(suite.examples, tmp_path / "again.txt").read_bytes() == path.read_bytes()
    # the synth-code cache files are TinyPy exports: the tinypy loader reads them as they are
    assert [e.gold for e in load_tinypy(small_export, split="dev").examples] == [e.gold for e in examples]


def test_tinypy_folder_of_one_program_files(tmp_path):
    export_tinypy([("x = 2\nprint(x)\n", "2\n")], tmp_path / "b.txt")
    export_tinypy([("if 1 < 2:\n    print(3)\n\nprint(4)\n", "3\n4\n"), ("print(5)\n", "5\n")], tmp_path / "a.txt")
    suite = load_tinypy(tmp_path)
    assert [e.id for e in suite.examples] == ["a-0", "a-1", "b-0"]
    assert suite.examples[0].question == "if 1 < 2:\n    print(3)\n\nprint(4)\n"
    assert suite.examples[0].features == ["if"]
    assert len(load_tinypy(tmp_path, limit=1).examples) == 1
    with pytest.raises(DataError, match="needs --data"):
        load_tinypy(None)
    with pytest.raises(DataError, match="no such file"):
        load_tinypy(tmp_path / "missing.txt")


def test_tinypy_format_edge_cases():
    text = "x = 1\r\nprint(x)\r\n# output\r\n1\r\n# ----\r\nprint()\n# output\n\n# ----\n\n"
    blocks = parse_tinypy(text)
    assert [(b.program, b.output, b.line) for b in blocks] == [
        ("x = 1\nprint(x)\n", "1\n", 1),
        ("print()\n", "\n", 6),
    ]
    assert parse_tinypy("") == []
    with pytest.raises(ValueError, match="cannot store"):
        export_tinypy([("print(1)\n", "# ----\n")], Path("/nonexistent/never-written.txt"))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("print(1)\n# output\n1\n# ----\nx = 1\nprint(x)\n", ":5: program has no '# output' line before the end of the file"),
        ("x = 1\nprint(x)\n# ----\nprint(2)\n# output\n2\n", ":1: program has no '# output' line before the next '# ----' separator (line 3)"),
        ("# output\n1\n", ":1: empty program before '# output' (line 1)"),
    ],
)
def test_malformed_tinypy_names_file_and_line(tmp_path, text, where):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        load_tinypy(path)
    assert str(error.value) == f"{path}{where}"


def test_bad_encoding_is_a_data_error(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"print('\xe9')\n# output\n\xe9\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_tinypy(path)


CRUX_STYLE = '''def f(nums, target):
    seen = {}
    for i, n in enumerate(nums):
        if target - n in seen:
            return [seen[target - n], i]
        seen[n] = i
    return [x for x in nums if x % 2 or x > target]
'''


@pytest.mark.parametrize(
    "source",
    [
        CRUX_STYLE,
        "def f(s):\n    return s.upper()\n",
        "class A:\n    def m(self):\n        try:\n            return 1\n        except Exception:\n            return 2\n",
        "match x:\n    case 1:\n        y = 2\n    case _:\n        y = 3\n",
        "with open('f') as h:\n    data = [line async for line in h] if h else None\n",
        "",
    ],
)
def test_code_tier_handles_any_python(source):
    assert code_tier(source) in ("easy", "medium", "hard")
    assert code_difficulty(source) >= 0


def test_code_tier_of_unparsable_code_is_hard():
    assert code_tier("def f(:\n") == "hard" and code_features("def f(:\n") == []
    assert code_tier("x = (" * 500) == "hard"


def test_difficulty_orders_simple_and_nested_code():
    flat = "a = 1\nb = 2\nprint(a + b)\n"
    nested = (
        "a = 1\nfor i in range(3):\n    for j in range(2):\n        if i > j and a < 9:\n"
        "            a += i * j\n        elif a % 2 == 0:\n            a -= 1\nprint(a)\n"
    )
    metrics = code_metrics(nested)
    assert (metrics.cyclomatic, metrics.nesting) == (6, 3)
    assert code_difficulty(flat) < code_difficulty(nested)
    assert code_tier(flat) == "easy" and code_tier(nested) != "easy"
    assert code_features(nested) == ["bool", "elif", "for", "if", "loop", "nested"]


def test_example_type_round_trips_through_pairs(tmp_path):
    path = export_tinypy([Example(id="x", suite="s", db_id="", question="print(1)\n", gold="1\n")], tmp_path / "e.txt")
    assert path.read_text() == "print(1)\n# output\n1\n"
