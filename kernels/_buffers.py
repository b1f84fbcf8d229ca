"""Allocation of kernel outputs and scratch buffers.

Tests set POISON so that every buffer starts as NaN (or the most negative integer), and an
element a kernel forgets to write shows up instead of passing by luck on zeroed memory.
"""

import torch

POISON = False


def empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    out = torch.empty(shape, dtype=dtype, device=device)
    if POISON:
        out.fill_(float("nan") if dtype.is_floating_point else torch.iinfo(dtype).min)
    return out
