"""A runner for any OpenAI-compatible HTTP server: hosted APIs, vLLM's server, llama.cpp, Ollama.

``create(model, base_url=..., endpoint="chat" | "completions", ...)`` returns an
:class:`OpenAIRunner`. Requests go out with bounded concurrency (a thread pool sharing one
pooled ``httpx.Client``); each is retried on transient failures and ends as a
:class:`~runners.base.Completion`, with ``error`` set when it could not be answered.

Retry policy, per request:

- retried: HTTP 408, 429 and 5xx; connection errors, dropped connections (the server
  closed the socket or broke the response) and timeouts;
- the wait before retry ``k`` (0-based) is ``min(max_backoff_s, backoff_s * 2**k)`` with
  equal jitter (a uniform draw in its upper half); a ``Retry-After`` header (seconds or an
  HTTP date), capped at ``max_retry_after_s``, raises the wait to at least that long;
- not retried: any other 4xx (400 context too long, 401, 404 unknown model...) and
  malformed 2xx bodies: the request's ``Completion.error`` says why;
- after ``max_retries`` retries the last failure becomes ``Completion.error``; the other
  requests of the batch are unaffected.

Model adapters: ``GenerationRequest.adapter``, when set, replaces the model name in the
request body. That is how vLLM's OpenAI server serves LoRA adapters (start it with
``--enable-lora --lora-modules tier1=/path/to/adapter ...`` and name ``tier1`` as the
adapter); servers without adapters answer 404 for an unknown model, a per-request error.

The API key is read from the environment variable named by ``api_key_env`` (absent is fine
for local servers). It is sent as ``Authorization: Bearer ...`` and kept nowhere else:
not in ``config()``, not in ``repr``, not in error messages.
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import InitVar, dataclass, field
from typing import Any

import httpx

from runners.base import Completion, GenerationParams, GenerationRequest, apply_stop

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions"}
MAX_API_STOP = 4  # the OpenAI API rejects more than four stop sequences
RETRY_STATUS = frozenset({408, 429})
ERROR_BODY_CHARS = 300


class _Retryable(Exception):
    """A transient failure of one attempt; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Fatal(Exception):
    """A failure that retrying cannot fix (a 4xx other than 408/429, a malformed body)."""


