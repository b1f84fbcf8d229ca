"""LoRA adapters for training, saved in the PEFT layout the model server loads
(`modelserver.engine.lora`).

Only modules whose rows are tokens of one sequence are targeted (`TARGETABLE`: attention's
projections but kv_b_proj, the dense MLPs, the shared experts): their inputs keep the batch
dimension, so Opacus computes exact per-sample gradients for the adapter weights. Routed experts
regroup the tokens of every sample by expert and stay frozen (DESIGN.md §6).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from modelserver.engine.lora import TARGETABLE

# The default targets: attention (the query and latent down-projections, the output) and the
# shared experts, which every token passes through.
DEFAULT_TARGETS = ("q_a_proj", "q_proj", "kv_a_proj_with_mqa", "o_proj", "shared_experts")


class LoRALinear(nn.Module):
    """`base(x) + scale · B(A(x))` with the base frozen; B starts at zero, so a fresh adapter
    leaves the model unchanged. A and B are plain `nn.Linear`s, which Opacus supports."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.lora_B(self.lora_A(x))


def add_lora(
    model: nn.Module, *, rank: int, alpha: float, targets: tuple[str, ...] = DEFAULT_TARGETS
) -> list[str]:
    """Freeze `model` and wrap the targeted linear layers; returns their module names."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for name, module in list(model.named_modules()):
        local = name.removeprefix("model.")
        if not isinstance(module, nn.Linear) or not TARGETABLE.match(local):
            continue
        if not any(f".{t}." in f".{name}." for t in targets):
            continue
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attr, LoRALinear(module, rank, alpha))
        wrapped.append(name)
    if not wrapped:
        raise ValueError(f"no module of the model matches the LoRA targets {targets}")
    return wrapped


def lora_modules(model: nn.Module) -> dict[str, LoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's weights under PEFT's names (`base_model.model.<module>.lora_A.weight`)."""
    out = {}
    for name, m in lora_modules(model).items():
        name = name.removeprefix("_module.")  # Opacus's wrapper
        out[f"base_model.model.{name}.lora_A.weight"] = m.lora_A.weight.detach().clone()
        out[f"base_model.model.{name}.lora_B.weight"] = m.lora_B.weight.detach().clone()
    return out


def load_lora_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, m in lora_modules(model).items():
            key = f"base_model.model.{name.removeprefix('_module.')}"
            m.lora_A.weight.copy_(state[f"{key}.lora_A.weight"])
            m.lora_B.weight.copy_(state[f"{key}.lora_B.weight"])


def save_adapter(model: nn.Module, out: Path, *, rank: int, alpha: float, base: str) -> None:
    """`adapter_config.json` + `adapter_model.safetensors`, as PEFT writes them."""
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(n.removeprefix("_module.") for n in lora_modules(model))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "r": rank,
        "lora_alpha": alpha,
        "target_modules": names,
        "lora_dropout": 0.0,
        "bias": "none",
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(
        {k: v.float().contiguous() for k, v in lora_state(model).items()},
        str(out / "adapter_model.safetensors"),
    )


def load_adapter(model: nn.Module, adapter_dir: Path) -> None:
    """Add the adapter that `save_adapter` wrote to a fresh model (for evaluation)."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    add_lora(
        model, rank=config["r"], alpha=config["lora_alpha"], targets=tuple(config["target_modules"])
    )
    load_lora_state(model, load_file(str(adapter_dir / "adapter_model.safetensors")))
