"""Tool-call grammars: arguments constrained to each tool's JSON schema while decoding.

Built on xgrammar's structural tags. The grammar covers the whole tool-call section:

    <｜tool▁calls▁begin｜> call ("\\n" call)* <｜tool▁calls▁end｜> eos
    call = <｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\\n```json\\n{arguments}\\n```<｜tool▁call▁end｜>

With `tool_choice="auto"` the model writes freely until it samples `<｜tool▁calls▁begin｜>`; the
engine then starts the matcher (feeding it that token) and from there every token is masked.
With `required` or a named tool the matcher runs from the first generated token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
import xgrammar as xgr

from modelserver.chat.template import CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, TOOL_SEP
from modelserver.chat.tokenizer import Tokenizer


class GrammarError(ValueError):
    """A tool schema that cannot be turned into a grammar (the server answers 400)."""


@dataclass(frozen=True)
class ToolConstraint:
    """What the engine needs for one request: the grammar, and when it starts."""

    grammar: xgr.CompiledGrammar
    trigger_id: int | None  # None: constrained from the first token; else: once this is sampled


# xgrammar (0.2.8) turns a string with minLength/maxLength into "any {min,max} characters but
# quote, backslash, CR and LF", which lets control characters through (invalid JSON). A pattern
# keeps JSON's character rules instead (no escapes inside). Short limits stay exact; a long
# bounded repetition ({0,8000}) takes minutes to compile and trips an xgrammar check, so past
# _MAX_BOUNDED the pattern is unbounded and the limit is left to the caller's validation.
_LENGTH_KEYS = ("minLength", "maxLength")
_MAX_BOUNDED = 64
_JSON_CHAR = '[^\\u0000-\\u001f"\\\\]'


def _strict_strings(schema: object) -> object:
    if isinstance(schema, list):
        return [_strict_strings(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict_strings(v) for k, v in schema.items()}
    if (
        out.get("type") == "string"
        and any(k in out for k in _LENGTH_KEYS)
        and not any(k in out for k in ("pattern", "format", "enum", "const"))
    ):
        low, high = min(out.pop("minLength", 0), _MAX_BOUNDED), out.pop("maxLength", None)
        bounded = high is not None and high <= _MAX_BOUNDED
        out["pattern"] = f"^{_JSON_CHAR}{{{low},{high if bounded else ''}}}$"
    return out


class GrammarFactory:
    """Compiles (and caches: tool lists repeat in every request) tool-call grammars."""

    def __init__(self, tokenizer: Tokenizer, model_vocab_size: int) -> None:
        # The model's vocab may be padded past the tokenizer's; padding ids are never allowed.
        vocab = tokenizer.token_bytes + [b""] * (model_vocab_size - tokenizer.vocab_size)
        info = xgr.TokenizerInfo(
            vocab,
            xgr.VocabType.RAW,
            vocab_size=model_vocab_size,
            stop_token_ids=sorted(tokenizer.stop_ids),
        )
        self._compiler = xgr.GrammarCompiler(info, max_threads=1)
        self._trigger_id = tokenizer.token_id(CALLS_BEGIN)

    def tool_calls(self, functions: list[dict], *, forced: bool, single: bool) -> ToolConstraint:
        # Markers must be their single tokens: spelled out in bytes they would read the same
        # but cost a dozen tokens each (a random model happily does that).
        def token(text: str) -> dict:
            return {"type": "token", "token": text}

        def const(text: str) -> dict:
            return {"type": "const_string", "value": text}

        one_call = [
            {
                "type": "sequence",
                "elements": [
                    const(f"{f['name']}\n```json\n"),
                    {
                        "type": "json_schema",
                        "json_schema": _strict_strings(f["parameters"]),
                        "max_whitespace_cnt": 1,  # compact JSON, no runs of blank lines
                    },
                    const("\n```"),
                ],
            }
            for f in functions
        ]
        call = {
            "type": "tag",
            "begin": token(CALL_BEGIN),
            "content": {
                "type": "sequence",
                "elements": [
                    const("function"),
                    token(TOOL_SEP),
                    {"type": "or", "elements": one_call} if len(one_call) > 1 else one_call[0],
                ],
            },
            "end": token(CALL_END),
        }
        calls = {
            "type": "tags_with_separator",
            "tags": [call],
            "separator": "\n",
            "at_least_one": True,
            "stop_after_first": single,
        }
        spec = {
            "type": "structural_tag",
            "format": {
                "type": "sequence",
                "elements": [token(CALLS_BEGIN), calls, token(CALLS_END)],
            },
        }
        try:
            grammar = self._compiler.compile_structural_tag(json.dumps(spec, ensure_ascii=False))
        except RuntimeError as exc:  # xgrammar's error for a schema it cannot compile
            raise GrammarError(str(exc).strip().rsplit(": ", 1)[-1]) from None
        return ToolConstraint(grammar, None if forced else self._trigger_id)


class Matcher:
    """One request's grammar state; the engine asks it for masks and feeds it sampled tokens."""

    def __init__(self, constraint: ToolConstraint) -> None:
        self._matcher = xgr.GrammarMatcher(constraint.grammar)

    def fill_mask(self, bitmask: torch.Tensor, row: int) -> None:
        self._matcher.fill_next_token_bitmask(bitmask, row)

    def accept(self, token_id: int) -> bool:
        return self._matcher.accept_token(token_id)

    @property
    def terminated(self) -> bool:
        """The grammar is complete and its stop token was accepted."""
        return self._matcher.is_terminated()


def allocate_bitmask(batch: int, vocab_size: int) -> torch.Tensor:
    return xgr.allocate_token_bitmask(batch, vocab_size)


def apply_bitmask(logits: torch.Tensor, bitmask: torch.Tensor, rows: list[int]) -> None:
    """Set the disallowed tokens of `rows` to -inf. logits [B, V], bitmask [B, ceil(V/32)]."""
    xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device), indices=rows)
