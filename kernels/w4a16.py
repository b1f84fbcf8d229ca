"""W4A16 GEMM in Triton: out [M, N] = x [M, K] @ dequant(W [N, K]).T.

The int4 weights are dequantised in registers tile by tile (never materialised in memory),
so the kernel reads 4.25 bits per weight instead of 16: at decode sizes, where the GEMM is
memory-bound, that is the whole speedup. Decode (M <= 16) splits K across programs so that
R1's few output tiles still fill every SM; prefill runs one program per output tile.
"""

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from kernels import _buffers

PACK = 8  # int4 values per int32 word


@dataclass(frozen=True)
class GemmConfig:
    block_m: int
    block_n: int
    block_k: int  # divides group_size, so one scale per row of a weight tile
    split_k: int
    num_warps: int
    num_stages: int


@triton.jit
def dequant_tile(
    qw_ptr,
    s_ptr,
    offs_n,
    n_mask,
    k0,
    stride_qn,
    stride_sn,
    GROUP_SIZE: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """fp32 weight tile [BLOCK_K, BLOCK_N] for columns k0..k0+BLOCK_K, inside one scale group."""
    offs_k = k0 + tl.arange(0, BLOCK_K)
    # Eight neighbouring k share one word: the repeated addresses are served by the cache.
    packed = tl.load(
        qw_ptr + offs_n[None, :] * stride_qn + (offs_k[:, None] // 8), mask=n_mask[None, :]
    )
    q = ((packed >> ((offs_k[:, None] % 8) * 4)) & 0xF) - 8
    scale = tl.load(s_ptr + offs_n * stride_sn + k0 // GROUP_SIZE, mask=n_mask)  # [BLOCK_N]
    return q.to(tl.float32) * scale[None, :].to(tl.float32)


@triton.jit
def _w4a16_gemm_kernel(
    x_ptr,
    qw_ptr,
    s_ptr,
    out_ptr,
    M,
    N,
    K,
    k_per_split,
    stride_xm,
    stride_qn,
    stride_sn,
    stride_os,
    stride_om,
    GROUP_SIZE: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N
    k_start = pid_k * k_per_split
    k_end = tl.minimum(k_start + k_per_split, K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(k_start, k_end, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        x_tile = x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :]
        x = tl.load(x_tile, mask=m_mask[:, None], other=0.0)
        w = dequant_tile(
            qw_ptr, s_ptr, offs_n, n_mask, k0, stride_qn, stride_sn, GROUP_SIZE, BLOCK_K
        )
        # ieee only matters for fp32 activations (tests); fp16/bf16 run on tensor cores as is.
        acc = tl.dot(x, w.to(x.dtype), acc, input_precision="ieee")
    out = out_ptr + pid_k * stride_os + offs_m[:, None] * stride_om + offs_n[None, :]
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])


def _sm_count(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4  # the interpreter: any small number exercises the split path


def pick_config(m: int, n: int, k: int, group_size: int, device: torch.device) -> GemmConfig:
    if m <= 16:
        # Decode: memory-bound. Enough programs for two waves over the SMs, by splitting K.
        block_n, block_k = 64, min(group_size, 128)
        tiles = triton.cdiv(n, block_n)
        split_k = max(1, min(k // block_k, triton.cdiv(2 * _sm_count(device), tiles)))
        return GemmConfig(16, block_n, block_k, split_k, num_warps=4, num_stages=4)
    block_m = 64 if m <= 64 else 128
    return GemmConfig(block_m, 128, min(group_size, 64), 1, num_warps=8, num_stages=3)


def w4a16_gemm(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    group_size: int,
    config: GemmConfig | None = None,
) -> torch.Tensor:
    """x [M, K] @ dequant(qweight [N, K/8], scales [N, K/G]).T -> [M, N] in x's dtype."""
    m, k = x.shape
    n = qweight.shape[0]
    if qweight.shape[1] * PACK != k or scales.shape != (n, k // group_size):
        raise ValueError(
            f"shapes disagree: x {x.shape}, qweight {qweight.shape}, scales {scales.shape}"
        )
    config = config or pick_config(m, n, k, group_size, x.device)
    if group_size % config.block_k:
        raise ValueError(f"block_k={config.block_k} must divide group_size={group_size}")
    x = x.contiguous()
    qweight, scales = qweight.contiguous(), scales.contiguous()
    k_tiles = k // config.block_k
    k_per_split = triton.cdiv(k_tiles, config.split_k) * config.block_k
    split_k = triton.cdiv(k, k_per_split)  # no empty split
    out = _buffers.empty((m, n), x.dtype, x.device)
    # Split-K partial sums go through an fp32 buffer [split_k, M, N] and a deterministic sum.
    target = out if split_k == 1 else _buffers.empty((split_k, m, n), torch.float32, x.device)
    grid = (triton.cdiv(m, config.block_m), triton.cdiv(n, config.block_n), split_k)
    _w4a16_gemm_kernel[grid](
        x,
        qweight,
        scales,
        target,
        m,
        n,
        k,
        k_per_split,
        x.stride(0),
        qweight.stride(0),
        scales.stride(0),
        m * n,
        n,
        GROUP_SIZE=group_size,
        BLOCK_M=config.block_m,
        BLOCK_N=config.block_n,
        BLOCK_K=config.block_k,
        num_warps=config.num_warps,
        num_stages=config.num_stages,
    )
    if split_k > 1:
        out.copy_(target.sum(0))
    return out
