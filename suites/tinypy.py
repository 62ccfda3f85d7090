"""TinyPy text files: programs with their printed output, and the ``tinypy`` suite.

Format (UTF-8 text, ``\\n`` or ``\\r\\n`` line ends). A file holds one or more
*blocks* separated by a line that is exactly ``# ----``. A block is:

1. the program: every line up to the first line that is exactly ``# output``
   (blank lines and indentation kept; the program text is those lines, each
   ended by ``\\n``);
2. the line ``# output``;
3. the output: every remaining line of the block, i.e. what the program prints,
   one printed line per line (none if it prints nothing).

Example, two programs::

    a = 3
    print(a * 2)
    # output
    6
    # ----
    for i in range(2):
        print(i)
    # output
    0
    1

Blocks that hold only blank lines (a trailing separator, an empty file) are
ignored; a block without a ``# output`` line is a :class:`~harness.suite.DataError`
naming the file and the line the block starts on. Because the markers are whole
lines, a program cannot contain a line equal to ``# output`` or ``# ----`` and an
output cannot contain ``# ----``: :func:`export_tinypy` refuses such examples.
The output is stored line by line, so a final line printed without a newline
reads back with one.

:func:`load_tinypy` reads one file, or a folder: its ``<split>.txt`` if there is
one, otherwise every ``*.txt`` file in it, by name (one program per file or many).
Example ids are ``<file stem>-<index in file>``; the tier comes from
:func:`suites.code_difficulty.code_tier`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.suite import DataError, Suite, content_hash
from harness.types import Example
from suites.code_difficulty import TIERS, code_features, code_metrics, code_tier

OUTPUT_MARK = "# output"
SEPARATOR = "# ----"


def _lines(text: str) -> list[str]:
    """Lines of ``text`` split at ``\\n`` only (``\\r\\n`` too), without a last empty one.

    >>> _lines("a\\r\\nb\\x0cc\\n"), _lines("")
    (['a', 'b\\x0cc'], [])
    """
    lines = text.replace("\r\n", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


@dataclass(frozen=True)
class TinyPyProgram:
    """One block of a TinyPy file: the program, what it prints, and where it was read."""

    program: str
    output: str
    path: str = ""
    line: int = 0  # 1-based line of the block's first line in ``path``


def format_tinypy(pairs: Iterable[tuple[str, str]]) -> str:
    """TinyPy text for ``(program, output)`` pairs.

    >>> print(format_tinypy([("x = 1\\nprint(x)\\n", "1\\n"), ("print(2)", "2\\n")]), end="")
    x = 1
    print(x)
    # output
    1
    # ----
    print(2)
    # output
    2
    """
    blocks = []
    for index, (program, output) in enumerate(pairs):
        program_lines = _lines(program)
        output_lines = _lines(output)
        if any(line in (OUTPUT_MARK, SEPARATOR) for line in program_lines):
            raise ValueError(f"program {index} has a line {OUTPUT_MARK!r} or {SEPARATOR!r}, which TinyPy cannot store")
        if SEPARATOR in output_lines:
            raise ValueError(f"output of program {index} has a line {SEPARATOR!r}, which TinyPy cannot store")
        blocks.append("\n".join([*program_lines, OUTPUT_MARK, *output_lines]) + "\n")
    return (SEPARATOR + "\n").join(blocks)


def parse_tinypy(text: str, path: str = "<text>") -> list[TinyPyProgram]:
    """The blocks of TinyPy ``text``; ``path`` names the file in errors.

    >>> [(p.program, p.output, p.line) for p in parse_tinypy("print(1)\\n# output\\n1\\n# ----\\n")]
    [('print(1)\\n', '1\\n', 1)]
    >>> parse_tinypy("x = 1\\n# ----\\nprint(2)\\n# output\\n2\\n", "a.txt")
    Traceback (most recent call last):
    ...
    harness.suite.DataError: a.txt:1: program has no '# output' line before the next '# ----' separator (line 2)
    """
    programs: list[TinyPyProgram] = []
    block: list[str] = []
    start = 1
    for number, line in enumerate([*_lines(text), None], start=1):
        if line is not None and line != SEPARATOR:
            block.append(line)
            continue
        if any(row.strip() for row in block):
            if OUTPUT_MARK not in block:
                where = f"the next {SEPARATOR!r} separator (line {number})" if line is not None else "the end of the file"
                raise DataError(f"{path}:{start}: program has no {OUTPUT_MARK!r} line before {where}")
            mark = block.index(OUTPUT_MARK)
            program, output = block[:mark], block[mark + 1 :]
            if not any(row.strip() for row in program):
                raise DataError(f"{path}:{start}: empty program before {OUTPUT_MARK!r} (line {start + mark})")
            programs.append(
                TinyPyProgram(
                    program="".join(row + "\n" for row in program),
                    output="".join(row + "\n" for row in output),
                    path=path,
                    line=start,
                )
            )
        block, start = [], number + 1
    return programs


def read_tinypy(path: Path) -> list[TinyPyProgram]:
    """The blocks of one TinyPy file (a DataError if it is missing, not UTF-8 or malformed)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e
    return parse_tinypy(text, str(path))


