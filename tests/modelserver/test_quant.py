"""W4A16 quality: per-layer error, perplexity and KL of a trained tiny model, GPTQ vs RTN,
and the quantize command."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import kernels
from modelserver.__main__ import main as modelserver_main
from modelserver.bench_quant import byte_windows, compare_quantisations, shop_text, train_tiny_model
from modelserver.loader import checkpoint_slots, load_model
from modelserver.quant import gptq_quantize, quantize

GROUP = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-layer (dense + MoE) tiny R1 trained briefly on generated shop text."""
    path = tmp_path_factory.mktemp("trained")
    train_tiny_model(path, steps=150, num_hidden_layers=2)
    return path


@pytest.fixture(scope="module")
def quality(trained):
    held_back = byte_windows(shop_text(200, seed=1), 64)
    calib = byte_windows(shop_text(200, seed=2), 64)[:32]
    return compare_quantisations(trained, held_back, calib, GROUP)


@torch.no_grad()
def test_every_quantised_layer_keeps_its_output_within_twelve_percent(trained):
    """Relative output error of each W4A16 weight on random inputs; int4 with group 32 on a
    near-Gaussian weight gives about 9% (a step of absmax/7, absmax ≈ 2.1σ)."""
    dense = checkpoint_slots(load_model(trained, dtype=torch.float32))
    quant = checkpoint_slots(
        load_model(trained, quant="w4a16", group_size=GROUP, dtype=torch.float32)
    )
    errors = {}
    for name, slot in quant.items():
        if slot.qweight is None:
            continue
        w = dense[name].dense
        x = torch.randn(64, w.shape[1])
        y = kernels.w4a16_gemm(x, slot.qweight, slot.scales, GROUP)
        errors[name] = ((y - x @ w.T).norm() / (x @ w.T).norm()).item()
    print("\n".join(f"{e:.3f} {n}" for n, e in sorted(errors.items(), key=lambda kv: -kv[1])[:8]))
    assert len(errors) > 20 and max(errors.values()) < 0.12


@torch.no_grad()
def test_w4a16_model_gives_the_same_logits_through_the_latent_cache(trained):
    model = load_model(trained, quant="w4a16", group_size=GROUP, dtype=torch.float32)
    ids = byte_windows(shop_text(10, seed=3), 24)[0]
    cache, table = model.allocate_cache(8, 4), torch.tensor([6, 2, 7, 0, 5, 1], dtype=torch.int32)
    logits = [model.prefill(ids[:7], cache, table, 0), model.prefill(ids[7:13], cache, table, 7)]
    for p in range(13, 24):
        logits.append(model.decode(ids[p : p + 1], torch.tensor([p]), cache, table[None]))
    full = model(ids[None])[0]
    assert ((torch.cat(logits) - full).abs().max() / full.abs().max()).item() < 1e-4


def test_gptq_beats_rtn_on_a_layer_with_correlated_inputs():
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(128, 128, generator=gen) * torch.logspace(0, -2, 128)  # decaying spectrum
    x = torch.randn(1024, 128, generator=gen) @ mix
    w = torch.randn(64, 128, generator=gen)

    def output_error(qweight, scales):
        return (x @ (w - kernels.dequantize_w4(qweight, scales, GROUP)).T).norm().item()

    rtn = output_error(*kernels.quantize_rtn(w, GROUP))
    gptq = output_error(*gptq_quantize(w, x.T @ x, GROUP, torch.float32))
    assert gptq < 0.7 * rtn


def test_quantised_models_stay_close_to_the_original(quality):
    print(json.dumps(quality))
    base = quality["bf16"]["perplexity"]
    assert base < 6  # trained: uniform over 256 bytes would be 256
    for method in ("rtn", "gptq"):
        assert quality[method]["perplexity"] < 1.03 * base
        assert quality[method]["kl_to_bf16"] < 0.02


def test_gptq_beats_round_to_nearest_on_held_back_text(quality):
    assert quality["gptq"]["kl_to_bf16"] < 0.8 * quality["rtn"]["kl_to_bf16"]
    assert quality["gptq"]["perplexity"] < quality["rtn"]["perplexity"]


@torch.no_grad()
def test_quantize_command_writes_a_checkpoint_the_loader_reads(trained, tmp_path):
    calib = byte_windows(shop_text(60, seed=2), 64)[:8]
    calib_file = tmp_path / "calib.json"
    calib_file.write_text(json.dumps(calib.tolist()))
    (trained / "tokenizer.json").write_text(
        "{}"
    )  # stands in for the tokenizer, which travels along
    out = tmp_path / "w4a16"
    args = ["quantize", "--model", str(trained), "--out", str(out), "--group-size", str(GROUP)]
    assert modelserver_main([*args, "--calib", str(calib_file)]) == 0

    assert (out / "tokenizer.json").read_text() == "{}"
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["method"] == "gptq"
    loaded = load_model(out, quant="w4a16")
    expected, _ = quantize(trained, group_size=GROUP, calib_ids=calib)
    for key, value in expected.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    ids = calib[:2]
    assert F.cross_entropy(loaded(ids)[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten()) < 2
