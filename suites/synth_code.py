"""``synth-code``: TinyPy-style programs generated from a seed, with outputs from really running them.

Each program is 5-25 lines of top-level Python over integer variables, drawn by
:mod:`suites.synth_code_programs` (:func:`draw_program`: one of three generator
levels, candidate ``attempt`` of program ``i`` of a split a pure function of
``(seed, split, i, attempt)``); the tier is not the level but
:func:`suites.code_difficulty.code_tier` of the text.

Every candidate runs in the project's Python sandbox (:func:`run_python`),
batched: a chunk of programs goes to one sandbox process that runs each with ``exec``
in fresh globals with ``sys.stdout`` captured, two chunks at a time. A candidate is
discarded and redrawn (``attempt + 1``) if it fails, prints nothing or more than
10 lines, prints a number of more than 6 characters, has a line count outside
5-25, or repeats a program already taken in any split; splits are filled in the
order dev, test, train so the evaluation splits never depend on the train size.

Two suites come from the same programs (see docs/synth-code.md):

- ``synth-code`` (:func:`load_synth_code`): given the program, produce its output;
- ``synth-code-completion`` (:func:`load_synth_code_completion`): given the lines
  before one chosen line, produce that line; also scored by the completed
  program's output.

The generated splits are cached as TinyPy files (``train.txt``, ``dev.txt``,
``test.txt``, see :mod:`suites.tinypy`) in ``$HARNESS_CACHE``, so the cache is an
export the ``tinypy`` loader reads, and ``data=`` takes such a folder.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.suite import DataError, Suite, content_hash
from harness.types import Example
from suites.code_difficulty import TIERS, code_features, code_metrics, code_tier
from suites.synth_code_programs import MAX_LINES, MAX_OUTPUT_LINES, MIN_LINES, draw_program
from suites.tiny import cache_dir
from suites.tinypy import TinyPyProgram, format_tinypy, output_example, read_tinypy

GENERATOR_VERSION = 1
SPLIT_ORDER = ("dev", "test", "train")
DEFAULT_SIZE = 300  # programs in dev and in test; train has TRAIN_FACTOR times as many
TRAIN_FACTOR = 20 / 3
MAX_NUMBER_CHARS = 6
CHUNK = 100  # programs per sandbox process
WORKERS = 2


# running ---------------------------------------------------------------------
_DRIVER = """\
import contextlib, io, json, sys
results = []
for source in json.loads(sys.stdin.read()):
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(source, "<program>", "exec"), {"__name__": "__main__"})
        results.append(["ok", buffer.getvalue()])
    except Exception as error:
        results.append(["error", type(error).__name__ + ": " + str(error)])
