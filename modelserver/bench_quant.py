"""`python -m modelserver bench-quant [--json] [--model DIR]`: what W4A16 costs in quality,
and what loading costs in time and memory.

1. A tiny random R1-architecture model (byte tokens) is trained for a few hundred steps on
   generated shop text, so perplexity means something; then perplexity and KL to the original
   on held-back text for bf16, RTN and GPTQ, and the same for `--model DIR` when given.
2. The high-precision choice: the perplexity cost of also quantising each weight kind the
   model keeps in bf16 (lm_head, embeddings, routers, kv_b_proj), against the bytes it saves.
3. Loading: a synthetic R1-layout FP8 checkpoint loaded as W4A16 and as bf16 in a fresh
   process each, with load time and peak RSS against the checkpoint's size.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import kernels
from modelserver.loader import load_model
from modelserver.model import DeepseekV3
from modelserver.quant import quantize
from modelserver.testing import tiny_config_kwargs

# The tests' tiny R1 shape, over a byte vocabulary, initialised as for training.
TINY_CONFIG: dict[str, Any] = {**tiny_config_kwargs(vocab_size=256), "initializer_range": 0.02}

_NAMES = ["anna", "ben", "chen", "dara", "emil", "fatima", "goran", "hana", "ivan", "julia"]
_ITEMS = [
    "blue shoes",
    "red scarf",
    "wool socks",
    "rain jacket",
    "linen shirt",
    "desk lamp",
    "tea cup",
]
_CITIES = ["berlin", "lyon", "porto", "gdansk", "turin", "ghent", "bergen"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_TEMPLATES = [
    "order {id} for {name}: {n} x {item} at {price} eur, ships to {city} on {day}.\n",
    "{name} wants to return the {item} from order {id}; refund of {price} eur by {day}.\n",
    "parcel {id} left {city} on {day} and reaches {name} in {n} days.\n",
    "{name} asks: where is my {item}? order {id} is in {city} since {day}.\n",
]


def shop_text(lines: int, seed: int) -> str:
    """Generated shop dialogue lines: a small grammar with random ids, names and prices."""
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        out.append(
            rng.choice(_TEMPLATES).format(
                id=rng.randint(1000, 9999),
                name=rng.choice(_NAMES),
                n=rng.randint(1, 9),
                item=rng.choice(_ITEMS),
                price=f"{rng.randint(5, 199)}.{rng.randint(0, 99):02d}",
                city=rng.choice(_CITIES),
                day=rng.choice(_DAYS),
            )
        )
    return "".join(out)


def byte_windows(text: str, length: int) -> torch.Tensor:
    """Text -> byte token ids in non-overlapping windows [N, length]."""
    ids = torch.tensor(list(text.encode()), dtype=torch.long)
    n = ids.numel() // length
    return ids[: n * length].view(n, length)


def train_tiny_model(
    out: str | Path, *, steps: int = 300, seed: int = 0, **overrides: Any
) -> dict[str, Any]:
    """Train transformers' DeepseekV3ForCausalLM (TINY_CONFIG with `overrides`) on generated
    text and save_pretrained it."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    torch.manual_seed(seed)
    config = DeepseekV3Config(**{**TINY_CONFIG, **overrides})
    model = DeepseekV3ForCausalLM(config)
    with torch.no_grad():  # a trained R1 has non-zero routing biases
        for layer in model.model.layers[config.first_k_dense_replace :]:
            layer.mlp.gate.e_score_correction_bias.uniform_(-0.1, 0.1)
    data = byte_windows(shop_text(3000, seed), 64)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    model.train()
    for _ in range(steps):
        batch = data[torch.randint(0, len(data), (16,), generator=gen)]
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval().save_pretrained(out)
    return {
        "steps": steps,
        "final_train_loss": round(loss.item(), 4),
        "seconds": round(time.perf_counter() - start, 1),
    }


