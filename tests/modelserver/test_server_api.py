"""The real server process through the official `openai` client."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from modelserver.chat.parser import OutputParser
from modelserver.chat.template import render_chat, render_fim
from modelserver.chat.tokenizer import IncrementalDetokenizer
from modelserver.testing import ServerProcess, write_lora_adapter

MODEL = "tiny-r1"
NO_EOS = {"ignore_eos": True}
SHIP = {
    "type": "function",
    "function": {
        "name": "ship",
        "description": "Ship an order.",
        "parameters": {
            "type": "object",
            "properties": {"express": {"type": "boolean"}, "box": {"enum": ["S", "M", "L"]}},
            "required": ["express", "box"],
            "additionalProperties": False,
        },
    },
}
PING = {
    "type": "function",
    "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
}
USER = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with ServerProcess(
        tiny_model_dir, "--max-model-len", "1024", "--block-size", "8", "--num-blocks", "512"
    ) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def async_client(server) -> openai.AsyncOpenAI:
    """Made inside `asyncio.run`, so that its connections belong to that loop."""
    return openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120
    )


def chat_ids(tokenizer, messages, tools=None, thinking=True):
    return tokenizer.encode(render_chat(messages, tools, thinking=thinking))


def parsed(text: str, *, reasoning=True, tools=False):
    parser = OutputParser(reasoning=reasoning, tools=tools)
    parser.feed(text)
    parser.finish()
    return parser.result


def collect_chat_stream(stream):
    """Rebuild a chat message from streamed chunks, checking the delta protocol on the way."""
    reasoning, content, calls, finish, usage = "", "", [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
            for call in delta.tool_calls or []:
                if call.id is not None:
                    assert call.index == len(calls) and call.function.name
                    calls.append({"id": call.id, "name": call.function.name, "arguments": ""})
                calls[call.index]["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return reasoning, content, calls, finish, usage


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == [MODEL]


def test_concurrent_greedy_completions_equal_the_reference_loop(
    server, tokenizer, reference_greedy
):
    texts = [
        "Hello!",
        "Your order #12345 has shipped",
        "def add(a, b):",
        "您好",
        "The quick brown fox " * 6,
    ]
    expected = [
        tokenizer.decode(reference_greedy(tokenizer.encode(t, add_bos=True), 16)) for t in texts
    ]

    async def main():
        aclient = async_client(server)
        return await asyncio.gather(
            *[
                aclient.completions.create(
                    model=MODEL, prompt=t, max_tokens=16, temperature=0, extra_body=NO_EOS
                )
                for t in texts
            ]
        )

    responses = asyncio.run(main())
    assert [r.choices[0].text for r in responses] == expected
    assert all(
        r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 16
        for r in responses
    )


def test_greedy_chat_equals_the_reference_loop_split_into_reasoning_and_answer(
    client, tokenizer, reference_greedy
):
    ids = chat_ids(tokenizer, USER)
    expected = parsed(tokenizer.decode(reference_greedy(ids, 20)))
    response = client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=20, temperature=0, extra_body=NO_EOS
    )
    message = response.choices[0].message
    assert (message.reasoning_content, message.content) == (expected.reasoning, expected.content)
    assert response.usage.prompt_tokens == len(ids)


def test_reasoning_is_split_at_the_closing_tag_in_whole_and_streamed_responses(client, tokenizer):
    ids = chat_ids(tokenizer, USER)
    think_close = str(tokenizer.token_id("</think>"))
    # A random model rarely closes its reasoning: nudge it, just enough to close it after a while.
    for bias in (1.0, 2.0, 3.0, 4.0, 5.0):
        extra = {**NO_EOS, "logit_bias": {think_close: bias}}
        raw = client.completions.create(
            model=MODEL, prompt=ids, max_tokens=24, temperature=0, extra_body=extra
        )
        reasoning, closed, answer = raw.choices[0].text.partition("</think>")
        if closed and reasoning.strip():
            break
    assert closed and reasoning.strip(), "no bias made the model close its reasoning"
    whole = client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=24, temperature=0, extra_body=extra
    )
    message = whole.choices[0].message
    assert message.reasoning_content == reasoning.lstrip("\n")
    assert message.content == (answer.lstrip("\n") or None)
    stream = client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=24, temperature=0, extra_body=extra, stream=True
    )
    r, c, calls, finish, _ = collect_chat_stream(stream)
    assert (r, c or None, calls, finish) == (
        message.reasoning_content,
        message.content,
        [],
        "length",
    )


def test_with_thinking_off_there_is_no_reasoning(client, tokenizer, reference_greedy):
    ids = chat_ids(tokenizer, USER, thinking=False)
    response = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        max_tokens=12,
        temperature=0,
        extra_body={**NO_EOS, "chat_template_kwargs": {"thinking": False}},
    )
    message = response.choices[0].message
    assert message.reasoning_content is None
    assert (
        message.content
        == parsed(tokenizer.decode(reference_greedy(ids, 12)), reasoning=False).content
    )


def test_many_concurrent_streams_with_lengths_stops_and_seeds(server, tokenizer, reference_greedy):
    prompts = [f"Order {i}: where is it?" for i in range(12)]
    greedy_text = [
        tokenizer.decode(reference_greedy(tokenizer.encode(p, add_bos=True), 4 + i))
        for i, p in enumerate(prompts)
    ]

    async def stream(aclient, prompt, **kw):
        chunks = await aclient.completions.create(
            model=MODEL, prompt=prompt, stream=True, stream_options={"include_usage": True}, **kw
        )
        text, finish, usage = "", None, None
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.text
                finish = choice.finish_reason or finish
        return text, finish, usage

    stop = greedy_text[-1][6:9]

    async def main():
        aclient = async_client(server)
        jobs = []
        for i, p in enumerate(prompts):  # greedy, each with its own length
            jobs.append(stream(aclient, p, max_tokens=4 + i, temperature=0, extra_body=NO_EOS))
        jobs.append(
            stream(
                aclient, prompts[-1], max_tokens=15, temperature=0, stop=[stop], extra_body=NO_EOS
            )
        )
        for seed in (7, 7, 8):  # sampled: same seed, same text
            jobs.append(
                stream(
                    aclient,
                    prompts[0],
                    max_tokens=20,
                    temperature=1.0,
                    seed=seed,
                    extra_body=NO_EOS,
                )
            )
        return await asyncio.gather(*jobs)

    results = asyncio.run(main())
    for i, (text, finish, usage) in enumerate(results[:12]):
        assert (text, finish, usage.completion_tokens) == (greedy_text[i], "length", 4 + i)
    assert results[12][:2] == (greedy_text[-1][: greedy_text[-1].index(stop)], "stop")
    (a, *_), (b, *_), (c, *_) = results[13:]
    assert a == b and a != c


def test_chinese_streams_in_whole_characters(client, tokenizer, reference_greedy):
    prompt = "谢谢你的帮助"
    tokens = reference_greedy(tokenizer.encode(prompt, add_bos=True), 24)
    detok = IncrementalDetokenizer(tokenizer)
    # The precondition: some character of the output is split across tokens.
    assert any(detok.push(t) == "" for t in tokens)
    stream = client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=24, temperature=0, stream=True, extra_body=NO_EOS
    )
    pieces = [c.choices[0].text for c in stream if c.choices]
    assert "".join(pieces) == tokenizer.decode(tokens)
    assert any(ord(ch) > 0x2E80 for ch in "".join(pieces))


def test_fim_completion_fills_the_hole(client, tokenizer, reference_greedy):
    ids = tokenizer.encode(render_fim("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"))
    response = client.completions.create(
        model=MODEL,
        prompt="def add(a, b):\n    return ",
        suffix="\n\nprint(add(1, 2))\n",
        max_tokens=8,
        temperature=0,
        extra_body=NO_EOS,
    )
    assert response.choices[0].text == tokenizer.decode(reference_greedy(ids, 8))
    assert response.usage.prompt_tokens == len(ids)


def test_a_repeated_system_prompt_is_served_from_the_prefix_cache(client):
    messages = [
        {"role": "system", "content": "You are the shop assistant of Example GmbH. " * 8},
        *USER,
    ]
    first = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=2, temperature=0
    )
    second = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=2, temperature=0
    )
    assert second.usage.prompt_tokens_details.cached_tokens >= second.usage.prompt_tokens - 8
    assert second.choices[0].message == first.choices[0].message


def test_a_required_tool_call_has_valid_arguments_in_whole_and_streamed_responses(client):
    kw = dict(
        model=MODEL,
        messages=USER,
        tools=[SHIP],
        tool_choice="required",
        max_tokens=80,
        temperature=0,
        parallel_tool_calls=False,
    )
    response = client.chat.completions.create(**kw)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    args = json.loads(call.function.arguments)
    assert call.type == "function" and call.function.name == "ship" and call.id.startswith("call_")
    assert isinstance(args["express"], bool) and args["box"] in ("S", "M", "L")
    _, content, calls, finish, _ = collect_chat_stream(
        client.chat.completions.create(**kw, stream=True)
    )
    assert (content, finish) == ("", "tool_calls")
    assert [(c["name"], c["arguments"]) for c in calls] == [("ship", call.function.arguments)]


def test_several_tool_calls_come_out_in_order_and_stream_the_same(client):
    counts = []
    for seed in range(8):
        kw = dict(
            model=MODEL,
            messages=USER,
            tools=[PING, SHIP],
            tool_choice="required",
            max_tokens=300,
            temperature=1.0,
            seed=seed,
        )
        choice = client.chat.completions.create(**kw).choices[0]
        calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls]
        _, _, streamed, finish, _ = collect_chat_stream(
            client.chat.completions.create(**kw, stream=True)
        )
        assert [
            (c["name"], c["arguments"]) for c in streamed
        ] == calls and finish == choice.finish_reason
        assert len({c["id"] for c in streamed}) == len(streamed)
        if choice.finish_reason == "tool_calls":  # else the last call was cut by max_tokens
            assert all(
                name in ("ping", "ship") and isinstance(json.loads(args), dict)
                for name, args in calls
            )
            counts.append(len(calls))
    assert counts and max(counts) >= 2


def test_a_named_tool_choice_calls_exactly_that_tool(client):
    response = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=[PING, SHIP],
        max_tokens=80,
        temperature=0.8,
        seed=3,
        tool_choice={"type": "function", "function": {"name": "ship"}},
    )
    (call,) = response.choices[0].message.tool_calls
    assert call.function.name == "ship" and set(json.loads(call.function.arguments)) == {
        "express",
        "box",
    }


def test_auto_tool_choice_constrains_a_call_the_model_starts(client, tokenizer):
    trigger = tokenizer.token_id("<｜tool▁calls▁begin｜>")
    response = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=[SHIP],
        max_tokens=80,
        temperature=0,
        parallel_tool_calls=False,
        extra_body={"logit_bias": {str(trigger): 100}},
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert set(json.loads(choice.message.tool_calls[0].function.arguments)) == {"express", "box"}


def test_tool_choice_none_never_calls_a_tool(client, tokenizer):
    trigger = tokenizer.token_id("<｜tool▁calls▁begin｜>")
    response = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=[SHIP],
        tool_choice="none",
        max_tokens=10,
        temperature=0,
        extra_body={"logit_bias": {str(trigger): 100}},
    )
    choice = response.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason in ("stop", "length")


def test_a_conversation_with_tool_results_continues(client):
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "ship", "arguments": '{"express": true, "box": "S"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    ]
    response = client.chat.completions.create(
        model=MODEL, messages=messages, tools=[SHIP], max_tokens=5
    )
    assert response.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_a_lora_adapter_is_loaded_used_by_name_and_unloaded(client, server, tmp_path):
    write_lora_adapter(tmp_path / "shop", {"model.layers.0.self_attn.o_proj": (64, 64)})
    http = httpx.Client(base_url=server.url, timeout=60)
    loaded = http.post("/v1/adapters", json={"name": "shop-v1", "path": str(tmp_path / "shop")})
    assert loaded.status_code == 200, loaded.text
    assert {m.id for m in client.models.list().data} == {MODEL, "shop-v1"}
    kw = dict(prompt="Where is my order?", max_tokens=10, temperature=0, extra_body=NO_EOS)
    tuned = client.completions.create(model="shop-v1", **kw).choices[0].text
    base = client.completions.create(model=MODEL, **kw).choices[0].text
    assert (
        tuned != base and client.completions.create(model="shop-v1", **kw).choices[0].text == tuned
    )
    assert (
        http.post(
            "/v1/adapters", json={"name": "shop-v1", "path": str(tmp_path / "shop")}
        ).status_code
        == 409
    )
    assert http.delete("/v1/adapters/shop-v1").json()["deleted"] is True
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="shop-v1", **kw)
    bad = http.post("/v1/adapters", json={"name": "bad", "path": str(tmp_path / "missing")})
    assert bad.status_code == 400 and "adapter_config.json" in bad.json()["error"]["message"]
