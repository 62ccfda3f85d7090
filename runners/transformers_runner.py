"""The ``transformers`` runner: a local checkpoint (or a hub id) run with ``generate``.

Requests are grouped by LoRA adapter spec, sorted by prompt length and run in left-padded
batches; completions come back in request order. A spec is one adapter name, or several
joined by ``+`` (``"easy+medium"``) that are applied together, their LoRA deltas summed
(MAC's stacked tier adapters, see :mod:`runners.adapters`); one call may mix specs.
A request that cannot run (a prompt longer than the context, an unknown adapter, a
failure that recurs when it runs alone) gets ``Completion.error`` instead of sinking its
batch.

torch, transformers and peft (the ``train`` extra) are imported inside functions so
that importing this module, as the registry and doctest collection do, stays cheap.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.adapters import SEPARATOR
from runners.base import Completion, GenerationParams, GenerationRequest, apply_stop

_DTYPE_NAMES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
}  # fmt: skip
_FULL_HASH_LIMIT = 64 << 20  # files up to this size are hashed whole
_SAMPLE_BYTES = 1 << 20  # bigger ones: size plus their first and last MiB


@dataclass
class _Item:
    """One request ready to run: its position in the call, token ids and token budget."""

    index: int
    request: GenerationRequest
    ids: list[int]
    budget: int


def create(
    model: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 8,
    adapters: dict[str, str] | None = None,
    chat: bool | None = None,
    trust_remote_code: bool = False,
    **_: Any,
) -> TransformersRunner:
    """Load ``model`` (a checkpoint folder, or a hub id where a hub is reachable).

    ``device``/``dtype`` "auto" mean CUDA when available, and bfloat16 on a GPU that
    supports it, else float32. ``adapters`` maps names to PEFT adapter folders loaded on
    top of the base; ``chat`` None uses the tokenizer's chat template when it has one.
    """
    return TransformersRunner(
        model,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        adapters=adapters or {},
        chat=chat,
        trust_remote_code=trust_remote_code,
    )


class TransformersRunner:
    """A causal LM (plus optional LoRA adapters) behind the :class:`~runners.base.Runner` API."""

    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str,
        dtype: str,
        batch_size: int,
        adapters: dict[str, str],
        chat: bool | None,
        trust_remote_code: bool,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_id, local = resolve_model(model)
        if any(SEPARATOR in name for name in adapters):
            raise ValueError(f"adapter names cannot contain {SEPARATOR!r}: {sorted(adapters)}")
        self.adapter_paths = {name: resolve_adapter(name, path) for name, path in adapters.items()}
        self.device = _resolve_device(device)
        self.torch_dtype = _resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                self.model_id, trust_remote_code=trust_remote_code
            )
            base = AutoModelForCausalLM.from_pretrained(
                self.model_id, dtype=self.torch_dtype, trust_remote_code=trust_remote_code
            )
        except OSError as exc:
            if local:
                raise
            raise FileNotFoundError(
                f"model {model!r} is not a local folder and could not be loaded from a model "
                f"hub ({exc}); pass the path of a checkpoint folder"
            ) from exc
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise ValueError(f"the tokenizer of {model!r} has neither a pad nor an eos token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.chat = _resolve_chat(chat, self.tokenizer, model)
        self.context = _context_length(base.config)
        self.revision = (
            folder_fingerprint(Path(self.model_id))
            if local
            else getattr(base.config, "_commit_hash", None) or "hub"
        )
        self.model = _attach_adapters(base, self.adapter_paths).to(self.device).eval()
        self._torch = torch

    # -- Runner API ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Model, weights fingerprint, dtype, device, adapters (with fingerprints), chat."""
        return {
            "runner": self.name,
            "model": self.model_id,
            "revision": self.revision,
            "dtype": str(self.torch_dtype).removeprefix("torch."),
            "device": self.device,
            "adapters": {
                name: {"path": str(path), "revision": folder_fingerprint(path)}
                for name, path in sorted(self.adapter_paths.items())
            },
            "chat": self.chat,
        }

    def generate(
        self, requests: list[GenerationRequest], params: GenerationParams
    ) -> list[Completion]:
        """Completions in request order; ``latency_s`` is the wall time of the request's batch."""
        if self.model is None:
            raise RuntimeError("the transformers runner is closed")
        results: list[Completion | None] = [None] * len(requests)
        groups: dict[tuple[str, int], list[_Item]] = {}
        for index, request in enumerate(requests):
            item_or_error = self._prepare(index, request, params)
            if isinstance(item_or_error, Completion):
                results[index] = item_or_error
                continue
            key = (request.adapter or "", item_or_error.budget)
            groups.setdefault(key, []).append(item_or_error)
        for (adapter, budget), items in sorted(groups.items()):
            items.sort(key=lambda item: len(item.ids))
            with self._adapter(adapter or None):
                for start in range(0, len(items), self.batch_size):
                    batch = items[start : start + self.batch_size]
                    for item, completion in zip(batch, self._run_safely(batch, budget, params)):
                        results[item.index] = completion
        return [completion for completion in results if completion is not None]

    def close(self) -> None:
        """Drop the model and give its memory back."""
        if self.model is None:
            return
        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()

    # -- internals ----------------------------------------------------------------------

    def _prepare(
        self, index: int, request: GenerationRequest, params: GenerationParams
    ) -> _Item | Completion:
        """Tokenize one request and fit its token budget to the context, or say why not."""
        if request.adapter is not None:
            names = request.adapter.split(SEPARATOR)
            unknown = [name for name in names if name not in self.adapter_paths]
            if unknown:
                known = ", ".join(sorted(self.adapter_paths)) or "none"
                return Completion(
                    request.id, error=f"unknown adapter {unknown[0]!r} (loaded: {known})"
                )
            if len(set(names)) < len(names):  # a repeated adapter would count twice
                return Completion(
                    request.id, error=f"adapter spec {request.adapter!r} repeats a name"
                )
        try:
            if self.chat:
                text = self.tokenizer.apply_chat_template(
                    request.chat(), tokenize=False, add_generation_prompt=True
                )
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            else:
                ids = self.tokenizer(request.prompt)["input_ids"]
        except Exception as exc:  # noqa: BLE001 -- a bad prompt is that request's error
            return Completion(request.id, error=f"cannot tokenize the prompt: {exc}")
        if not ids:
            return Completion(request.id, error="the prompt is empty")
        budget = params.max_new_tokens
        if self.context is not None:
            if len(ids) >= self.context:
                return Completion(
                    request.id,
                    error=f"prompt has {len(ids)} tokens; the model's context is {self.context}",
                )
            budget = min(budget, self.context - len(ids))
        return _Item(index, request, list(ids), budget)

    @contextmanager
    def _adapter(self, spec: str | None) -> Iterator[None]:
        """Activate the adapter(s) of ``spec`` (a name, or names joined by ``+``, whose LoRA
        deltas then add up); None runs the base model with adapters disabled."""
        if not self.adapter_paths:
            yield
        elif spec is None:
            with self.model.disable_adapter():
                yield
        elif SEPARATOR in spec:
            # PeftModel.set_adapter takes one name; the LoraModel under it takes a list
            # and makes every LoRA layer run all of them.
            self.model.base_model.set_adapter(spec.split(SEPARATOR), inference_mode=True)
            yield
        else:
            self.model.set_adapter(spec, inference_mode=True)
            yield

    def _run_safely(
        self, batch: list[_Item], budget: int, params: GenerationParams
    ) -> list[Completion]:
        """Run a batch; if it fails, run its requests one at a time to isolate the culprit."""
        try:
            return self._run_batch(batch, budget, params)
        except Exception as exc:  # noqa: BLE001 -- becomes the request's error below
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()
            if len(batch) == 1:
                return [Completion(batch[0].request.id, error=f"{type(exc).__name__}: {exc}")]
            return [self._run_safely([item], budget, params)[0] for item in batch]

    def _run_batch(
        self, batch: list[_Item], budget: int, params: GenerationParams
    ) -> list[Completion]:
        torch = self._torch
        started = time.perf_counter()
        pad_id = self.tokenizer.pad_token_id
        width = max(len(item.ids) for item in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            input_ids[row, width - len(item.ids) :] = torch.tensor(item.ids)
            attention_mask[row, width - len(item.ids) :] = 1
        config = self._generation_config(budget, params)
        extra: dict[str, Any] = {"tokenizer": self.tokenizer} if params.stop else {}
        if not params.greedy and params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                generation_config=config,
                **extra,
            )
        generated = output[:, width:].tolist()
        per_request = config.num_return_sequences
        eos_ids = _as_set(config.eos_token_id)
        latency = time.perf_counter() - started
        completions = []
        for row, item in enumerate(batch):
            texts, tokens = [], 0
            for sequence in generated[row * per_request : (row + 1) * per_request]:
                kept = _trim(sequence, eos_ids, pad_id)
                tokens += len(kept)
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
                texts.append(apply_stop(text, params.stop))
            if per_request < params.n:  # greedy: every sample would be the same text
                texts, tokens = texts * params.n, tokens * params.n
            completions.append(
                Completion(item.request.id, texts=texts, latency_s=latency, output_tokens=tokens)
            )
        return completions

    def _generation_config(self, budget: int, params: GenerationParams) -> Any:
        """The model's own generation defaults (eos ids...) with ``params`` laid over them."""
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = budget
        config.max_length = None
        config.pad_token_id = self.tokenizer.pad_token_id
        if config.eos_token_id is None:
            config.eos_token_id = self.tokenizer.eos_token_id
        config.stop_strings = list(params.stop) or None
        if params.greedy:
            config.do_sample, config.num_return_sequences = False, 1
            config.temperature = config.top_p = config.top_k = None
        else:
            config.do_sample, config.num_return_sequences = True, params.n
            config.temperature, config.top_p = params.temperature, params.top_p
            config.top_k = 0  # no top-k cut: only temperature and top-p, as in vLLM
        return config


