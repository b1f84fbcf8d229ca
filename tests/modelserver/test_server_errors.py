"""Every error path answers in OpenAI's shape with the right status."""

from __future__ import annotations

import asyncio
import threading

import httpx
import openai
import pytest

from modelserver.chat.grammar import GrammarFactory
from modelserver.engine.engine import AsyncEngine
from modelserver.server.app import ServerState, create_app
from modelserver.server.metrics import Metrics
from modelserver.testing import ServerProcess

MODEL = "tiny-r1"
KEY = "secret-key"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    args = [
        "--api-key",
        KEY,
        "--max-num-seqs",
        "1",
        "--max-waiting",
        "1",
        "--max-body-bytes",
        "30000",
        "--max-model-len",
        "256",
        "--block-size",
        "8",
        "--num-blocks",
        "64",
    ]
    with ServerProcess(tiny_model_dir, *args) as s:
        yield s


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as c:
        yield c


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=60)


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    return error


def chat(http: httpx.Client, **body) -> httpx.Response:
    return http.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": USER, "max_tokens": 2, **body}
    )


def test_a_missing_or_wrong_api_key_is_401_but_health_and_metrics_are_open(server, http):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        error = error_of(
            httpx.post(server.url + "/v1/chat/completions", json={}, headers=headers), 401
        )
        assert error["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0).models.list()
    assert httpx.get(server.url + "/health").status_code == 200
    assert httpx.get(server.url + "/ready").status_code == 200
    assert b"modelserver_requests_running" in httpx.get(server.url + "/metrics").content
    assert chat(http).status_code == 200


def test_malformed_json_is_400(http):
    response = http.post(
        "/v1/chat/completions",
        content=b'{"model": "tiny-r1", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert error_of(response, 400)["code"] == "invalid_json"
    assert error_of(http.post("/v1/completions", content=b"[1, 2]"), 400)["code"] == "invalid_body"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"messages": []}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"stop": ["a", ""]}, "stop"),
        ({"logit_bias": {"5": 500}}, "logit_bias"),
        ({"logit_bias": {"999999": 1}}, "logit_bias"),
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "x"}}],
                "tool_choice": {"type": "function", "function": {"name": "y"}},
            },
            "tool_choice",
        ),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": "x", "parameters": {"type": "wat"}}}
                ]
            },
            "tools",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(http, body, param):
    error = error_of(chat(http, **body), 400)
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param)


def test_a_prompt_longer_than_the_context_is_400_with_the_limits(http, client):
    long = [{"role": "user", "content": "Hello there! " * 200}]
    error = error_of(chat(http, messages=long), 400)
    assert error["code"] == "context_length_exceeded"
    assert (
        "maximum context length is 256 tokens" in error["message"]
        and "prompt tokens" in error["message"]
    )
    error = error_of(chat(http, max_tokens=251), 400)
    assert "+ 251 completion tokens" in error["message"] and error["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.completions.create(model=MODEL, prompt="Hello there! " * 200, max_tokens=4)


def test_an_unknown_model_is_404(http, client):
    assert error_of(chat(http, model="gpt-9"), 404)["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-9", prompt="x")


def test_a_body_over_the_limit_is_413(http):
    response = chat(http, messages=[{"role": "user", "content": "x" * 40000}])
    assert error_of(response, 413)["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit holds while reading
        yield b'{"model": "tiny-r1", "messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 1000
        yield b'"}]}'

    assert (
        error_of(http.post("/v1/chat/completions", content=chunks()), 413)["code"]
        == "body_too_large"
    )


def test_unknown_routes_and_methods_answer_in_the_error_shape(http):
    assert error_of(http.get("/v1/nothing"), 404)["type"] == "not_found"
    error_of(http.get("/v1/chat/completions"), 405)


def test_overload_is_429_with_retry_after(server):
    """One running and one waiting request fill this server (max-num-seqs 1, max-waiting 1)."""

    async def main():
        client = openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=60
        )
        long = dict(
            model=MODEL,
            prompt="x",
            max_tokens=250,  # as long as the 256-token context allows: still running below
            temperature=0,
            extra_body={"ignore_eos": True},
            stream=True,
        )
        first = await client.completions.create(**long)
        await first.__anext__()  # running
        second = asyncio.create_task(client.completions.create(**long))
        await asyncio.sleep(0.1)  # queued behind the first
        with pytest.raises(openai.RateLimitError) as refused:
            await client.completions.create(model=MODEL, prompt="x", max_tokens=2)
        await first.close()
        await (await second).close()
        return refused.value.response

    response = asyncio.run(main())
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "overloaded"


def test_while_the_model_loads_requests_get_503_and_health_stays_up(tiny_model_dir, tokenizer):
    loaded = threading.Event()

    def build():
        loaded.wait(30)
        raise RuntimeError("checkpoint is broken")

    engine = AsyncEngine(build)
    state = ServerState(
        engine=engine,
        tokenizer=tokenizer,
        grammars=GrammarFactory(tokenizer, tokenizer.vocab_size),
        model_name=MODEL,
        max_model_len=256,
        max_num_seqs=4,
        metrics=Metrics(engine.stats),
    )
    app = create_app(state)

    async def main():
        engine.start(asyncio.get_running_loop())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            busy = await c.post("/v1/chat/completions", json={"model": MODEL, "messages": USER})
            ready, health = await c.get("/ready"), await c.get("/health")
            loaded.set()
            await asyncio.to_thread(engine.stop)
            dead_health = await c.get("/health")
            dead = await c.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
        return busy, ready, health, dead_health, dead

    busy, ready, health, dead_health, dead = asyncio.run(main())
    assert error_of(busy, 503)["code"] == "not_ready" and busy.headers["retry-after"] == "5"
    assert ready.status_code == 503 and health.status_code == 200
    assert dead_health.status_code == 503 and "checkpoint is broken" in dead_health.json()["error"]
    assert error_of(dead, 503)["type"] == "server_error"
