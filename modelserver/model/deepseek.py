"""The DeepSeek-V3/R1 decoder: embeddings, MLA + (dense MLP | MoE) layers, final norm, lm_head."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .attention import MLA
from .config import ModelConfig
from .layers import MLP, Embedding, QuantSpec, RMSNorm, Rope
from .moe import MoE


@dataclass
class LatentCache:
    """Paged MLA cache. Per layer: latent [num_blocks, block_size, kv_lora_rank] (after
    kv_a_layernorm) and pe [num_blocks, block_size, qk_rope_head_dim] (after RoPE). Position p
    of a sequence lives in block block_table[p // block_size] at offset p % block_size."""

    latent: list[torch.Tensor]
    pe: list[torch.Tensor]

    @property
    def block_size(self) -> int:
        return self.latent[0].shape[1]


class DecoderLayer(nn.Module):
    def __init__(
        self, config: ModelConfig, index: int, quant: QuantSpec | None, dtype: torch.dtype | None
    ) -> None:
        super().__init__()
        c = config
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps, dtype)
        self.self_attn = MLA(c, quant, dtype)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps, dtype)
        if c.is_moe_layer(index):
            self.mlp = MoE(c, quant, dtype)
        else:
            self.mlp = MLP(c.hidden_size, c.intermediate_size, quant, dtype)

    def forward(
        self, x: torch.Tensor, attend: Callable[[MLA, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """`attend(self_attn, normed x)` is one of MLA's paths, chosen by the caller."""
        x = x + attend(self.self_attn, self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class DeepseekV3(nn.Module):
    """DeepSeek-V3/R1 for inference, with a plain path and two paths over a paged latent cache.

    - `model(input_ids [B, T]) -> logits [B, T, V]`: positions 0..T-1, causal, no cache.
    - `model.allocate_cache(num_blocks, block_size) -> LatentCache`.
    - `model.prefill(input_ids [T], cache, block_table [n] int32, start_pos) -> logits [T, V]`:
      one chunk of one sequence at positions start_pos..start_pos+T-1. Writes the chunk's
      latents into the cache and attends to the cached positions [0, start_pos) plus causally
      within the chunk (chunked prefill, prefix caching).
    - `model.decode(input_ids [B], positions [B], cache, block_tables [B, max_blocks] int32)
      -> logits [B, V]`: writes each token's latent at its position, then attends over
      seq_lens = positions + 1 with kv_b_proj absorbed (`kernels.mla_decode`).
    block_table rows must cover every position written or read. Logits come in the model dtype.

    With `quant` set, the linear layers of attention, the MLPs and the experts are W4A16
    (`kernels`); embeddings, norms, routers, kv_b_proj and lm_head keep the model dtype.
    """

    def __init__(
        self, config: ModelConfig, quant: QuantSpec | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        c = self.config = config
        self.quant = quant
        self.embed_tokens = Embedding(c.vocab_size, c.hidden_size, dtype)
        self.layers = nn.ModuleList(
            DecoderLayer(c, i, quant, dtype) for i in range(c.num_hidden_layers)
        )
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps, dtype)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False, dtype=dtype)
        self.tie_weights()
        self.rope = Rope(c)

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    @property
    def dtype(self) -> torch.dtype:
        return self.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embed_tokens.weight.device

    def _run(
        self, input_ids: torch.Tensor, attend: Callable[[int, MLA, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, lambda attn, h, i=i: attend(i, attn, h))
        return self.lm_head(self.norm(x))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        cos, sin = self.rope(torch.arange(input_ids.shape[1], device=input_ids.device), self.dtype)
        return self._run(input_ids, lambda i, attn, h: attn(h, cos, sin))

    def allocate_cache(self, num_blocks: int, block_size: int) -> LatentCache:
        c, n = self.config, len(self.layers)
        kw = dict(dtype=self.dtype, device=self.device)
        return LatentCache(
            latent=[torch.zeros(num_blocks, block_size, c.kv_lora_rank, **kw) for _ in range(n)],
            pe=[torch.zeros(num_blocks, block_size, c.qk_rope_head_dim, **kw) for _ in range(n)],
        )

    def prefill(
        self, input_ids: torch.Tensor, cache: LatentCache, block_table: torch.Tensor, start_pos: int
    ) -> torch.Tensor:
        positions = torch.arange(start_pos, start_pos + input_ids.shape[0], device=input_ids.device)
        cos, sin = self.rope(positions, self.dtype)
        return self._run(
            input_ids,
            lambda i, attn, h: attn.prefill(
                h, cos, sin, cache.latent[i], cache.pe[i], block_table, start_pos
            ),
        )

    def decode(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        cache: LatentCache,
        block_tables: torch.Tensor,
    ) -> torch.Tensor:
        positions = positions.long()
        cos, sin = self.rope(positions, self.dtype)
        return self._run(
            input_ids,
            lambda i, attn, h: attn.decode(
                h, cos, sin, cache.latent[i], cache.pe[i], block_tables, positions
            ),
        )
