"""The checkpoint's tokenizer (`tokenizer.json` + `tokenizer_config.json`) through HF `tokenizers`.

Besides encode/decode it knows each token's raw bytes, which serves two consumers: the grammar
matcher (masks are computed over bytes) and the incremental detokeniser (which must never emit
half a UTF-8 character while a Chinese character is still split across byte-level tokens).
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"


def _byte_level_table() -> dict[str, int]:
    """GPT-2's byte-to-unicode map, inverted: the printable stand-in character -> the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def _token_text(value: object) -> str | None:
    """tokenizer_config.json writes special tokens as a string or as an AddedToken dict."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class Tokenizer:
    """Encode/decode plus the ids the server needs (bos, eos, R1's markers) and token bytes."""

    def __init__(self, model_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        self._tok = HFTokenizer.from_file(str(model_dir / "tokenizer.json"))
        config_path = model_dir / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        self.bos_token = _token_text(config.get("bos_token")) or BOS
        self.eos_token = _token_text(config.get("eos_token")) or EOS
        self.add_bos = bool(config.get("add_bos_token", True))
        self.vocab_size = self._tok.get_vocab_size()
        self.bos_id = self._require_id(self.bos_token)
        self.eos_id = self._require_id(self.eos_token)
        self.stop_ids = {self.eos_id} | self._generation_eos_ids(model_dir)
        self._added = {t.content for t in self._tok.get_added_tokens_decoder().values()}
        self._token_bytes: list[bytes] | None = None

    def _require_id(self, token: str) -> int:
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise ValueError(f"tokenizer has no token {token!r}")
        return token_id

    @staticmethod
    def _generation_eos_ids(model_dir: Path) -> set[int]:
        path = model_dir / "generation_config.json"
        if not path.exists():
            return set()
        eos = json.loads(path.read_text()).get("eos_token_id")
        if eos is None:
            return set()
        return set(eos) if isinstance(eos, list) else {eos}

    def token_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Markers written in `text` (e.g. `<｜User｜>`) become their single added tokens."""
        ids = self._tok.encode(text, add_special_tokens=False).ids
        return [self.bos_id, *ids] if add_bos else ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    @property
    def token_bytes(self) -> list[bytes]:
        """Raw bytes of every token id (added tokens: their UTF-8 text)."""
        if self._token_bytes is None:
            decoder = json.loads(self._tok.to_str()).get("decoder") or {}
            byte_level = decoder.get("type") == "ByteLevel"
            table = _byte_level_table()
            out = []
            for i in range(self.vocab_size):
                piece = self._tok.id_to_token(i)
                if piece is None:
                    out.append(b"")
                elif piece in self._added or not byte_level:
                    out.append(
                        piece.encode() if piece in self._added else self.decode([i]).encode()
                    )
                else:
                    out.append(bytes(table[c] for c in piece))
            self._token_bytes = out
        return self._token_bytes


class IncrementalDetokenizer:
    """Token ids in, text out; a character split across tokens is held until it is complete.

    Invalid byte sequences become U+FFFD exactly as `Tokenizer.decode` does for the whole text.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._bytes = tokenizer.token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._decoder.decode(self._bytes[token_id])

    def flush(self) -> str:
        """At the end of the output: whatever is left over is an incomplete character."""
        return self._decoder.decode(b"", final=True)