def export_tinypy(examples: Iterable[Example | tuple[str, str]], path: str | Path) -> Path:
    """Write code-output examples (program in ``question``, output in ``gold``) as one TinyPy file.

    ``(program, output)`` pairs are accepted too. The bytes depend only on the
    examples, so exporting the same examples twice gives identical files.
    """
    pairs = [(e.question, e.gold) if isinstance(e, Example) else e for e in examples]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(format_tinypy(pairs))
    return path


def split_files(data: str | Path, split: str) -> list[Path]:
    """The TinyPy files ``data`` stands for (see the module docstring)."""
    root = Path(data)
    if root.is_file():
        return [root]
    if root.is_dir():
        if (root / f"{split}.txt").is_file():
            return [root / f"{split}.txt"]
        files = sorted(p for p in root.glob("*.txt") if p.is_file())
        if files:
            return files
        raise DataError(f"{root}: no {split}.txt and no *.txt TinyPy files in this folder")
    raise DataError(f"{root}: no such file or folder")


def output_example(block: TinyPyProgram, example_id: str, suite: str) -> Example:
    """A code-output Example for one program: tier, feature tags and metrics from its text."""
    metrics = code_metrics(block.program)
    return Example(
        id=example_id,
        suite=suite,
        db_id="",
        question=block.program,
        gold=block.output,
        tier=code_tier(block.program),
        features=code_features(block.program),
        metadata={} if metrics is None else {
            "cyclomatic": metrics.cyclomatic, "halstead": metrics.halstead,
            "nesting": metrics.nesting, "difficulty": metrics.difficulty,
        },
    )


def load_tinypy(
    data: str | Path | None,
    *,
    split: str = "dev",
    db_dir: str | Path | None = None,
    skip_missing_db: bool = False,
    limit: int | None = None,
) -> Suite:
    """Load TinyPy programs as a code-output suite: given the program, produce its printed output.

    ``db_dir`` and ``skip_missing_db`` are accepted for a uniform loader
    signature and ignored (programs need no database).
    """
    if data is None:
        raise DataError("the tinypy suite needs --data: a TinyPy .txt file or a folder of them")
    files = split_files(data, split)
    examples: list[Example] = []
    digests = []
    for path in files:
        digests.append(path.read_bytes())
        for index, block in enumerate(read_tinypy(path)):
            examples.append(output_example(block, f"{path.stem}-{index}", "tinypy"))
    ids = [e.id for e in examples]
    if limit is not None:
        examples = examples[:limit]
    return Suite(
        name="tinypy",
        examples=examples,
        version=content_hash(*digests),
        tiers=list(TIERS),
        semantics="output",
        metrics=["output_acc"],
        source=str(files[0]) if len(files) == 1 else str(Path(data)),
        source_ids=ids,
        task="code-output",
        tag_sql_features=False,
        runs_model_code=False,
        gold_kind="output",
    )
