"""Training data: a suite's examples as (prompt, target) texts, tokenized with the prompt masked.

The prompt is exactly what the harness sends at inference
(:func:`harness.prompts.build_request`, the same :class:`~harness.prompts.PromptOptions`),
so a model learns the very format it is scored on. The target is what the suite's
extractor (:mod:`harness.extraction`) takes back out of a completion:

===================  ====================================  ===============================
gold kind            task                                  target
===================  ====================================  ===============================
``sql``              text-to-sql                           ```` ```sql\\n{gold}\\n``` ````
``output``           code-output                           ```` ```\\n{output}\\n``` ````
``line``             code-completion                       the gold line
``answer``           table-qa (strong supervision only)    ```` ```sql\\n{metadata["sql"]}\\n``` ````
===================  ====================================  ===============================

Tokenization mirrors :mod:`runners.transformers_runner`: a tokenizer with a chat
template gets the chat form of the request (``apply_chat_template`` with the
generation prompt) and the target ends with the template's end of turn; a plain
tokenizer gets ``request.prompt`` (with its special tokens, e.g. BOS) and the target
ends with EOS, so that generation stops after the answer. In plain mode a fenced
target starts with a newline, because the prompt ends mid-line ("... and nothing
else." / "Output:").

Only target tokens carry loss (prompt labels are -100). Too long for the context: the
prompt is cut from the left (a leading BOS kept) and the target stays whole; an
example whose target alone does not fit is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.prompts import PromptOptions, build_request
from harness.suite import Suite
from harness.types import Example

IGNORE = -100  # label of a token without loss


@dataclass(frozen=True)
class TrainText:
    """One training example as text: the inference request and the completion to learn."""

    id: str
    tier: str | None
    prompt: str
    target: str
    messages: tuple[tuple[str, str], ...] = ()


@dataclass
class TrainItem:
    """One tokenized example: ``labels`` is ``input_ids`` with prompt tokens set to -100."""

    id: str
    tier: str | None
    input_ids: list[int]
    labels: list[int]

    @property
    def target_tokens(self) -> int:
        """Tokens with loss (the first token of a sequence is never predicted)."""
        return sum(1 for label in self.labels[1:] if label != IGNORE)


@dataclass
class Encoded:
    """Tokenized items plus what tokenization had to change."""

    items: list[TrainItem]
    dropped: list[str] = field(default_factory=list)  # ids whose target alone exceeds the context
    truncated: int = 0  # prompts cut from the left to fit

    def summary(self) -> dict[str, Any]:
        return {"items": len(self.items), "dropped": len(self.dropped), "truncated": self.truncated}


def resolve_tiers(suite: Suite) -> None:
    """Fill in ``example.tier`` where the suite computes it (Spider hardness from the gold SQL)."""
    if suite.resolve_tier is None:
        return
    for example in suite.examples:
        if example.tier is None:
            example.tier = suite.resolve_tier(example, suite.context)


def target_text(suite: Suite, example: Example, *, strong_supervision: bool = False) -> str:
    """The completion the suite's extractor expects for ``example`` (without a leading newline)."""
    kind = suite.context.get("extract") or suite.gold_kind
    if kind == "sql":
        return f"```sql\n{example.gold.strip()}\n```"
    if kind == "output":
        return f"```\n{example.gold.rstrip(chr(10))}\n```"
    if kind == "line":
        return example.gold
    if kind == "answer":
        sql = example.metadata.get("sql")
        if not strong_supervision:
            raise ValueError(
                f"suite {suite.name!r} is supervised by answers; training on its hidden SQL "
                "needs strong supervision (strong_supervision=True)"
            )
        if not sql:
            raise ValueError(f"example {example.id!r} of {suite.name!r} has no metadata['sql']")
        return f"```sql\n{sql.strip()}\n```"
    raise ValueError(f"no training target for suite {suite.name!r} (gold kind {kind!r})")


def training_texts(
    suite: Suite,
    prompt_options: PromptOptions,
    examples: Iterable[Example] | None = None,
    *,
    strong_supervision: bool = False,
) -> list[TrainText]:
    """(prompt, target) texts for ``examples`` (default: all of the suite's), in order."""
    texts = []
    for example in suite.examples if examples is None else examples:
        request = build_request(suite, example, prompt_options, [])
        target = target_text(suite, example, strong_supervision=strong_supervision)
        texts.append(TrainText(example.id, example.tier, request.prompt, target, request.messages))
    return texts


def uses_chat(tokenizer: Any, chat: bool | None = None) -> bool:
    """Whether prompts go through the chat template: the runner's rule (``None``: if it has one)."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat and not has_template:
        raise ValueError("chat=True but the tokenizer has no chat template")
    return has_template if chat is None else chat


def context_length(model_or_config: Any) -> int | None:
    """The model's context in tokens (``n_positions`` / ``max_position_embeddings``), if it says."""
    config = getattr(model_or_config, "config", model_or_config)
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def encode(
    texts: Sequence[TrainText],
    tokenizer: Any,
    *,
    max_length: int | None = None,
    chat: bool | None = None,
    prompt_loss: bool = False,
) -> Encoded:
    """Tokenize ``texts`` as the runner tokenizes prompts, prompt tokens masked unless
    ``prompt_loss`` (language-model pretraining on the whole text)."""
    chat_mode = uses_chat(tokenizer, chat)
    encoded = Encoded(items=[])
    for text in texts:
        prompt_ids, target_ids = _token_ids(text, tokenizer, chat_mode)
        if max_length is not None and len(prompt_ids) + len(target_ids) > max_length:
            room = max_length - len(target_ids)
            if room < 1:
                encoded.dropped.append(text.id)
                continue
            prompt_ids = _cut_left(prompt_ids, room, tokenizer.bos_token_id)
            encoded.truncated += 1
        labels = (list(prompt_ids) if prompt_loss else [IGNORE] * len(prompt_ids)) + target_ids
        encoded.items.append(TrainItem(text.id, text.tier, prompt_ids + target_ids, labels))
    return encoded


def _token_ids(text: TrainText, tokenizer: Any, chat_mode: bool) -> tuple[list[int], list[int]]:
    if chat_mode:
        messages = [{"role": role, "content": content} for role, content in text.messages] or [
            {"role": "user", "content": text.prompt}
        ]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(
            messages + [{"role": "assistant", "content": text.target}], tokenize=False
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if full.startswith(prompt):
            # the rest is the reply plus the template's own end of turn
            target_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
            return list(prompt_ids), list(target_ids)
        target = text.target
    else:
        prompt_ids = tokenizer(text.prompt)["input_ids"]
        target = "\n" + text.target if text.target.startswith("```") else text.target
    target_ids = list(tokenizer(target, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        target_ids.append(tokenizer.eos_token_id)
    return list(prompt_ids), target_ids


def _cut_left(ids: list[int], keep: int, bos_id: int | None) -> list[int]:
    """The last ``keep`` tokens of ``ids``, keeping a leading BOS in front.

    >>> _cut_left([1, 5, 6, 7, 8], 3, 1), _cut_left([5, 6, 7], 2, 1)
    ([1, 7, 8], [6, 7])
    """
    if bos_id is not None and ids and ids[0] == bos_id and keep >= 2:
        return [bos_id] + ids[len(ids) - (keep - 1) :]
    return ids[len(ids) - keep :]
