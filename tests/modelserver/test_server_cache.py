"""Cache pressure and disconnects, observed through /metrics of a server with a tiny cache."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import openai
import pytest

from modelserver.testing import ServerProcess

MODEL = "tiny-r1"
NO_EOS = {"ignore_eos": True}
BLOCKS = 20  # of 8 tokens: 160 tokens in all, while a request may grow to 128


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    args = [
        "--max-model-len",
        "128",
        "--block-size",
        "8",
        "--num-blocks",
        str(BLOCKS),
        "--max-num-seqs",
        "8",
    ]
    with ServerProcess(tiny_model_dir, *args) as s:
        yield s


def metrics(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    return {
        name: float(value) for name, value in re.findall(r"^(modelserver_\S+) (\S+)$", text, re.M)
    }


def wait_for_idle(url: str, timeout: float = 10.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(url)
        if m["modelserver_kv_cache_blocks_used"] == 0 and m["modelserver_requests_running"] == 0:
            return m
        assert time.monotonic() < deadline, f"cache not freed: {m}"
        time.sleep(0.05)


def aborted(m: dict[str, float]) -> float:
    return m.get('modelserver_requests_finished_total{finish_reason="abort"}', 0.0)


def test_a_full_cache_queues_requests_and_every_one_completes_unchanged(
    server, tokenizer, reference_greedy
):
    prompts = [
        f"Request number {i}: please check the status of my order and the refund." for i in range(5)
    ]
    expected = [
        tokenizer.decode(reference_greedy(tokenizer.encode(p, add_bos=True), 50)) for p in prompts
    ]
    peak_waiting = 0.0

    async def main():
        nonlocal peak_waiting
        client = openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=300
        )
        jobs = asyncio.gather(
            *[
                client.completions.create(
                    model=MODEL, prompt=p, max_tokens=50, temperature=0, extra_body=NO_EOS
                )
                for p in prompts
            ]
        )
        async with httpx.AsyncClient() as http:
            while not jobs.done():
                text = (await http.get(server.url + "/metrics")).text
                waiting = float(re.search(r"^modelserver_requests_waiting (\S+)$", text, re.M)[1])
                peak_waiting = max(peak_waiting, waiting)
                await asyncio.sleep(0.02)
        return await jobs

    responses = asyncio.run(main())
    # 5 requests × ~70 tokens do not fit 160 tokens of cache: some had to wait.
    assert peak_waiting >= 1
    assert [r.choices[0].text for r in responses] == expected
    assert all(r.choices[0].finish_reason == "length" for r in responses)
    wait_for_idle(server.url)


def test_a_client_leaving_mid_stream_frees_its_slot_and_blocks_at_once(server):
    before = aborted(wait_for_idle(server.url))
    body = {
        "model": MODEL,
        "prompt": "Hello",
        "max_tokens": 120,
        "temperature": 0,
        "stream": True,
        **NO_EOS,
    }
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", server.url + "/v1/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
        busy = metrics(server.url)
    assert (
        busy["modelserver_kv_cache_blocks_used"] > 0 and busy["modelserver_requests_running"] == 1
    )
    left = time.monotonic()
    after = wait_for_idle(server.url, timeout=5)
    assert time.monotonic() - left < 5
    assert aborted(after) == before + 1


def test_a_client_leaving_a_non_streamed_request_frees_it_too(server):
    before = aborted(wait_for_idle(server.url))
    body = {"model": MODEL, "prompt": "Hello", "max_tokens": 120, "temperature": 0, **NO_EOS}
    # 120 tokens take far longer than 50 ms, so the client always leaves mid-generation.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/completions", json=body, timeout=httpx.Timeout(60, read=0.05))
    assert aborted(wait_for_idle(server.url, timeout=5)) == before + 1
    # The server carries on.
    ok = httpx.post(server.url + "/v1/completions", json={**body, "max_tokens": 3}, timeout=60)
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3
