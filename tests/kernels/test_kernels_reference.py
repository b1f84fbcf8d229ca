"""The PyTorch references against independent, deliberately naive formulations."""

import pytest
import torch
import torch.nn.functional as F

import kernels
from kernels import reference


def test_pack_int4_puts_column_8i_plus_j_in_nibble_j_of_word_i_stored_as_q_plus_8() -> None:
    q = torch.tensor([[-8, -7, 0, 1, 2, 3, 6, 7, 5, -1, 0, 0, 0, 0, 0, 0]], dtype=torch.int8)
    words = kernels.pack_int4(q)
    assert words.dtype == torch.int32 and words.shape == (1, 2)
    for i in range(2):
        word = words[0, i].item() & 0xFFFFFFFF
        nibbles = [(word >> (4 * j)) & 0xF for j in range(8)]
        assert nibbles == [v + 8 for v in q[0, 8 * i : 8 * i + 8].tolist()]


def test_unpack_int4_inverts_pack_int4_over_the_whole_range() -> None:
    q = torch.randint(-8, 8, (5, 64), dtype=torch.int8)
    assert torch.equal(kernels.unpack_int4(kernels.pack_int4(q)), q)


@pytest.mark.parametrize("group_size", [32, 64, 128])
def test_quantize_rtn_rounds_each_weight_to_within_half_a_step_of_its_group_scale(
    group_size: int,
) -> None:
    w = torch.randn(6, 256, dtype=torch.float16)
    qweight, scales = kernels.quantize_rtn(w, group_size)
    assert qweight.shape == (6, 32) and scales.shape == (6, 256 // group_size)
    assert scales.dtype == torch.float16
    absmax = w.float().view(6, -1, group_size).abs().amax(-1)
    torch.testing.assert_close(scales.float(), absmax / 7, rtol=2**-10, atol=0)
    back = kernels.dequantize_w4(qweight, scales, group_size)
    assert back.dtype == torch.float16
    step = scales.float().repeat_interleave(group_size, dim=1)
    # Half a quantisation step, plus the fp16 rounding of the dequantised value.
    assert ((back.float() - w.float()).abs() <= step / 2 + w.float().abs() * 2**-10).all()


def test_quantize_rtn_gives_an_all_zero_group_a_unit_scale_and_zero_weights() -> None:
    w = torch.randn(2, 64)
    w[1, :32] = 0
    qweight, scales = kernels.quantize_rtn(w, 32)
    assert scales[1, 0] == 1
    assert (kernels.unpack_int4(qweight)[1, :32] == 0).all()


def test_w4a16_gemm_reference_equals_x_times_the_dequantised_weight_transposed() -> None:
    x = torch.randn(3, 128, dtype=torch.float16)
    qweight, scales = kernels.quantize_rtn(torch.randn(10, 128, dtype=torch.float16), 64)
    w = kernels.dequantize_w4(qweight, scales, 64).float()
    out = kernels.w4a16_gemm(x, qweight, scales, 64)
    assert out.dtype == torch.float16 and out.shape == (3, 10)
    torch.testing.assert_close(out, (x.float() @ w.T).half())


def test_fused_moe_reference_equals_a_per_token_per_choice_loop() -> None:
    t, h, inter, e, k, g = 5, 64, 32, 6, 2, 32
    x = torch.randn(t, h)
    w13_q, w13_s = kernels.quantize_rtn(torch.randn(e * 2 * inter, h), g)
    w2_q, w2_s = kernels.quantize_rtn(torch.randn(e * h, inter), g)
    w13_q, w13_s = w13_q.view(e, 2 * inter, -1), w13_s.view(e, 2 * inter, -1)
    w2_q, w2_s = w2_q.view(e, h, -1), w2_s.view(e, h, -1)
    topk_ids = torch.stack([torch.randperm(e)[:k] for _ in range(t)])
    topk_weights = torch.rand(t, k)
    out = kernels.fused_moe_w4a16(x, topk_ids, topk_weights, w13_q, w13_s, w2_q, w2_s, g)
    expected = torch.zeros(t, h)
    for ti in range(t):
        for j in range(k):
            ex = topk_ids[ti, j]
            gate_up = kernels.dequantize_w4(w13_q[ex], w13_s[ex], g) @ x[ti]
            act = F.silu(gate_up[:inter]) * gate_up[inter:]
            down = kernels.dequantize_w4(w2_q[ex], w2_s[ex], g) @ act
            expected[ti] += topk_weights[ti, j] * down
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-4)


