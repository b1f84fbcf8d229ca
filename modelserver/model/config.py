"""The model's hyper-parameters, read from a Hugging Face DeepSeek-V3/R1 `config.json`.

Field names are Hugging Face's, so a checkpoint's config is used as is. Both spellings of the
RoPE settings are accepted: transformers 5 writes `rope_parameters` (with `rope_theta` inside),
R1's own config has `rope_theta` plus `rope_scaling` (with `type` or `rope_type`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class ModelConfig:
    vocab_size: int = 129280
    hidden_size: int = 7168
    intermediate_size: int = 18432
    moe_intermediate_size: int = 2048
    num_hidden_layers: int = 61
    num_attention_heads: int = 128
    # MLA
    q_lora_rank: int | None = 1536
    kv_lora_rank: int = 512
    qk_nope_head_dim: int = 128
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128
    # MoE
    n_routed_experts: int | None = 256
    n_shared_experts: int | None = 1
    num_experts_per_tok: int | None = 8
    first_k_dense_replace: int = 3
    moe_layer_freq: int = 1
    n_group: int = 8
    topk_group: int = 4
    topk_method: str = "noaux_tc"  # or "greedy", "group_limited_greedy" (DeepSeek-V2)
    scoring_func: str = "sigmoid"  # or "softmax"
    norm_topk_prob: bool = True
    routed_scaling_factor: float = 2.5
    # the rest
    hidden_act: str = "silu"
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 163840
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # None, or the YaRN settings with "rope_type"
    rope_interleave: bool = True
    attention_bias: bool = False
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    quantization_config: dict[str, Any] | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        rope = d.pop("rope_parameters", None) or d.get("rope_scaling")
        if rope is not None:
            rope = dict(rope)
            rope.setdefault("rope_type", rope.pop("type", "default"))
            d.setdefault("rope_theta", rope.pop("rope_theta", cls.rope_theta))
            rope.pop("rope_theta", None)
            d["rope_scaling"] = rope if rope["rope_type"] != "default" else None
        # DeepSeek-V2 configs predate these fields; their defaults follow from topk_method.
        method = d.get("topk_method", cls.topk_method)
        d.setdefault("scoring_func", "sigmoid" if method == "noaux_tc" else "softmax")
        d.setdefault("norm_topk_prob", method == "noaux_tc")
        for key in ("n_group", "topk_group", "moe_layer_freq"):
            if d.get(key) is None:
                d[key] = 1
        config = cls(**{k: v for k, v in d.items() if k in names})
        config.extra = {k: v for k, v in d.items() if k not in names}
        config.validate()
        return config

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ModelConfig:
        return cls.from_dict(json.loads((Path(path) / "config.json").read_text()))

    def to_dict(self) -> dict[str, Any]:
        """The config.json this model is saved with (the R1 spelling of the RoPE settings)."""
        d = {**self.extra, **dataclasses.asdict(self)}
        del d["extra"]
        d.pop("rope_parameters", None)
        if d["quantization_config"] is None:
            del d["quantization_config"]
        return d

    def validate(self) -> None:
        # What the model does not implement is refused here rather than computed wrongly.
        if self.hidden_act != "silu":
            raise ValueError(f"hidden_act={self.hidden_act!r} is not supported (only silu)")
        if self.attention_bias:
            raise ValueError("attention_bias=True is not supported")
        heads_kv = self.extra.get("num_key_value_heads", self.num_attention_heads)
        if heads_kv != self.num_attention_heads:
            raise ValueError("MLA needs num_key_value_heads == num_attention_heads")
        if self.rope_scaling is not None and self.rope_scaling["rope_type"] != "yarn":
            raise ValueError(f"rope type {self.rope_scaling['rope_type']!r} is not supported")
        if self.topk_method not in ("noaux_tc", "greedy", "group_limited_greedy"):
            raise ValueError(f"topk_method={self.topk_method!r} is not supported")
        if self.scoring_func not in ("sigmoid", "softmax"):
            raise ValueError(f"scoring_func={self.scoring_func!r} is not supported")
        if self.n_routed_experts and self.n_routed_experts % self.n_group:
            raise ValueError("n_routed_experts must be a multiple of n_group")

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def is_moe_layer(self, layer: int) -> bool:
        return bool(
            self.n_routed_experts
            and layer >= self.first_k_dense_replace
            and layer % self.moe_layer_freq == 0
        )

    @property
    def softmax_scale(self) -> float:
        """qk_head_dim^-0.5, times mscale² under YaRN (longer contexts get sharper attention)."""
        scale = self.qk_head_dim**-0.5
        if self.rope_scaling is not None:
            mscale_all_dim = self.rope_scaling.get("mscale_all_dim") or 0
            if mscale_all_dim:
                m = yarn_mscale(self.rope_scaling["factor"], mscale_all_dim)
                scale *= m * m
        return scale


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0
