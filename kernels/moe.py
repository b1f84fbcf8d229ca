"""Fused routed-expert MLP over int4 experts, in Triton.

Three steps, none of which loops over experts in Python:
1. align: the T*k (token, choice) slots are sorted by expert and each expert's run is padded
   to a multiple of BLOCK_M, so every block of BLOCK_M rows belongs to one expert. An expert
   with no token gets no block and so costs nothing.
2. gate/up GEMM per block, with silu(gate) * up fused into the epilogue: the [T*k, 2I]
   gate/up activations never reach memory, only act [T*k, I].
3. down GEMM per block, scaled by the routing weight; the k choices of a token are summed
   afterwards in a fixed order, so the result is deterministic.
"""

import torch
import triton
import triton.language as tl

from kernels import _buffers
from kernels.w4a16 import dequant_tile


@triton.jit
def _count_kernel(topk_ids_ptr, counts_ptr, numel, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    ids = tl.load(topk_ids_ptr + offs, mask=mask, other=0)
    tl.atomic_add(counts_ptr + ids, 1, mask=mask)


@triton.jit
def _offsets_kernel(
    counts_ptr,
    cursor_ptr,
    block_expert_ptr,
    total_ptr,
    num_experts,
    max_blocks,
    BLOCK_M: tl.constexpr,
    E_PAD: tl.constexpr,
    CHUNK: tl.constexpr,
):
    """One program: each expert's padded start, the padded total, and each block's expert."""
    offs_e = tl.arange(0, E_PAD)
    e_mask = offs_e < num_experts
    counts = tl.load(counts_ptr + offs_e, mask=e_mask, other=0)
    padded = (counts + BLOCK_M - 1) // BLOCK_M * BLOCK_M
    ends = tl.cumsum(padded, axis=0)
    tl.store(cursor_ptr + offs_e, ends - padded, mask=e_mask)
    tl.store(total_ptr, tl.sum(padded, axis=0))
    # The expert owning row r is the number of experts whose padded run ends at or before r.
    for b0 in range(0, max_blocks, CHUNK):
        offs_b = b0 + tl.arange(0, CHUNK)
        done = (ends[None, :] <= offs_b[:, None] * BLOCK_M) & e_mask[None, :]  # [CHUNK, E_PAD]
        tl.store(
            block_expert_ptr + offs_b, tl.sum(done.to(tl.int32), axis=1), mask=offs_b < max_blocks
        )


@triton.jit
def _scatter_kernel(topk_ids_ptr, cursor_ptr, sorted_slots_ptr, numel, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    ids = tl.load(topk_ids_ptr + offs, mask=mask, other=0)
    # Order inside an expert's run does not matter: every row is computed independently.
    pos = tl.atomic_add(cursor_ptr + ids, 1, mask=mask)
    tl.store(sorted_slots_ptr + pos, offs, mask=mask)


def align_slots(
    topk_ids: torch.Tensor, num_experts: int, block_m: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort the flat slots t*k + j by expert, padding each expert to a multiple of block_m.

    Returns sorted_slots [max_rows] (padding = T*k), block_expert [max_blocks] and the padded
    row count [1]; max_blocks bounds the blocks from the shapes alone, so nothing syncs.
    """
    numel = topk_ids.numel()
    device = topk_ids.device
    max_blocks = triton.cdiv(numel + min(num_experts, numel) * (block_m - 1), block_m)
    ids = topk_ids.reshape(-1).to(torch.int32)
    counts = torch.zeros(num_experts, dtype=torch.int32, device=device)
    cursor = _buffers.empty((num_experts,), torch.int32, device)
    block_expert = _buffers.empty((max_blocks,), torch.int32, device)
    total = _buffers.empty((1,), torch.int32, device)
    sorted_slots = torch.full((max_blocks * block_m,), numel, dtype=torch.int32, device=device)
    block = 1024
    grid = (triton.cdiv(numel, block),)
    _count_kernel[grid](ids, counts, numel, BLOCK=block)
    e_pad = triton.next_power_of_2(num_experts)
    _offsets_kernel[(1,)](
        counts, cursor, block_expert, total, num_experts, max_blocks, block_m, e_pad, CHUNK=32
    )
    _scatter_kernel[grid](ids, cursor, sorted_slots, numel, BLOCK=block)
    return sorted_slots, block_expert, total


@triton.jit
def _gate_up_kernel(
    x_ptr,
    w13_q_ptr,
    w13_s_ptr,
    act_ptr,
    sorted_slots_ptr,
    block_expert_ptr,
    total_ptr,
    numel,
    hidden,
    inter,
    stride_qe,
    stride_qn,
    stride_se,
    stride_sn,
    TOP_K: tl.constexpr,
    GROUP_SIZE: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """act[slot, n] = silu(gate_e(x_t))[n] * up_e(x_t)[n] for one block of slots of expert e."""
    pid_b = tl.program_id(0)
    pid_n = tl.program_id(1)
    if pid_b * BLOCK_M >= tl.load(total_ptr):
        return  # the bound on blocks was loose for this routing
    expert = tl.load(block_expert_ptr + pid_b).to(tl.int64)
    slots = tl.load(sorted_slots_ptr + pid_b * BLOCK_M + tl.arange(0, BLOCK_M))
    slot_mask = slots < numel
    tokens = slots // TOP_K
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < inter
    gate_q = w13_q_ptr + expert * stride_qe
    gate_s = w13_s_ptr + expert * stride_se
    up_q = gate_q + inter * stride_qn  # up_proj rows follow gate_proj's I rows
    up_s = gate_s + inter * stride_sn
    acc_gate = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    acc_up = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        x_tile = x_ptr + tokens[:, None] * hidden + offs_k[None, :]
        x = tl.load(x_tile, mask=slot_mask[:, None], other=0.0)  # [BLOCK_M, BLOCK_K]
        w_gate = dequant_tile(
            gate_q, gate_s, offs_n, n_mask, k0, stride_qn, stride_sn, GROUP_SIZE, BLOCK_K
        )
        w_up = dequant_tile(
            up_q, up_s, offs_n, n_mask, k0, stride_qn, stride_sn, GROUP_SIZE, BLOCK_K
        )
        acc_gate = tl.dot(x, w_gate.to(x.dtype), acc_gate, input_precision="ieee")
        acc_up = tl.dot(x, w_up.to(x.dtype), acc_up, input_precision="ieee")
    act = acc_gate * tl.sigmoid(acc_gate) * acc_up
    out = act_ptr + slots[:, None] * inter + offs_n[None, :]
    tl.store(out, act.to(act_ptr.dtype.element_ty), mask=slot_mask[:, None] & n_mask[None, :])


@triton.jit
def _down_kernel(
    act_ptr,
    w2_q_ptr,
    w2_s_ptr,
    topk_weights_ptr,
    out_ptr,
    sorted_slots_ptr,
    block_expert_ptr,
    total_ptr,
    numel,
    hidden,
    inter,
    stride_qe,
    stride_qn,
    stride_se,
    stride_sn,
    GROUP_SIZE: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """out[slot, n] = topk_weight[slot] * down_e(act[slot])[n], in fp32."""
    pid_b = tl.program_id(0)
    pid_n = tl.program_id(1)
    if pid_b * BLOCK_M >= tl.load(total_ptr):
        return
    expert = tl.load(block_expert_ptr + pid_b).to(tl.int64)
    slots = tl.load(sorted_slots_ptr + pid_b * BLOCK_M + tl.arange(0, BLOCK_M))
    slot_mask = slots < numel
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < hidden
    w_q = w2_q_ptr + expert * stride_qe
    w_s = w2_s_ptr + expert * stride_se
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, inter, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        a_tile = act_ptr + slots[:, None] * inter + offs_k[None, :]
        a = tl.load(a_tile, mask=slot_mask[:, None], other=0.0)  # [BLOCK_M, BLOCK_K]
        w = dequant_tile(w_q, w_s, offs_n, n_mask, k0, stride_qn, stride_sn, GROUP_SIZE, BLOCK_K)
        acc = tl.dot(a, w.to(a.dtype), acc, input_precision="ieee")
    weight = tl.load(topk_weights_ptr + slots, mask=slot_mask, other=0.0).to(tl.float32)
    out = out_ptr + slots[:, None] * hidden + offs_n[None, :]
    tl.store(out, acc * weight[:, None], mask=slot_mask[:, None] & n_mask[None, :])


def pick_block_m(num_slots: int, num_experts: int) -> int:
    # Rows per block near the mean slots per expert: less padding at decode, reuse at prefill.
    mean = num_slots / num_experts
    return 16 if mean <= 16 else 32 if mean <= 64 else 64


def fused_moe_w4a16(
    x: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    w13_q: torch.Tensor,
    w13_s: torch.Tensor,
    w2_q: torch.Tensor,
    w2_s: torch.Tensor,
    group_size: int,
    block_m: int | None = None,
) -> torch.Tensor:
    """Routed-expert MLP: x [T, H] -> [T, H]; see kernels.reference.fused_moe_w4a16."""
    t, hidden = x.shape
    num_experts, two_inter, _ = w13_q.shape
    inter = two_inter // 2
    top_k = topk_ids.shape[1]
    numel = t * top_k
    block_m = block_m or pick_block_m(numel, num_experts)
    block_n, block_k = 64, min(group_size, 64)
    x = x.contiguous()
    w13_q, w13_s, w2_q, w2_s = (w.contiguous() for w in (w13_q, w13_s, w2_q, w2_s))
    weights = topk_weights.reshape(-1).contiguous()
    sorted_slots, block_expert, total = align_slots(topk_ids, num_experts, block_m)
    max_blocks = block_expert.shape[0]
    act = _buffers.empty((numel, inter), x.dtype, x.device)  # [T*k, I]
    per_slot = _buffers.empty((numel, hidden), torch.float32, x.device)  # [T*k, H]
    common = dict(GROUP_SIZE=group_size, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k)
    _gate_up_kernel[(max_blocks, triton.cdiv(inter, block_n))](
        x,
        w13_q,
        w13_s,
        act,
        sorted_slots,
        block_expert,
        total,
        numel,
        hidden,
        inter,
        w13_q.stride(0),
        w13_q.stride(1),
        w13_s.stride(0),
        w13_s.stride(1),
        TOP_K=top_k,
        **common,
    )
    _down_kernel[(max_blocks, triton.cdiv(hidden, block_n))](
        act,
        w2_q,
        w2_s,
        weights,
        per_slot,
        sorted_slots,
        block_expert,
        total,
        numel,
        hidden,
        inter,
        w2_q.stride(0),
        w2_q.stride(1),
        w2_s.stride(0),
        w2_s.stride(1),
        **common,
    )
    return per_slot.view(t, top_k, hidden).sum(1).to(x.dtype)
