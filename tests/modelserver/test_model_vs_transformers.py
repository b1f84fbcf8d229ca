"""Our DeepSeek-V3/R1 against transformers' on random tiny configs, in fp32.

Each reference is written with `save_pretrained` (sharded safetensors) and read back through
our loader, so the loader's naming and expert stacking are checked along with the math.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelserver.loader import load_model

BASE = dict(
    vocab_size=96,
    hidden_size=64,
    intermediate_size=96,
    moe_intermediate_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=4,
    n_shared_experts=1,
    n_routed_experts=8,
    kv_lora_rank=32,
    q_lora_rank=48,
    qk_nope_head_dim=16,
    qk_rope_head_dim=8,
    v_head_dim=16,
    max_position_embeddings=256,
    initializer_range=0.1,
    tie_word_embeddings=False,
)
YARN = {
    "rope_type": "yarn",
    "rope_theta": 10000.0,
    "factor": 4.0,
    "original_max_position_embeddings": 64,
    "beta_fast": 32.0,
    "beta_slow": 1.0,
    "mscale": 1.0,
    "mscale_all_dim": 1.0,
}
CONFIGS = {
    # R1's shape: YaRN, low-rank queries, grouped top-k.
    "r1_like": dict(
        rope_parameters=YARN,
        n_group=4,
        topk_group=2,
        num_experts_per_tok=2,
        first_k_dense_replace=1,
    ),
    # No YaRN, full-rank queries, one group, two dense layers, tied embeddings.
    "plain_rope_full_rank_q": dict(
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        q_lora_rank=None,
        n_group=1,
        topk_group=1,
        num_experts_per_tok=3,
        first_k_dense_replace=2,
        tie_word_embeddings=True,
    ),
    # YaRN whose mscale differs from mscale_all_dim (cos/sin scaled), unnormalised weights,
    # 8 groups of 2, non-interleaved RoPE.
    "yarn_mscale_unnormalised": dict(
        rope_parameters={
            **YARN,
            "factor": 8.0,
            "original_max_position_embeddings": 32,
            "mscale": 0.707,
            "mscale_all_dim": 1.0,
        },
        n_routed_experts=16,
        n_group=8,
        topk_group=3,
        num_experts_per_tok=4,
        norm_topk_prob=False,
        rope_interleave=False,
        first_k_dense_replace=1,
    ),
}


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def build_reference(path: Path, arch: str = "v3", seed: int = 0, **overrides):
    """A random transformers model saved to `path` in shards; returns it in eval mode."""
    import transformers

    names = {
        "v3": ("DeepseekV3Config", "DeepseekV3ForCausalLM"),
        "v2": ("DeepseekV2Config", "DeepseekV2ForCausalLM"),
    }
    config_cls, model_cls = (getattr(transformers, n) for n in names[arch])
    config = config_cls(**{**BASE, **overrides})
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    with torch.no_grad():
        for layer in model.model.layers[config.first_k_dense_replace :]:
            if hasattr(layer.mlp.gate, "e_score_correction_bias"):  # R1's routing bias
                layer.mlp.gate.e_score_correction_bias.uniform_(-0.3, 0.3)
    model.save_pretrained(path, max_shard_size="100KB")
    return model


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    ref = build_reference(path, **CONFIGS[request.param])
    return request.param, ref, load_model(path, dtype=torch.float32)


@torch.no_grad()
def test_prefill_logits_match_transformers(pair):
    name, ref, ours = pair
    ids = torch.randint(0, BASE["vocab_size"], (2, 40), generator=torch.Generator().manual_seed(1))
    err = rel_err(ours(ids), ref(ids).logits)
    print(f"[{name}] prefill max rel err {err:.2e}")
    assert err < 1e-4


@torch.no_grad()
def test_chunked_prefill_and_paged_decode_match_transformers(pair):
    """Two sequences: prefixes in chunks that cross block boundaries, then batched decode of
    one token per sequence per step at different positions, blocks scattered in the pool."""
    name, ref, ours = pair
    gen = torch.Generator().manual_seed(2)
    lengths, chunks = [21, 17], [[5, 4], [6]]  # prefill 9 and 6 tokens, then decode 12 and 11
    seqs = [torch.randint(0, BASE["vocab_size"], (n,), generator=gen) for n in lengths]
    block_size, blocks = 4, torch.randperm(16, generator=gen).to(torch.int32)
    tables = torch.stack([blocks[:6], blocks[6:12]])  # [2, 6]: room for 24 positions each
    cache = ours.allocate_cache(16, block_size)
    got: list[list[torch.Tensor]] = [[], []]
    for b in range(2):
        start = 0
        for n in chunks[b]:
            got[b].append(ours.prefill(seqs[b][start : start + n], cache, tables[b], start))
            start += n
    pos = torch.tensor([9, 6])
    while (pos < torch.tensor(lengths)).any():
        live = (pos < torch.tensor(lengths)).nonzero().flatten()
        ids = torch.stack([seqs[b][pos[b]] for b in live.tolist()])
        logits = ours.decode(ids, pos[live], cache, tables[live])
        for row, b in enumerate(live.tolist()):
            got[b].append(logits[row : row + 1])
        pos[live] += 1
    errs = [rel_err(torch.cat(got[b]), ref(seqs[b][None]).logits[0]) for b in range(2)]
    print(f"[{name}] chunked prefill + paged decode max rel err {max(errs):.2e}")
    assert max(errs) < 1e-4


@pytest.mark.parametrize("topk_method", ["greedy", "group_limited_greedy"])
@torch.no_grad()
def test_softmax_routing_matches_transformers_deepseek_v2(tmp_path, topk_method):
    """DeepSeek-V2's softmax routing (transformers' DeepseekV2 ignores norm_topk_prob). The
    group-limited case keeps one group of four, so it often differs from greedy's choice."""
    groups = dict(n_group=2, topk_group=1) if topk_method == "group_limited_greedy" else {}
    ref = build_reference(
        tmp_path,
        arch="v2",
        topk_method=topk_method,
        num_experts_per_tok=2,
        first_k_dense_replace=1,
        routed_scaling_factor=1.5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        **groups,
    )
    ours = load_model(tmp_path, dtype=torch.float32)
    assert ours.config.scoring_func == "softmax" and not ours.config.norm_topk_prob
    ids = torch.randint(0, BASE["vocab_size"], (2, 24), generator=torch.Generator().manual_seed(3))
    err = rel_err(ours(ids), ref(ids).logits)
    print(f"[v2 {topk_method}] prefill max rel err {err:.2e}")
    assert err < 1e-4
