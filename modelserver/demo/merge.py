"""`python -m modelserver merge-demo --base A --tuned B --weight W --out DIR`: the checkpoint
whose weights are A + W × (B − A), where B was trained on from A.

A continuation trained on new phrasing learns it and forgets a little of what its starting point
knew (v31-v35 gained Chinese turns and lost English ones). Interpolating a fine-tuned model's
weights with those it started from keeps much of both (Wortsman et al., "Robust fine-tuning of
zero-shot models", 2022). This holds only along one training line: the two checkpoints must share
their config and tokenizer, and the interpolation of two unrelated models is noise.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"
SAME_IN_BOTH = ("config.json", "tokenizer.json", "tokenizer_config.json")
# The tuned run's record: its log and loss curve describe the training part of the merge.
FROM_TUNED = ("generation_config.json", "train_log.jsonl", "loss.png")


def merge_weights(
    *, base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], weight: float
) -> dict[str, torch.Tensor]:
    """base + weight × (tuned − base), computed in fp32 and stored in each tensor's own dtype."""
    if base.keys() != tuned.keys():
        raise ValueError(
            f"the checkpoints hold different tensors: {sorted(base.keys() ^ tuned.keys())[:5]}"
        )
    merged = {}
    for name, a in base.items():
        b = tuned[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValueError(f"{name}: {a.dtype}{list(a.shape)} against {b.dtype}{list(b.shape)}")
        # lerp computes from the nearer end, so weights 0 and 1 give each checkpoint exactly.
        merged[name] = torch.lerp(a.float(), b.float(), weight).to(a.dtype)
    return merged


def merge_checkpoints(*, base: Path, tuned: Path, weight: float, out: Path) -> None:
    for name in SAME_IN_BOTH:
        if (base / name).read_bytes() != (tuned / name).read_bytes():
            raise ValueError(f"{name} differs: {tuned} was not trained on from {base}")
    with safe_open(tuned / WEIGHTS, framework="pt") as f:
        metadata = f.metadata()
    merged = merge_weights(
        base=load_file(base / WEIGHTS), tuned=load_file(tuned / WEIGHTS), weight=weight
    )
    out.mkdir(parents=True, exist_ok=True)
    save_file(merged, out / WEIGHTS, metadata=metadata)
    for name in SAME_IN_BOTH + FROM_TUNED:
        if (tuned / name).exists():
            shutil.copyfile(tuned / name, out / name)
    tuned_metrics = _metrics(tuned)
    metrics = {
        "merge": {
            "base": str(base),
            "tuned": str(tuned),
            "weight": weight,
            "base_training": _metrics(base).get("training"),
        },
        "training": tuned_metrics.get("training"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


def _metrics(path: Path) -> dict:
    file = path / "metrics.json"
    return json.loads(file.read_text()) if file.exists() else {}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, type=Path, help="the checkpoint trained from")
    parser.add_argument("--tuned", required=True, type=Path, help="a checkpoint trained on from it")
    parser.add_argument(
        "--weight", required=True, type=float, help="0 gives --base, 1 gives --tuned"
    )
    parser.add_argument("--out", required=True, type=Path)


def main(args: argparse.Namespace) -> int:
    if not 0 <= args.weight <= 1:
        raise SystemExit("--weight must be between 0 and 1")
    try:
        merge_checkpoints(base=args.base, tuned=args.tuned, weight=args.weight, out=args.out)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"merge-demo: {error}") from None
    print(f"wrote {args.out}: {args.base} + {args.weight} × ({args.tuned} − {args.base})")
    return 0