@torch.no_grad()
def evaluate(
    model: DeepseekV3, windows: torch.Tensor, reference: DeepseekV3 | None = None
) -> dict[str, float]:
    """Perplexity of next-token prediction over windows [N, T]; with `reference`, also the mean
    per-token KL(reference ‖ model)."""
    nll, kl, count = 0.0, 0.0, 0
    for batch in windows.split(8):
        logp = F.log_softmax(model(batch).float(), dim=-1)[:, :-1]
        nll += -logp.gather(-1, batch[:, 1:, None]).sum().item()
        if reference is not None:
            ref = F.log_softmax(reference(batch).float(), dim=-1)[:, :-1]
            kl += (ref.exp() * (ref - logp)).sum().item()
        count += batch[:, 1:].numel()
    result = {"perplexity": math.exp(nll / count)}
    if reference is not None:
        result["kl_to_bf16"] = kl / count
    return result


def compare_quantisations(
    path: str | Path, eval_ids: torch.Tensor, calib_ids: torch.Tensor, group_size: int
) -> dict:
    """Perplexity and KL of bf16, RTN and GPTQ on eval_ids; all three compute in bf16."""
    dense = load_model(path, dtype=torch.bfloat16)
    rtn, _ = quantize(path, group_size=group_size)
    gptq, _ = quantize(path, group_size=group_size, calib_ids=calib_ids)
    results = {"bf16": evaluate(dense, eval_ids)}
    for name, model in (("rtn", rtn), ("gptq", gptq)):
        results[name] = evaluate(model, eval_ids, dense)
    return {k: {m: round(v, 5) for m, v in r.items()} for k, r in results.items()}


@torch.no_grad()
def high_precision_choice(path: str | Path, eval_ids: torch.Tensor, group_size: int) -> dict:
    """Perplexity when one more kind of weight is RTN-quantised (simulated: the bf16 model with
    those weights replaced by their dequantised int4), and the bytes that would save."""
    model = load_model(path, dtype=torch.bfloat16)
    base = evaluate(model, eval_ids)["perplexity"]
    kinds = {
        "lm_head": lambda n: n == "lm_head.weight",
        "embed_tokens": lambda n: n == "embed_tokens.weight",
        "router (mlp.gate)": lambda n: n.endswith("mlp.gate.weight"),
        "kv_b_proj": lambda n: n.endswith("kv_b_proj.weight"),
    }
    out: dict[str, Any] = {"bf16_perplexity": round(base, 5)}
    params = dict(model.named_parameters())
    for kind, match in kinds.items():
        names = [n for n in params if match(n)]
        saved = {n: params[n].data.clone() for n in names}
        for n in names:
            params[n].data.copy_(
                kernels.dequantize_w4(*kernels.quantize_rtn(params[n].data, group_size), group_size)
            )
        ppl = evaluate(model, eval_ids)["perplexity"]
        for n in names:
            params[n].data.copy_(saved[n])
        numel = sum(saved[n].numel() for n in names)
        out[kind] = {
            "perplexity_if_quantised": round(ppl, 5),
            "perplexity_change_pct": round(100 * (ppl / base - 1), 3),
            "share_of_weights_pct": round(100 * numel / sum(p.numel() for p in params.values()), 2),
            "bytes_saved": int(numel * (2 - (0.5 + 2 / group_size))),
        }
    return out


