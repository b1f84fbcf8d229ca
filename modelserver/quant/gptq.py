"""GPTQ: quantise a weight column by column, pushing each column's rounding error onto the
columns not yet quantised, weighted by the inverse Hessian of the layer's calibration inputs
(Frantar et al., 2022). Output is the same symmetric int4 + group scale format as RTN.

`gptq_model` runs it layer by layer over a checkpoint: each decoder layer is read dense from
disk on its own, its inputs come from the already-quantised layers before it, and only the
W4A16 model plus one dense layer are ever in memory.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import kernels
from modelserver.loader import fill_from_checkpoint, load_model
from modelserver.model import (
    DecoderLayer,
    DeepseekV3,
    Experts,
    ModelConfig,
    QuantExperts,
    QuantLinear,
)


def gptq_quantize(
    w: torch.Tensor, hessian: torch.Tensor, group_size: int, dtype: torch.dtype, damp: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor]:
    """w [N, K], hessian [K, K] (sum of x xᵀ over calibration inputs) -> (qweight, scales in dtype)."""
    n, k = w.shape
    w = w.float().clone()
    h = hessian.float().clone()
    dead = h.diagonal() == 0
    h[dead, dead] = 1  # inputs never seen: no information, plain rounding there
    h.diagonal().add_(damp * h.diagonal().mean())
    # Upper Cholesky factor of H⁻¹: row i holds how column i's error spreads to columns > i.
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.empty(n, k, dtype=torch.int8, device=w.device)
    scales = torch.empty(n, k // group_size, dtype=dtype, device=w.device)
    block = group_size * max(1, 128 // group_size)  # whole groups per block
    for b0 in range(0, k, block):
        b1 = min(b0 + block, k)
        wb, hb = w[:, b0:b1], hinv[b0:b1, b0:b1]
        err = torch.zeros_like(wb)
        for i in range(b1 - b0):
            col = b0 + i
            if col % group_size == 0:  # scale from the group as updated so far
                s = wb[:, i : i + group_size].abs().amax(1) / 7
                s = torch.where(s == 0, torch.ones_like(s), s).to(dtype)
                scales[:, col // group_size] = s
                s = s.float()
            qc = torch.round(wb[:, i] / s).clamp(-8, 7)
            q[:, col] = qc.to(torch.int8)
            err[:, i] = (wb[:, i] - qc * s) / hb[i, i]
            wb[:, i:] -= err[:, i : i + 1] * hb[i, i:].unsqueeze(0)
        w[:, b1:] -= err @ hinv[b0:b1, b1:]
    return kernels.pack_int4(q), scales


class HessianRecorder:
    """Sums x xᵀ over the inputs of every quantisable weight of one dense decoder layer."""

    def __init__(self, layer: DecoderLayer) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.handles = []
        for name, module in layer.named_modules():
            if isinstance(module, nn.Linear) and not name.endswith("kv_b_proj"):
                self.handles.append(module.register_forward_pre_hook(self._linear_hook(name)))
            elif isinstance(module, Experts):
                self.handles.append(
                    module.register_forward_pre_hook(self._experts_hook(name, module))
                )

    def _add(self, key: str, x: torch.Tensor) -> None:
        x = x.reshape(-1, x.shape[-1]).float()
        if key not in self.sums:
            self.sums[key] = torch.zeros(x.shape[1], x.shape[1], device=x.device)
        self.sums[key] += x.T @ x

    def _linear_hook(self, name: str):
        return lambda module, args: self._add(name, args[0])

    def _experts_hook(self, name: str, experts: Experts):
        def hook(module: nn.Module, args: tuple) -> None:
            x, ids, _ = args
            for e in ids.unique().tolist():
                xe = x[(ids == e).any(-1)]
                gate, up = F.linear(xe, experts.w13[e]).split(experts.inter, dim=-1)
                self._add(f"{name}.{e}.w13", xe)
                self._add(f"{name}.{e}.w2", F.silu(gate) * up)

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def gptq_layer(dense: DecoderLayer, quant: DecoderLayer, sums: dict[str, torch.Tensor]) -> None:
    """Write GPTQ-quantised weights of `dense` into the W4A16 twin `quant`. Weights whose
    inputs were never seen (an expert no calibration token chose) are rounded to nearest."""
    dense_modules = dict(dense.named_modules())
    for name, module in quant.named_modules():
        if isinstance(module, QuantLinear):
            w, h = dense_modules[name].weight, sums[name]
            module.qweight[:], module.scales[:] = gptq_quantize(
                w, h, module.group_size, module.scales.dtype
            )
        elif isinstance(module, QuantExperts):
            experts: Experts = dense_modules[name]
            for e in range(experts.w13.shape[0]):
                for w, key, q, s in (
                    (experts.w13[e], f"{name}.{e}.w13", module.w13_q, module.w13_s),
                    (experts.w2[e], f"{name}.{e}.w2", module.w2_q, module.w2_s),
                ):
                    h = sums.get(key, torch.zeros(w.shape[1], w.shape[1], device=w.device))
                    q[e], s[e] = gptq_quantize(w, h, module.group_size, s.dtype)


@torch.no_grad()
def gptq_model(
    path: str | Path,
    calib_ids: torch.Tensor,
    *,
    group_size: int = 128,
    dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
    batch: int = 8,
) -> DeepseekV3:
    """Sequential GPTQ over the checkpoint at `path` with calibration tokens [S, T]."""
    model = load_model(path, quant="w4a16", group_size=group_size, dtype=dtype, device=device)
    config: ModelConfig = model.config
    source = ModelConfig.from_pretrained(path).quantization_config or {}
    calib_ids = calib_ids.to(model.device)
    cos, sin = model.rope(torch.arange(calib_ids.shape[1], device=model.device), dtype)

    def attend(attn, h):
        return attn(h, cos, sin)

    xs = [model.embed_tokens(ids) for ids in calib_ids.split(batch)]  # [b, T, D] each
    for i, layer in enumerate(model.layers):
        with torch.device("meta"):
            dense = DecoderLayer(config, i, None, dtype)
        dense.to_empty(device=model.device).eval()
        scope = f"model.layers.{i}."
        fill_from_checkpoint(
            dense, path, source, config.num_hidden_layers, prefix=scope, scope=scope
        )
        recorder = HessianRecorder(dense)
        for x in xs:
            dense(x, attend)
        recorder.remove()
        gptq_layer(dense, layer, recorder.sums)
        del dense
        # The next layer calibrates on what the quantised model will actually feed it.
        xs = [layer(x, attend) for x in xs]
    return model
