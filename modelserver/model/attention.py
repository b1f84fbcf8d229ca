"""Multi-head latent attention (MLA): queries through a low-rank bottleneck, keys and values
compressed into one latent per token that all heads share.

Two ways to attend:
- expanded (`forward`, `prefill`): kv_b_proj turns each latent into per-head keys and values,
  the cheap way for a long chunk of queries;
- absorbed (`decode`): kv_b_proj's key half is folded into the query and its value half into
  the output, so one query token attends straight over the cached latents (kv_lora_rank +
  qk_rope_head_dim values per token: 576 for R1, instead of 128 heads × (192 + 128)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import kernels

from .config import ModelConfig
from .layers import QuantSpec, RMSNorm, apply_rope, make_linear

# DeepSeek's reference builds the two low-rank norms with RMSNorm's default eps, not the config's.
LORA_NORM_EPS = 1e-6


class MLA(nn.Module):
    def __init__(
        self, config: ModelConfig, quant: QuantSpec | None, dtype: torch.dtype | None
    ) -> None:
        super().__init__()
        c = config
        self.heads, self.nope, self.rope, self.v_dim = (
            c.num_attention_heads,
            c.qk_nope_head_dim,
            c.qk_rope_head_dim,
            c.v_head_dim,
        )
        self.rank, self.interleave, self.scale = c.kv_lora_rank, c.rope_interleave, c.softmax_scale
        q_dim = self.heads * c.qk_head_dim
        self.q_lora = c.q_lora_rank is not None
        if not self.q_lora:
            self.q_proj = make_linear(c.hidden_size, q_dim, quant, dtype)
        else:
            self.q_a_proj = make_linear(c.hidden_size, c.q_lora_rank, quant, dtype)
            self.q_a_layernorm = RMSNorm(c.q_lora_rank, LORA_NORM_EPS, dtype)
            self.q_b_proj = make_linear(c.q_lora_rank, q_dim, quant, dtype)
        self.kv_a_proj_with_mqa = make_linear(c.hidden_size, self.rank + self.rope, quant, dtype)
        self.kv_a_layernorm = RMSNorm(self.rank, LORA_NORM_EPS, dtype)
        # Kept dense: decode absorbs its two halves into the query and output sides.
        self.kv_b_proj = nn.Linear(
            self.rank, self.heads * (self.nope + self.v_dim), bias=False, dtype=dtype
        )
        self.o_proj = make_linear(self.heads * self.v_dim, c.hidden_size, quant, dtype)

    def _project(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [..., D] -> q_nope [..., H, nope], q_pe [..., H, rope], latent [..., rank], k_pe [..., rope]."""
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))) if self.q_lora else self.q_proj(x)
        q = q.view(*x.shape[:-1], self.heads, self.nope + self.rope)
        q_nope, q_pe = q.split([self.nope, self.rope], dim=-1)
        latent, k_pe = self.kv_a_proj_with_mqa(x).split([self.rank, self.rope], dim=-1)
        latent = self.kv_a_layernorm(latent)
        q_pe = apply_rope(q_pe, cos.unsqueeze(-2), sin.unsqueeze(-2), self.interleave)  # over heads
        k_pe = apply_rope(k_pe, cos, sin, self.interleave)
        return q_nope, q_pe, latent, k_pe

    def _attend_expanded(
        self,
        q_nope: torch.Tensor,
        q_pe: torch.Tensor,
        latent: torch.Tensor,
        k_pe: torch.Tensor,
        start_pos: int,
    ) -> torch.Tensor:
        """Queries [B, T, H, *] at positions start_pos.. over keys [B, S, *] at 0..S-1 -> [B, T, D]."""
        b, t, h, _ = q_nope.shape
        s = latent.shape[1]
        kv = self.kv_b_proj(latent).view(b, s, h, self.nope + self.v_dim)
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        k = torch.cat(
            [k_nope, k_pe.unsqueeze(2).expand(b, s, h, self.rope)], dim=-1
        )  # [B, S, H, qk]
        q = torch.cat([q_nope, q_pe], dim=-1)  # [B, T, H, qk]
        q_pos = torch.arange(t, device=q.device).unsqueeze(1) + start_pos
        mask = torch.arange(s, device=q.device) <= q_pos  # [T, S]: causal, offset by the cache
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            scale=self.scale,
        )  # [B, H, T, v]
        return self.o_proj(out.transpose(1, 2).reshape(b, t, h * self.v_dim))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """No cache: x [B, T, D] at positions 0..T-1 -> [B, T, D]."""
        q_nope, q_pe, latent, k_pe = self._project(x, cos, sin)
        return self._attend_expanded(q_nope, q_pe, latent, k_pe, 0)

    def prefill(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        latent_cache: torch.Tensor,
        pe_cache: torch.Tensor,
        block_table: torch.Tensor,
        start_pos: int,
    ) -> torch.Tensor:
        """One chunk x [T, D] of one sequence at start_pos..: cache its latents, attend to all so far."""
        q_nope, q_pe, latent, k_pe = self._project(x, cos, sin)
        block_size, table = latent_cache.shape[1], block_table.long()
        pos = torch.arange(start_pos, start_pos + x.shape[0], device=x.device)
        blocks, offsets = table[pos // block_size], pos % block_size
        latent_cache[blocks, offsets] = latent
        pe_cache[blocks, offsets] = k_pe
        seen = torch.arange(start_pos + x.shape[0], device=x.device)  # the chunk and all before
        blocks, offsets = table[seen // block_size], seen % block_size
        out = self._attend_expanded(
            q_nope[None],
            q_pe[None],
            latent_cache[blocks, offsets][None],
            pe_cache[blocks, offsets][None],
            start_pos,
        )
        return out[0]

    def decode(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        latent_cache: torch.Tensor,
        pe_cache: torch.Tensor,
        block_tables: torch.Tensor,
        positions: torch.Tensor,
    ) -> torch.Tensor:
        """One token per sequence, x [B, D] at positions [B]: cache it, attend over the latents."""
        q_nope, q_pe, latent, k_pe = self._project(x, cos, sin)  # q_*: [B, H, *]; latent: [B, rank]
        block_size = latent_cache.shape[1]
        rows = torch.arange(x.shape[0], device=x.device)
        blocks, offsets = block_tables.long()[rows, positions // block_size], positions % block_size
        latent_cache[blocks, offsets] = latent
        pe_cache[blocks, offsets] = k_pe
        w = self.kv_b_proj.weight.view(self.heads, self.nope + self.v_dim, self.rank)
        # q_nope · (W_UK latent) = (q_nope W_UK) · latent: the query moves into latent space.
        q_latent = torch.einsum("bhd,hdr->bhr", q_nope, w[:, : self.nope])  # [B, H, rank]
        seq_lens = (positions + 1).to(torch.int32)
        out = kernels.mla_decode(
            q_latent, q_pe, latent_cache, pe_cache, block_tables, seq_lens, self.scale
        )
        out = torch.einsum("bhr,hvr->bhv", out, w[:, self.nope :])  # [B, H, v]: W_UV applied last
        return self.o_proj(out.reshape(x.shape[0], self.heads * self.v_dim))