sys.stdout.write(json.dumps(results))
"""


def _run_one(program: str) -> str | None:
    from harness.execution.python import run_python

    result = run_python(program, timeout_s=5.0)
    return result.stdout if result.status == "ok" else None


def _run_chunk(programs: list[str]) -> list[str | None]:
    """Outputs of ``programs`` from one sandbox process (None where a program failed).

    If the batch process itself fails, each program is run in its own process.
    """
    from harness.execution.python import run_python

    result = run_python(_DRIVER, stdin=json.dumps(programs), timeout_s=60.0)
    if result.status == "ok":
        try:
            runs = json.loads(result.stdout)
        except json.JSONDecodeError:
            runs = None
        if isinstance(runs, list) and len(runs) == len(programs):
            return [output if status == "ok" else None for status, output in runs]
    return [_run_one(program) for program in programs]


def run_programs(programs: list[str]) -> list[str | None]:
    """Printed outputs of ``programs`` from the sandbox, in order; None where a run failed."""
    chunks = [programs[i : i + CHUNK] for i in range(0, len(programs), CHUNK)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return [output for outputs in pool.map(_run_chunk, chunks) for output in outputs]


def acceptable_output(output: str | None) -> bool:
    """A few short printed values: 1 to 10 lines, no number longer than 6 characters.

    >>> acceptable_output("3\\n-12 True\\n"), acceptable_output(""), acceptable_output("1234567\\n")
    (True, False, False)
    """
    if not output:
        return False
    lines = output.splitlines()
    return len(lines) <= MAX_OUTPUT_LINES and all(len(token) <= MAX_NUMBER_CHARS for token in output.split())


# generating splits -------------------------------------------------------------
def _size(size: object) -> int:
    """``size`` as a count of programs per split (DEFAULT_SIZE for None); a clear error otherwise.

    >>> _size("30"), _size(None) == DEFAULT_SIZE
    (30, True)
    """
    if size is None:
        return DEFAULT_SIZE
    try:
        count = int(size)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        count = -1
    if count < 0 or isinstance(size, float) and size != count:
        raise ValueError(f"synth-code size is a number of programs per split (e.g. -S size=30), not {size!r}")
    return count


def split_sizes(size: int | None = None) -> dict[str, int]:
    """Programs per split: ``size`` in dev and in test (default 300), 20/3 as many in train.

    >>> split_sizes(), split_sizes(30)
    ({'dev': 300, 'test': 300, 'train': 2000}, {'dev': 30, 'test': 30, 'train': 200})
    """
    size = _size(size)
    return {"dev": size, "test": size, "train": round(size * TRAIN_FACTOR)}


def generate_splits(seed: int = 0, size: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """``(program, output)`` pairs per split, every output from a sandbox run.

    Deterministic: candidates are pure functions of (seed, split, index, attempt),
    and failures and duplicates are resolved in split order, then index order.
    """
    sizes = split_sizes(size)
    chosen: dict[tuple[str, int], tuple[str, str]] = {}
    attempts = {(split, index): 0 for split in SPLIT_ORDER for index in range(sizes[split])}
    taken: set[str] = set()  # every program text drawn so far: accepted or already failed
    pending = list(attempts)
    while pending:
        candidates = []
        for key in pending:
            while True:
                program = draw_program(seed, key[0], key[1], attempts[key])
                lines = program.count("\n")
                if MIN_LINES <= lines <= MAX_LINES and program not in taken:
                    break
                attempts[key] += 1
            taken.add(program)
            candidates.append(program)
        outputs = run_programs(candidates)
        retry = []
        for key, program, output in zip(pending, candidates, outputs):
            if acceptable_output(output):
                chosen[key] = (program, output)
            else:
                attempts[key] += 1
                retry.append(key)
        pending = retry
    return {split: [chosen[(split, i)] for i in range(sizes[split])] for split in SPLIT_ORDER}


def export_synth_code(folder: str | Path, seed: int = 0, size: int | None = None) -> Path:
    """Generate the splits and write them as TinyPy files ``<split>.txt`` in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, pairs in generate_splits(seed, size).items():
        with (folder / f"{split}.txt").open("w", encoding="utf-8", newline="\n") as f:
            f.write(format_tinypy(pairs))
    return folder


def synth_code_folder(seed: int = 0, size: int | None = None) -> Path:
    """The cached export for ``(seed, size)``, generated atomically on first use."""
    size = _size(size)
    folder = cache_dir() / f"synth-code-v{GENERATOR_VERSION}-seed{seed}-size{size}"
    if not all((folder / f"{split}.txt").is_file() for split in SPLIT_ORDER):
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".synth-code-", dir=folder.parent))
        try:
            export_synth_code(staging, seed, size)
            try:
                os.replace(staging, folder)
            except OSError:  # another process won the race
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


# loaders -----------------------------------------------------------------------
def _read_split(data: str | Path | None, split: str, seed: int, size: int | None) -> tuple[Path, list[TinyPyProgram]]:
    folder = Path(data) if data is not None else synth_code_folder(seed, size)
    path = folder if folder.is_file() else folder / f"{split}.txt"
    if not path.is_file():
        found = sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []
        raise DataError(f"{path}: no split {split!r} here (splits: {', '.join(found) or 'none'})")
    return path, read_tinypy(path)


