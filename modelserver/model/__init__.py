"""The DeepSeek-V3/R1 architecture (DESIGN §3); loading lives in `modelserver.loader`.

Tests hold this code to transformers' DeepseekV3ForCausalLM (fp32, relative error < 1e-4).
Where transformers departs from DeepSeek's own inference code, we follow transformers:
- YaRN: transformers applies it whenever rope_type is "yarn"; DeepSeek only when the run's
  max_seq_len exceeds original_max_position_embeddings (true for R1's config).
- cos/sin carry mscale(mscale)/mscale(mscale_all_dim) (1 for R1; DeepSeek-V3's code never scales them),
  and a YaRN config without both fields gets mscale(factor) on cos/sin and no softmax factor.
- The router runs in fp32 (DeepSeek: in the activation dtype) and adds 1e-20 to the
  normaliser; DeepSeek always normalises sigmoid weights, transformers only if norm_topk_prob.
- transformers' DeepseekV3 ignores scoring_func/topk_method (always R1's routing) and its
  DeepseekV2 ignores norm_topk_prob; we honour both fields.
- RoPE output is de-interleaved (first halves, then second halves); dot products are unchanged.
"""

from .config import ModelConfig
from .deepseek import DecoderLayer, DeepseekV3, LatentCache
from .layers import QuantLinear, QuantSpec
from .moe import Experts, QuantExperts

__all__ = [
    "DecoderLayer",
    "DeepseekV3",
    "Experts",
    "LatentCache",
    "ModelConfig",
    "QuantExperts",
    "QuantLinear",
    "QuantSpec",
]
