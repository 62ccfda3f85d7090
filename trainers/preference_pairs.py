"""Preference pairs from executed samples: CodeLutra's data step, as pure functions.

Each sampled completion of a training question is :class:`Labeled` by executing it
(``correct`` when its result matches the gold result or expected output; ``status`` is
the executor's verdict). :func:`build_pairs` turns the samples of every question into at
most ``max_pairs`` (chosen, rejected) pairs of completion texts:

- samples whose verdict is ``gold_error`` / ``gold_timeout`` are not labelled at all
  (the gold itself is broken, so "wrong" would mean nothing) and are skipped;
- identical texts count once (the first occurrence is kept);
- a question whose usable samples are all right, or all wrong, gives no pair, except
  that with ``gold_as_chosen`` a question with wrong samples and no right one pairs the
  gold answer text (chosen) against its wrong samples;
- otherwise every pair is (a right sample, a wrong sample). The pairs are spread over
  distinct samples first (:func:`spread`): each new pair takes a right and a wrong
  sample not used yet, until one side runs out; then the other side's unused samples
  are paired with already used ones; only then are combinations repeated.

**Which wrong samples first.** Wrong samples come in two kinds: ones that run but give
the wrong result (``mismatch``) and ones that fail to execute (``pred_error``,
``pred_timeout``). The rejected side takes them in turn, a mismatch first: with the
default of two pairs a question that has both kinds contributes one of each. A mismatch
is the harder negative (valid code that computes the wrong thing, the error that
execution feedback is uniquely able to point out); failing samples teach validity
(schema names, syntax), which the model also needs early on.

Random choices (which right and which wrong samples, within each kind) come from
``random.Random(f"{seed}:{prompt_id}")``: the pairs of a question depend on the seed,
its id and its samples only, not on the other questions or their order.

>>> ok = Labeled("A", "a", True, "match")
>>> bad = Labeled("B", "b", False, "mismatch")
>>> build_pairs({"q1": [ok, bad, bad], "q2": [ok, ok]}, max_pairs=2)
[Pair(prompt_id='q1', chosen='A', rejected='B', gold_chosen=False, rejected_status='mismatch')]
>>> build_pairs({"q3": [bad]}, max_pairs=2, gold_texts={"q3": "G"}, gold_as_chosen=True)
[Pair(prompt_id='q3', chosen='G', rejected='B', gold_chosen=True, rejected_status='mismatch')]
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MATCH = "match"
MISMATCH = "mismatch"
FAILED = ("pred_error", "pred_timeout")  # the prediction did not execute
UNLABELLED = ("gold_error", "gold_timeout")  # the gold is broken: no label


@dataclass(frozen=True)
class Labeled:
    """One sample: the completion text the model wrote, the prediction extracted from it,
    whether it executed to the right result, and the executor's status."""

    text: str
    prediction: str
    correct: bool
    status: str

    @classmethod
    def from_status(cls, text: str, prediction: str, status: Any) -> Labeled:
        """Labelled by the executor's verdict (a :class:`harness.types.Status` or its value).

        >>> Labeled.from_status("t", "p", "match").correct
        True
        """
        value = str(getattr(status, "value", status))
        return cls(text, prediction, value == MATCH, value)

    @property
    def labelled(self) -> bool:
        return self.status not in UNLABELLED

    @property
    def failed_to_run(self) -> bool:
        return self.status in FAILED


@dataclass(frozen=True)
class Pair:
    """A preference pair for one question: texts, whether the chosen one is the gold
    answer, and the status of the rejected sample."""

    prompt_id: str
    chosen: str
    rejected: str
    gold_chosen: bool = False
    rejected_status: str = ""


def usable(samples: Sequence[Labeled]) -> list[Labeled]:
    """The labelled samples, each text once (first occurrence kept), in order.

    >>> a, b = Labeled("x", "x", True, "match"), Labeled("y", "", False, "gold_error")
    >>> usable([a, b, a]) == [a]
    True
    """
    seen: set[str] = set()
    kept = []
    for sample in samples:
        if sample.labelled and sample.text not in seen:
            seen.add(sample.text)
            kept.append(sample)
    return kept


def spread(n_chosen: int, n_rejected: int) -> list[tuple[int, int]]:
    """Every (chosen, rejected) index pair, those that bring in an unused sample first.

    The first ``max(n_chosen, n_rejected)`` pairs walk both sides together (the shorter
    side cycling), so every sample appears once before any pair repeats one of the
    longer side; the remaining combinations follow in order.

    >>> spread(1, 3)
    [(0, 0), (0, 1), (0, 2)]
    >>> spread(2, 2)
    [(0, 0), (1, 1), (0, 1), (1, 0)]
    >>> spread(3, 2)[:3]
    [(0, 0), (1, 1), (2, 0)]
    >>> spread(0, 3)
    []
    """
    if not n_chosen or not n_rejected:
        return []
    first = [(k % n_chosen, k % n_rejected) for k in range(max(n_chosen, n_rejected))]
    taken = set(first)
    rest = [(i, j) for i in range(n_chosen) for j in range(n_rejected) if (i, j) not in taken]
    return first + rest


