"""The Triton MLA decode (split + merge) against the reference, under the interpreter."""

import pytest
import torch

from kernels import reference
from kernels.mla import mla_decode


def _paged_inputs(lens: list[int], heads: int, rank: int, rope: int, page: int, dtype):
    """A shuffled paged cache; block-table entries past each sequence's end hold -1."""
    num_blocks = sum(-(-n // page) for n in lens) + 3  # a few blocks no sequence owns
    max_blocks = max(-(-n // page) for n in lens) + 1
    block_table = torch.full((len(lens), max_blocks), -1, dtype=torch.int32)
    free = torch.randperm(num_blocks).tolist()
    for b, n in enumerate(lens):
        for i in range(-(-n // page)):
            block_table[b, i] = free.pop()
    latent_cache = torch.randn(num_blocks, page, rank, dtype=dtype)
    pe_cache = torch.randn(num_blocks, page, rope, dtype=dtype)
    q_latent = torch.randn(len(lens), heads, rank, dtype=dtype)
    q_pe = torch.randn(len(lens), heads, rope, dtype=dtype)
    seq_lens = torch.tensor(lens, dtype=torch.int32)
    return q_latent, q_pe, latent_cache, pe_cache, block_table, seq_lens


def _assert_matches_reference(out, inputs, scale: float) -> None:
    """Error bound, per output element [b, h, r].

    The kernel rounds the probabilities to the cache dtype for the P @ V dot: a relative
    error of eps/2 on each weight, so at most eps/2 * max_n |v[n, r]|. The fp32 scores,
    rescalings and split merge stay below 2^-16 of the same magnitude at these sizes, and
    the final rounding adds one ulp of the output.
    """
    q_latent, _, latent_cache, _, block_table, seq_lens = inputs
    expected = reference.mla_decode(*inputs, scale)
    page = latent_cache.shape[1]
    vmax = torch.stack(
        [
            latent_cache[block_table[b, : -(-int(n) // page)].long()]
            .reshape(-1, latent_cache.shape[2])[: int(n)]
            .float()
            .abs()
            .amax(0)
            for b, n in enumerate(seq_lens)
        ]
    ).unsqueeze(1)  # [B, 1, R]
    eps = torch.finfo(q_latent.dtype).eps
    bound = (eps / 2 + 2**-16) * vmax + eps * expected.float().abs()
    assert out.dtype == q_latent.dtype and out.shape == expected.shape
    assert not out.isnan().any()
    assert ((out.float() - expected.float()).abs() <= bound).all()


@pytest.mark.parametrize(
    ("lens", "heads", "page"),
    [([1, 37, 16], 4, 16), ([5, 70], 20, 8), ([1], 16, 16), ([33, 2, 64, 9], 8, 4)],
)
def test_mla_decode_matches_reference_for_a_batch_of_differing_lengths(
    lens: list[int], heads: int, page: int
) -> None:
    inputs = _paged_inputs(lens, heads, 64, 16, page, torch.float16)
    _assert_matches_reference(mla_decode(*inputs, 0.125), inputs, 0.125)


@pytest.mark.parametrize("num_splits", [1, 3, 8])
def test_mla_decode_matches_reference_when_some_sequence_slices_are_empty(num_splits: int) -> None:
    # A length-1 sequence next to a long one: most of its slices hold no position.
    inputs = _paged_inputs([1, 100], 4, 32, 16, 16, torch.float16)
    _assert_matches_reference(mla_decode(*inputs, 0.2, num_splits=num_splits), inputs, 0.2)


def test_mla_decode_matches_reference_with_fp32_inputs() -> None:
    inputs = _paged_inputs([3, 40], 4, 64, 16, 16, torch.float32)
    _assert_matches_reference(mla_decode(*inputs, 0.1, num_splits=2), inputs, 0.1)
