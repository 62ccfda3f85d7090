"""Tiny causal language models built in place, with no download.

:func:`build_tiny_causal_lm` writes a randomly initialised Llama-style (or GPT-2-style)
model and a real byte-level BPE tokenizer, trained on the spot with the ``tokenizers``
library, into a folder that ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained``
(and vLLM) load like any checkpoint. Tests, benchmarks and the GPU smoke test use it;
the from-scratch base model of later issues starts from it.

torch, transformers and tokenizers (the ``train`` extra) are imported inside the
function so that importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, BOS, EOS, IM_START, IM_END)

# ChatML-like: one turn per message, then the assistant header when asked for a reply.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

BUILTIN_TEXTS: tuple[str, ...] = (
    "SELECT name, age FROM singer WHERE age > 30 ORDER BY age DESC;",
    "SELECT count(*) FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id;",
    "SELECT T1.name FROM employee AS T1 WHERE T1.salary > (SELECT avg(salary) FROM employee);",
    "SELECT country, count(*) FROM singer GROUP BY country HAVING count(*) > 1;",
    "SELECT DISTINCT city FROM airports WHERE country = 'United States' LIMIT 10;",
    "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER);",
    "INSERT INTO singer VALUES (1, 'Joe Sharp', 'Netherlands', 52);",
    "SELECT name FROM stadium UNION SELECT name FROM concert EXCEPT SELECT name FROM singer;",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i)",
    "def f(xs):\n    total = 0\n    for x in xs:\n        total += x * x\n    return total",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)",
    "import math\nvalues = [math.sqrt(v) for v in [1, 4, 9]]\nassert values == [1.0, 2.0, 3.0]",
    "Question: How many singers are older than 30? Answer with one SQL query.",
    "Question: What is the average salary of employees in each department?",
    "Given the database schema, write a SQL query that answers the question.",
    "What does the following program print? Think step by step and give the output.",
    "The table lists the name, country and age of every singer in the competition.",
    "```sql\nSELECT * FROM users WHERE id = 1;\n```",
    "```python\nprint('hello world')\n```",
)


def build_tiny_causal_lm(
    folder: str | Path,
    *,
    vocab_texts: Iterable[str] | None = None,
    seed: int = 0,
    n_layer: int = 2,
    n_embd: int = 64,
    chat_template: bool = True,
    arch: str = "llama",
    vocab_size: int = 512,
    n_positions: int = 256,
    head_dim: int = 32,
    initializer_range: float = 0.2,
) -> Path:
    """Write a tiny random causal LM and its tokenizer to ``folder`` and return the path.

    The same arguments give byte-identical weights and tokenizer files. ``arch`` is
    ``"llama"`` (the default: RoPE, RMSNorm, SwiGLU; vLLM serves LoRA adapters on it) or
    ``"gpt2"``. ``head_dim`` 32 keeps the attention shape inside every vLLM attention
    backend. ``initializer_range`` is larger than usual so that logits are peaked and
    greedy decoding is not dominated by near-ties, which makes outputs prompt-dependent.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    texts = list(BUILTIN_TEXTS) + list(vocab_texts or ())
    tokenizer = _train_tokenizer(texts, vocab_size=vocab_size, chat_template=chat_template)
    tokenizer.model_max_length = n_positions
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}

    config = _model_config(
        arch,
        vocab_size=len(tokenizer),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=max(1, n_embd // head_dim),
        n_positions=n_positions,
        initializer_range=initializer_range,
        bos=ids[BOS],
        eos=ids[EOS],
        pad=ids[PAD],
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.eval()
    # A chat reply ends at the end of its turn as well as at EOS.
    eos_ids = [ids[EOS], ids[IM_END]] if chat_template else ids[EOS]
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=eos_ids, pad_token_id=ids[PAD]
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _portable_tokenizer_config(out / "tokenizer_config.json")
    return out


def _portable_tokenizer_config(path: Path) -> None:
    """Name the tokenizer class and extra special tokens the way transformers 4.x does too
    (5.x reads both spellings), so that engines pinned to 4.x, such as some vLLM
    releases, load the folder."""
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    if isinstance(config.get("extra_special_tokens"), list):
        config["additional_special_tokens"] = config.pop("extra_special_tokens")
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _train_tokenizer(texts: list[str], *, vocab_size: int, chat_template: bool):
    """A byte-level BPE tokenizer trained on ``texts``, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    bos_id = core.token_to_id(BOS)
    # Plain prompts start with BOS like a Llama tokenizer; chat prompts get it from the
    # template and are encoded without special tokens.
    core.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IM_START, IM_END],
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _model_config(
    arch: str,
    *,
    vocab_size: int,
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_positions: int,
    initializer_range: float,
    bos: int,
    eos: int,
    pad: int,
):
    from transformers import GPT2Config, LlamaConfig

    if arch == "llama":
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=n_embd,
            intermediate_size=4 * n_embd,
            num_hidden_layers=n_layer,
            num_attention_heads=n_head,
            num_key_value_heads=n_head,
            max_position_embeddings=n_positions,
            initializer_range=initializer_range,
            tie_word_embeddings=True,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        )
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            n_positions=n_positions,
            initializer_range=initializer_range,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        )
    raise ValueError(f"unknown tiny model architecture {arch!r}; use 'llama' or 'gpt2'")