def test_mla_decode_reference_equals_attention_over_each_sequence_gathered_block_by_block() -> None:
    b, h, r, p, block_size, num_blocks = 3, 4, 32, 8, 4, 10
    seq_lens = torch.tensor([1, 9, 4], dtype=torch.int32)
    block_table = torch.stack([torch.randperm(num_blocks)[:3] for _ in range(b)]).int()
    block_table[0, 1:] = -1  # unused entries hold garbage
    latent_cache = torch.randn(num_blocks, block_size, r)
    pe_cache = torch.randn(num_blocks, block_size, p)
    q_latent, q_pe = torch.randn(b, h, r), torch.randn(b, h, p)
    out = kernels.mla_decode(q_latent, q_pe, latent_cache, pe_cache, block_table, seq_lens, 0.3)
    for bi in range(b):
        n = int(seq_lens[bi])
        blocks = [int(block_table[bi, i // block_size]) for i in range(n)]
        lat = torch.stack([latent_cache[blk, i % block_size] for i, blk in enumerate(blocks)])
        pe = torch.stack([pe_cache[blk, i % block_size] for i, blk in enumerate(blocks)])
        probs = (0.3 * (q_latent[bi] @ lat.T + q_pe[bi] @ pe.T)).softmax(-1)
        torch.testing.assert_close(out[bi], probs @ lat, rtol=1e-5, atol=1e-5)


def _route_one_token(logits, bias, n_group, topk_group, top_k, scaling):
    scores = [1 / (1 + torch.exp(-v)).item() for v in logits]
    biased = [s + b for s, b in zip(scores, bias.tolist(), strict=True)]
    size = len(scores) // n_group
    group_score = [sum(sorted(biased[g * size : (g + 1) * size])[-2:]) for g in range(n_group)]
    kept = sorted(range(n_group), key=lambda g: -group_score[g])[:topk_group]
    candidates = [i for i in range(len(scores)) if i // size in kept]
    ids = sorted(candidates, key=lambda i: -biased[i])[:top_k]
    total = sum(scores[i] for i in ids)
    return [scores[i] / total * scaling for i in ids], ids


def test_route_noaux_tc_reference_equals_a_per_token_python_implementation() -> None:
    t, e, n_group, topk_group, top_k = 6, 32, 4, 2, 3
    logits, bias = torch.randn(t, e), torch.randn(e) * 0.1
    weights, ids = kernels.route_noaux_tc(logits, bias, n_group, topk_group, top_k, 2.5)
    assert weights.dtype == torch.float32 and ids.dtype == torch.int64
    for ti in range(t):
        w, i = _route_one_token(logits[ti], bias, n_group, topk_group, top_k, 2.5)
        assert ids[ti].tolist() == i
        torch.testing.assert_close(weights[ti], torch.tensor(w), rtol=1e-5, atol=1e-6)


def test_route_noaux_tc_prefers_a_group_with_two_good_experts_over_one_with_the_best_expert() -> (
    None
):
    # Group 0 holds the single best expert; group 1 has two good ones, so its top-2 sum wins.
    logits = torch.tensor([[4.0, -4.0, 2.0, 2.0]])
    weights, ids = reference.route_noaux_tc(logits, torch.zeros(4), 2, 1, 1, 1.0)
    assert ids[0].item() in (2, 3)
    assert weights[0].item() == pytest.approx(1.0)


def test_route_noaux_tc_selects_by_biased_score_but_weighs_by_unbiased_score() -> None:
    logits = torch.tensor([[0.0, 1.0, 0.5, -1.0]])
    bias = torch.tensor([2.0, 0.0, 0.0, 0.0])
    weights, ids = reference.route_noaux_tc(logits, bias, 1, 1, 2, 1.0)
    assert ids[0].tolist() == [0, 1]
    s0, s1 = torch.sigmoid(torch.tensor(0.0)), torch.sigmoid(torch.tensor(1.0))
    torch.testing.assert_close(weights[0], torch.stack([s0, s1]) / (s0 + s1))
