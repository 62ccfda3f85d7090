"""The openai runner against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from runners.base import GenerationParams, GenerationRequest, Runner
from runners.openai_runner import OpenAIRunner, create
from tests.openai_test_server import Fault, OpenAITestServer

KEY_ENV = "HARNESS_TEST_OPENAI_KEY"
KEY = "sk-test-not-a-real-key-1234"
GREEDY = GenerationParams(max_new_tokens=64)


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer() as running:
        yield running


@pytest.fixture
def make_runner(server: OpenAITestServer) -> Iterator:
    """``make_runner(**options)``: a runner on the test server with tiny backoff, closed after the test."""
    runners: list[OpenAIRunner] = []

    def make(**options) -> OpenAIRunner:
        options = {
            "base_url": server.base_url,
            "backoff_s": 0.01,
            "timeout_s": 5.0,
            "api_key_env": KEY_ENV,
        } | options
        runner = create("test-model", **options)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def req(id_: str, prompt: str | None = None, **kw) -> GenerationRequest:
    return GenerationRequest(
        id=id_, prompt=prompt if prompt is not None else f"question {id_}", **kw
    )


def test_chat_endpoint(server, make_runner) -> None:
    runner = make_runner()
    assert isinstance(runner, Runner)
    request = GenerationRequest(
        "a", "ignored", messages=(("system", "be brief"), ("user", "SELECT 1"))
    )
    [done] = runner.generate(
        [request], GenerationParams(max_new_tokens=16, temperature=0.7, top_p=0.9, seed=3)
    )
    assert done.error is None
    assert done.texts == ["[0] SELECT 1"]
    assert done.output_tokens == 3
    assert done.latency_s > 0
    [seen] = server.received
    assert seen.path == "/v1/chat/completions"
    assert seen.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "SELECT 1"},
    ]
    assert seen.body | {"messages": None} == {
        "model": "test-model",
        "messages": None,
        "max_tokens": 16,
        "temperature": 0.7,
        "top_p": 0.9,
        "n": 1,
        "seed": 3,
    }


def test_completions_endpoint(server, make_runner) -> None:
    runner = make_runner(endpoint="completions", extra_body={"top_k": 5})
    [done] = runner.generate([req("a", "one two three four")], GenerationParams(max_new_tokens=3))
    assert done.texts == ["[0] one two"]  # max_tokens honoured by the server (3 words)
    [seen] = server.received
    assert seen.path == "/v1/completions"
    assert seen.body["prompt"] == "one two three four" and "messages" not in seen.body
    assert seen.body["top_k"] == 5 and "seed" not in seen.body
    assert runner.config()["extra_body"] == {"top_k": 5}


def test_order_preserved_under_concurrency(server, make_runner) -> None:
    for k in range(20):
        # Uneven delays so that answers arrive out of order.
        server.add_fault(
            f"question q{k:02d}", Fault("delay", times=None, delay_s=0.02 * ((7 * k) % 5))
        )
    runner = make_runner(concurrency=4)
    requests = [req(f"q{k:02d}") for k in range(20)]
    done = runner.generate(requests, GREEDY)
    assert [c.id for c in done] == [r.id for r in requests]
    assert [c.texts for c in done] == [[f"[0] question q{k:02d}"] for k in range(20)]
    assert 2 <= server.max_in_flight <= 4
    assert len(server.received) == 20


def test_n_choices_sorted_by_index(make_runner) -> None:
    [done] = make_runner().generate([req("a", "x")], GenerationParams(n=2))
    assert done.texts == ["[0] x", "[1] x"]  # the server sends them reversed


def test_stop_strings_beyond_four_cut_locally(server, make_runner) -> None:
    stop = ("S1x", "S2x", "S3x", "S4x", ";")
    [done] = make_runner().generate(
        [req("a", "SELECT 1; extra prose")], GenerationParams(stop=stop)
    )
    assert done.texts == ["[0] SELECT 1"]
    assert server.received[0].body["stop"] == ["S1x", "S2x", "S3x", "S4x"]


def test_429_then_success_honours_retry_after(server, make_runner) -> None:
    server.add_fault("RATE", Fault("status", status=429, retry_after=0.2, times=1))
    server.add_fault("PLAIN", Fault("status", status=429, times=2))
    rate, plain = make_runner().generate([req("r", "RATE"), req("p", "PLAIN")], GREEDY)
    assert rate.texts == ["[0] RATE"] and plain.texts == ["[0] PLAIN"]
    first, second = server.requests_for("RATE")
    assert second.at - first.at >= 0.2
    assert rate.latency_s >= 0.2
    assert len(server.requests_for("PLAIN")) == 3


def test_dropped_connection_then_success(server, make_runner) -> None:
    server.add_fault("DROP", Fault("drop", times=2))
    [done] = make_runner().generate([req("a", "DROP me")], GREEDY)
    assert done.error is None and done.texts == ["[0] DROP me"]
    assert len(server.requests_for("DROP")) == 3


def test_5xx_retried(server, make_runner) -> None:
    server.add_fault("BUSY", Fault("status", status=503, times=2))
    server.add_fault("OOPS", Fault("status", status=500, times=1))
    busy, oops = make_runner().generate([req("b", "BUSY"), req("o", "OOPS")], GREEDY)
    assert busy.texts == ["[0] BUSY"] and oops.texts == ["[0] OOPS"]
    assert len(server.requests_for("BUSY")) == 3 and len(server.requests_for("OOPS")) == 2


def test_timeout_then_success(server, make_runner) -> None:
    server.add_fault("SLOW", Fault("delay", delay_s=3.0, times=1))
    start = time.monotonic()
    [done] = make_runner(timeout_s=0.3).generate([req("a", "SLOW")], GREEDY)
    assert done.error is None and done.texts == ["[0] SLOW"]
    assert len(server.requests_for("SLOW")) == 2
    assert 0.3 <= time.monotonic() - start < 2.5


def test_400_is_an_error_without_retry(server, make_runner) -> None:
    server.add_fault("TOO_LONG", Fault("status", status=400, times=None))
    bad, good = make_runner().generate([req("bad", "TOO_LONG prompt"), req("good")], GREEDY)
    assert bad.texts == [] and bad.error is not None
    assert "HTTP 400" in bad.error and "injected" in bad.error
    assert good.error is None
    assert len(server.requests_for("TOO_LONG")) == 1


def test_retries_exhausted_is_an_error_others_complete(server, make_runner) -> None:
    server.add_fault("DOWN", Fault("status", status=503, times=None))
    requests = [req("x0"), req("down", "DOWN"), req("x1"), req("x2")]
    done = make_runner(max_retries=2, concurrency=2).generate(requests, GREEDY)
    assert [c.id for c in done] == ["x0", "down", "x1", "x2"]
    assert (
        done[1].error is not None and "HTTP 503" in done[1].error and "3 attempts" in done[1].error
    )
    assert all(c.error is None and c.texts for c in done if c.id != "down")
    assert len(server.requests_for("DOWN")) == 3


def test_api_key_from_environment(server, make_runner, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    runner = make_runner()
    runner.generate([req("a")], GREEDY)
    assert server.received[0].headers["Authorization"] == f"Bearer {KEY}"
    assert runner.config() == {
        "runner": "openai",
        "base_url": server.base_url,
        "model": "test-model",
        "endpoint": "chat",
    }
    assert KEY not in json.dumps(runner.config()) and KEY not in repr(runner)


def test_no_key_no_authorization_header(server, make_runner, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    make_runner().generate([req("a")], GREEDY)
    assert "Authorization" not in server.received[0].headers


def test_base_url_from_environment(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/")
    with create("m") as runner:
        assert runner.config()["base_url"] == server.base_url
        assert runner.generate([req("a", "hi")], GREEDY)[0].texts == ["[0] hi"]


def test_adapter_replaces_model_name(server, make_runner) -> None:
    make_runner().generate([req("a", adapter="tier2"), req("b")], GREEDY)
    models = {r.prompt: r.body["model"] for r in server.received}
    assert models == {"question a": "tier2", "question b": "test-model"}


def test_rejects_unknown_endpoint_and_use_after_close(make_runner) -> None:
    with pytest.raises(ValueError):
        make_runner(endpoint="embeddings")
    runner = make_runner()
    runner.close()
    with pytest.raises(RuntimeError):
        runner.generate([req("a")], GREEDY)
