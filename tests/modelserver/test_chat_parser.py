import json

import pytest

from modelserver.chat.parser import OutputParser
from modelserver.chat.template import render_reply

CALL = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\n```json\n{args}\n```<｜tool▁call▁end｜>"
TWO_CALLS = (
    "Let me look.\n</think>\n\nChecking."
    "<｜tool▁calls▁begin｜>"
    + CALL.format(name="get_order", args='{"order_id": "A-1"}')
    + "\n"
    + CALL.format(name="track", args='{"code": "x`y", "n": [1, 2]}')
    + "<｜tool▁calls▁end｜>"
)


def parse_whole(text: str, **kw) -> OutputParser:
    parser = OutputParser(**kw)
    parser.feed(text)
    parser.finish()
    return parser


def replay_stream(text: str, pieces: list[int], **kw):
    """Feed `text` cut at `pieces`, and rebuild the message from the streamed events."""
    parser = OutputParser(**kw)
    events, start = [], 0
    for end in [*pieces, len(text)]:
        events += parser.feed(text[start:end])
        start = end
    events += parser.finish()
    reasoning = "".join(e.reasoning for e in events if e.reasoning is not None)
    content = "".join(e.content for e in events if e.content is not None)
    calls: list[dict] = []
    for e in events:
        if e.tool_call is not None:
            assert e.tool_index == len(calls)
            calls.append({"id": e.tool_call.id, "name": e.tool_call.name, "arguments": ""})
        if e.tool_args:
            calls[e.tool_index]["arguments"] += e.tool_args
    return reasoning, content, calls, parser


def test_reasoning_and_answer_are_split_at_the_closing_think_tag():
    result = parse_whole("I should greet.\n</think>\n\nHello!").result
    assert (result.reasoning, result.content, result.tool_calls) == (
        "I should greet.\n",
        "Hello!",
        [],
    )


def test_output_without_a_closing_tag_is_all_reasoning():
    result = parse_whole("still thinking").result
    assert (result.reasoning, result.content) == ("still thinking", None)


def test_with_thinking_off_everything_is_the_answer():
    result = parse_whole("Hello </think> there", reasoning=False).result
    assert (result.reasoning, result.content) == (None, "Hello </think> there")


def test_two_tool_calls_are_parsed_with_their_arguments():
    result = parse_whole(TWO_CALLS, tools=True).result
    assert result.reasoning == "Let me look.\n"
    assert result.content == "Checking."
    assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("get_order", {"order_id": "A-1"}),
        ("track", {"code": "x`y", "n": [1, 2]}),
    ]
    assert len({c.id for c in result.tool_calls}) == 2


def test_without_tools_the_markers_stay_text():
    result = parse_whole("</think>" + TWO_CALLS.split("</think>")[1], tools=False).result
    assert result.content.startswith("Checking.<｜tool▁calls▁begin｜>")


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_streaming_in_any_cut_rebuilds_the_same_message(step):
    whole = parse_whole(TWO_CALLS, tools=True).result
    reasoning, content, calls, _ = replay_stream(
        TWO_CALLS, list(range(step, len(TWO_CALLS), step)), tools=True
    )
    assert reasoning == whole.reasoning and content == whole.content
    assert [(c["name"], c["arguments"]) for c in calls] == [
        (c.name, c.arguments) for c in whole.tool_calls
    ]


def test_streamed_events_never_contain_part_of_a_marker():
    parser = OutputParser(tools=True)
    texts = []
    for ch in TWO_CALLS:
        for e in parser.feed(ch):
            texts += [e.reasoning, e.content, e.tool_args]
    streamed = "".join(t for t in texts if t)
    assert "<｜" not in streamed and "</think" not in streamed and "```" not in streamed


def test_a_call_is_announced_as_soon_as_its_name_is_complete():
    parser = OutputParser(reasoning=False, tools=True)
    assert (
        parser.feed("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_or") == []
    )
    (event,) = parser.feed("der\n")
    assert (event.tool_index, event.tool_call.name, event.tool_args) == (0, "get_order", "")
    assert [e.tool_args for e in parser.feed('```json\n{"a"')] == ['{"a"']


def test_a_marker_prefix_that_turns_out_to_be_text_is_released():
    events = OutputParser(tools=True).feed("x </thi")
    assert "".join(e.reasoning for e in events) == "x "
    parser = OutputParser(tools=True)
    parser.feed("x </thi")
    assert [e.reasoning for e in parser.feed("s is text")] == ["</this is text"]


def test_unfinished_arguments_are_flushed_at_the_end():
    text = (
        '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{"a": 1\n``'
    )
    result = parse_whole(text, reasoning=False, tools=True).result
    assert result.tool_calls[0].arguments == '{"a": 1\n``'


def test_a_rendered_reply_parses_back_into_its_parts():
    calls = [
        {"type": "function", "function": {"name": "get_order", "arguments": '{"order_id": "A-1"}'}}
    ]
    text = render_reply("On it.", reasoning="The user wants A-1.", tool_calls=calls)
    assert text.endswith("<｜end▁of▁sentence｜>")
    result = parse_whole(text.removesuffix("<｜end▁of▁sentence｜>"), tools=True).result
    assert (result.reasoning, result.content) == ("The user wants A-1.\n", "On it.")
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("get_order", '{"order_id": "A-1"}')
    ]


@pytest.mark.parametrize("tools", [True, False])
def test_stray_markers_never_reach_the_reader(tools):
    # What a weak model wrote: the end of a call it never began, and a turn marker.
    text = "\n</think>\n\nYour order ships today.```<｜tool▁call▁end｜><｜tool▁calls▁end｜> Bye<｜User｜>"
    whole = parse_whole(text, tools=tools)
    assert whole.result.content == "Your order ships today.``` Bye"
    assert whole.result.tool_calls == []
    for cut in range(1, len(text)):
        _, content, calls, _ = replay_stream(text, [cut], tools=tools)
        assert content == "Your order ships today.``` Bye" and calls == []
