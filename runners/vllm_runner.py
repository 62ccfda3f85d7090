"""The ``vllm`` runner: offline batched generation with ``vllm.LLM`` on GPUs.

vLLM is an optional extra (``pip install 'sql-harness[vllm]'``) and needs a CUDA GPU; it
is imported only inside :func:`create`. All requests of a call go to the engine at once
(it schedules them itself); each carries its own ``LoRARequest`` when it names an
adapter, so MAC's tier adapters share one engine. Prompts are tokenized here (chat
template included) and passed as token ids, so that a template's BOS is not doubled and a
prompt longer than the context becomes that request's error rather than the batch's.

Parallelism (``-R tensor_parallel_size=T -R data_parallel_size=D``, T x D GPUs): each
engine spans T GPUs (vLLM's tensor parallelism); with D > 1 the runner starts D engines,
each in its own process pinned to its own T GPUs (``CUDA_VISIBLE_DEVICES``), and every
call splits its prompts into D contiguous shares, one per engine, and puts the outputs
back in order (independent replicas: vLLM's offline data-parallel pattern for dense models,
without its DP coordination, which only expert-parallel MoE models need).
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from runners.base import Completion, GenerationParams, GenerationRequest, apply_stop
from runners.transformers_runner import folder_fingerprint, resolve_adapter, resolve_model

INSTALL_HINT = "the vllm runner needs vLLM and a CUDA GPU: pip install 'sql-harness[vllm]'"


def create(
    model: str,
    *,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
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
    ``tensor_parallel_size`` GPUs per engine, ``data_parallel_size`` engines (module docstring).
    """
    tp, dp = parallel_sizes(tensor_parallel_size, data_parallel_size)
    try:
        import vllm
        from vllm.lora.request import LoRARequest
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc

    groups = device_groups(tp, dp, visible_devices())
    model_id, local = resolve_model(model)
    adapter_paths = {name: resolve_adapter(name, path) for name, path in (adapters or {}).items()}
    engine_options: dict[str, Any] = {}
    if adapter_paths:
        engine_options.update(
            enable_lora=True, max_lora_rank=max_lora_rank, max_loras=len(adapter_paths)
        )
    if max_model_len is not None:
        engine_options["max_model_len"] = max_model_len
    engine = dict(
        model=model_id,
        tensor_parallel_size=tp,
        dtype=dtype,
        gpu_memory_utilization=gpu_memory_utilization,
        enforce_eager=enforce_eager,
        seed=seed,
        trust_remote_code=trust_remote_code,
        **engine_options,
    )
    # lora_int_id must be a stable positive integer per adapter: number them by name.
    loras = {
        name: (name, number, str(adapter_paths[name]))
        for number, name in enumerate(sorted(adapter_paths), start=1)
    }
    if dp == 1:
        llm: Any = vllm.LLM(**engine)
        lora_requests: dict[str, Any] = {name: LoRARequest(*args) for name, args in loras.items()}
        sampling_class: Any = vllm.SamplingParams
    else:  # engines in their own processes: requests travel as plain data
        llm = Replicas(groups, engine)
        lora_requests, sampling_class = loras, dict
    return VLLMRunner(
        llm,
        model_id=model_id,
        revision=folder_fingerprint(Path(model_id)) if local else "hub",
        requested_dtype=dtype,
        tensor_parallel_size=tp,
        data_parallel_size=dp,
        adapter_paths=adapter_paths,
        lora_requests=lora_requests,
        chat=chat,
        sampling_params_class=sampling_class,
    )


def parallel_sizes(tensor_parallel_size: Any, data_parallel_size: Any) -> tuple[int, int]:
    """Both sizes as positive integers, or a ValueError saying which is wrong.

    >>> parallel_sizes(2, "4")
    (2, 4)
    """
    sizes = []
    for name, value in (("tensor_parallel_size", tensor_parallel_size),
                        ("data_parallel_size", data_parallel_size)):  # fmt: skip
        try:
            size = int(value)
        except (TypeError, ValueError):
            size = 0
        if isinstance(value, bool) or size < 1 or str(size) != str(value).strip():
            raise ValueError(f"vllm runner: {name} must be a positive integer, got {value!r}")
        sizes.append(size)
    return sizes[0], sizes[1]


