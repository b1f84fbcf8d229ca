"""MLA decode attention over the paged latent cache, in Triton (flash-decoding).

With kv_b_proj absorbed into the query and output, every head attends over the same cached
latent (512) + RoPE key (64), which is also the value. Decode reads the whole cache once per
token, so the kernel is memory-bound: each (sequence, block of heads) is split along the
sequence into NUM_SPLITS programs, enough to fill the GPU at batch 1, and a second kernel
merges the splits' partial softmaxes through their log-sum-exp.
"""

import torch
import triton
import triton.language as tl

from kernels import _buffers

BLOCK_H = 16  # tl.dot needs at least 16 rows
BLOCK_N = 32  # positions per step: a [32, 512] fp16 latent tile is 32 KiB of shared memory


@triton.jit
def _split_kernel(
    q_lat_ptr,
    q_pe_ptr,
    lat_ptr,
    pe_ptr,
    block_table_ptr,
    seq_lens_ptr,
    o_ptr,
    lse_ptr,
    num_heads,
    scale,
    stride_qlb,
    stride_qlh,
    stride_qpb,
    stride_qph,
    stride_lat_blk,
    stride_lat_pos,
    stride_pe_blk,
    stride_pe_pos,
    stride_bt,
    PAGE: tl.constexpr,
    RANK: tl.constexpr,
    ROPE: tl.constexpr,
    NUM_SPLITS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """Partial attention of heads [hb*BLOCK_H, +BLOCK_H) over one slice of sequence b.

    Writes o [B, H, NUM_SPLITS, RANK] (normalised within the slice) and its lse [B, H, S];
    an empty slice writes o = 0, lse = -inf, which the merge weighs by zero.
    """
    # Head blocks vary fastest across the grid: the programs that read the same cache slice
    # run side by side, so all but the first find it in L2.
    hb = tl.program_id(0)
    b = tl.program_id(1)
    split = tl.program_id(2)
    seq_len = tl.load(seq_lens_ptr + b)
    chunk = tl.cdiv(tl.cdiv(seq_len, NUM_SPLITS), BLOCK_N) * BLOCK_N
    start = split * chunk
    end = tl.minimum(start + chunk, seq_len)
    offs_h = hb * BLOCK_H + tl.arange(0, BLOCK_H)
    h_mask = offs_h < num_heads
    offs_r = tl.arange(0, RANK)
    offs_p = tl.arange(0, ROPE)
    q_lat = tl.load(
        q_lat_ptr + b * stride_qlb + offs_h[:, None] * stride_qlh + offs_r[None, :],
        mask=h_mask[:, None],
        other=0.0,
    )  # [BLOCK_H, RANK]
    q_pe = tl.load(
        q_pe_ptr + b * stride_qpb + offs_h[:, None] * stride_qph + offs_p[None, :],
        mask=h_mask[:, None],
        other=0.0,
    )  # [BLOCK_H, ROPE]
    m = tl.full((BLOCK_H,), float("-inf"), dtype=tl.float32)
    l = tl.zeros((BLOCK_H,), dtype=tl.float32)  # noqa: E741 (the softmax denominator's usual name)
    acc = tl.zeros((BLOCK_H, RANK), dtype=tl.float32)
    for n0 in range(start, end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_mask = offs_n < end
        page = tl.load(block_table_ptr + b * stride_bt + offs_n // PAGE, mask=n_mask, other=0)
        slot = offs_n % PAGE
        lat_rows = page.to(tl.int64) * stride_lat_blk + slot * stride_lat_pos
        pe_rows = page.to(tl.int64) * stride_pe_blk + slot * stride_pe_pos
        lat = tl.load(
            lat_ptr + lat_rows[:, None] + offs_r[None, :], mask=n_mask[:, None], other=0.0
        )
        pe = tl.load(pe_ptr + pe_rows[:, None] + offs_p[None, :], mask=n_mask[:, None], other=0.0)
        scores = tl.dot(q_lat, tl.trans(lat), input_precision="ieee")  # [BLOCK_H, BLOCK_N]
        scores = tl.dot(q_pe, tl.trans(pe), scores, input_precision="ieee")
        scores = tl.where(n_mask[None, :], scores * scale, float("-inf"))
        m_new = tl.maximum(m, tl.max(scores, axis=1))
        alpha = tl.exp(m - m_new)
        p = tl.exp(scores - m_new[:, None])
        l = l * alpha + tl.sum(p, axis=1)  # noqa: E741
        acc = tl.dot(p.to(lat.dtype), lat, acc * alpha[:, None], input_precision="ieee")
        m = m_new
    nonempty = l > 0
    o = acc / tl.where(nonempty, l, 1.0)[:, None]
    lse = tl.where(nonempty, m + tl.log(tl.where(nonempty, l, 1.0)), float("-inf"))
    row = (b * num_heads + offs_h) * NUM_SPLITS + split  # into [B, H, NUM_SPLITS]
    tl.store(o_ptr + row[:, None] * RANK + offs_r[None, :], o, mask=h_mask[:, None])
    tl.store(lse_ptr + row, lse, mask=h_mask)


@triton.jit
def _merge_kernel(
    o_ptr, lse_ptr, out_ptr, RANK: tl.constexpr, NUM_SPLITS: tl.constexpr, S_PAD: tl.constexpr
):
    """out[b, h] = sum_s exp(lse_s - lse) * o_s for one (b, h), with lse the total."""
    bh = tl.program_id(0)  # b * H + h
    offs_s = tl.arange(0, S_PAD)
    s_mask = offs_s < NUM_SPLITS
    lse = tl.load(lse_ptr + bh * NUM_SPLITS + offs_s, mask=s_mask, other=float("-inf"))
    weight = tl.exp(lse - tl.max(lse, axis=0))  # split 0 is never empty, so the max is finite
    weight = weight / tl.sum(weight, axis=0)
    offs_r = tl.arange(0, RANK)
    rows = bh * NUM_SPLITS + offs_s
    o = tl.load(o_ptr + rows[:, None] * RANK + offs_r[None, :], mask=s_mask[:, None], other=0.0)
    out = tl.sum(o * weight[:, None], axis=0)
    tl.store(out_ptr + bh * RANK + offs_r, out.to(out_ptr.dtype.element_ty))


def pick_num_splits(batch: int, head_blocks: int, capacity: int, device: torch.device) -> int:
    """Slices per sequence: about two waves of programs over the SMs.

    Decided from shapes alone (the block table's capacity, not seq_lens), so choosing it
    never waits on the GPU and the launch can be captured in a CUDA graph.
    """
    cuda = device.type == "cuda"
    sms = torch.cuda.get_device_properties(device).multi_processor_count if cuda else 4
    want = triton.cdiv(2 * sms, batch * head_blocks)
    return max(1, min(want, triton.cdiv(capacity, BLOCK_N)))


def mla_decode(
    q_latent: torch.Tensor,
    q_pe: torch.Tensor,
    latent_cache: torch.Tensor,
    pe_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    num_splits: int | None = None,
) -> torch.Tensor:
    """Decode attention over the paged latent cache -> [B, H, kv_lora_rank] in q's dtype."""
    batch, heads, rank = q_latent.shape
    rope = q_pe.shape[2]
    page = latent_cache.shape[1]
    if latent_cache.stride(2) != 1 or pe_cache.stride(2) != 1:
        raise ValueError("the caches' last dimension must be contiguous")
    q_latent, q_pe = q_latent.contiguous(), q_pe.contiguous()
    block_table, seq_lens = block_table.contiguous(), seq_lens.contiguous()
    head_blocks = triton.cdiv(heads, BLOCK_H)
    capacity = block_table.shape[1] * page
    num_splits = num_splits or pick_num_splits(batch, head_blocks, capacity, q_latent.device)
    o = _buffers.empty((batch, heads, num_splits, rank), torch.float32, q_latent.device)
    lse = _buffers.empty((batch, heads, num_splits), torch.float32, q_latent.device)
    out = _buffers.empty((batch, heads, rank), q_latent.dtype, q_latent.device)
    _split_kernel[(head_blocks, batch, num_splits)](
        q_latent,
        q_pe,
        latent_cache,
        pe_cache,
        block_table,
        seq_lens,
        o,
        lse,
        heads,
        scale,
        q_latent.stride(0),
        q_latent.stride(1),
        q_pe.stride(0),
        q_pe.stride(1),
        latent_cache.stride(0),
        latent_cache.stride(1),
        pe_cache.stride(0),
        pe_cache.stride(1),
        block_table.stride(0),
        PAGE=page,
        RANK=rank,
        ROPE=rope,
        NUM_SPLITS=num_splits,
        BLOCK_H=BLOCK_H,
        BLOCK_N=BLOCK_N,
        num_warps=4,
        num_stages=2,
    )
    _merge_kernel[(batch * heads,)](
        o, lse, out, RANK=rank, NUM_SPLITS=num_splits, S_PAD=triton.next_power_of_2(num_splits)
    )
    return out
