"""Building blocks: RMSNorm, YaRN RoPE, dense and W4A16 linear layers, the SwiGLU MLP."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import kernels

from .config import ModelConfig, yarn_mscale


@dataclass(frozen=True)
class QuantSpec:
    """How the quantised layers of a W4A16 model are stored (DESIGN §4)."""

    group_size: int = 128


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 and round before the weight, as the reference does.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


class Embedding(nn.Module):
    """nn.Embedding without the random init, which costs time (and, on the meta device, an
    import of torch._dynamo) for weights the checkpoint overwrites anyway."""

    def __init__(self, num: int, dim: int, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, dim, dtype=dtype))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


class QuantLinear(nn.Module):
    """y = x @ dequant(W).T with W stored as int4 (8 per int32 along K) and one scale per group."""

    def __init__(
        self, in_features: int, out_features: int, group_size: int, dtype: torch.dtype | None
    ) -> None:
        super().__init__()
        if in_features % group_size:
            raise ValueError(f"in_features={in_features} is not a multiple of {group_size}")
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        self.register_buffer(
            "qweight", torch.zeros(out_features, in_features // 8, dtype=torch.int32)
        )
        self.register_buffer(
            "scales", torch.ones(out_features, in_features // group_size, dtype=dtype)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = kernels.w4a16_gemm(
            x.reshape(-1, self.in_features), self.qweight, self.scales, self.group_size
        )
        return y.view(*x.shape[:-1], self.out_features)


def make_linear(
    in_features: int, out_features: int, quant: QuantSpec | None, dtype: torch.dtype | None
) -> nn.Module:
    if quant is None:
        return nn.Linear(in_features, out_features, bias=False, dtype=dtype)
    return QuantLinear(in_features, out_features, quant.group_size, dtype)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)). The dense layers and the shared experts."""

    def __init__(
        self, hidden: int, inter: int, quant: QuantSpec | None, dtype: torch.dtype | None
    ) -> None:
        super().__init__()
        self.gate_proj = make_linear(hidden, inter, quant, dtype)
        self.up_proj = make_linear(hidden, inter, quant, dtype)
        self.down_proj = make_linear(inter, hidden, quant, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Rope(nn.Module):
    """Rotary embedding of the qk_rope_head_dim part, with YaRN's frequency blend when configured.

    Follows transformers' YaRN: frequencies between the beta_fast and beta_slow wavelengths are
    blended linearly between interpolated (/factor) and original; cos/sin carry the
    `mscale(mscale) / mscale(mscale_all_dim)` attention factor (1 for R1).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer(
            "inv_freq", torch.empty(config.qk_rope_head_dim // 2), persistent=False
        )
        self.attention_factor = 1.0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Compute inv_freq; a model built on the meta device calls this once it has storage."""
        if self.inv_freq.is_meta:
            return
        cfg, dim = self.config, self.config.qk_rope_head_dim
        base = cfg.rope_theta
        pos_freqs = base ** (
            torch.arange(0, dim, 2, dtype=torch.float32, device=self.inv_freq.device) / dim
        )
        inv_freq = 1.0 / pos_freqs
        yarn = cfg.rope_scaling
        if yarn is not None:
            factor = yarn["factor"]
            orig = yarn["original_max_position_embeddings"]
            beta_fast, beta_slow = yarn.get("beta_fast") or 32, yarn.get("beta_slow") or 1

            def correction_dim(rotations: float) -> float:
                return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

            low, high = correction_dim(beta_fast), correction_dim(beta_slow)
            if yarn.get("truncate", True):
                low, high = math.floor(low), math.ceil(high)
            low, high = max(low, 0), min(high, dim - 1)
            ramp = torch.arange(dim // 2, dtype=torch.float32, device=inv_freq.device)
            ramp = (ramp - low) / max(high - low, 0.001)
            extrapolate = 1 - ramp.clamp(0, 1)  # 1 for high frequencies: keep them as trained
            inv_freq = inv_freq / factor * (1 - extrapolate) + inv_freq * extrapolate
            mscale, mscale_all_dim = yarn.get("mscale"), yarn.get("mscale_all_dim")
            if mscale and mscale_all_dim:
                m, m_all = yarn_mscale(factor, mscale), yarn_mscale(factor, mscale_all_dim)
                self.attention_factor = m / m_all
            else:
                self.attention_factor = yarn_mscale(factor)
        self.inv_freq = inv_freq

    def forward(
        self, positions: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """positions [...] -> cos, sin [..., rope_dim // 2]."""
        freqs = positions.float().unsqueeze(-1) * self.inv_freq
        cos, sin = freqs.cos() * self.attention_factor, freqs.sin() * self.attention_factor
        return cos.to(dtype), sin.to(dtype)


def apply_rope(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleave: bool
) -> torch.Tensor:
    """Rotate x [..., rope_dim] by angles whose cos/sin [..., rope_dim // 2] broadcast against it.

    R1 rotates interleaved pairs (x0, x1), (x2, x3), ... The result is written de-interleaved
    (all first halves, then all second halves), as transformers does; queries and keys share the
    layout, so their dot products are those of the interleaved rotation.
    """
    if interleave:
        x1, x2 = x[..., 0::2], x[..., 1::2]
    else:
        x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
