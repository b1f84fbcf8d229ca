"""`python -m modelserver quantize --model DIR --out DIR [--group-size 128] [--calib FILE]`

Writes a W4A16 checkpoint that `load_model` (and so the server) reads directly. With --calib,
GPTQ on that calibration set; without, round-to-nearest. --calib takes text (tokenised with the
model's tokenizer.json and cut into --seq-len windows) or a .json list of token-id lists.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from modelserver.loader import save_checkpoint

from . import quantize

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
_NOT_COPIED = {"config.json", "model.safetensors.index.json"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="checkpoint directory (bf16, fp16 or R1 FP8)"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--group-size", type=int, default=128, help="input channels per scale")
    parser.add_argument("--calib", help="calibration text, or .json token-id lists: enables GPTQ")
    parser.add_argument("--seq-len", type=int, default=512, help="calibration window length")
    parser.add_argument("--max-samples", type=int, default=128, help="calibration windows used")
    parser.add_argument("--dtype", choices=sorted(_DTYPES), default="bfloat16", help="scales dtype")
    parser.add_argument("--device", default="cpu", help="where to quantise, e.g. cuda")


def calibration_ids(path: Path, model_dir: Path, seq_len: int, max_samples: int) -> torch.Tensor:
    """Calibration tokens [S, T]: windows of seq_len (json lists are cut to their shortest)."""
    if path.suffix == ".json":
        lists = json.loads(path.read_text())
        lists = [lists] if lists and isinstance(lists[0], int) else lists
        length = min(seq_len, *(len(ids) for ids in lists))
        return torch.tensor([ids[:length] for ids in lists[:max_samples]], dtype=torch.long)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = torch.tensor(tokenizer.encode(path.read_text()).ids, dtype=torch.long)
    n = min(ids.numel() // seq_len, max_samples)
    if n == 0:
        raise ValueError(f"{path} has fewer than --seq-len={seq_len} tokens")
    return ids[: n * seq_len].view(n, seq_len)


def main(args: argparse.Namespace) -> int:
    src, out = Path(args.model), Path(args.out)
    calib = None
    if args.calib:
        calib = calibration_ids(Path(args.calib), src, args.seq_len, args.max_samples)
    start = time.perf_counter()
    model, quantization_config = quantize(
        src,
        group_size=args.group_size,
        calib_ids=calib,
        dtype=_DTYPES[args.dtype],
        device=args.device,
    )
    save_checkpoint(model, out, quantization_config=quantization_config)
    # Tokenizer, chat template and generation settings travel with the weights.
    for f in src.iterdir():
        if (
            f.is_file()
            and f.suffix in (".json", ".jinja", ".model", ".txt")
            and f.name not in _NOT_COPIED
        ):
            shutil.copy2(f, out / f.name)
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    print(
        f"wrote {out}: {quantization_config['method']} W4A16, group {args.group_size}, "
        f"{size / 2**20:.1f} MiB in {time.perf_counter() - start:.1f} s"
    )
    return 0
