"""W4A16 quantisation (DESIGN §4): round-to-nearest, or GPTQ on calibration tokens.

Which weights are quantised is fixed by the model (`DeepseekV3`'s docstring): the linear layers
of attention, MLPs and experts. bench_quant measures what quantising the rest would cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from modelserver.loader import QUANT_METHOD, load_model
from modelserver.model import DeepseekV3

from .gptq import gptq_model, gptq_quantize

__all__ = ["gptq_model", "gptq_quantize", "quantize"]


def quantize(
    path: str | Path,
    *,
    group_size: int = 128,
    calib_ids: torch.Tensor | None = None,
    dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
) -> tuple[DeepseekV3, dict[str, Any]]:
    """Quantise the checkpoint at `path` (bf16/fp16/FP8): GPTQ with calibration tokens [S, T],
    round-to-nearest without. Returns the model and the quantization_config to save it with."""
    if calib_ids is None:
        model = load_model(
            path, quant=QUANT_METHOD, group_size=group_size, dtype=dtype, device=device
        )
    else:
        model = gptq_model(path, calib_ids, group_size=group_size, dtype=dtype, device=device)
    config = {
        "quant_method": QUANT_METHOD,
        "bits": 4,
        "group_size": group_size,
        "sym": True,
        "method": "rtn" if calib_ids is None else "gptq",
        "calibration_tokens": 0 if calib_ids is None else calib_ids.numel(),
        "high_precision": ["embed_tokens", "norms", "mlp.gate", "self_attn.kv_b_proj", "lm_head"],
    }
    return model, config
