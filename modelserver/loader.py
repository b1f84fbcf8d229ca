"""Checkpoint I/O: Hugging Face safetensors checkpoints in, `DeepseekV3` out, and back.

Reads one file or shards with `model.safetensors.index.json`; weights in bf16/fp16/fp32, R1's
FP8 e4m3 128×128 blocks with `weight_scale_inv`, or our W4A16 (`X.qweight` int32 + `X.scales`).
The model is built on the meta device, given uninitialised storage, and filled one checkpoint
tensor at a time; a weight bound for a W4A16 layer is quantised as soon as it is read, so
loading FP8 or bf16 as W4A16 never holds more than one dense tensor.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

import kernels
from modelserver.model import DeepseekV3, Experts, ModelConfig, QuantExperts, QuantLinear, QuantSpec

QUANT_METHOD = "w4a16"


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model: the message names the tensor."""


@dataclass
class Slot:
    """One weight: a dense tensor, or the (qweight, scales) of a W4A16 one. As a place in the
    model, its tensors are views into the model's storage: writing into them fills the model."""

    dense: torch.Tensor | None = None
    qweight: torch.Tensor | None = None
    scales: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        if self.dense is not None:
            return tuple(self.dense.shape)
        return (self.qweight.shape[0], self.qweight.shape[1] * 8)

    @property
    def group(self) -> int:
        return self.qweight.shape[1] * 8 // self.scales.shape[1]


def checkpoint_slots(module: nn.Module, prefix: str = "model.") -> dict[str, Slot]:
    """Hugging Face tensor name -> Slot for every tensor `module` needs. Names are `prefix` +
    the module's own (lm_head sits outside the `model.` prefix, as in transformers)."""

    def hf(name: str) -> str:
        return name if name.startswith("lm_head") else prefix + name

    slots: dict[str, Slot] = {}
    seen: set[int] = set()
    for key, tensor in module.state_dict(keep_vars=True).items():
        if id(tensor) in seen:  # tied lm_head: the checkpoint holds it once, as embed_tokens
            continue
        seen.add(id(tensor))
        tensor = tensor.detach()
        module_name, _, attr = key.rpartition(".")
        sub = module.get_submodule(module_name)
        if isinstance(sub, QuantLinear):
            if attr == "qweight":
                slots[hf(module_name) + ".weight"] = Slot(qweight=sub.qweight, scales=sub.scales)
        elif isinstance(sub, Experts | QuantExperts):
            if attr in ("w13", "w13_q"):
                slots.update(_expert_slots(sub, hf(module_name)))
        else:
            slots[hf(key)] = Slot(dense=tensor)
    return slots


def _expert_slots(module: Experts | QuantExperts, hf: str) -> Iterator[tuple[str, Slot]]:
    i = module.inter
    projections = {"gate_proj": slice(0, i), "up_proj": slice(i, 2 * i)}
    n = module.w13.shape[0] if isinstance(module, Experts) else module.w13_q.shape[0]
    for e in range(n):
        prefix = f"{hf}.{e}"
        if isinstance(module, Experts):
            for proj, rows in projections.items():
                yield f"{prefix}.{proj}.weight", Slot(dense=module.w13.data[e, rows])
            yield f"{prefix}.down_proj.weight", Slot(dense=module.w2.data[e])
        else:
            for proj, rows in projections.items():
                yield (
                    f"{prefix}.{proj}.weight",
                    Slot(qweight=module.w13_q[e, rows], scales=module.w13_s[e, rows]),
                )
            yield f"{prefix}.down_proj.weight", Slot(qweight=module.w2_q[e], scales=module.w2_s[e])


class Checkpoint:
    """The tensors of a safetensors checkpoint, read one at a time through memory maps."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        index = self.path / "model.safetensors.index.json"
        if index.exists():
            self.file_of: dict[str, str] = json.loads(index.read_text())["weight_map"]
        else:
            with safe_open(self.path / "model.safetensors", "pt") as f:
                self.file_of = dict.fromkeys(f.keys(), "model.safetensors")
        self._open: dict[str, Any] = {}

    def by_file(self) -> dict[str, list[str]]:
        files: dict[str, list[str]] = defaultdict(list)
        for name, file in self.file_of.items():
            files[file].append(name)
        return dict(sorted(files.items()))

    def get(self, name: str) -> torch.Tensor:
        file = self.file_of.get(name)
        if file is None:
            raise CheckpointError(f"tensor {name} is missing from the checkpoint")
        if file not in self._open:
            self._open[file] = safe_open(self.path / file, "pt")
        return self._open[file].get_tensor(name)

    def release(self, file: str) -> None:
        """Drop a shard's memory map, so its pages stop counting towards our memory."""
        self._open.pop(file, None)

    def size_bytes(self) -> int:
        return sum((self.path / f).stat().st_size for f in set(self.file_of.values()))


def dequantize_fp8_blocks(
    weight: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int] = (128, 128)
) -> torch.Tensor:
    """R1's FP8: weight [N, K] e4m3, scale_inv [ceil(N/bn), ceil(K/bk)] fp32 -> fp32 weight × scale."""
    n, k = weight.shape
    scale = (
        scale_inv.float().repeat_interleave(block[0], 0)[:n].repeat_interleave(block[1], 1)[:, :k]
    )
    return weight.float() * scale


def _read_weight(ckpt: Checkpoint, name: str, source: dict[str, Any], device: torch.device) -> Slot:
    """One checkpoint weight, as a dense tensor (FP8 is dequantised here) or W4A16 (qweight, scales)."""
    if source.get("quant_method") == QUANT_METHOD and name.endswith(".qweight"):
        scales = ckpt.get(name[: -len("qweight")] + "scales")
        return Slot(qweight=ckpt.get(name).to(device), scales=scales.to(device))
    tensor = ckpt.get(name).to(device)
    if tensor.dtype == torch.float8_e4m3fn:
        scale_inv = ckpt.get(name + "_scale_inv").to(device)
        block = tuple(source.get("weight_block_size", (128, 128)))
        return Slot(dense=dequantize_fp8_blocks(tensor, scale_inv, block))
    return Slot(dense=tensor)


