"""`merge-demo`: interpolating a checkpoint with the one it was trained on from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import DeepseekV3ForCausalLM

from modelserver.__main__ import main as modelserver_main
from modelserver.demo import merge, train

DEMO = Path(__file__).resolve().parents[2] / "modelserver" / "demo" / "checkpoint"


def _checkpoint(path: Path, *, seed: int, size: str = "tiny") -> Path:
    torch.manual_seed(seed)
    vocab = Tokenizer.from_file(str(DEMO / "tokenizer.json")).get_vocab_size()
    model = DeepseekV3ForCausalLM(train.model_config(vocab, size))
    model.to(torch.bfloat16).save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(DEMO / name, path / name)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("merge")
    return _checkpoint(root / "base", seed=0), _checkpoint(root / "tuned", seed=1)


def test_the_ends_of_the_interpolation_are_the_two_checkpoints(pair, tmp_path):
    base, tuned = pair
    for weight, expected in ((0.0, base), (1.0, tuned)):
        merge.merge_checkpoints(base=base, tuned=tuned, weight=weight, out=tmp_path / str(weight))
        got = load_file(tmp_path / str(weight) / merge.WEIGHTS)
        want = load_file(expected / merge.WEIGHTS)
        assert got.keys() == want.keys()
        for name in want:
            assert torch.equal(got[name], want[name]), name


def test_a_merge_is_the_weighted_mean_in_each_tensors_dtype_and_loads_in_transformers(
    pair, tmp_path
):
    base, tuned = pair
    out = tmp_path / "merged"
    merge.merge_checkpoints(base=base, tuned=tuned, weight=0.25, out=out)
    a, b, got = (load_file(p / merge.WEIGHTS) for p in (base, tuned, out))
    for name in got:
        assert got[name].dtype == a[name].dtype
        want = (0.75 * a[name].float() + 0.25 * b[name].float()).to(a[name].dtype)
        torch.testing.assert_close(got[name], want, atol=0, rtol=1e-2)
    model = DeepseekV3ForCausalLM.from_pretrained(out)
    assert model(torch.tensor([[1, 2, 3]])).logits.isfinite().all()
    assert (out / "tokenizer.json").read_bytes() == (tuned / "tokenizer.json").read_bytes()


def test_it_refuses_checkpoints_of_different_configs(pair, tmp_path):
    base, _ = pair
    other = _checkpoint(tmp_path / "other", seed=1, size="demo")
    with pytest.raises(ValueError, match=r"config\.json differs"):
        merge.merge_checkpoints(base=base, tuned=other, weight=0.5, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_command_rejects_a_weight_outside_zero_to_one(pair, tmp_path):
    base, tuned = pair
    argv = ["merge-demo", "--base", str(base), "--tuned", str(tuned), "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match="between 0 and 1"):
        modelserver_main([*argv, "--weight", "1.5"])