def visible_devices() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` as listed, else every GPU torch sees."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def device_groups(tp: int, dp: int, visible: list[str]) -> list[list[str]]:
    """The GPUs of each of ``dp`` engines of ``tp`` GPUs each, consecutive from ``visible``.

    >>> device_groups(2, 2, ["0", "1", "2", "3"])
    [['0', '1'], ['2', '3']]
    """
    needed = tp * dp
    if needed > len(visible):
        raise ValueError(
            f"vllm runner: tensor_parallel_size={tp} x data_parallel_size={dp} needs {needed} "
            f"GPU(s), {len(visible)} visible ({', '.join(visible) or 'none'}); lower the sizes "
            "or make more GPUs visible (CUDA_VISIBLE_DEVICES)"
        )
    return [visible[k * tp : (k + 1) * tp] for k in range(dp)]


def split_evenly(count: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) ranges over ``count`` items, sizes differing by one at most.

    >>> split_evenly(5, 2), split_evenly(1, 3)
    ([(0, 3), (3, 5)], [(0, 1), (1, 1), (1, 1)])
    """
    floor, extra = divmod(count, parts)
    bounds = [k * floor + min(k, extra) for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


class Replicas:
    """``data_parallel_size`` vLLM engines, each in a process of its own on its own GPUs,
    behind the part of the ``vllm.LLM`` API the runner uses (``generate``,
    ``get_tokenizer``, ``model_config``, ``shutdown``). Requests and outputs travel as plain
    data: sampling options as a dict, LoRA requests as (name, id, path)."""

    def __init__(
        self, groups: list[list[str]], engine: dict[str, Any], *, start: Any = None
    ) -> None:
        start = start or _start_replica
        self.workers: list[Any] = []
        try:
            for devices in groups:
                self.workers.append(start(devices, engine))
        except BaseException:
            self.shutdown()
            raise
        self.model_config = SimpleNamespace(**self.workers[0].ready)
        self._tokenizer: Any = None
        self._engine = engine

    def get_tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(
                self._engine["model"], self._engine.get("trust_remote_code", False)
            )
        return self._tokenizer

    def generate(
        self, prompts: list[Any], sampling: dict[str, Any], use_tqdm: bool = False,
        lora_request: list[Any] | None = None,
    ) -> list[Any]:  # fmt: skip
        """Each engine generates its contiguous share of ``prompts``; outputs in prompt order."""
        loras = lora_request or [None] * len(prompts)
        sent = []
        for worker, (start, stop) in zip(
            self.workers, split_evenly(len(prompts), len(self.workers))
        ):
            if start < stop:
                worker.send((prompts[start:stop], sampling, loras[start:stop]))
                sent.append(worker)
        replies = [worker.receive() for worker in sent]  # every reply read, so none is left behind
        failed = [reply for reply in replies if isinstance(reply, Exception)]
        if failed:
            raise failed[0]
        return [
            SimpleNamespace(
                outputs=[SimpleNamespace(text=text, token_ids=ids) for text, ids in choices]
            )
            for reply in replies
            for choices in reply
        ]

    def shutdown(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []


class _ReplicaProcess:
    """One engine's process and the pipe to it."""

    def __init__(self, process: Any, conn: Any) -> None:
        self.process, self.conn = process, conn
        self.ready: dict[str, Any] = {}  # the engine's context length and dtype, once started

    def send(self, message: Any) -> None:
        self.conn.send(message)

    def receive(self) -> Any:
        """The next reply: its value, an Exception for an engine error; a RuntimeError raised if
        the process died."""
        try:
            kind, value = self.conn.recv()
        except EOFError as exc:
            raise RuntimeError(
                f"vllm engine process {self.process.pid} exited ({self.process.exitcode})"
            ) from exc
        if kind == "error":
            return RuntimeError(value)
        return value

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)


def _start_replica(devices: list[str], engine: dict[str, Any]) -> _ReplicaProcess:
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: CUDA set up there alone
    parent, child = context.Pipe()
    # not daemonic: vLLM starts processes of its own
    process = context.Process(target=_replica_main, args=(child, devices, engine))
    process.start()
    child.close()
    replica = _ReplicaProcess(process, parent)
    ready = replica.receive()
    if isinstance(ready, Exception):
        replica.stop()
        raise RuntimeError(f"vllm engine on GPU(s) {','.join(devices)} failed to start: {ready}")
    replica.ready = ready
    return replica


def _replica_main(conn: Any, devices: list[str], engine: dict[str, Any]) -> None:
    """An engine process: pin the GPUs, start vLLM, answer generate requests until None."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    try:
        import vllm
        from vllm.lora.request import LoRARequest

        llm = vllm.LLM(**engine)
        config = _model_config(llm)
        dtype = getattr(config, "dtype", None)
        conn.send(("ready", {"max_model_len": getattr(config, "max_model_len", None),
                             "dtype": str(dtype) if dtype is not None else None}))  # fmt: skip
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        while (message := conn.recv()) is not None:
            prompts, options, loras = message
            try:
                requests = [LoRARequest(*lora) if lora else None for lora in loras]
                outputs = llm.generate(
                    prompts, vllm.SamplingParams(**options), use_tqdm=False,
                    lora_request=requests if any(requests) else None,
                )  # fmt: skip
                conn.send(
                    ("ok", [[(c.text, list(c.token_ids)) for c in o.outputs] for o in outputs])
                )
            except Exception as exc:  # noqa: BLE001 -- that call's error, raised in the parent
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        shutdown = getattr(llm, "shutdown", None)
        if callable(shutdown):
            shutdown()


def _load_tokenizer(model: str, trust_remote_code: bool) -> Any:
    """The tokenizer vLLM would use for ``model`` (its loader where it has one)."""
    try:
        from vllm.transformers_utils.tokenizer import get_tokenizer
    except ImportError:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    return get_tokenizer(model, trust_remote_code=trust_remote_code)


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
        data_parallel_size: int = 1,
        lora_requests: dict[str, Any],
        chat: bool | None,
        sampling_params_class: type,
    ) -> None:
        self.llm = llm
        self.model_id = model_id
        self.revision = revision
        self.tensor_parallel_size = tensor_parallel_size
        self.data_parallel_size = data_parallel_size
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
        """Model, weights fingerprint, dtype, tensor and data parallelism, adapters, chat."""
        return {
            "runner": self.name,
            "model": self.model_id,
            "revision": self.revision,
            "dtype": self.dtype,
            "tensor_parallel_size": self.tensor_parallel_size,
            "data_parallel_size": self.data_parallel_size,
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