def order_rejected(wrong: Sequence[Labeled], rng: random.Random) -> list[Labeled]:
    """Wrong samples in the order the rejected side takes them: each kind shuffled, then
    mismatch and failing samples in turn, a mismatch first.

    >>> m = [Labeled(f"m{i}", "", False, "mismatch") for i in range(2)]
    >>> e = [Labeled("e", "", False, "pred_error")]
    >>> [s.text[0] for s in order_rejected(m + e, random.Random(0))]
    ['m', 'e', 'm']
    """
    mismatches = [s for s in wrong if not s.failed_to_run]
    failing = [s for s in wrong if s.failed_to_run]
    rng.shuffle(mismatches)
    rng.shuffle(failing)
    ordered = []
    for k in range(max(len(mismatches), len(failing))):
        ordered.extend(kind[k] for kind in (mismatches, failing) if k < len(kind))
    return ordered


def question_pairs(
    prompt_id: str,
    samples: Sequence[Labeled],
    *,
    max_pairs: int,
    gold_text: str | None = None,
    gold_as_chosen: bool = False,
    seed: int | str = 0,
) -> list[Pair]:
    """At most ``max_pairs`` pairs for one question (see the module's rules)."""
    if max_pairs < 1:
        return []
    rng = random.Random(f"{seed}:{prompt_id}")
    kept = usable(samples)
    right = [s for s in kept if s.correct]
    wrong = [s for s in kept if not s.correct]
    if not wrong:
        return []
    rng.shuffle(right)
    rejected = order_rejected(wrong, rng)
    if right:
        chosen, from_gold = [s.text for s in right], False
    elif gold_as_chosen and gold_text is not None:
        chosen, from_gold = [gold_text], True
        rejected = [s for s in rejected if s.text != gold_text]
    else:
        return []
    return [
        Pair(prompt_id, chosen[i], rejected[j].text, from_gold, rejected[j].status)
        for i, j in spread(len(chosen), len(rejected))[:max_pairs]
    ]


def build_pairs(
    question_samples: Mapping[str, Sequence[Labeled]],
    *,
    max_pairs: int,
    gold_texts: Mapping[str, str] | None = None,
    gold_as_chosen: bool = False,
    seed: int | str = 0,
) -> list[Pair]:
    """The pairs of every question (prompt id -> its samples), question by question in
    the mapping's order. ``gold_texts`` maps prompt ids to the gold answer as a
    completion (needed only with ``gold_as_chosen``)."""
    pairs: list[Pair] = []
    for prompt_id, samples in question_samples.items():
        gold = (gold_texts or {}).get(prompt_id)
        pairs += question_pairs(
            prompt_id, samples, max_pairs=max_pairs, gold_text=gold,
            gold_as_chosen=gold_as_chosen, seed=seed,
        )  # fmt: skip
    return pairs


def rates(samples: list[Labeled]) -> dict[str, Any]:
    """Labelled samples, the share right (train accuracy) and the share that failed to run."""
    n = len(samples)
    return {
        "samples": n,
        "train_accuracy": round(sum(s.correct for s in samples) / n, 4) if n else 0.0,
        "error_rate": round(sum(s.failed_to_run for s in samples) / n, 4) if n else 0.0,
    }


def pair_counts(pairs: list[Pair]) -> dict[str, int]:
    return {
        "pairs": len(pairs),
        "questions_with_pairs": len({p.prompt_id for p in pairs}),
        "gold_chosen": sum(p.gold_chosen for p in pairs),
        "rejected_failed": sum(p.rejected_status in ("pred_error", "pred_timeout") for p in pairs),
    }


def dpo_rows(pairs: list[Pair], requests: dict[str, Any], chat: bool) -> list[dict[str, Any]]:
    """trl's preference rows: plain strings, or the conversational form for chat tokenizers."""
    rows = []
    for pair in pairs:
        request = requests[pair.prompt_id]
        if chat:
            row = {
                "prompt": request.chat(),
                "chosen": [{"role": "assistant", "content": pair.chosen}],
                "rejected": [{"role": "assistant", "content": pair.rejected}],
            }
        else:
            row = {"prompt": request.prompt, "chosen": pair.chosen, "rejected": pair.rejected}
        rows.append({"question_id": pair.prompt_id, **row})
    return rows
