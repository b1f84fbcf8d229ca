"""The R1 chat template (DESIGN.md §3), in Python rather than Jinja so it can be tested directly.

    <｜begin▁of▁sentence｜>{system}{tools}<｜User｜>{user}<｜Assistant｜>{reply}<｜end▁of▁sentence｜>

- Earlier turns' reasoning is dropped: an assistant message renders only its final answer
  (`reasoning_content` and any `<think>…</think>` in `content` are left out).
- Tool calls and tool outputs use R1's markers. As in DeepSeek's own template, tool outputs
  continue the assistant's turn: the answer that follows them has no `<｜Assistant｜>` marker.
- The generation prompt opens the reasoning (`<think>\n`); with thinking off it is an empty
  thought (`<think>\n\n</think>\n\n`), which is also what a forced tool call uses.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelserver.chat.tokenizer import BOS, EOS

USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
TOOL_SEP = "<｜tool▁sep｜>"
OUTPUTS_BEGIN = "<｜tool▁outputs▁begin｜>"
OUTPUTS_END = "<｜tool▁outputs▁end｜>"
OUTPUT_BEGIN = "<｜tool▁output▁begin｜>"
OUTPUT_END = "<｜tool▁output▁end｜>"
FIM_BEGIN = "<｜fim▁begin｜>"
FIM_HOLE = "<｜fim▁hole｜>"
FIM_END = "<｜fim▁end｜>"

GENERATION_THINKING = f"{THINK_OPEN}\n"
GENERATION_NO_THINKING = f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TemplateError(ValueError):
    """A request whose messages or tools cannot be rendered (the server answers 400)."""


def tool_call_text(name: str, arguments: str) -> str:
    """One call as R1 writes it; the grammar and the output parser use the same pieces."""
    return f"{CALL_BEGIN}function{TOOL_SEP}{name}\n```json\n{arguments}\n```{CALL_END}"


# Text from messages is untrusted: a customer who types "<｜tool▁outputs▁begin｜>" must not get
# the real marker token (the tokenizer matches added tokens anywhere), or they could forge tool
# results or end the assistant's turn. Such strings are rewritten with ASCII bars / a space, so
# they read the same to a person and tokenize as ordinary text.
_MARKER_LIKE = re.compile(r"<｜[^<>｜]{0,40}｜>|</?think>")


def neutralize_markers(text: str) -> str:
    return _MARKER_LIKE.sub(
        lambda m: m.group(0).replace("｜", "|") if "｜" in m.group(0) else m.group(0)[:-1] + " >",
        text,
    )


def _text(content: Any, role: str) -> str:
    """OpenAI content is a string, null, or a list of parts; only text parts are supported."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise TemplateError(f"{role} message: content part type {kind!r} not supported")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise TemplateError(f"{role} message: content must be a string or a list of text parts")


def validate_tools(tools: list[dict] | None) -> list[dict]:
    """Return the `function` objects of OpenAI `tools`, checked."""
    functions = []
    for tool in tools or []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise TemplateError("tools: only tools of type 'function' are supported")
        function = tool.get("function")
        if not isinstance(function, dict) or not _TOOL_NAME.match(str(function.get("name", ""))):
            raise TemplateError("tools: each function needs a name of 1-64 [A-Za-z0-9_-]")
        params = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict):
            raise TemplateError(f"tools: parameters of {function['name']!r} must be an object")
        functions.append({**function, "parameters": params})
    names = [f["name"] for f in functions]
    if len(set(names)) != len(names):
        raise TemplateError("tools: function names must be unique")
    return functions


def _render_tools(functions: list[dict]) -> str:
    lines = [
        "## Tools",
        "",
        "You can call the following tools. To call tools, answer with",
        f"{CALLS_BEGIN}{tool_call_text('NAME', 'ARGUMENTS')}{CALLS_END}",
        "where ARGUMENTS is a JSON object that matches the tool's parameters. "
        "Several calls are separated by a newline.",
    ]
    for f in functions:
        lines += ["", f"### {f['name']}"]
        if f.get("description"):
            lines.append(neutralize_markers(str(f["description"])))
        lines.append("Parameters: " + json.dumps(f["parameters"], ensure_ascii=False))
    return "\n".join(lines)


def _strip_reasoning(content: str) -> str:
    return content.split(THINK_CLOSE)[-1].lstrip("\n") if THINK_CLOSE in content else content


def _render_tool_calls(calls: list[dict]) -> str:
    rendered = []
    for call in calls:
        function = call.get("function") or {}
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        rendered.append(
            tool_call_text(str(function.get("name", "")), neutralize_markers(arguments))
        )
    return CALLS_BEGIN + "\n".join(rendered) + CALLS_END


def render_chat(
    messages: list[dict],
    tools: list[dict] | None = None,
    *,
    add_generation_prompt: bool = True,
    thinking: bool = True,
) -> str:
    """Render OpenAI-style messages (and `tools`) as one R1 prompt string, bos included."""
    if not messages:
        raise TemplateError("messages must not be empty")
    system = [
        neutralize_markers(_text(m.get("content"), m["role"]))
        for m in messages
        if m.get("role") in ("system", "developer")
    ]
    functions = validate_tools(tools)
    if functions:
        system.append(_render_tools(functions))
    out = [BOS, "\n\n".join(system)]
    pending_outputs: list[str] = []  # consecutive tool messages form one outputs block
    after_tool_outputs = False

    def flush_outputs() -> None:
        nonlocal after_tool_outputs
        if pending_outputs:
            out.append(OUTPUTS_BEGIN + "\n".join(pending_outputs) + OUTPUTS_END)
            pending_outputs.clear()
            after_tool_outputs = True

    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            continue
        if role == "tool":
            pending_outputs.append(
                OUTPUT_BEGIN + neutralize_markers(_text(m.get("content"), role)) + OUTPUT_END
            )
            continue
        flush_outputs()
        if role == "user":
            out.append(USER + neutralize_markers(_text(m.get("content"), role)))
            after_tool_outputs = False
        elif role == "assistant":
            reply = neutralize_markers(_strip_reasoning(_text(m.get("content"), role)))
            if m.get("tool_calls"):
                reply += _render_tool_calls(m["tool_calls"])
            out.append(("" if after_tool_outputs else ASSISTANT) + reply + EOS)
            after_tool_outputs = False
        else:
            raise TemplateError(f"unknown message role {role!r}")
    flush_outputs()
    if add_generation_prompt:
        opening = GENERATION_THINKING if thinking else GENERATION_NO_THINKING
        out.append(("" if after_tool_outputs else ASSISTANT) + opening)
    return "".join(out)


def render_reply(
    content: str | None,
    *,
    reasoning: str | None = None,
    tool_calls: list[dict] | None = None,
    thinking: bool = True,
) -> str:
    """What the model writes after the generation prompt, eos included: the training target
    for a turn (the output parser reads it back into the same parts)."""
    out = f"{reasoning or ''}\n{THINK_CLOSE}\n\n" if thinking else ""
    out += content or ""
    if tool_calls:
        out += _render_tool_calls(tool_calls)
    return out + EOS


def render_fim(prefix: str, suffix: str) -> str:
    """Fill-in-the-middle prompt (bos included): the model writes the text between the two."""
    return f"{BOS}{FIM_BEGIN}{neutralize_markers(prefix)}{FIM_HOLE}{neutralize_markers(suffix)}{FIM_END}"
