"""Kernels for R1-architecture inference: one function per operation.

Each function runs its Triton kernel when the tensors are on CUDA and the PyTorch
reference (kernels.reference) otherwise. Triton is imported only on the CUDA path, so the
CPU model server does not need it installed.
"""

import torch

from kernels import reference
from kernels.reference import dequantize_w4, pack_int4, quantize_rtn, unpack_int4

__all__ = [
    "dequantize_w4",
    "fused_moe_w4a16",
    "mla_decode",
    "pack_int4",
    "quantize_rtn",
    "route_noaux_tc",
    "unpack_int4",
    "w4a16_gemm",
]


def w4a16_gemm(
    x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, group_size: int
) -> torch.Tensor:
    """x [M, K] @ dequant(qweight [N, K/8], scales [N, K/G]).T -> [M, N] in x's dtype."""
    if x.is_cuda:
        from kernels.w4a16 import w4a16_gemm as triton_gemm

        return triton_gemm(x, qweight, scales, group_size)
    return reference.w4a16_gemm(x, qweight, scales, group_size)


def fused_moe_w4a16(
    x: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    w13_q: torch.Tensor,
    w13_s: torch.Tensor,
    w2_q: torch.Tensor,
    w2_s: torch.Tensor,
    group_size: int,
) -> torch.Tensor:
    """Routed-expert MLP over int4 experts, x [T, H] -> [T, H] (see reference.fused_moe_w4a16)."""
    if x.is_cuda:
        from kernels.moe import fused_moe_w4a16 as triton_moe

        return triton_moe(x, topk_ids, topk_weights, w13_q, w13_s, w2_q, w2_s, group_size)
    return reference.fused_moe_w4a16(
        x, topk_ids, topk_weights, w13_q, w13_s, w2_q, w2_s, group_size
    )


def mla_decode(
    q_latent: torch.Tensor,
    q_pe: torch.Tensor,
    latent_cache: torch.Tensor,
    pe_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Decode attention over the paged latent cache -> [B, H, kv_lora_rank]."""
    if q_latent.is_cuda:
        from kernels.mla import mla_decode as triton_mla

        return triton_mla(q_latent, q_pe, latent_cache, pe_cache, block_table, seq_lens, scale)
    return reference.mla_decode(
        q_latent, q_pe, latent_cache, pe_cache, block_table, seq_lens, scale
    )


def route_noaux_tc(
    logits: torch.Tensor,
    bias: torch.Tensor,
    n_group: int,
    topk_group: int,
    top_k: int,
    scaling: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """R1 routing: logits [T, E] -> (weights [T, top_k] fp32, ids [T, top_k] int64)."""
    if logits.is_cuda:
        from kernels.routing import route_noaux_tc as triton_route

        return triton_route(logits, bias, n_group, topk_group, top_k, scaling)
    return reference.route_noaux_tc(logits, bias, n_group, topk_group, top_k, scaling)
