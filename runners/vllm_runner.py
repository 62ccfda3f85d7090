"""The ``vllm`` runner: offline batched generation with ``vllm.LLM`` on GPUs.

vLLM is an optional extra (``pip install 'sql-harness[vllm]'``) and needs a CUDA GPU; it
is imported only inside :func:`create`. All requests of a call go to the engine at once
(it schedules them itself); each carries its own ``LoRARequest`` when it names an
adapter, so MAC's tier adapters share one engine. Prompts are tokenized here (chat
template included) and passed as token ids, so that a template's BOS is not doubled and a
prompt longer than the context becomes that request's error rather than the batch's.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from runners.base import Completion, GenerationParams, GenerationRequest, apply_stop
from runners.transformers_runner import folder_fingerprint, resolve_adapter, resolve_model

INSTALL_HINT = "the vllm runner needs vLLM and a CUDA GPU: pip install 'sql-harness[vllm]'"


def create(
    model: str,
    *,
    tensor_parallel_size: int = 1,
    dtype: str = "auto",
    adapters: dict[str, str] | None = None,
    max_lora_rank: int = 64,
    gpu_memory_utilization: float = 0.85,
    chat: bool | None = None,
    max_model_len: int | None = None,
    enforce_eager: bool = False,
    seed: int = 0,
    trust_remote_code: bool = False,
    **_: Any,
) -> VLLMRunner:
    """Start a vLLM engine on ``model`` (a checkpoint folder, or a hub id where reachable).

    ``adapters`` maps names to LoRA adapter folders (rank at most ``max_lora_rank``);
    ``chat`` None uses the tokenizer's chat template when it has one. ``seed`` seeds the
    engine; a request's sampling seed comes from :class:`GenerationParams`.
    """
    try:
        import vllm
        from vllm.lora.request import LoRARequest
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc

    model_id, local = resolve_model(model)
    adapter_paths = {name: resolve_adapter(name, path) for name, path in (adapters or {}).items()}
    engine_options: dict[str, Any] = {}
    if adapter_paths:
        engine_options.update(
            enable_lora=True, max_lora_rank=max_lora_rank, max_loras=len(adapter_paths)
        )
    if max_model_len is not None:
        engine_options["max_model_len"] = max_model_len
    llm = vllm.LLM(
        model=model_id,
        tensor_parallel_size=tensor_parallel_size,
        dtype=dtype,
        gpu_memory_utilization=gpu_memory_utilization,
        enforce_eager=enforce_eager,
        seed=seed,
        trust_remote_code=trust_remote_code,
        **engine_options,
    )
    # lora_int_id must be a stable positive integer per adapter: number them by name.
    lora_requests = {
        name: LoRARequest(name, number, str(adapter_paths[name]))
        for number, name in enumerate(sorted(adapter_paths), start=1)
    }
    return VLLMRunner(
        llm,
        model_id=model_id,
        revision=folder_fingerprint(Path(model_id)) if local else "hub",
        requested_dtype=dtype,
        tensor_parallel_size=tensor_parallel_size,
        adapter_paths=adapter_paths,
        lora_requests=lora_requests,
        chat=chat,
        sampling_params_class=vllm.SamplingParams,
    )


class VLLMRunner:
    """A ``vllm.LLM`` engine behind the :class:`~runners.base.Runner` API."""

    name = "vllm"

    def __init__(
        self,
        llm: Any,
        *,
        model_id: str,
        revision: str,
        requested_dtype: str,
        tensor_parallel_size: int,
        adapter_paths: dict[str, Path],
        lora_requests: dict[str, Any],
        chat: bool | None,
        sampling_params_class: type,
    ) -> None:
        self.llm = llm
        self.model_id = model_id
        self.revision = revision
        self.tensor_parallel_size = tensor_parallel_size
        self.adapter_paths = adapter_paths
        self.lora_requests = lora_requests
        self._sampling_params = sampling_params_class
        self.tokenizer = llm.get_tokenizer()
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if chat and not has_template:
            raise ValueError(f"chat=True but the tokenizer of {model_id!r} has no chat template")
        self.chat = has_template if chat is None else chat
        model_config = _model_config(llm)
        self.context = getattr(model_config, "max_model_len", None)
        engine_dtype = getattr(model_config, "dtype", None)
        self.dtype = str(engine_dtype).removeprefix("torch.") if engine_dtype else requested_dtype

    def config(self) -> dict[str, Any]:
        """Model, weights fingerprint, dtype, tensor parallelism, adapters, chat."""
        return {
            "runner": self.name,
            "model": self.model_id,
            "revision": self.revision,
            "dtype": self.dtype,
            "tensor_parallel_size": self.tensor_parallel_size,
            "adapters": {
                name: {"path": str(path), "revision": folder_fingerprint(path)}
                for name, path in sorted(self.adapter_paths.items())
            },
            "chat": self.chat,
        }

    def generate(
        self, requests: list[GenerationRequest], params: GenerationParams
    ) -> list[Completion]:
        """Completions in request order; ``latency_s`` is the wall time of the whole call."""
        if self.llm is None:
            raise RuntimeError("the vllm runner is closed")
        results: list[Completion | None] = [None] * len(requests)
        runnable: list[tuple[int, dict[str, Any], Any]] = []
        for index, request in enumerate(requests):
            prepared = self._prepare(request)
            if isinstance(prepared, Completion):
                results[index] = prepared
            else:
                runnable.append((index, *prepared))
        sampling = self._sampling(params)
        started = time.perf_counter()
        outputs = self._run(runnable, sampling)
        latency = time.perf_counter() - started
        for (index, _, _), output in zip(runnable, outputs):
            request = requests[index]
            if isinstance(output, Exception):
                results[index] = Completion(request.id, error=f"{type(output).__name__}: {output}")
                continue
            texts = [apply_stop(choice.text, params.stop) for choice in output.outputs]
            tokens = sum(len(choice.token_ids) for choice in output.outputs)
            if params.greedy and params.n > 1:  # greedy: every sample would be the same text
                texts, tokens = texts * params.n, tokens * params.n
            results[index] = Completion(
                request.id, texts=texts, latency_s=latency, output_tokens=tokens
            )
        return [completion for completion in results if completion is not None]

    def close(self) -> None:
        """Shut the engine down and give the GPU memory back."""
        if self.llm is None:
            return
        shutdown = getattr(self.llm, "shutdown", None)
        if callable(shutdown):
            shutdown()
        self.llm = None
        gc.collect()
        try:
            from vllm.distributed import cleanup_dist_env_and_memory
        except ImportError:
            import torch

            torch.cuda.empty_cache()
        else:
            cleanup_dist_env_and_memory()

    # -- internals ----------------------------------------------------------------------

    def _prepare(self, request: GenerationRequest) -> tuple[dict[str, Any], Any] | Completion:
        """(token prompt, LoRA request) for one request, or the Completion saying why not."""
        lora = None
        if request.adapter is not None:
            lora = self.lora_requests.get(request.adapter)
            if lora is None:
                known = ", ".join(sorted(self.lora_requests)) or "none"
                return Completion(
                    request.id, error=f"unknown adapter {request.adapter!r} (loaded: {known})"
                )
        try:
            if self.chat:
                text = self.tokenizer.apply_chat_template(
                    request.chat(), tokenize=False, add_generation_prompt=True
                )
                ids = self.tokenizer.encode(text, add_special_tokens=False)
            else:
                ids = self.tokenizer.encode(request.prompt)
        except Exception as exc:  # noqa: BLE001 -- a bad prompt is that request's error
            return Completion(request.id, error=f"cannot tokenize the prompt: {exc}")
        if not ids:
            return Completion(request.id, error="the prompt is empty")
        if self.context is not None and len(ids) >= self.context:
            return Completion(
                request.id,
                error=f"prompt has {len(ids)} tokens; the model's context is {self.context}",
            )
        return {"prompt_token_ids": list(ids)}, lora

    def _sampling(self, params: GenerationParams) -> Any:
        options: dict[str, Any] = {
            "max_tokens": params.max_new_tokens,
            "stop": list(params.stop) or None,
        }
        if params.greedy:
            options.update(n=1, temperature=0.0)
        else:
            options.update(
                n=params.n, temperature=params.temperature, top_p=params.top_p, seed=params.seed
            )
        return self._sampling_params(**options)

    def _run(self, runnable: list[tuple[int, dict[str, Any], Any]], sampling: Any) -> list[Any]:
        """Engine outputs in order; if the whole call fails, each request alone, so that a
        failure is pinned on the request that causes it."""
        if not runnable:
            return []
        prompts = [prompt for _, prompt, _ in runnable]
        loras = [lora for _, _, lora in runnable]
        try:
            return self._generate(prompts, sampling, loras)
        except Exception as exc:  # noqa: BLE001 -- retried one by one below
            if len(runnable) == 1:
                return [exc]
        outputs: list[Any] = []
        for prompt, lora in zip(prompts, loras):
            try:
                # Last output: older vLLMs leave the requests a failed call had already
                # queued in the engine, and they finish (with lower ids) in this call.
                outputs.append(self._generate([prompt], sampling, [lora])[-1])
            except Exception as exc:  # noqa: BLE001 -- that request's error
                outputs.append(exc)
        return outputs

    def _generate(
        self, prompts: list[dict[str, Any]], sampling: Any, loras: list[Any]
    ) -> list[Any]:
        lora_request = loras if any(lora is not None for lora in loras) else None
        return self.llm.generate(prompts, sampling, use_tqdm=False, lora_request=lora_request)


def _model_config(llm: Any) -> Any:
    """The engine's model config, wherever this vLLM version keeps it."""
    for owner in (llm, getattr(llm, "llm_engine", None)):
        config = getattr(owner, "model_config", None)
        if config is not None:
            return config
    return None