def resolve_model(model: str) -> tuple[str, bool]:
    """(path or hub id, is_local). A path-looking name that does not exist is an error."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise FileNotFoundError(f"model {model!r} is a file; expected a checkpoint folder")
        return str(path.resolve()), True
    hub_like = (
        not model.startswith(("/", ".", "~"))
        and "\\" not in model
        and model.count("/") <= 1
        and all(part for part in model.split("/"))
    )
    if not hub_like:
        raise FileNotFoundError(f"model folder {model!r} does not exist")
    return model, False


def resolve_adapter(name: str, path: str) -> Path:
    folder = Path(path).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"adapter {name!r}: no adapter_config.json in {str(folder)!r}")
    return folder.resolve()


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return device


def _resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        gpu_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if gpu_bf16 else torch.float32
    if dtype not in _DTYPE_NAMES:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, {', '.join(sorted(_DTYPE_NAMES))}")
    return getattr(torch, _DTYPE_NAMES[dtype])


def _resolve_chat(chat: bool | None, tokenizer: Any, model: str) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat and not has_template:
        raise ValueError(f"chat=True but the tokenizer of {model!r} has no chat template")
    return has_template if chat is None else chat


def _context_length(config: Any) -> int | None:
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _attach_adapters(base: Any, adapters: dict[str, Path]) -> Any:
    if not adapters:
        return base
    from peft import PeftModel

    names = list(adapters)
    model = PeftModel.from_pretrained(base, str(adapters[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(str(adapters[name]), adapter_name=name)
    return model


def folder_fingerprint(folder: Path) -> str:
    """A cheap content hash of a checkpoint folder's top-level files (names, sizes, bytes;
    files over 64 MiB contribute their size and first and last MiB)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.name}\0{size}\0".encode())
        with file.open("rb") as handle:
            if size <= _FULL_HASH_LIMIT:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_SAMPLE_BYTES))
                handle.seek(size - _SAMPLE_BYTES)
                digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def _as_set(ids: int | list[int] | None) -> set[int]:
    if ids is None:
        return set()
    return {ids} if isinstance(ids, int) else set(ids)


def _trim(sequence: list[int], eos_ids: set[int], pad_id: int) -> list[int]:
    """Generated tokens up to and including the first eos, without trailing padding
    (a sequence stopped by a stop string is padded while the batch runs on)."""
    for position, token in enumerate(sequence):
        if token in eos_ids:
            return sequence[: position + 1]
    end = len(sequence)
    while end and sequence[end - 1] == pad_id:
        end -= 1
    return sequence[:end]
