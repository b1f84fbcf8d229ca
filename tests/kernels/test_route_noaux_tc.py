"""The Triton noaux_tc router against the reference, under the interpreter."""

import pytest
import torch

from kernels import reference
from kernels.routing import route_noaux_tc

# fp32 throughout: sigmoid (2 ulp), the top-k sum (k ulp), the division and the scaling
# (1 ulp each) stay under 16 ulp = 2^-20 relative for k <= 8.
WEIGHT_RTOL = 2**-20


@pytest.mark.parametrize(
    ("tokens", "experts", "n_group", "topk_group", "top_k"),
    [(3, 256, 8, 4, 8), (7, 24, 3, 2, 5), (5, 64, 8, 3, 6), (1, 16, 1, 1, 2)],
)
def test_route_noaux_tc_matches_reference(
    tokens: int, experts: int, n_group: int, topk_group: int, top_k: int
) -> None:
    logits, bias = torch.randn(tokens, experts), torch.randn(experts) * 0.1
    weights, ids = route_noaux_tc(logits, bias, n_group, topk_group, top_k, 2.5)
    expected_weights, expected_ids = reference.route_noaux_tc(
        logits, bias, n_group, topk_group, top_k, 2.5
    )
    assert ids.dtype == torch.int64 and weights.dtype == torch.float32
    assert torch.equal(ids, expected_ids)
    torch.testing.assert_close(weights, expected_weights, rtol=WEIGHT_RTOL, atol=0)


def test_route_noaux_tc_ignores_dropped_groups_when_every_biased_score_is_negative() -> None:
    # A strongly negative bias everywhere: masking dropped groups with 0 instead of -inf
    # would make their experts look better than the kept ones.
    logits, bias = torch.randn(4, 32), torch.full((32,), -3.0)
    weights, ids = route_noaux_tc(logits, bias, 4, 1, 4, 1.0)
    expected_weights, expected_ids = reference.route_noaux_tc(logits, bias, 4, 1, 4, 1.0)
    assert torch.equal(ids, expected_ids)
    assert (ids // 8 == ids[:, :1] // 8).all()  # all four from one group of 8
    torch.testing.assert_close(weights, expected_weights, rtol=WEIGHT_RTOL, atol=0)


def test_route_noaux_tc_reads_fp16_logits() -> None:
    logits, bias = torch.randn(2, 64, dtype=torch.float16), torch.randn(64) * 0.1
    weights, ids = route_noaux_tc(logits, bias, 8, 4, 8, 2.5)
    expected_weights, expected_ids = reference.route_noaux_tc(logits, bias, 8, 4, 8, 2.5)
    assert torch.equal(ids, expected_ids)
    torch.testing.assert_close(weights, expected_weights, rtol=WEIGHT_RTOL, atol=0)
