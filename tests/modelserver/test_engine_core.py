"""The engine in-process on the tiny model: batching, chunking, caching and preemption must not
change what a request gets."""

import json

import pytest

from modelserver.chat.grammar import GrammarFactory
from modelserver.chat.parser import OutputParser
from modelserver.engine import EngineConfig, LLMEngine, SamplingParams, Sequence

TEXTS = [
    "Hello! How can I help you with your order today?",
    "您好！请问有什么可以帮您？",
    "def add(a, b):",
    "x",
    "The refund of 49.99 EUR was sent to your card. Please tell me the tracking number of my parcel.",
]
GREEDY = SamplingParams(max_tokens=12, temperature=0, ignore_eos=True)


def engine(model, tokenizer, **config) -> LLMEngine:
    defaults = dict(max_model_len=128, block_size=4, num_blocks=256, max_batched_tokens=64)
    return LLMEngine(model, tokenizer, EngineConfig(**{**defaults, **config}))


@pytest.fixture(scope="module")
def prompts(tokenizer):
    return [tokenizer.encode(t, add_bos=True) for t in TEXTS]


@pytest.fixture(scope="module")
def expected(prompts, reference_greedy):
    return [reference_greedy(p, GREEDY.max_tokens) for p in prompts]


def test_batched_greedy_output_equals_the_reference_loop(tiny_model, tokenizer, prompts, expected):
    outputs = engine(tiny_model, tokenizer).generate(prompts, GREEDY)
    assert [o.token_ids for o in outputs] == expected
    assert [o.text for o in outputs] == [tokenizer.decode(e) for e in expected]
    assert all(o.finish_reason == "length" and o.completion_tokens == 12 for o in outputs)


def test_chunked_prefill_gives_the_same_output(tiny_model, tokenizer, prompts, expected):
    eng = engine(tiny_model, tokenizer, max_batched_tokens=7)
    assert [o.token_ids for o in eng.generate(prompts, GREEDY)] == expected


def test_a_shared_prefix_is_reused_and_changes_nothing(tiny_model, tokenizer, prompts, expected):
    eng = engine(tiny_model, tokenizer)
    eng.generate(prompts[-1:], GREEDY)
    longer = prompts[-1] + tokenizer.encode(" Thanks!")
    (out,) = eng.generate([longer], GREEDY)
    assert out.cached_tokens == (len(prompts[-1]) // 4) * 4
    (fresh,) = engine(tiny_model, tokenizer).generate([longer], GREEDY)
    assert out.token_ids == fresh.token_ids and fresh.cached_tokens == 0


def test_preempted_requests_are_recomputed_and_still_match(
    tiny_model, tokenizer, prompts, expected
):
    # 32 blocks of 4 hold one max-length sequence: the five requests cannot all grow at once.
    eng = engine(tiny_model, tokenizer, num_blocks=32, max_model_len=128)
    long = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
    outputs = eng.generate(prompts, long)
    assert eng.scheduler.num_preemptions > 0
    assert [o.token_ids[:12] for o in outputs] == expected
    assert eng.blocks.num_free == 32


def test_a_stop_string_ends_the_output_before_it_and_is_never_streamed(
    tiny_model, tokenizer, prompts, expected
):
    text = tokenizer.decode(expected[0])
    stop = text[5:8]
    eng = engine(tiny_model, tokenizer)
    eng.add(
        Sequence(
            "s", prompts[0], SamplingParams(max_tokens=12, temperature=0, stop=(stop,)), tokenizer
        )
    )
    streamed = []
    while eng.has_work():
        streamed += eng.step()
    assert "".join(o.text for o in streamed) == text[: text.index(stop)]
    assert streamed[-1].finish_reason == "stop"
    assert all(stop not in o.text for o in streamed)


def test_eos_stops_unless_ignored(tiny_model, tokenizer, prompts):
    push_eos = ((tokenizer.eos_id, 100.0),)
    eng = engine(tiny_model, tokenizer)
    (stopped,) = eng.generate(
        prompts[:1], SamplingParams(max_tokens=5, temperature=0, logit_bias=push_eos)
    )
    assert (stopped.text, stopped.finish_reason, stopped.completion_tokens) == ("", "stop", 1)
    (ignored,) = eng.generate(
        prompts[:1],
        SamplingParams(max_tokens=5, temperature=0, logit_bias=push_eos, ignore_eos=True),
    )
    assert (ignored.finish_reason, ignored.completion_tokens) == ("length", 5)


def test_aborting_frees_the_blocks_at_once(tiny_model, tokenizer, prompts):
    eng = engine(tiny_model, tokenizer)
    for i, p in enumerate(prompts):
        eng.add(Sequence(f"r{i}", p, GREEDY, tokenizer))
    eng.step()
    assert eng.blocks.usage > 0
    for i in range(len(prompts)):
        eng.abort(f"r{i}")
    assert eng.blocks.num_free == eng.blocks.num_blocks and not eng.has_work()


def test_a_forced_tool_call_comes_out_as_valid_arguments(tiny_model, tokenizer, prompts):
    tool = {
        "name": "ship",
        "parameters": {
            "type": "object",
            "properties": {"express": {"type": "boolean"}, "box": {"enum": ["S", "M", "L"]}},
            "required": ["express", "box"],
            "additionalProperties": False,
        },
    }
    constraint = GrammarFactory(tokenizer, tokenizer.vocab_size).tool_calls(
        [tool], forced=True, single=True
    )
    params = SamplingParams(max_tokens=60, temperature=0, constraint=constraint)
    (out,) = engine(tiny_model, tokenizer).generate(prompts[:1], params)
    assert out.finish_reason == "stop"
    parser = OutputParser(reasoning=False, tools=True)
    parser.feed(out.text)
    parser.finish()
    (call,) = parser.result.tool_calls
    args = json.loads(call.arguments)
    assert call.name == "ship" and isinstance(args["express"], bool) and args["box"] in "SML"
