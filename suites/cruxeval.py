"""CRUXEval output prediction: given a function and an input, predict what it returns.

The data is CRUXEval's JSONL (``code``, ``input``, ``output``, ``id``: one object a
line, ``data/cruxeval.jsonl`` in the official repository), given as the file
itself or a folder holding ``cruxeval.jsonl`` (or ``<split>.jsonl``). CRUXEval
has one split, 800 functions; ``split`` only picks the file name in a folder.

Each example: ``id`` the JSONL id (``sample_<line index>`` when a line has
none), ``question`` the prompt ``{code}\\nassert f({input}) == ??``, ``gold`` the
output expression, ``metadata`` ``{"code", "input"}``, ``tier`` the code
difficulty of the function (:func:`suites.code_difficulty.code_tier` with CRUXEval's own tertiles as cut points:
easy/medium/hard from cyclomatic complexity, Halstead difficulty and nesting)
and ``features`` its construct tags. Scoring (semantics ``cruxeval``) runs
``assert f(input) == prediction`` in the Python sandbox, so it needs
``--allow-code-execution``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.suite import DataError, Suite, file_digest
from harness.types import Example
from suites.code_difficulty import code_features, code_tier

# CRUXEval's functions are short: the synth-code cut points would put none in 'hard'.
# These are the tertiles of code_difficulty over the 800 CRUXEval functions.
CRUXEVAL_EASY_MAX = 3.0
CRUXEVAL_MEDIUM_MAX = 5.5

TIERS = ["easy", "medium", "hard"]
FIELDS = ("code", "input", "output")


def cruxeval_prompt(code: str, call_input: str) -> str:
    """The question text of one function.

    >>> print(cruxeval_prompt("def f(x):\\n    return x + 1", "1"))
    def f(x):
        return x + 1
    assert f(1) == ??
    """
    return f"{code}\nassert f({call_input}) == ??"


def cruxeval_file(data: str | Path | None, split: str = "test") -> Path:
    """The JSONL file that ``data`` names (the file, or a folder holding it)."""
    if data is None:
        raise DataError(
            "the cruxeval suite needs --data: CRUXEval's cruxeval.jsonl (code, input, output, id), "
            "or the folder holding it"
        )
    path = Path(data)
    if path.is_dir():
        candidates = [path / "cruxeval.jsonl", path / f"{split}.jsonl"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"{path}: no {' or '.join(c.name for c in candidates)} in this folder")
        return found
    if not path.is_file():
        raise DataError(f"{path}: CRUXEval file not found (expected cruxeval.jsonl or its folder)")
    return path


def load_cruxeval(
    data: str | Path | None = None,
    *,
    split: str = "test",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Load CRUXEval (``db_dir`` and ``skip_missing_db`` are accepted and unused: no databases)."""
    from harness.predictions import read_jsonl

    path = cruxeval_file(data, split)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    try:
        records = list(read_jsonl(path))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e
    for index, (lineno, record) in enumerate(records):
        where = f"{path}:{lineno}"
        if not isinstance(record, dict):
            raise DataError(f"{where}: a {type(record).__name__}, expected an object with {', '.join(FIELDS)}")
        missing = [f for f in FIELDS if not isinstance(record.get(f), str)]
        if missing:
            raise DataError(f"{where}: lacks string field(s) {', '.join(missing)}")
        example_id = str(record.get("id", f"sample_{index}"))
        if example_id in seen:
            raise DataError(f"{where}: id {example_id!r} repeats line {seen[example_id]}")
        seen[example_id] = lineno
        code, call_input = record["code"], record["input"]
        examples.append(
            Example(
                id=example_id,
                suite="cruxeval",
                db_id="",
                question=cruxeval_prompt(code, call_input),
                gold=record["output"],
                tier=code_tier(code, easy_max=CRUXEVAL_EASY_MAX, medium_max=CRUXEVAL_MEDIUM_MAX),
                features=code_features(code),
                metadata={"code": code, "input": call_input},
            )
        )
    source_ids = [e.id for e in examples]
    if limit is not None:
        examples = examples[:limit]
    return Suite(
        name="cruxeval",
        examples=examples,
        version=file_digest(path),
        tiers=TIERS,
        semantics="cruxeval",
        metrics=["output_acc"],
        context={"prompt": cruxeval_request, "extract": "value"},
        source=str(path),
        source_ids=source_ids,
        task="code-output",
        tag_sql_features=False,
        runs_model_code=True,
        gold_kind="output",
    )


def cruxeval_request(example: Example, context: dict[str, Any], options: Any) -> Any:
    """The model's prompt: complete the assertion with a literal (extracted by ``extract_value``)."""
    from runners.base import GenerationRequest

    text = (
        "Complete the assertion with the exact value the function returns, as a Python literal, "
        "in a ```python block, and nothing else.\n"
        f"```python\n{example.question}\n```"
    )
    return GenerationRequest(id=example.id, prompt=text, messages=(("user", text),))
