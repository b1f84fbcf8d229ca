"""R1's own config.json (its spelling of RoPE and FP8 settings) read into the model's shape."""

from __future__ import annotations

import math

import torch

from modelserver.model import DeepseekV3, ModelConfig

R1_CONFIG = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "aux_loss_alpha": 0.001,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "ep_size": 1,
    "first_k_dense_replace": 3,
    "hidden_act": "silu",
    "hidden_size": 7168,
    "initializer_range": 0.02,
    "intermediate_size": 18432,
    "kv_lora_rank": 512,
    "max_position_embeddings": 163840,
    "model_type": "deepseek_v3",
    "moe_intermediate_size": 2048,
    "moe_layer_freq": 1,
    "n_group": 8,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "norm_topk_prob": True,
    "num_attention_heads": 128,
    "num_experts_per_tok": 8,
    "num_hidden_layers": 61,
    "num_key_value_heads": 128,
    "num_nextn_predict_layers": 1,
    "q_lora_rank": 1536,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "quantization_config": {
        "activation_scheme": "dynamic",
        "fmt": "e4m3",
        "quant_method": "fp8",
        "weight_block_size": [128, 128],
    },
    "rms_norm_eps": 1e-06,
    "rope_scaling": {
        "beta_fast": 32,
        "beta_slow": 1,
        "factor": 40,
        "mscale": 1.0,
        "mscale_all_dim": 1.0,
        "original_max_position_embeddings": 4096,
        "type": "yarn",
    },
    "rope_theta": 10000,
    "routed_scaling_factor": 2.5,
    "scoring_func": "sigmoid",
    "seq_aux": True,
    "tie_word_embeddings": False,
    "topk_group": 4,
    "topk_method": "noaux_tc",
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "v_head_dim": 128,
    "vocab_size": 129280,
}


def test_r1_config_reads_yarn_and_routing_settings():
    c = ModelConfig.from_dict(R1_CONFIG)
    assert c.rope_scaling["rope_type"] == "yarn" and c.rope_theta == 10000
    assert c.quantization_config["weight_block_size"] == [128, 128]
    assert (c.topk_method, c.scoring_func, c.n_group, c.topk_group) == ("noaux_tc", "sigmoid", 8, 4)
    assert [c.is_moe_layer(i) for i in (0, 2, 3, 60)] == [False, False, True, True]
    # DESIGN §3: qk_head_dim^-0.5 × mscale², mscale = 0.1·ln(40) + 1
    assert math.isclose(c.softmax_scale, 192**-0.5 * (0.1 * math.log(40) + 1) ** 2)


def test_r1_config_builds_the_671b_model_with_a_576_value_latent_cache():
    with torch.device("meta"):
        model = DeepseekV3(ModelConfig.from_dict(R1_CONFIG), dtype=torch.bfloat16)
        cache = model.allocate_cache(num_blocks=1, block_size=1)
    params = sum(p.numel() for p in model.parameters())
    assert 670e9 < params < 672e9  # without the multi-token-prediction layer
    assert cache.latent[0].shape[-1] + cache.pe[0].shape[-1] == 576
