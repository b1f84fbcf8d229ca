"""R1 chat format: tokenizer, chat template, output parsing and tool-call grammars."""

from modelserver.chat.parser import OutputParser, ParsedOutput, ToolCall
from modelserver.chat.template import render_chat, render_fim, render_reply
from modelserver.chat.tokenizer import IncrementalDetokenizer, Tokenizer

__all__ = [
    "IncrementalDetokenizer",
    "OutputParser",
    "ParsedOutput",
    "Tokenizer",
    "ToolCall",
    "render_chat",
    "render_fim",
    "render_reply",
]
