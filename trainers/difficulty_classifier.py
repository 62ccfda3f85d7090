"""A small text classifier from a question (plus evidence) to a difficulty tier.

MAC's ``route`` composition asks it which tier a question belongs to before choosing
the adapters to apply. It is a multinomial naive Bayes model over lower-cased word
unigrams and bigrams (punctuation and SQL/code symbols count as words) with Laplace
smoothing: no dependency beyond the standard library, trained in one pass, and
deterministic (ties go to the tier listed first in ``labels_order``, which is the
suite's easy-to-hard order when the trainer passes it).

    >>> clf = train(["how many cats", "how many dogs", "list cats joined with owners"],
    ...             ["easy", "easy", "hard"])
    >>> clf.predict("how many birds")
    'easy'
    >>> clf.predict("owners joined with cats")
    'hard'
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TOKEN = re.compile(r"\w+|[^\w\s]")
FORMAT = "naive-bayes-unigram-bigram/1"


def features(text: str) -> list[str]:
    """Lower-cased word unigrams and bigrams of ``text``.

    >>> features("How many, cats?")
    ['how', 'many', ',', 'cats', '?', 'how many', 'many ,', ', cats', 'cats ?']
    """
    words = _TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass
class Classifier:
    """Multinomial naive Bayes: log P(tier) + sum over features of log P(feature | tier).

    ``counts[tier][feature]`` are training counts; features never seen in training are
    ignored at prediction time (they carry no evidence about any tier).
    """

    labels: list[str]
    priors: dict[str, int]
    counts: dict[str, dict[str, int]]
    alpha: float = 1.0
    _log_prior: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _log_likelihood: dict[str, dict[str, float]] = field(
        default_factory=dict, init=False, repr=False
    )
    _log_unseen: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _vocabulary: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        vocabulary = sorted({f for per_tier in self.counts.values() for f in per_tier})
        total_docs = sum(self.priors.values())
        for label in self.labels:
            per_tier = self.counts.get(label, {})
            denominator = sum(per_tier.values()) + self.alpha * len(vocabulary)
            # A tier with no training example gets a tiny prior rather than log(0).
            self._log_prior[label] = math.log(
                (self.priors.get(label, 0) + 1e-9) / max(total_docs, 1)
            )
            self._log_unseen[label] = math.log(self.alpha / denominator)
            self._log_likelihood[label] = {
                f: math.log((n + self.alpha) / denominator) for f, n in per_tier.items()
            }
        self._vocabulary = set(vocabulary)

    def scores(self, text: str) -> dict[str, float]:
        """Unnormalised log posterior of each tier."""
        observed = [f for f in features(text) if f in self._vocabulary]
        result = {}
        for label in self.labels:
            table, unseen = self._log_likelihood[label], self._log_unseen[label]
            result[label] = self._log_prior[label] + math.fsum(
                table.get(f, unseen) for f in observed
            )
        return result

    def predict(self, text: str) -> str:
        """The most probable tier; ties go to the earliest tier in ``labels``."""
        scores = self.scores(text)
        return max(self.labels, key=lambda label: (scores[label], -self.labels.index(label)))

    def accuracy(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        """The fraction of ``texts`` whose predicted tier is the given one."""
        if not texts:
            return 0.0
        return sum(self.predict(t) == y for t, y in zip(texts, labels)) / len(texts)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "labels": self.labels,
            "priors": self.priors,
            "alpha": self.alpha,
            "counts": {label: dict(sorted(c.items())) for label, c in self.counts.items()},
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        record = json.loads(Path(path).read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"{path}: not a difficulty classifier of format {FORMAT!r}")
        return cls(
            labels=list(record["labels"]),
            priors={k: int(v) for k, v in record["priors"].items()},
            counts={k: {f: int(n) for f, n in c.items()} for k, c in record["counts"].items()},
            alpha=float(record["alpha"]),
        )


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    labels_order: Sequence[str] | None = None,
    alpha: float = 1.0,
) -> Classifier:
    """Fit the classifier on ``texts`` with tier ``labels``.

    ``labels_order`` lists the tiers (every label must be in it; tiers without examples
    are allowed and are never predicted over a tier that has some); by default the
    labels sorted by name.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise ValueError("cannot train a difficulty classifier on no examples")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    order = list(labels_order) if labels_order is not None else sorted(set(labels))
    unknown = sorted(set(labels) - set(order))
    if unknown:
        raise ValueError(f"labels {unknown} are not in labels_order {order}")
    counts: dict[str, Counter[str]] = {label: Counter() for label in order}
    for text, label in zip(texts, labels):
        counts[label].update(features(text))
    priors = Counter(labels)
    return Classifier(
        labels=order,
        priors={label: priors.get(label, 0) for label in order},
        counts={label: dict(c) for label, c in counts.items()},
        alpha=alpha,
    )


def example_text(question: str, evidence: str = "") -> str:
    """What the classifier reads for an example: the question, then its evidence if any."""
    return f"{question}\n{evidence}" if evidence else question
