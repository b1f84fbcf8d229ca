"""DeepSeekMoE: a router picks top-k routed experts per token; shared experts see every token."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import kernels

from .config import ModelConfig
from .layers import MLP, QuantSpec


def select_experts(
    logits: torch.Tensor, bias: torch.Tensor | None, config: ModelConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Router logits [T, E] (fp32) -> (weights [T, k] fp32, expert ids [T, k]).

    R1 (noaux_tc, sigmoid, normalised) runs in kernels; the other methods a config may ask for
    (DeepSeek-V2's softmax with greedy or group-limited greedy choice, unnormalised weights) here.
    """
    c, k = config, config.num_experts_per_tok
    if c.topk_method == "noaux_tc" and c.scoring_func == "sigmoid" and c.norm_topk_prob:
        return kernels.route_noaux_tc(
            logits, bias, c.n_group, c.topk_group, k, c.routed_scaling_factor
        )
    scores = logits.sigmoid() if c.scoring_func == "sigmoid" else logits.softmax(dim=-1)
    choice = scores if bias is None else scores + bias  # the bias steers the choice only
    if c.topk_method != "greedy" and c.n_group > 1:
        t, e = choice.shape
        grouped = choice.view(t, c.n_group, e // c.n_group)
        if c.topk_method == "noaux_tc":
            group_scores = grouped.topk(2, dim=-1).values.sum(-1)
        else:
            group_scores = grouped.amax(-1)
        kept = group_scores.topk(c.topk_group, dim=-1).indices  # [T, topk_group]
        keep = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, kept, True)
        choice = choice.masked_fill(~keep.repeat_interleave(e // c.n_group, dim=1), float("-inf"))
    ids = choice.topk(k, dim=-1).indices
    weights = scores.gather(1, ids)
    if c.norm_topk_prob:
        weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
    return weights * c.routed_scaling_factor, ids


class Router(nn.Module):
    """The `gate` of a MoE layer; kept in the model's precision and run in fp32."""

    def __init__(self, config: ModelConfig, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(
            torch.empty(config.n_routed_experts, config.hidden_size, dtype=dtype)
        )
        if config.topk_method == "noaux_tc":
            self.register_buffer("e_score_correction_bias", torch.zeros(config.n_routed_experts))
        else:
            self.e_score_correction_bias = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = F.linear(x.float(), self.weight.float())  # [T, E]
        return select_experts(logits, self.e_score_correction_bias, self.config)


class Experts(nn.Module):
    """The routed experts' weights stacked: w13 [E, 2I, D] (gate rows, then up rows), w2 [E, D, I]."""

    def __init__(self, n: int, hidden: int, inter: int, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.inter = inter
        self.w13 = nn.Parameter(torch.empty(n, 2 * inter, hidden, dtype=dtype))
        self.w2 = nn.Parameter(torch.empty(n, hidden, inter, dtype=dtype))

    def forward(self, x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for e in ids.unique().tolist():
            token, slot = (ids == e).nonzero(as_tuple=True)
            gate, up = F.linear(x[token], self.w13[e]).split(self.inter, dim=-1)
            y = F.linear(F.silu(gate) * up, self.w2[e]) * weights[token, slot, None]
            out.index_add_(0, token, y.to(x.dtype))
        return out


class QuantExperts(nn.Module):
    """Experts in W4A16: w13_q [E, 2I, D/8], w13_s [E, 2I, D/G], w2_q [E, D, I/8], w2_s [E, D, I/G]."""

    def __init__(
        self, n: int, hidden: int, inter: int, group_size: int, dtype: torch.dtype | None
    ) -> None:
        super().__init__()
        for dim in (hidden, inter):
            if dim % group_size:
                raise ValueError(f"expert dimension {dim} is not a multiple of {group_size}")
        self.inter, self.group_size = inter, group_size
        self.register_buffer("w13_q", torch.zeros(n, 2 * inter, hidden // 8, dtype=torch.int32))
        self.register_buffer("w13_s", torch.ones(n, 2 * inter, hidden // group_size, dtype=dtype))
        self.register_buffer("w2_q", torch.zeros(n, hidden, inter // 8, dtype=torch.int32))
        self.register_buffer("w2_s", torch.ones(n, hidden, inter // group_size, dtype=dtype))

    def forward(self, x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return kernels.fused_moe_w4a16(
            x, ids, weights, self.w13_q, self.w13_s, self.w2_q, self.w2_s, self.group_size
        )


class MoE(nn.Module):
    def __init__(
        self, config: ModelConfig, quant: QuantSpec | None, dtype: torch.dtype | None
    ) -> None:
        super().__init__()
        c = config
        self.gate = Router(c, dtype)
        if quant is None:
            self.experts = Experts(
                c.n_routed_experts, c.hidden_size, c.moe_intermediate_size, dtype
            )
        else:
            self.experts = QuantExperts(
                c.n_routed_experts, c.hidden_size, c.moe_intermediate_size, quant.group_size, dtype
            )
        self.shared_experts = None
        if c.n_shared_experts:
            self.shared_experts = MLP(
                c.hidden_size, c.moe_intermediate_size * c.n_shared_experts, quant, dtype
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # [T, D]
        weights, ids = self.gate(x)
        y = self.experts(x, ids, weights)
        if self.shared_experts is not None:
            y = y + self.shared_experts(x)
        return y.view(shape)