def _suite(name: str, path: Path, examples: list[Example], limit: int | None, **settings) -> Suite:
    ids = [e.id for e in examples]
    return Suite(
        name=name,
        examples=examples if limit is None else examples[:limit],
        version=content_hash(path.read_bytes()),
        tiers=list(TIERS),
        source=str(path),
        source_ids=ids,
        tag_sql_features=False,
        **settings,
    )


def load_synth_code(
    data: str | Path | None = None,
    *,
    split: str = "dev",
    seed: int = 0,
    size: int | None = None,
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Code execution: the question is a program, the gold its printed output.

    ``data`` is a folder written by :func:`export_synth_code` (or one TinyPy
    file); without it the suite for ``seed`` and ``size`` is generated and cached.
    ``db_dir`` and ``skip_missing_db`` are ignored (no databases).
    """
    path, blocks = _read_split(data, split, seed, size)
    examples = [output_example(block, f"{split}-{i}", "synth-code") for i, block in enumerate(blocks)]
    return _suite(
        "synth-code", path, examples, limit,
        semantics="output", metrics=["output_acc"], task="code-output", runs_model_code=False, gold_kind="output",
    )


def completion_line(program: str) -> int:
    """The 0-based index of the line to complete: a non-blank line other than the first, drawn from the text.

    >>> completion_line("a = 1\\nb = 2\\nprint(a)\\n") in (1, 2)
    True
    """
    lines = program.split("\n")[:-1] if program.endswith("\n") else program.split("\n")
    candidates = [k for k, line in enumerate(lines) if k > 0 and line.strip()]
    if not candidates:
        raise ValueError("a program needs a non-blank line after its first to complete")
    return random.Random(f"completion:{program}").choice(candidates)


def completion_example(program: str, output: str, example_id: str, suite: str) -> Example:
    """Line completion: question = the lines before the chosen one, gold = that line (no newline).

    ``metadata["suffix"]`` starts with the newline ending the gold line, so
    ``question + gold + suffix == program`` and ``question + prediction + suffix``
    is the completed program.

    >>> e = completion_example("a = 1\\nb = a + 1\\nprint(b)\\n", "2\\n", "dev-0", "s")
    >>> e.question + e.gold + e.metadata["suffix"] == e.metadata["program"]
    True
    """
    k = completion_line(program)
    lines = program.split("\n")
    metrics = code_metrics(program)
    return Example(
        id=example_id,
        suite=suite,
        db_id="",
        question="".join(line + "\n" for line in lines[:k]),
        gold=lines[k],
        tier=code_tier(program),
        features=code_features(program),
        metadata={
            "suffix": "\n" + "\n".join(lines[k + 1 :]),
            "output": output,
            "program": program,
            "line": k,
            "difficulty": math.inf if metrics is None else metrics.difficulty,
        },
    )


def load_synth_code_completion(
    data: str | Path | None = None,
    *,
    split: str = "dev",
    seed: int = 0,
    size: int | None = None,
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Line-level completion over the same programs as :func:`load_synth_code`.

    Scored by exact match of the line (``next_line_em``) and by the output of
    ``question + prediction + metadata["suffix"]`` against ``metadata["output"]``
    (``output_acc``), which runs model-written code in the sandbox.
    """
    path, blocks = _read_split(data, split, seed, size)
    examples = [
        completion_example(block.program, block.output, f"{split}-{i}", "synth-code-completion")
        for i, block in enumerate(blocks)
    ]
    return _suite(
        "synth-code-completion", path, examples, limit,
        semantics="completion", metrics=["next_line_em", "output_acc"], task="code-completion",
        runs_model_code=True, gold_kind="line",
    )