def quantize_fp8_blocks(w: torch.Tensor, block: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """R1's weight format: w [N, K] -> (e4m3 weight [N, K], fp32 weight_scale_inv [⌈N/b⌉, ⌈K/b⌉])
    with each block's absmax mapped to e4m3's largest value, 448."""
    n, k = w.shape
    padded = F.pad(w.float(), (0, -k % block, 0, -n % block))
    blocks = padded.view(padded.shape[0] // block, block, padded.shape[1] // block, block)
    scale = blocks.abs().amax(dim=(1, 3)) / 448
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = (blocks / scale[:, None, :, None]).view_as(padded)[:n, :k]
    return q.to(torch.float8_e4m3fn), scale


def is_fp8_in_r1(name: str, tensor: torch.Tensor) -> bool:
    """R1 ships every linear weight in FP8 except embeddings, lm_head and the routers."""
    keep = ("embed_tokens.weight", "lm_head.weight", "mlp.gate.weight")
    return tensor.dim() == 2 and name.endswith(".weight") and not name.endswith(keep)


def write_r1_fp8_checkpoint(
    path: str | Path, config: dict[str, Any], tensors, shard_bytes: int = 16 << 20
) -> None:
    """Write (name, dense tensor) pairs in R1's layout: FP8 128×128 blocks with
    `weight_scale_inv` for the linear weights, bf16 for the rest, sharded with an index."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    shard: dict[str, torch.Tensor] = {}
    weight_map: dict[str, str] = {}

    def flush() -> None:
        file = f"model-{len(set(weight_map.values())) + 1:05d}.safetensors"
        save_file(shard, path / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, file))
        shard.clear()

    for name, t in tensors:
        if is_fp8_in_r1(name, t):
            shard[name], shard[name + "_scale_inv"] = quantize_fp8_blocks(t)
        else:
            shard[name] = (
                t.float() if name.endswith("e_score_correction_bias") else t.to(torch.bfloat16)
            )
        if sum(v.numel() * v.element_size() for v in shard.values()) > shard_bytes:
            flush()
    if shard:
        flush()
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    quantization = {
        "activation_scheme": "dynamic",
        "fmt": "e4m3",
        "quant_method": "fp8",
        "weight_block_size": [128, 128],
    }
    (path / "config.json").write_text(
        json.dumps({**config, "quantization_config": quantization}, indent=2)
    )


LOAD_CONFIG: dict[str, Any] = dict(
    TINY_CONFIG,
    vocab_size=8192,
    hidden_size=1024,
    intermediate_size=2048,
    moe_intermediate_size=256,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=8,
    n_routed_experts=32,
    num_experts_per_tok=4,
    q_lora_rank=256,
    kv_lora_rank=256,
    qk_nope_head_dim=64,
    qk_rope_head_dim=32,
    v_head_dim=64,
)

# Run in a fresh process, reading the peak from VmHWM: ru_maxrss would carry over the parent's
# resident size through fork and exec.
_MEASURE_LOAD = """
import json, re, sys, time, torch
from modelserver.loader import load_model
def kib(field): return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
rss = kib("VmRSS")
start = time.perf_counter()
model = load_model(sys.argv[1], quant=sys.argv[2], dtype=torch.bfloat16)
seconds = time.perf_counter() - start
size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
increase = (kib("VmHWM") - rss) * 1024
print(json.dumps({"load_seconds": round(seconds, 2), "peak_rss_increase_bytes": increase, "model_bytes": size}))
"""


def synthetic_tensors(config: dict[str, Any], seed: int = 0):
    """(name, tensor) for every tensor of a random model with this config, one at a time."""
    from modelserver.loader import checkpoint_slots
    from modelserver.model import DeepseekV3, ModelConfig

    with torch.device("meta"):
        model = DeepseekV3(ModelConfig.from_dict(config), None, torch.bfloat16)
    gen = torch.Generator().manual_seed(seed)
    for name, slot in checkpoint_slots(model).items():
        if name.endswith("norm.weight"):
            yield name, torch.ones(slot.shape)
        elif name.endswith("e_score_correction_bias"):
            yield name, torch.zeros(slot.shape)
        else:
            yield name, torch.randn(slot.shape, generator=gen) * 0.02


def measure_loading(path: Path) -> dict[str, Any]:
    """Load time and peak RSS of the FP8 checkpoint at `path`, as W4A16 and as bf16."""
    from modelserver.loader import Checkpoint

    ckpt = Checkpoint(path)
    params = sum(ckpt.get(n).numel() for n in ckpt.file_of if not n.endswith("_scale_inv"))
    out: dict[str, Any] = {
        "checkpoint": "synthetic R1-layout FP8 (128x128 blocks), sharded",
        "parameters": params,
        "checkpoint_bytes": ckpt.size_bytes(),
        "bf16_bytes": params * 2,
    }
    for quant in ("w4a16", "none"):
        run = subprocess.run(
            [sys.executable, "-c", _MEASURE_LOAD, str(path), quant],
            capture_output=True,
            text=True,
            check=True,
        )
        out["as_w4a16" if quant == "w4a16" else "as_bf16"] = json.loads(
            run.stdout.strip().splitlines()[-1]
        )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--model", help="also measure this checkpoint (needs tokenizer.json)")
    parser.add_argument("--text", help="held-back text for --model (default: generated shop text)")
    parser.add_argument("--group-size", type=int, default=128, help="group size for --model")
    parser.add_argument("--steps", type=int, default=300, help="training steps of the tiny model")


def _model_quality(args: argparse.Namespace) -> dict[str, Any]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    text = Path(args.text).read_text() if args.text else shop_text(400, seed=1)
    ids = torch.tensor(tokenizer.encode(text).ids)
    windows = ids[: ids.numel() // 128 * 128].view(-1, 128)
    calib = torch.tensor(tokenizer.encode(shop_text(400, seed=2)).ids)
    calib = calib[: calib.numel() // 128 * 128].view(-1, 128)[:32]
    return {
        "path": args.model,
        "group_size": args.group_size,
        "quality": compare_quantisations(args.model, windows, calib, args.group_size),
    }


def main(args: argparse.Namespace) -> int:
    group = 32  # the tiny model's hidden size is 64
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny"
        # Held-back text and calibration text come from other seeds than the training text.
        eval_ids = byte_windows(shop_text(400, seed=1), 64)
        calib_ids = byte_windows(shop_text(200, seed=2), 64)[:32]
        result["tiny_r1"] = {
            "config": {k: v for k, v in TINY_CONFIG.items() if k != "rope_parameters"},
            "train": train_tiny_model(tiny, steps=args.steps),
            "eval_tokens": eval_ids.numel(),
            "calibration_tokens": calib_ids.numel(),
            "group_size": group,
            "quality": compare_quantisations(tiny, eval_ids, calib_ids, group),
            "high_precision_choice": high_precision_choice(tiny, eval_ids, group),
        }
        if args.model:
            result["model"] = _model_quality(args)
        # Two sizes: what grows with the model is the model, the rest is a fixed overhead.
        result["loading"] = []
        for layers in (4, 8):
            config, fp8 = dict(LOAD_CONFIG, num_hidden_layers=layers), Path(tmp) / f"fp8-{layers}"
            write_r1_fp8_checkpoint(fp8, config, synthetic_tensors(config))
            result["loading"].append({"num_hidden_layers": layers, **measure_loading(fp8)})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name in ("tiny_r1", "model"):
        if name in result:
            print(f"{name}: perplexity / KL to bf16")
            for method, r in result[name]["quality"].items():
                print(f"  {method:5s} {r['perplexity']:.4f}  {r.get('kl_to_bf16', 0):.5f}")
    for load in result["loading"]:
        mib = {k: load[k] / 2**20 for k in ("checkpoint_bytes", "bf16_bytes")}
        print(
            f"loading {mib['checkpoint_bytes']:.0f} MiB FP8 checkpoint (bf16 {mib['bf16_bytes']:.0f} MiB):"
        )
        for kind in ("as_w4a16", "as_bf16"):
            r = load[kind]
            print(
                f"  {kind}: {r['load_seconds']} s, model {r['model_bytes'] / 2**20:.0f} MiB, "
                f"peak RSS +{r['peak_rss_increase_bytes'] / 2**20:.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m modelserver.bench_quant")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
