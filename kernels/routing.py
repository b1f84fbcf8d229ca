"""R1's noaux_tc routing in one Triton kernel: one program per token.

The PyTorch version is a chain of ~10 small kernels (sigmoid, add, view/topk, sum, topk,
scatter, masked_fill, topk, gather, sum, div) per MoE layer, each a launch of its own at
decode; here everything stays in registers. Ties go to the lower expert index.
"""

import torch
import triton
import triton.language as tl

from kernels import _buffers


@triton.jit
def _route_kernel(
    logits_ptr,
    bias_ptr,
    weights_ptr,
    ids_ptr,
    num_experts,
    stride_t,
    scaling,
    GROUP_SIZE: tl.constexpr,
    N_GROUP: tl.constexpr,
    TOPK_GROUP: tl.constexpr,
    TOP_K: tl.constexpr,
    E_PAD: tl.constexpr,
    G_PAD: tl.constexpr,
    K_PAD: tl.constexpr,
):
    t = tl.program_id(0)
    offs_e = tl.arange(0, E_PAD)
    e_mask = offs_e < num_experts
    logits = tl.load(logits_ptr + t * stride_t + offs_e, mask=e_mask, other=0.0)
    scores = tl.sigmoid(logits.to(tl.float32))
    bias = tl.load(bias_ptr + offs_e, mask=e_mask, other=0.0).to(tl.float32)
    biased = tl.where(e_mask, scores + bias, float("-inf"))  # for selection only

    # Group membership as a [G_PAD, E_PAD] mask: no reshape, so group sizes need not be 2^n.
    offs_g = tl.arange(0, G_PAD)
    member = ((offs_e[None, :] // GROUP_SIZE) == offs_g[:, None]) & e_mask[None, :]
    in_group = tl.where(member, biased[None, :], float("-inf"))
    best = tl.argmax(in_group, axis=1)
    runner_up = tl.where(offs_e[None, :] == best[:, None], float("-inf"), in_group)
    group_score = tl.max(in_group, axis=1) + tl.max(runner_up, axis=1)  # sum of the top 2
    group_score = tl.where(offs_g < N_GROUP, group_score, float("-inf"))

    kept = offs_g < 0  # all False
    for _ in tl.static_range(TOPK_GROUP):
        g = tl.argmax(group_score, axis=0)
        kept = kept | (offs_g == g)
        group_score = tl.where(offs_g == g, float("-inf"), group_score)
    expert_kept = tl.max((member & kept[:, None]).to(tl.int32), axis=0) > 0
    choice = tl.where(expert_kept, biased, float("-inf"))

    offs_k = tl.arange(0, K_PAD)
    ids = tl.zeros((K_PAD,), dtype=tl.int64)
    weights = tl.zeros((K_PAD,), dtype=tl.float32)
    for i in tl.static_range(TOP_K):
        e = tl.argmax(choice, axis=0)
        ids = tl.where(offs_k == i, e.to(tl.int64), ids)
        unbiased = tl.sum(tl.where(offs_e == e, scores, 0.0), axis=0)
        weights = tl.where(offs_k == i, unbiased, weights)
        choice = tl.where(offs_e == e, float("-inf"), choice)
    weights = weights / (tl.sum(weights, axis=0) + 1e-20) * scaling
    k_mask = offs_k < TOP_K
    tl.store(ids_ptr + t * TOP_K + offs_k, ids, mask=k_mask)
    tl.store(weights_ptr + t * TOP_K + offs_k, weights, mask=k_mask)


def route_noaux_tc(
    logits: torch.Tensor,
    bias: torch.Tensor,
    n_group: int,
    topk_group: int,
    top_k: int,
    scaling: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [T, E] -> (topk_weights [T, top_k] fp32, topk_ids [T, top_k] int64)."""
    t, e = logits.shape
    if e % n_group:
        raise ValueError(f"{e} experts do not split into {n_group} groups")
    logits = logits.contiguous()
    weights = _buffers.empty((t, top_k), torch.float32, logits.device)
    ids = _buffers.empty((t, top_k), torch.int64, logits.device)
    _route_kernel[(t,)](
        logits,
        bias.contiguous(),
        weights,
        ids,
        e,
        logits.stride(0),
        scaling,
        GROUP_SIZE=e // n_group,
        N_GROUP=n_group,
        TOPK_GROUP=topk_group,
        TOP_K=top_k,
        E_PAD=triton.next_power_of_2(e),
        G_PAD=triton.next_power_of_2(n_group),
        K_PAD=triton.next_power_of_2(top_k),
        num_warps=4,
    )
    return weights, ids
