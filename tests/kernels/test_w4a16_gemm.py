"""The Triton W4A16 GEMM against the reference, under the interpreter."""

import pytest
import torch

from kernels import _buffers, reference
from kernels.w4a16 import GemmConfig, w4a16_gemm


def _inputs(m: int, n: int, k: int, group_size: int, dtype: torch.dtype = torch.float16):
    x = torch.randn(m, k, dtype=dtype)
    qweight, scales = reference.quantize_rtn(torch.randn(n, k, dtype=dtype), group_size)
    return x, qweight, scales


def _assert_matches_reference(out, x, qweight, scales, group_size) -> None:
    """Both sides accumulate the same products in fp32, in different orders, then round.

    Bound: the fp32 reordering error K * 2^-24 * sum|x w|, plus one ulp of the output dtype
    (both may round a value that sits near a rounding boundary to different neighbours).
    """
    expected = reference.w4a16_gemm(x, qweight, scales, group_size)
    w = reference.dequantize_w4(qweight, scales, group_size).float()
    magnitude = x.float().abs() @ w.abs().T
    ulp = torch.finfo(x.dtype).eps
    bound = x.shape[1] * 2**-24 * magnitude + ulp * expected.float().abs() + 2**-24
    assert out.dtype == x.dtype and out.shape == expected.shape
    assert not out.isnan().any()
    assert ((out.float() - expected.float()).abs() <= bound).all()


@pytest.mark.parametrize(
    ("m", "n", "k", "group_size"),
    [(1, 64, 256, 32), (4, 96, 512, 64), (16, 64, 256, 128), (7, 80, 384, 128)],
)
def test_w4a16_gemm_matches_reference_at_decode_sizes_with_the_default_split_k(
    m: int, n: int, k: int, group_size: int
) -> None:
    x, qweight, scales = _inputs(m, n, k, group_size)
    out = w4a16_gemm(x, qweight, scales, group_size)
    _assert_matches_reference(out, x, qweight, scales, group_size)


@pytest.mark.parametrize(("m", "n", "group_size"), [(17, 128, 64), (70, 80, 128), (129, 64, 32)])
def test_w4a16_gemm_matches_reference_when_m_is_not_a_multiple_of_the_prefill_block(
    m: int, n: int, group_size: int
) -> None:
    x, qweight, scales = _inputs(m, n, 256, group_size)
    out = w4a16_gemm(x, qweight, scales, group_size)
    _assert_matches_reference(out, x, qweight, scales, group_size)


def test_w4a16_gemm_matches_reference_when_split_k_does_not_divide_the_k_tiles() -> None:
    # 12 tiles of 32 over 5 splits: 3, 3, 3, 3 and nothing for a fifth, which is not launched.
    x, qweight, scales = _inputs(3, 64, 384, 32)
    out = w4a16_gemm(x, qweight, scales, 32, GemmConfig(16, 32, 32, 5, 4, 1))
    _assert_matches_reference(out, x, qweight, scales, 32)


def test_w4a16_gemm_matches_reference_with_fp32_activations() -> None:
    x, qweight, scales = _inputs(5, 64, 256, 64, torch.float32)
    out = w4a16_gemm(x, qweight, scales, 64)
    _assert_matches_reference(out, x, qweight, scales, 64)


def test_w4a16_gemm_rejects_a_k_block_that_straddles_two_scale_groups() -> None:
    x, qweight, scales = _inputs(2, 64, 256, 32)
    with pytest.raises(ValueError, match="must divide group_size"):
        w4a16_gemm(x, qweight, scales, 32, GemmConfig(16, 64, 64, 1, 4, 1))


def test_poisoned_buffers_start_as_nan() -> None:
    # The guard every kernel test relies on: an unwritten output element cannot pass.
    assert _buffers.empty((2, 3), torch.float16, torch.device("cpu")).isnan().all()
