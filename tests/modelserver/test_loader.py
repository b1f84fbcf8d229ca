"""The loader: R1's FP8 block checkpoints, our W4A16 checkpoints, streaming, and errors that
name the offending tensor."""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import kernels
from modelserver import loader
from modelserver.bench_quant import write_r1_fp8_checkpoint
from modelserver.loader import (
    Checkpoint,
    CheckpointError,
    checkpoint_slots,
    load_model,
    save_checkpoint,
)
from modelserver.quant import quantize

from .test_model_vs_transformers import BASE, build_reference, rel_err

# gate/up [160, 64] and down [64, 160]: two 128-blocks along one side, the second one ragged.
FP8_CONFIG = dict(
    intermediate_size=160, n_group=4, topk_group=2, num_experts_per_tok=2, first_k_dense_replace=1
)


@pytest.fixture(scope="module")
def fp8_checkpoint(tmp_path_factory):
    """A transformers reference re-written in R1's FP8 layout, plus an MTP layer to skip.
    Returns (reference model, its dense checkpoint, the FP8 checkpoint)."""
    dense_dir, fp8_dir = tmp_path_factory.mktemp("dense"), tmp_path_factory.mktemp("fp8")
    ref = build_reference(dense_dir, **FP8_CONFIG)
    dense = Checkpoint(dense_dir)
    config = json.loads((dense_dir / "config.json").read_text())
    mtp = BASE["num_hidden_layers"]  # R1's layer 61: the multi-token-prediction module
    tensors = [(name, dense.get(name)) for name in dense.file_of]
    tensors.append((f"model.layers.{mtp}.eh_proj.weight", torch.randn(64, 128)))
    tensors.append((f"model.layers.{mtp}.enorm.weight", torch.ones(64)))
    write_r1_fp8_checkpoint(fp8_dir, config, tensors, shard_bytes=64 << 10)
    return ref, dense_dir, fp8_dir


def blockwise_dequant(weight: torch.Tensor, scale_inv: torch.Tensor) -> torch.Tensor:
    out = torch.empty(weight.shape)
    for i in range(scale_inv.shape[0]):
        for j in range(scale_inv.shape[1]):
            block = (slice(128 * i, 128 * (i + 1)), slice(128 * j, 128 * (j + 1)))
            out[block] = weight[block].float() * scale_inv[i, j]
    return out


def fp8_weights(path: Path) -> dict[str, torch.Tensor]:
    """Name -> the block-dequantised weight, for every FP8 weight in the checkpoint."""
    ckpt = Checkpoint(path)
    return {
        name: blockwise_dequant(ckpt.get(name), ckpt.get(name + "_scale_inv"))
        for name in ckpt.file_of
        if ckpt.get(name).dtype == torch.float8_e4m3fn and ".layers.3." not in name
    }


@torch.no_grad()
def test_fp8_block_checkpoint_loads_as_weight_times_block_scale(fp8_checkpoint):
    _, dense_dir, path = fp8_checkpoint
    expected = fp8_weights(path)
    assert any(w.shape[0] > 128 for w in expected.values())  # a ragged second block exists
    model = load_model(path, dtype=torch.float32)
    slots = checkpoint_slots(model)
    for name, w in expected.items():
        assert torch.equal(slots[name].dense, w), name
    # e4m3 keeps 3 mantissa bits: every weight within 2^-4 of the original.
    original = Checkpoint(dense_dir)
    for name, w in expected.items():
        assert rel_err(w, original.get(name)) <= 2**-4, name


@torch.no_grad()
def test_fp8_checkpoint_requantises_straight_to_w4a16(fp8_checkpoint):
    *_, path = fp8_checkpoint
    model = load_model(path, quant="w4a16", group_size=16, dtype=torch.float32)
    slots = checkpoint_slots(model)
    for name, w in fp8_weights(path).items():
        if name.endswith("kv_b_proj.weight"):  # kept dense: decode absorbs it
            assert torch.equal(slots[name].dense, w)
            continue
        qweight, scales = kernels.quantize_rtn(w, 16)
        assert torch.equal(slots[name].qweight, qweight), name
        assert torch.equal(slots[name].scales, scales), name


def test_loading_streams_one_tensor_at_a_time(fp8_checkpoint, monkeypatch):
    """Tensors read from the checkpoint or handed to quantisation die before the next read."""
    *_, path = fp8_checkpoint
    alive: list[weakref.ref] = []
    most = 0

    def track(t: torch.Tensor) -> torch.Tensor:
        nonlocal most
        alive[:] = [r for r in alive if r() is not None]
        alive.append(weakref.ref(t))
        most = max(most, len(alive))
        return t

    get, rtn = Checkpoint.get, kernels.quantize_rtn
    monkeypatch.setattr(Checkpoint, "get", lambda self, name: track(get(self, name)))
    monkeypatch.setattr(kernels, "quantize_rtn", lambda w, g: rtn(track(w), g))
    load_model(path, quant="w4a16", group_size=16)
    # at most an FP8 weight, its scale_inv and the dequantised weight being quantised
    assert 0 < most <= 3


@torch.no_grad()
def test_w4a16_checkpoint_round_trips_through_save_and_load(fp8_checkpoint, tmp_path):
    *_, path = fp8_checkpoint
    model, quantization_config = quantize(path, group_size=16, dtype=torch.float32)
    save_checkpoint(model, tmp_path, quantization_config=quantization_config, shard_bytes=32 << 10)
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    loaded = load_model(tmp_path, quant="w4a16", dtype=torch.float32)
    assert loaded.quant.group_size == 16
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    # quant="none" dequantises: the same weights, dense.
    dense = load_model(tmp_path, dtype=torch.float32)
    ids = torch.randint(0, BASE["vocab_size"], (1, 12), generator=torch.Generator().manual_seed(0))
    assert rel_err(dense(ids), loaded(ids)) < 1e-5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("drop", r"missing .*model\.layers\.1\.mlp\.experts\.3\.up_proj\.weight"),
        ("add", r"unexpected tensor model\.layers\.0\.self_attn\.extra\.weight"),
        ("reshape", r"kv_b_proj\.weight has shape \(128, 16\), the model expects \(128, 32\)"),
    ],
)
def test_a_checkpoint_that_does_not_fit_fails_naming_the_tensor(tmp_path, edit, message):
    build_reference(
        tmp_path, n_group=4, topk_group=2, num_experts_per_tok=2, first_k_dense_replace=1
    )
    index = tmp_path / "model.safetensors.index.json"
    weight_map = json.loads(index.read_text())["weight_map"]
    name = {
        "drop": "model.layers.1.mlp.experts.3.up_proj.weight",
        "add": "model.layers.0.self_attn.o_proj.weight",
        "reshape": "model.layers.2.self_attn.kv_b_proj.weight",
    }[edit]
    file = tmp_path / weight_map[name]
    tensors = load_file(file)
    if edit == "drop":
        del tensors[name], weight_map[name]
    elif edit == "add":
        tensors["model.layers.0.self_attn.extra.weight"] = torch.zeros(2, 2)
        weight_map["model.layers.0.self_attn.extra.weight"] = weight_map[name]
    else:
        tensors[name] = tensors[name][:, :16].contiguous()
    save_file(tensors, file, metadata={"format": "pt"})
    index.write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path, dtype=torch.float32)


def test_quant_argument_is_checked():
    with pytest.raises(ValueError, match="quant must be"):
        loader.load_model("/nonexistent", quant="int8")
