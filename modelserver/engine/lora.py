"""LoRA adapters loaded and unloaded at run time, several in one batch.

The model has no adapter hook, so the registry adds one: a forward hook on each targeted linear
layer adds `scale · B(A x)` to the rows of the requests that use an adapter. Rows are tokens,
which holds for attention's projections (except kv_b_proj: decode folds its weight into the
query and output instead of calling it), the dense MLPs, the shared experts and lm_head;
routed experts regroup tokens by expert and cannot be targeted.

Adapters use PEFT's layout: `adapter_config.json` (`r`, `lora_alpha`, optional `use_rslora`) and
`adapter_model.safetensors` with `…{module}.lora_A.weight` [r, in] / `…lora_B.weight` [out, r],
module names as in the Hugging Face checkpoint (`model.layers.0.self_attn.q_a_proj`).
"""

from __future__ import annotations

import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$"
)
TARGETABLE = re.compile(
    r"^layers\.\d+\.(self_attn\.(q_proj|q_a_proj|q_b_proj|kv_a_proj_with_mqa|o_proj)"
    r"|mlp\.(gate_proj|up_proj|down_proj)"
    r"|mlp\.shared_experts\.(gate_proj|up_proj|down_proj))$|^lm_head$"
)


class AdapterError(ValueError):
    """An adapter that cannot be loaded (the server answers 400)."""


@dataclass
class LoRAWeight:
    a: torch.Tensor  # [r, in]
    b: torch.Tensor  # [out, r], pre-multiplied by the scale


@dataclass
class Adapter:
    name: str
    key: str  # unique per load: salts the prefix cache, so a reloaded adapter never reuses latents
    weights: dict[str, LoRAWeight]  # model module name -> weights


def read_adapter(name: str, path: str | Path, model: nn.Module, generation: int) -> Adapter:
    """Read and check a PEFT adapter against the model (no model state is touched)."""
    path = Path(path)
    config_path, weights_path = path / "adapter_config.json", path / "adapter_model.safetensors"
    if not config_path.exists() or not weights_path.exists():
        raise AdapterError(f"{path} needs adapter_config.json and adapter_model.safetensors")
    config = json.loads(config_path.read_text())
    rank, alpha = int(config.get("r", 8)), float(config.get("lora_alpha", 8))
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in load_file(str(weights_path)).items():
        match = _KEY.match(key)
        if not match:
            raise AdapterError(f"unexpected tensor {key} in {weights_path}")
        module = (
            match["module"].removeprefix("model.") if match["module"] != "lm_head" else "lm_head"
        )
        pairs.setdefault(module, {})[match["ab"]] = tensor
    modules = dict(model.named_modules())
    weights = {}
    for module_name, ab in pairs.items():
        if not TARGETABLE.match(module_name) or module_name not in modules:
            raise AdapterError(f"LoRA cannot target {module_name!r} of this model")
        if set(ab) != {"A", "B"}:
            raise AdapterError(f"{module_name}: needs both lora_A and lora_B")
        target = modules[module_name]
        a, b = ab["A"], ab["B"]
        if a.shape != (rank, target.in_features) or b.shape != (target.out_features, rank):
            raise AdapterError(
                f"{module_name}: lora_A {tuple(a.shape)} / lora_B {tuple(b.shape)} do not fit "
                f"r={rank}, in={target.in_features}, out={target.out_features}"
            )
        device, dtype = next(model.parameters()).device, torch.float32
        weights[module_name] = LoRAWeight(a.to(device, dtype), (b.float() * scale).to(device))
    if not weights:
        raise AdapterError(f"{weights_path} holds no LoRA weights")
    return Adapter(name, f"{name}#{generation}", weights)


class AdapterRegistry:
    """Owned by the engine thread: install/remove happen between steps, never during one."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.adapters: dict[str, Adapter] = {}  # by name
        self._by_key: dict[str, Adapter] = {}
        self._modules = dict(model.named_modules())
        self._hooked: set[str] = set()
        self._rows: list[Adapter | None] | None = None  # adapter of each row in this forward
        self.generation = 0

    def install(self, adapter: Adapter) -> None:
        self.adapters[adapter.name] = adapter
        self._by_key[adapter.key] = adapter
        for module_name in adapter.weights:
            if module_name not in self._hooked:
                self._modules[module_name].register_forward_hook(self._hook(module_name))
                self._hooked.add(module_name)

    def has_key(self, key: str) -> bool:
        return key in self._by_key

    def remove(self, name: str) -> None:
        del self._by_key[self.adapters.pop(name).key]

    @contextmanager
    def rows(self, keys: list[str | None]):
        """Run a forward whose row i belongs to a request using the adapter `keys[i]`
        (a single entry: every row, as in a prefill chunk)."""
        resolved = [self._by_key[k] if k else None for k in keys]
        self._rows = resolved if any(resolved) else None
        try:
            yield
        finally:
            self._rows = None

    def _hook(self, module_name: str):
        def add_delta(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            rows = self._rows
            if rows is None:
                return output
            x = inputs[0].reshape(-1, inputs[0].shape[-1])  # [N, in]
            out = output.reshape(-1, output.shape[-1])  # [N, out]
            if len(rows) == 1:
                rows = rows * x.shape[0]
            if len(rows) != x.shape[0]:
                raise RuntimeError(f"{module_name}: {x.shape[0]} rows for {len(rows)} requests")
            out = out.clone()
            for adapter in {id(a): a for a in rows if a is not None}.values():
                weight = adapter.weights.get(module_name)
                if weight is None:
                    continue
                index = torch.tensor(
                    [i for i, a in enumerate(rows) if a is adapter], device=x.device
                )
                delta = (x[index].float() @ weight.a.T) @ weight.b.T  # [n, out]
                out.index_add_(0, index, delta.to(out.dtype))
            return out.view(output.shape)

        return add_delta