def _store(name: str, slot: Slot, weight: Slot) -> None:
    """Copy `weight` into `slot`, dequantising or quantising when their formats differ."""
    if weight.shape != slot.shape:
        raise CheckpointError(
            f"tensor {name} has shape {weight.shape}, the model expects {slot.shape}"
        )
    if weight.qweight is not None and slot.qweight is not None and weight.group == slot.group:
        slot.qweight.copy_(weight.qweight)
        slot.scales.copy_(weight.scales)
        return
    dense = weight.dense
    if dense is None:
        dense = kernels.dequantize_w4(weight.qweight, weight.scales, weight.group)
    if slot.dense is not None:
        slot.dense.copy_(dense)
        return
    # Quantise in the dtype the scales are stored in, so rounding matches the stored grid.
    qweight, scales = kernels.quantize_rtn(
        dense.to(slot.scales.device, slot.scales.dtype), slot.group
    )
    slot.qweight.copy_(qweight)
    slot.scales.copy_(scales)


_LAYER = re.compile(r"model\.layers\.(\d+)\.")


def load_model(
    path: str | Path,
    *,
    quant: str = "none",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    group_size: int = 128,
) -> DeepseekV3:
    """Load a checkpoint directory as a `DeepseekV3` in eval mode.

    quant="none" gives dense weights in `dtype` (FP8 and W4A16 checkpoints are dequantised);
    quant="w4a16" gives W4A16 layers, quantised on the way in by round-to-nearest with
    `group_size` unless the checkpoint already is W4A16 (then its own group size is used).
    """
    if quant not in ("none", QUANT_METHOD):
        raise ValueError(f"quant must be 'none' or '{QUANT_METHOD}', not {quant!r}")
    config = ModelConfig.from_pretrained(path)
    source = config.quantization_config or {}
    source_group = source.get("group_size") if source.get("quant_method") == QUANT_METHOD else None
    spec = QuantSpec(source_group or group_size) if quant == QUANT_METHOD else None
    # The loaded model is dense or ours; the checkpoint's own format is history.
    config.quantization_config = None
    device = torch.device(device)
    with torch.device("meta"):
        model = DeepseekV3(config, spec, dtype)
    model.to_empty(device=device)  # unties shared weights: tie again
    model.tie_weights()
    model.rope.reset_parameters()
    model.eval()
    fill_from_checkpoint(model, path, source, config.num_hidden_layers)
    return model


def fill_from_checkpoint(
    module: nn.Module,
    path: str | Path,
    source: dict[str, Any],
    num_layers: int,
    *,
    prefix: str = "model.",
    scope: str = "",
) -> None:
    """Copy the checkpoint tensors whose names start with `scope` into `module` (named as in
    `checkpoint_slots(module, prefix)`), converting between dense, FP8 and W4A16 on the way;
    fail naming the tensor on anything missing, unexpected or mis-shaped. `source` is the
    checkpoint's quantization_config."""
    slots = checkpoint_slots(module, prefix)
    device = next(module.parameters()).device
    ckpt = Checkpoint(path)
    loaded: set[str] = set()
    with torch.no_grad():
        for file, names in ckpt.by_file().items():
            for name in names:
                layer = _LAYER.match(name)
                if (
                    not name.startswith(scope)
                    or name.endswith(("_scale_inv", ".scales", "rotary_emb.inv_freq"))
                    # Layers past num_hidden_layers are R1's multi-token-prediction module.
                    or (layer and int(layer.group(1)) >= num_layers)
                ):
                    continue
                key = name[: -len("qweight")] + "weight" if name.endswith(".qweight") else name
                if key not in slots:
                    raise CheckpointError(f"unexpected tensor {name} in {file}")
                _store(name, slots[key], _read_weight(ckpt, name, source, device))
                loaded.add(key)
            ckpt.release(file)
    missing = [k for k in slots if k not in loaded]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise CheckpointError(f"tensors missing from the checkpoint at {path}: {shown}")


def save_checkpoint(
    model: DeepseekV3,
    path: str | Path,
    *,
    quantization_config: dict[str, Any] | None = None,
    shard_bytes: int = 2 << 30,
) -> None:
    """Write `model` in Hugging Face layout (per-expert tensors, sharded, with an index);
    W4A16 layers as `X.qweight` + `X.scales`. `quantization_config` goes into config.json."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, slot in checkpoint_slots(model).items():
        if slot.dense is not None:
            tensors[name] = slot.dense
        else:
            base = name[: -len("weight")]
            tensors[base + "qweight"], tensors[base + "scales"] = slot.qweight, slot.scales
    shards: list[list[str]] = [[]]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    weight_map = {}
    for i, names in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        # clone: expert slices share storage, which safetensors refuses to write
        save_file(
            {n: tensors[n].detach().cpu().clone() for n in names},
            path / file,
            metadata={"format": "pt"},
        )
        weight_map.update(dict.fromkeys(names, file))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config = model.config.to_dict()
    config["quantization_config"] = quantization_config
    if quantization_config is None:
        del config["quantization_config"]
    config["architectures"] = ["DeepseekV3ForCausalLM"]
    config["model_type"] = "deepseek_v3"
    config.pop("torch_dtype", None)
    config["dtype"] = str(model.dtype).removeprefix("torch.")
    (path / "config.json").write_text(json.dumps(config, indent=2))
