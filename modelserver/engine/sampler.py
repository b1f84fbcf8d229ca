"""Per-request sampling over a batch of logits: greedy, temperature, top-k, top-p, seed.

Sampling uses the exponential race (argmax of p / q with q ~ Exp(1)), which draws exactly from
p. A request with a seed draws its q from its own generator, so its tokens do not depend on
which other requests share the batch.
"""

from __future__ import annotations

import torch

from modelserver.chat.grammar import allocate_bitmask, apply_bitmask
from modelserver.engine.sequence import Sequence


def apply_top_k_top_p(logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> None:
    """In place. logits [N, V]; top_k [N] (V for off); top_p [N] (1.0 for off)."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # [N, V]
    rank = torch.arange(logits.shape[-1], device=logits.device)
    drop = rank[None, :] >= top_k[:, None]
    probs = sorted_logits.softmax(dim=-1)
    # Mass of the tokens ranked above each one; the top token always stays.
    drop |= (probs.cumsum(dim=-1) - probs) > top_p[:, None]
    sorted_logits.masked_fill_(drop, float("-inf"))
    logits.scatter_(-1, order, sorted_logits)


class Sampler:
    def __init__(self, tokenizer_vocab_size: int) -> None:
        self.tokenizer_vocab_size = tokenizer_vocab_size
        self._bitmask: torch.Tensor | None = None

    def __call__(self, logits: torch.Tensor, seqs: list[Sequence]) -> list[int]:
        """logits [N, V] for the N sequences -> one token id each."""
        logits = logits.float()
        # Ids past the tokenizer (vocab padding) decode to nothing: never sample them.
        logits[:, self.tokenizer_vocab_size :] = float("-inf")
        self._mask(logits, seqs)
        vocab = logits.shape[-1]
        greedy = torch.tensor([s.params.greedy for s in seqs], device=logits.device)
        if bool(greedy.all()):
            return logits.argmax(dim=-1).tolist()
        temps = torch.tensor(
            [1.0 if s.params.greedy else s.params.temperature for s in seqs],
            device=logits.device,
        )
        scaled = logits / temps[:, None]
        top_k = [s.params.top_k if 0 < s.params.top_k < vocab else vocab for s in seqs]
        top_p = [s.params.top_p for s in seqs]
        if any(k < vocab for k in top_k) or any(p < 1.0 for p in top_p):
            apply_top_k_top_p(
                scaled,
                torch.tensor(top_k, device=logits.device),
                torch.tensor(top_p, device=logits.device, dtype=scaled.dtype),
            )
        probs = scaled.softmax(dim=-1)
        q = torch.empty_like(probs).exponential_()
        for i, seq in enumerate(seqs):
            if seq.generator is not None:
                q[i].exponential_(generator=seq.generator)
        sampled = (probs / q).argmax(dim=-1)
        return torch.where(greedy, logits.argmax(dim=-1), sampled).tolist()

    def _mask(self, logits: torch.Tensor, seqs: list[Sequence]) -> None:
        for i, seq in enumerate(seqs):
            for token_id, bias in seq.params.logit_bias:
                logits[i, token_id] += bias
            if seq.params.banned_token_ids:
                logits[i, list(seq.params.banned_token_ids)] = float("-inf")
        rows = [i for i, s in enumerate(seqs) if s.matcher is not None]
        if not rows:
            return
        n, vocab = logits.shape
        if self._bitmask is None or self._bitmask.shape[0] < n:
            self._bitmask = allocate_bitmask(max(n, 8), vocab)
        for i in rows:
            seqs[i].matcher.fill_mask(self._bitmask, i)
        apply_bitmask(logits, self._bitmask, rows)
