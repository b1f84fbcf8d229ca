"""Pure-PyTorch references for every kernel: the CPU path of the model server and the
ground truth the Triton kernels are tested against.

Conventions shared with the Triton kernels (DESIGN §4):
- int4 weights are symmetric, stored as q + 8 in 4-bit nibbles, 8 per int32 along K:
  nibble j (bits 4j..4j+3) of word i holds column 8i + j.
- Every GEMM accumulates in fp32 and returns the activation dtype.
"""

import torch
import torch.nn.functional as F

PACK = 8  # int4 values per int32 word
_SHIFTS = torch.arange(PACK, dtype=torch.int32) * 4


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """int8 [N, K] in [-8, 7] -> int32 [N, K // 8]."""
    n, k = q.shape
    if k % PACK:
        raise ValueError(f"K={k} must be a multiple of {PACK}")
    nibbles = (q.to(torch.int64) + 8).view(n, k // PACK, PACK)
    words = (nibbles << _SHIFTS.to(q.device, torch.int64)).sum(-1)
    # Nibble 7 reaches bit 31: fold the unsigned word into int32's two's complement range.
    words = torch.where(words >= 2**31, words - 2**32, words)
    return words.to(torch.int32)


def unpack_int4(qweight: torch.Tensor) -> torch.Tensor:
    """int32 [N, K // 8] -> int8 [N, K] in [-8, 7]."""
    n, kw = qweight.shape
    nibbles = (qweight.unsqueeze(-1) >> _SHIFTS.to(qweight.device)) & 0xF  # [N, K/8, 8]
    return (nibbles - 8).to(torch.int8).view(n, kw * PACK)


def quantize_rtn(w: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Round-to-nearest symmetric int4: w [N, K] -> (qweight int32 [N, K/8], scales [N, K/G])."""
    n, k = w.shape
    if k % group_size or group_size % PACK:
        raise ValueError(f"K={k} must be a multiple of group_size={group_size}, itself of {PACK}")
    groups = w.float().view(n, k // group_size, group_size)
    scales = groups.abs().amax(-1) / 7
    scales = torch.where(scales == 0, torch.ones_like(scales), scales).to(w.dtype)
    # Round against the scale as stored, so dequantisation reproduces the nearest grid point.
    q = torch.round(groups / scales.float().unsqueeze(-1)).clamp(-8, 7).to(torch.int8)
    return pack_int4(q.view(n, k)), scales


def dequantize_w4(qweight: torch.Tensor, scales: torch.Tensor, group_size: int) -> torch.Tensor:
    """(int32 [N, K/8], scales [N, K/G]) -> [N, K] in scales' dtype."""
    q = unpack_int4(qweight).float()
    w = q * scales.float().repeat_interleave(group_size, dim=1)
    return w.to(scales.dtype)


def w4a16_gemm(
    x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, group_size: int
) -> torch.Tensor:
    """x [M, K] @ dequant(W [N, K]).T -> [M, N] in x's dtype, fp32 accumulation."""
    w = dequantize_w4(qweight, scales, group_size).float()
    return (x.float() @ w.T).to(x.dtype)


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
    """Routed-expert MLP over int4 experts: x [T, H] -> [T, H].

    w13 [E, 2I, H/8] holds gate_proj (rows 0..I-1) and up_proj (rows I..2I-1); w2 [E, H, I/8].
    out[t] = sum_k topk_weights[t, k] * down_e(silu(gate_e(x_t)) * up_e(x_t)), e = topk_ids[t, k].
    The activation between the two GEMMs is rounded to x's dtype, as the kernel stores it.
    """
    t, h = x.shape
    inter = w13_q.shape[1] // 2
    out = torch.zeros(t, h, dtype=torch.float32, device=x.device)
    for e in topk_ids.unique().tolist():
        token, slot = (topk_ids == e).nonzero(as_tuple=True)
        w13 = dequantize_w4(w13_q[e], w13_s[e], group_size).float()  # [2I, H]
        w2 = dequantize_w4(w2_q[e], w2_s[e], group_size).float()  # [H, I]
        gate_up = x[token].float() @ w13.T  # [n, 2I]
        act = (F.silu(gate_up[:, :inter]) * gate_up[:, inter:]).to(x.dtype)
        down = act.float() @ w2.T  # [n, H]
        out.index_add_(0, token, down * topk_weights[token, slot].float().unsqueeze(-1))
    return out.to(x.dtype)


def mla_decode(
    q_latent: torch.Tensor,
    q_pe: torch.Tensor,
    latent_cache: torch.Tensor,
    pe_cache: torch.Tensor,
    block_table: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Decode attention over the paged latent cache -> [B, H, kv_lora_rank] in q's dtype.

    Position p of sequence b lives at block block_table[b, p // block_size], offset
    p % block_size; the latent is both key (with the RoPE part) and value. seq_lens >= 1.
    """
    block_size = latent_cache.shape[1]
    max_len = block_table.shape[1] * block_size
    pos = torch.arange(max_len, device=q_latent.device)
    valid = pos.unsqueeze(0) < seq_lens.unsqueeze(1).long()  # [B, L]
    blocks = block_table.long()[:, pos // block_size]  # [B, L]
    # Entries past a sequence's end may hold anything: read block 0 there and mask.
    blocks = torch.where(valid, blocks, torch.zeros_like(blocks))
    offsets = (pos % block_size).expand_as(blocks)
    latent = latent_cache[blocks, offsets].float()  # [B, L, R]
    pe = pe_cache[blocks, offsets].float()  # [B, L, P]
    latent = torch.where(valid.unsqueeze(-1), latent, torch.zeros_like(latent))
    pe = torch.where(valid.unsqueeze(-1), pe, torch.zeros_like(pe))
    scores = torch.einsum("bhr,blr->bhl", q_latent.float(), latent)
    scores += torch.einsum("bhp,blp->bhl", q_pe.float(), pe)
    scores = (scores * scale).masked_fill(~valid.unsqueeze(1), float("-inf"))
    probs = scores.softmax(-1)
    return torch.einsum("bhl,blr->bhr", probs, latent).to(q_latent.dtype)


def route_noaux_tc(
    logits: torch.Tensor,
    bias: torch.Tensor,
    n_group: int,
    topk_group: int,
    top_k: int,
    scaling: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSeek-R1 group-limited sigmoid routing (DESIGN §3).

    logits [T, E] -> (topk_weights [T, top_k] fp32, topk_ids [T, top_k] int64), by descending
    biased score. Experts outside the kept groups are masked with -inf (as DeepSeek's own
    inference code does), so they are never chosen even when biased scores are negative.
    """
    t, e = logits.shape
    scores = torch.sigmoid(logits.float())
    biased = scores + bias.float()
    group_scores = biased.view(t, n_group, e // n_group).topk(2, dim=-1).values.sum(-1)
    kept = group_scores.topk(topk_group, dim=-1).indices  # [T, topk_group]
    group_mask = torch.zeros(t, n_group, dtype=torch.bool, device=logits.device)
    group_mask.scatter_(1, kept, True)
    expert_mask = group_mask.repeat_interleave(e // n_group, dim=1)  # [T, E]
    choice = biased.masked_fill(~expert_mask, float("-inf"))
    topk_ids = choice.topk(top_k, dim=-1).indices
    weights = scores.gather(1, topk_ids)
    weights = weights / (weights.sum(-1, keepdim=True) + 1e-20) * scaling
    return weights, topk_ids
