import json
import time

import pytest
import torch

from modelserver.chat.grammar import GrammarFactory, Matcher, allocate_bitmask, apply_bitmask
from modelserver.chat.parser import OutputParser

ORDER = {
    "name": "get_order",
    "parameters": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "maxLength": 12},
            "express": {"type": "boolean"},
            "count": {"type": "integer", "minimum": 0, "maximum": 99},
            "tags": {"type": "array", "items": {"enum": ["gift", "fragile"]}, "maxItems": 3},
        },
        "required": ["order_id", "express", "count", "tags"],
        "additionalProperties": False,
    },
}
REFUND = {
    "name": "refund",
    "parameters": {
        "type": "object",
        "properties": {"amount": {"type": "number", "minimum": 0, "maximum": 1000}},
        "required": ["amount"],
        "additionalProperties": False,
    },
}


@pytest.fixture(scope="module")
def grammars(tokenizer):
    return GrammarFactory(tokenizer, tokenizer.vocab_size)


def decode_random(tokenizer, constraint, seed: int, first: list[int] = (), limit: int = 400) -> str:
    """Random logits, masked by the grammar: whatever the 'model' prefers, the output is valid."""
    gen = torch.Generator().manual_seed(seed)
    matcher = Matcher(constraint)
    bitmask = allocate_bitmask(1, tokenizer.vocab_size)
    ids = list(first)
    for token in first:
        assert matcher.accept(token)
    while not matcher.terminated and len(ids) < limit:
        logits = torch.randn(1, tokenizer.vocab_size, generator=gen) * 3
        matcher.fill_mask(bitmask, 0)
        apply_bitmask(logits, bitmask, [0])
        token = int(torch.multinomial(logits.softmax(-1)[0], 1, generator=gen))
        assert matcher.accept(token)
        ids.append(token)
    assert matcher.terminated, "the grammar must end the output"
    assert ids[-1] in tokenizer.stop_ids
    return tokenizer.decode(ids[:-1])


def check_order(args: dict) -> None:
    assert set(args) == {"order_id", "express", "count", "tags"}
    assert isinstance(args["order_id"], str) and len(args["order_id"]) <= 12
    assert isinstance(args["express"], bool)
    assert isinstance(args["count"], int) and 0 <= args["count"] <= 99
    assert set(args["tags"]) <= {"gift", "fragile"} and len(args["tags"]) <= 3


@pytest.mark.parametrize("seed", range(6))
def test_forced_calls_are_valid_json_of_the_tools_schema_whatever_the_logits(
    tokenizer, grammars, seed
):
    constraint = grammars.tool_calls([ORDER, REFUND], forced=True, single=False)
    text = decode_random(tokenizer, constraint, seed)
    parser = OutputParser(reasoning=False, tools=True)
    parser.feed(text)
    parser.finish()
    calls = parser.result.tool_calls
    assert calls and parser.result.content is None
    for call in calls:
        args = json.loads(call.arguments)
        if call.name == "get_order":
            check_order(args)
        else:
            assert call.name == "refund" and set(args) == {"amount"} and 0 <= args["amount"] <= 1000


@pytest.mark.parametrize("seed", range(3))
def test_a_named_tool_choice_allows_exactly_one_call_of_that_tool(tokenizer, grammars, seed):
    constraint = grammars.tool_calls([REFUND], forced=True, single=True)
    text = decode_random(tokenizer, constraint, seed)
    assert text.count("<｜tool▁call▁begin｜>") == 1
    assert text.startswith(
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>refund\n```json\n"
    )


def test_markers_are_forced_as_single_tokens(tokenizer, grammars):
    constraint = grammars.tool_calls([REFUND], forced=True, single=True)
    bitmask = allocate_bitmask(1, tokenizer.vocab_size)
    Matcher(constraint).fill_mask(bitmask, 0)
    logits = torch.zeros(1, tokenizer.vocab_size)
    apply_bitmask(logits, bitmask, [0])
    allowed = torch.isfinite(logits[0]).nonzero().flatten().tolist()
    assert allowed == [tokenizer.token_id("<｜tool▁calls▁begin｜>")]


def test_auto_mode_waits_for_the_trigger_token(tokenizer, grammars):
    constraint = grammars.tool_calls([ORDER], forced=False, single=False)
    trigger = tokenizer.token_id("<｜tool▁calls▁begin｜>")
    assert constraint.trigger_id == trigger
    text = decode_random(tokenizer, constraint, 0, first=[trigger])
    parser = OutputParser(reasoning=False, tools=True)
    parser.feed(text)
    parser.finish()
    check_order(json.loads(parser.result.tool_calls[0].arguments))


def test_a_long_string_limit_compiles_fast_and_still_yields_valid_json(tokenizer, grammars):
    note = {
        "name": "note",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 8000}},
            "required": ["text"],
            "additionalProperties": False,
        },
    }
    started = time.monotonic()
    constraint = grammars.tool_calls([note], forced=True, single=True)
    assert time.monotonic() - started < 5
    text = decode_random(tokenizer, constraint, 0)
    parser = OutputParser(reasoning=False, tools=True)
    parser.feed(text)
    parser.finish()
    assert json.loads(parser.result.tool_calls[0].arguments)["text"]