@dataclass(repr=False)
class OpenAIRunner:
    """Generates through an OpenAI-compatible ``/chat/completions`` or ``/completions`` endpoint."""

    model: str
    base_url: str
    endpoint: str = "chat"
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 60.0
    extra_body: dict[str, Any] = field(default_factory=dict)
    api_key: InitVar[str | None] = None  # used for the client's headers, never stored
    name: str = "openai"

    def __post_init__(self, api_key: str | None) -> None:
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, not {self.endpoint!r}")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = self.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
        )
        # Set by close(): backoff sleeps wake up and the requests stop retrying.
        self._closed = threading.Event()

    def __repr__(self) -> str:
        return f"OpenAIRunner(model={self.model!r}, base_url={self.base_url!r}, endpoint={self.endpoint!r})"

    def config(self) -> dict[str, Any]:
        """What identifies this runner's outputs (never the API key)."""
        record: dict[str, Any] = {
            "runner": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "endpoint": self.endpoint,
        }
        if self.extra_body:
            record["extra_body"] = dict(self.extra_body)
        return record

    def generate(
        self, requests: list[GenerationRequest], params: GenerationParams
    ) -> list[Completion]:
        """Completions for ``requests`` in their order; at most ``concurrency`` in flight."""
        if self._closed.is_set():
            raise RuntimeError("OpenAIRunner.generate called after close()")
        if not requests:
            return []
        workers = min(self.concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-runner") as pool:
            futures = [pool.submit(self._complete, request, params) for request in requests]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def close(self) -> None:
        """Stop retries in progress and close the connection pool."""
        self._closed.set()
        self._client.close()

    def __enter__(self) -> OpenAIRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # One request, with retries.

    def body(self, request: GenerationRequest, params: GenerationParams) -> dict[str, Any]:
        """The JSON body sent for ``request``."""
        body: dict[str, Any] = {
            "model": request.adapter or self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": params.n,
        }
        if self.endpoint == "chat":
            body["messages"] = request.chat()
        else:
            body["prompt"] = request.prompt
        if params.stop:
            body["stop"] = list(params.stop[:MAX_API_STOP])
        if params.seed is not None:
            body["seed"] = params.seed
        body.update(self.extra_body)
        return body

    def _complete(self, request: GenerationRequest, params: GenerationParams) -> Completion:
        body = self.body(request, params)
        start = time.perf_counter()
        attempt = 0
        while True:
            try:
                texts, tokens = self._attempt(body)
            except _Fatal as exc:
                return Completion(request.id, error=str(exc), latency_s=time.perf_counter() - start)
            except _Retryable as exc:
                if attempt >= self.max_retries or self._closed.is_set():
                    error = f"{exc} (gave up after {attempt + 1} attempts)"
                    return Completion(
                        request.id, error=error, latency_s=time.perf_counter() - start
                    )
                if self._closed.wait(self._delay(attempt, exc.retry_after)):
                    error = f"{exc} (runner closed while retrying)"
                    return Completion(
                        request.id, error=error, latency_s=time.perf_counter() - start
                    )
                attempt += 1
                continue
            texts = [apply_stop(text, params.stop) for text in texts]
            return Completion(
                request.id, texts=texts, latency_s=time.perf_counter() - start, output_tokens=tokens
            )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after_s))
        return delay

    def _attempt(self, body: dict[str, Any]) -> tuple[list[str], int | None]:
        """One POST: the texts of the choices by index and the completion token count."""
        try:
            response = self._client.post(ENDPOINTS[self.endpoint], json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(
                f"timed out after {self.timeout_s:g}s ({type(exc).__name__})"
            ) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status in RETRY_STATUS or status >= 500:
            raise _Retryable(_http_error(response), _retry_after(response))
        if status >= 400:
            raise _Fatal(_http_error(response))
        try:
            return _parse(response.json(), self.endpoint)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _Fatal(
                f"malformed response (HTTP {status}): {type(exc).__name__}: {exc}"
            ) from None


def _parse(payload: dict[str, Any], endpoint: str) -> tuple[list[str], int | None]:
    """Texts of the choices sorted by index, and ``usage.completion_tokens`` when present."""
    choices = sorted(payload["choices"], key=lambda choice: choice.get("index", 0))
    if endpoint == "chat":
        texts = [choice["message"].get("content") or "" for choice in choices]
    else:
        texts = [choice.get("text") or "" for choice in choices]
    usage = payload.get("usage") or {}
    tokens = usage.get("completion_tokens")
    return texts, tokens if isinstance(tokens, int) else None


def _http_error(response: httpx.Response) -> str:
    """``HTTP 400: <the server's message>``, shortened."""
    try:
        detail = response.json()
        if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
            detail = detail["error"].get("message", detail["error"])
        elif isinstance(detail, dict) and "error" in detail:
            detail = detail["error"]
        text = str(detail)
    except ValueError:
        text = response.text
    return f"HTTP {response.status_code}: {text.strip()[:ERROR_BODY_CHARS]}"


def _retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def create(
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    endpoint: str = "chat",
    concurrency: int = 8,
    timeout_s: float = 60.0,
    max_retries: int = 6,
    backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    max_retry_after_s: float = 60.0,
    extra_body: dict[str, Any] | None = None,
    served_model: str | None = None,
    **_: Any,
) -> OpenAIRunner:
    """The ``openai`` runner factory.

    ``model`` is the served model's name, or the server's base URL itself
    (``harness run --model http://127.0.0.1:8000/v1 -R served_model=qwen``), in
    which case ``served_model`` names the model (default ``"default"``).

    ``base_url`` defaults to ``$OPENAI_BASE_URL``, else the OpenAI API; the key comes from
    ``$<api_key_env>`` when set. ``extra_body`` is merged into every request body (e.g.
    ``{"top_k": 20}`` for vLLM) and overrides the fields the runner sets. Unknown options
    are ignored so that one option set can serve several runners.
    """
    if model.startswith(("http://", "https://")) and base_url is None:
        model, base_url = served_model or "default", model
    elif served_model:
        model = served_model
    return OpenAIRunner(
        model=model,
        base_url=base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
        endpoint=endpoint,
        concurrency=concurrency,
        timeout_s=timeout_s,
        max_retries=max_retries,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
        max_retry_after_s=max_retry_after_s,
        extra_body=dict(extra_body or {}),
        api_key=os.environ.get(api_key_env) or None,
    )
