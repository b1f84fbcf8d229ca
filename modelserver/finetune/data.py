"""Fine-tuning data: one row per privacy unit (a customer), never one per message.

A unit is its id, the system prompt its dialogues were answered under (the shop's own text, with
no customer's name: the same for every customer of a language, so each distinct prompt runs once
per step, as a cached prefix) and its dialogues, OpenAI-style messages without the system prompt. A unit's dialogues are
packed into one row (`modelserver.demo.train.Row`), each in its own segment so that no dialogue
sees another; the unit contributes at most `max_tokens` tokens (whole dialogues, in order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from assistant.agent import spec
from modelserver.chat.template import render_chat
from modelserver.demo.train import Row, dialogue_row


@dataclass
class Unit:
    unit: str
    system: str
    dialogues: list[list[dict]]


def prefix_text(system: str) -> str:
    return render_chat(
        [{"role": "system", "content": system}], spec.TOOLS, add_generation_prompt=False
    )


def unit_row(tok, system: str, dialogues: list[list[dict]], max_tokens: int) -> Row | None:
    """The unit's dialogues as one row of segments, or None if none fits or none has a target."""
    prefix = prefix_text(system)
    row = Row([], [], [], [], [], [])
    for k, messages in enumerate(dialogues):
        part = dialogue_row(tok, [{"role": "system", "content": system}, *messages], prefix)
        if len(row.ids) + len(part.ids) > max_tokens:
            continue  # a later, shorter dialogue may still fit
        row.ids += part.ids
        row.positions += part.positions
        row.branch += part.branch
        row.labels += part.labels
        row.context += [-100] * len(part.ids)
        row.segment += [k] * len(part.ids)
    if not any(label != -100 for label in row.labels):
        return None
    return row


def tool_checks(messages: list[dict]) -> list[dict]:
    """What the evaluation expects at each assistant turn of a stored dialogue (with the system
    prompt first): the call it made, or an answer (no facts to check: stored answers have no
    reference facts)."""
    checks = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        if m.get("tool_calls"):
            call = m["tool_calls"][0]["function"]
            checks.append(
                {
                    "index": i,
                    "intent": "",
                    "tool": call["name"],
                    "arguments": json.loads(call["arguments"] or "{}"),
                }
            )
        else:
            checks.append({"index": i, "intent": "", "facts": []})
    return checks
