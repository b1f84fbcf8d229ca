"""The Triton fused MoE (align, gate/up, down) against the reference, under the interpreter."""

import pytest
import torch

from kernels import reference
from kernels.moe import align_slots, fused_moe_w4a16


def _experts(num_experts: int, hidden: int, inter: int, group_size: int):
    w13_q, w13_s = reference.quantize_rtn(
        torch.randn(num_experts * 2 * inter, hidden, dtype=torch.float16), group_size
    )
    w2_q, w2_s = reference.quantize_rtn(
        torch.randn(num_experts * hidden, inter, dtype=torch.float16), group_size
    )
    return (
        w13_q.view(num_experts, 2 * inter, -1),
        w13_s.view(num_experts, 2 * inter, -1),
        w2_q.view(num_experts, hidden, -1),
        w2_s.view(num_experts, hidden, -1),
    )


def _routing(tokens: int, top_k: int, experts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct experts per token, drawn only from `experts`."""
    pool = torch.tensor(experts)
    ids = torch.stack([pool[torch.randperm(len(experts))[:top_k]] for _ in range(tokens)])
    return ids, torch.rand(tokens, top_k)


def _assert_matches_reference(out, x, ids, weights, w13_q, w13_s, w2_q, w2_s, group_size):
    """Error bound, from fp16 storage and fp32 accumulation in a different order.

    act is rounded to fp16 on both sides from nearly equal fp32 values: they may land one
    fp16 ulp (2^-10 relative) apart, which the down GEMM carries as 2^-10 * |W2| @ |act|.
    The fp32 sums over H and I add (H + I) * 2^-24 of the same magnitude, and the final
    rounding of the output one fp16 ulp.
    """
    expected = reference.fused_moe_w4a16(x, ids, weights, w13_q, w13_s, w2_q, w2_s, group_size)
    inter = w13_q.shape[1] // 2
    hidden = x.shape[1]
    magnitude = torch.zeros(x.shape, dtype=torch.float32)
    for t in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            e = ids[t, j]
            gate_up = reference.dequantize_w4(w13_q[e], w13_s[e], group_size).float() @ x[t].float()
            act = torch.nn.functional.silu(gate_up[:inter]) * gate_up[inter:]
            w2 = reference.dequantize_w4(w2_q[e], w2_s[e], group_size).float()
            magnitude[t] += weights[t, j] * (w2.abs() @ act.abs())
    bound = (2**-10 + (hidden + inter) * 2**-24) * magnitude + 2**-10 * expected.float().abs()
    assert out.dtype == x.dtype and out.shape == x.shape
    assert not out.isnan().any()
    assert ((out.float() - expected.float()).abs() <= bound + 2**-24).all()


@pytest.mark.parametrize(
    ("tokens", "hidden", "inter", "num_experts", "top_k", "group_size"),
    [(1, 64, 32, 8, 2, 32), (5, 128, 64, 8, 3, 64), (3, 128, 128, 4, 2, 128)],
)
def test_fused_moe_matches_reference_at_decode_sizes(
    tokens: int, hidden: int, inter: int, num_experts: int, top_k: int, group_size: int
) -> None:
    weights = _experts(num_experts, hidden, inter, group_size)
    x = torch.randn(tokens, hidden, dtype=torch.float16)
    ids, topk_weights = _routing(tokens, top_k, list(range(num_experts)))
    out = fused_moe_w4a16(x, ids, topk_weights, *weights, group_size)
    _assert_matches_reference(out, x, ids, topk_weights, *weights, group_size)


def test_fused_moe_matches_reference_when_some_experts_receive_no_token() -> None:
    weights = _experts(8, 64, 32, 32)
    x = torch.randn(6, 64, dtype=torch.float16)
    ids, topk_weights = _routing(6, 2, [1, 4, 6])
    out = fused_moe_w4a16(x, ids, topk_weights, *weights, 32)
    _assert_matches_reference(out, x, ids, topk_weights, *weights, 32)


def test_fused_moe_matches_reference_when_an_expert_spans_several_row_blocks() -> None:
    # 37 tokens x 3 choices over 4 experts: about 28 rows each, two blocks of 16 per expert.
    weights = _experts(4, 64, 64, 64)
    x = torch.randn(37, 64, dtype=torch.float16)
    ids, topk_weights = _routing(37, 3, [0, 1, 2, 3])
    out = fused_moe_w4a16(x, ids, topk_weights, *weights, 64, block_m=16)
    _assert_matches_reference(out, x, ids, topk_weights, *weights, 64)


def test_align_slots_gives_each_block_one_expert_and_no_block_to_an_expert_without_tokens() -> None:
    ids = torch.tensor([[5, 0], [5, 2], [5, 0], [2, 5]])  # experts 1, 3, 4 unused
    sorted_slots, block_expert, total = align_slots(ids, num_experts=6, block_m=4)
    flat = ids.reshape(-1)
    # Expert 0: 2 slots, 2: 2 slots, 5: 4 slots -> three blocks of 4 rows.
    assert total.item() == 12
    assert block_expert[:3].tolist() == [0, 2, 5]
    rows = sorted_slots[:12].view(3, 4)
    for block, expert in zip(rows, block_expert[:3].tolist(), strict=True):
        real = block[block < flat.numel()]
        assert (flat[real.long()] == expert).all()
    assert sorted(sorted_slots[:12][sorted_slots[:12] < 8].tolist()) == list(range(8))
    assert (sorted_slots[12:] == flat.numel()).all()
