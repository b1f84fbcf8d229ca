"""The demo model's tokenizer: byte-level BPE trained on the corpus, with R1's special tokens, and
a `tokenizer_config.json` whose Jinja chat template renders what `render_chat` renders.

Numbers are split into chunks of two digits, each one token (all of 00-99 are in the vocabulary), so
an order or tracking number is a few tokens from a hundred that rarely repeat within it: copying it
into a tool call is the plain induction a small model learns (one token per digit repeats digits
inside most numbers, which single-token induction cannot resolve). Chinese characters are split one
per token so that unseen phrasings reuse the characters the model knows.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from modelserver.chat import template as t
from modelserver.testing import ADDED_TOKENS, SPECIAL_TOKENS

BOS, EOS, PAD = SPECIAL_TOKENS

# The same text as modelserver.chat.template.render_chat for text-only messages and tools.
_TOOLS_HEADER = "\n".join(
    [
        "## Tools",
        "",
        "You can call the following tools. To call tools, answer with",
        f"{t.CALLS_BEGIN}{t.tool_call_text('NAME', 'ARGUMENTS')}{t.CALLS_END}",
        "where ARGUMENTS is a JSON object that matches the tool's parameters. "
        "Several calls are separated by a newline.",
    ]
)
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- set ns = namespace(n=0, outputs=false, after=false) -%}"
    "{%- for m in messages if m.role in ['system', 'developer'] -%}"
    "{%- if ns.n > 0 %}{{ '\\n\\n' }}{% endif -%}{{- m.content -}}{%- set ns.n = ns.n + 1 -%}"
    "{%- endfor -%}"
    "{%- if tools -%}"
    "{%- if ns.n > 0 %}{{ '\\n\\n' }}{% endif -%}{{- " + json.dumps(_TOOLS_HEADER) + " -}}"
    "{%- for tool in tools -%}{%- set f = tool.function -%}"
    "{{- '\\n\\n### ' + f.name -}}"
    "{%- if f.description %}{{ '\\n' + f.description }}{% endif -%}"
    "{{- '\\nParameters: ' + ((f.parameters if f.parameters is defined else "
    "{'type': 'object', 'properties': {}}) | tojson) -}}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- for m in messages if m.role not in ['system', 'developer'] -%}"
    "{%- if m.role == 'tool' -%}"
    "{%- if ns.outputs %}{{ '\\n' }}{% else %}{{ '" + t.OUTPUTS_BEGIN + "' }}{% endif -%}"
    "{%- set ns.outputs = true -%}"
    "{{- '" + t.OUTPUT_BEGIN + "' + m.content + '" + t.OUTPUT_END + "' -}}"
    "{%- else -%}"
    "{%- if ns.outputs %}{{ '" + t.OUTPUTS_END + "' }}"
    "{%- set ns.outputs = false %}{%- set ns.after = true %}{% endif -%}"
    "{%- if m.role == 'user' -%}"
    "{{- '" + t.USER + "' + m.content -}}{%- set ns.after = false -%}"
    "{%- else -%}"
    "{%- set c = m.content or '' -%}"
    "{%- if '"
    + t.THINK_CLOSE
    + "' in c %}{% set c = c.split('"
    + t.THINK_CLOSE
    + "')[-1].lstrip('\\n') %}{% endif -%}"
    "{%- if not ns.after %}{{ '" + t.ASSISTANT + "' }}{% endif -%}{{- c -}}"
    "{%- if m.tool_calls -%}{{- '" + t.CALLS_BEGIN + "' -}}"
    "{%- for call in m.tool_calls -%}"
    "{%- if not loop.first %}{{ '\\n' }}{% endif -%}"
    "{{- '"
    + t.CALL_BEGIN
    + "function"
    + t.TOOL_SEP
    + "' + call.function.name + '\\n```json\\n' -}}"
    "{%- if call.function.arguments is string %}{{ call.function.arguments }}"
    "{%- else %}{{ call.function.arguments | tojson }}{% endif -%}"
    "{{- '\\n```" + t.CALL_END + "' -}}"
    "{%- endfor -%}{{- '" + t.CALLS_END + "' -}}{%- endif -%}"
    "{{- '" + EOS + "' -}}{%- set ns.after = false -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if ns.outputs %}{{ '" + t.OUTPUTS_END + "' }}{% set ns.after = true %}{% endif -%}"
    "{%- if add_generation_prompt -%}"
    "{%- if not ns.after %}{{ '" + t.ASSISTANT + "' }}{% endif -%}"
    "{%- if thinking is defined and not thinking %}{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}{{ '<think>\\n' }}{% endif -%}"
    "{%- endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE; bos/eos/pad at ids 0-2, R1's markers as added tokens after the merges."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\p{N}{1,2}"), behavior="isolated"),
            # One token per Chinese character: unseen phrasings reuse the characters it knows.
            pre_tokenizers.Split(Regex(r"\p{Han}"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Merges are learnt from the text between the markers (which become single tokens anyway).
    markers = re.compile("|".join(re.escape(x) for x in SPECIAL_TOKENS + ADDED_TOKENS))
    # Every two-digit chunk repeated, so that each becomes one token whatever the corpus holds.
    chunks = [" ".join(f"{n:02d}" for n in range(100))] * 1000
    pieces = (piece for text in texts for piece in markers.split(text))
    tok.train_from_iterator(itertools.chain(chunks, pieces), trainer=trainer)
    missing = [f"{n:02d}" for n in range(100) if len(tok.encode(f"{n:02d}").ids) != 1]
    if missing:
        raise ValueError(f"vocabulary of {vocab_size} is too small: {missing[:5]} are not tokens")
    tok.add_tokens([AddedToken(x, special=False, normalized=False) for x in ADDED_TOKENS])
    return tok


def tokenizer_config(max_length: int) -> dict:
    return {
        "add_bos_token": True,  # as R1's; the chat template writes bos itself
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }


def save(tok: Tokenizer, out: Path, max_length: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(max_length), ensure_ascii=False, indent=2) + "\n"
    )
