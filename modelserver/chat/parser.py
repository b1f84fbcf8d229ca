"""Streaming parser for R1 output: reasoning, answer and tool calls, from text deltas.

The generated text runs `reasoning </think> content <｜tool▁calls▁begin｜> calls <｜tool▁calls▁end｜>`.
`feed(delta)` returns the events the delta completes; text that might be the start of a marker
is held back until the next delta decides, so no marker is ever split across two events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from modelserver.chat.template import (
    ASSISTANT,
    CALL_BEGIN,
    CALL_END,
    CALLS_BEGIN,
    CALLS_END,
    OUTPUT_BEGIN,
    OUTPUT_END,
    OUTPUTS_BEGIN,
    OUTPUTS_END,
    THINK_CLOSE,
    THINK_OPEN,
    TOOL_SEP,
    USER,
)

# Markers that mean nothing where they stand (a weak model writes a call's end without its
# beginning, or a turn marker): dropped, so the reader never sees them.
_STRAY = (CALL_BEGIN, CALL_END, CALLS_END, TOOL_SEP, OUTPUTS_BEGIN, OUTPUTS_END, OUTPUT_BEGIN)
_STRAY += (OUTPUT_END, USER, ASSISTANT)

_ARGS_OPEN = "\n```json\n"
# A JSON string cannot hold a raw newline, so this cannot occur inside the arguments.
_ARGS_CLOSE = ("\n```" + CALL_END,)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class Event:
    """One streaming delta: reasoning text, answer text, or a piece of tool call `tool_index`
    (the call's first event carries `tool_call`, with its id and name)."""

    reasoning: str | None = None
    content: str | None = None
    tool_index: int | None = None
    tool_call: ToolCall | None = None  # set on the first event of a call (id and name)
    tool_args: str | None = None


@dataclass
class ParsedOutput:
    reasoning: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


def _held_back(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of one of `markers`."""
    best = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(text)), best, -1):
            if text.endswith(marker[:n]):
                best = n
                break
    return best


class OutputParser:
    def __init__(self, *, reasoning: bool = True, tools: bool = False) -> None:
        # The generation prompt opened `<think>`, so the output starts inside the reasoning.
        self._state = "reasoning" if reasoning else "content"
        self._tools = tools
        self._buf = ""
        self._at_start = True  # strip the newlines that open the reasoning or the answer
        self.result = ParsedOutput()
        self._call: ToolCall | None = None

    def feed(self, delta: str) -> list[Event]:
        self._buf += delta
        events: list[Event] = []
        while self._step(events, final=False):
            pass
        return events

    def finish(self) -> list[Event]:
        """End of output: flush held-back text (an unfinished marker is just text).
        `result` then holds the whole parsed output."""
        events: list[Event] = []
        while self._step(events, final=True):
            pass
        return events

    # One transition; returns True when it consumed something and should run again.
    def _step(self, events: list[Event], final: bool) -> bool:
        state = self._state
        if state == "done":
            self._buf = ""
            return False
        if state in ("reasoning", "content"):
            markers = (THINK_CLOSE, THINK_OPEN) if state == "reasoning" else ()
            if self._tools:
                markers += (CALLS_BEGIN,)
            return self._text_state(events, final, markers)
        if state == "between":
            return self._between(final)
        if state == "header":
            return self._header(events, final)
        return self._args(events, final)

    def _emit_text(self, events: list[Event], text: str) -> None:
        if not text:
            return
        if self._at_start:
            text = text.lstrip("\n")
            if not text:
                return
            self._at_start = False
        if self._state == "reasoning":
            self.result.reasoning = (self.result.reasoning or "") + text
            events.append(Event(reasoning=text))
        else:
            self.result.content = (self.result.content or "") + text
            events.append(Event(content=text))

    def _text_state(self, events: list[Event], final: bool, markers: tuple[str, ...]) -> bool:
        markers += _STRAY
        hits = [(self._buf.find(m), m) for m in markers if m in self._buf]
        if hits:
            index, marker = min(hits)
            self._emit_text(events, self._buf[:index])
            self._buf = self._buf[index + len(marker) :]
            if marker == THINK_OPEN or marker in _STRAY:  # carries nothing here
                return True
            self._state = "content" if marker == THINK_CLOSE else "between"
            self._at_start = self._at_start or marker == THINK_CLOSE
            return True
        keep = 0 if final else _held_back(self._buf, markers)
        self._emit_text(events, self._buf[: len(self._buf) - keep])
        self._buf = self._buf[len(self._buf) - keep :]
        return False

    def _between(self, final: bool) -> bool:
        """Between calls only the next call or the end of the calls may come."""
        buf = self._buf.lstrip()
        for marker, state in ((CALL_BEGIN, "header"), (CALLS_END, "done")):
            if buf.startswith(marker):
                self._buf, self._state = buf[len(marker) :], state
                return True
        if not final and (CALL_BEGIN.startswith(buf) or CALLS_END.startswith(buf)):
            self._buf = buf
            return False
        # Stray text (only possible without the grammar) carries no call: skip to a marker.
        hits = [buf.find(m) for m in (CALL_BEGIN, CALLS_END) if m in buf]
        self._buf = buf[min(hits) :] if hits else ""
        return bool(hits)

    def _header(self, events: list[Event], final: bool) -> bool:
        """`function<｜tool▁sep｜>{name}\\n```json\\n`: the call starts once its name is known."""
        if self._call is None:
            sep = self._buf.find(TOOL_SEP)
            newline = self._buf.find("\n", sep + 1) if sep >= 0 else -1
            if newline < 0:
                if final:
                    self._buf = ""
                return False
            name = self._buf[sep + len(TOOL_SEP) : newline].strip()
            self._call = ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name)
            self.result.tool_calls.append(self._call)
            index = len(self.result.tool_calls) - 1
            events.append(Event(tool_index=index, tool_call=self._call, tool_args=""))
            self._buf = self._buf[newline:]
        opener = _ARGS_OPEN
        if self._buf.startswith(opener):
            self._buf = self._buf[len(opener) :]
            self._state = "args"
            return True
        if opener.startswith(self._buf) and not final:
            return False
        self._buf = self._buf.lstrip("\n")  # lenient: arguments without the ```json fence
        self._state = "args"
        return True

    def _args(self, events: list[Event], final: bool) -> bool:
        assert self._call is not None
        index = len(self.result.tool_calls) - 1
        hits = [(self._buf.find(m), m) for m in _ARGS_CLOSE if m in self._buf]
        if hits:
            end, marker = min(hits)
            text, self._buf = self._buf[:end], self._buf[end + len(marker) :]
            self._state, self._call = "between", None
            done = True
        else:
            keep = 0 if final else _held_back(self._buf, _ARGS_CLOSE)
            text, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
            done = False
        if text:
            self.result.tool_calls[index].arguments += text
            events.append(Event(tool_index=index, tool_args=text))
        return done
