"""A small, real OpenAI-compatible HTTP server for the openai runner's tests.

It listens on 127.0.0.1 (port 0: the OS picks a free one) and serves
``/v1/chat/completions`` and ``/v1/completions``. The answer is derived from the request:
choice ``i`` is ``"[i] <prompt>"`` (the prompt being the last user message or the
``prompt`` field), truncated to ``max_tokens`` whitespace-separated words and cut at the
first of the request's stop strings. Choices come back in reverse index order so that
clients must sort them. Like the OpenAI API, it rejects more than four stop strings.

Faults are programmed per marker: a request whose prompt contains the marker gets the
fault while the fault has uses left (``times=None``: always). Every request is recorded
(path, headers, body, arrival time) before any fault applies.

    with OpenAITestServer() as server:
        server.add_fault("SLOW", Fault("delay", delay_s=5.0, times=1))
        ... server.base_url ...  # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
MAX_STOP = 4


@dataclass
class Fault:
    """What to do instead of (or before) answering.

    ``kind``: ``"status"`` answers ``status`` with an error body (and ``Retry-After:
    retry_after`` when given); ``"drop"`` closes the socket without a response; ``"delay"``
    waits ``delay_s`` and then answers normally (or not at all, if the client has gone).
    """

    kind: str
    times: int | None = 1
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival

    @property
    def prompt(self) -> str:
        return prompt_of(self.body)


def prompt_of(body: dict[str, Any]) -> str:
    """The last user message of a chat body, or a completions body's prompt."""
    if "messages" in body:
        users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
        return users[-1] if users else ""
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else str(prompt)


def answer(prompt: str, index: int, max_tokens: int | None, stop: list[str]) -> str:
    """The deterministic text of choice ``index``."""
    words = f"[{index}] {prompt}".split(" ")
    text = " ".join(words[:max_tokens] if max_tokens else words)
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(cuts)] if cuts else text


@dataclass
class OpenAITestServer:
    """A threaded HTTP server on 127.0.0.1 with programmable faults; a context manager."""

    faults: dict[str, Fault] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAITestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake delayed handlers, stop serving and close the listening socket."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(self, marker: str, fault: Fault) -> None:
        with self._lock:
            self.faults[marker] = fault

    def requests_for(self, marker: str) -> list[Received]:
        """The recorded requests whose prompt contains ``marker``, in arrival order."""
        with self._lock:
            return [r for r in self.received if marker in r.prompt]

    # Called from handler threads.

    def _record(self, received: Received) -> Fault | None:
        """Record a request and take one use of the first fault whose marker it contains."""
        with self._lock:
            self.received.append(received)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            for marker, fault in self.faults.items():
                if marker in received.prompt and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that clients reuse pooled connections

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        owner: OpenAITestServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        received = Received(self.path, dict(self.headers.items()), body, time.monotonic())
        fault = owner._record(received)
        try:
            self._serve(owner, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timed out) first
        finally:
            owner._done()

    def _serve(self, owner: OpenAITestServer, body: dict[str, Any], fault: Fault | None) -> None:
        endpoint = PATHS.get(self.path)
        if endpoint is None:
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self._send(
                fault.status, {"error": {"message": f"injected HTTP {fault.status}"}}, headers
            )
            return
        if fault is not None and fault.kind == "delay" and owner._stopping.wait(fault.delay_s):
            self.close_connection = True
            return
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        if len(stop) > MAX_STOP:
            self._send(400, {"error": {"message": f"at most {MAX_STOP} stop sequences"}})
            return
        self._send(200, completion(body, endpoint, stop))

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def completion(body: dict[str, Any], endpoint: str, stop: list[str]) -> dict[str, Any]:
    """The success payload: ``n`` choices in reverse index order, with usage."""
    prompt = prompt_of(body)
    n = int(body.get("n") or 1)
    texts = [answer(prompt, i, body.get("max_tokens"), stop) for i in range(n)]
    if endpoint == "chat":
        choices = [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ]
    else:
        choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
    tokens = sum(len(t.split()) for t in texts)
    return {
        "id": "cmpl-test",
        "object": "chat.completion" if endpoint == "chat" else "text_completion",
        "model": body.get("model"),
        "choices": choices[::-1],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": tokens,
            "total_tokens": tokens,
        },
    }
