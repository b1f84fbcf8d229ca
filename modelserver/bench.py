"""`python -m modelserver bench --model DIR [--json]`: our engine against `transformers` generate.

Same checkpoint, same prompts (random token ids of --prompt-len), greedy, exactly --gen-len new
tokens (EOS ignored), in the same run:

- offline throughput: all prompts at once; ours through `LLMEngine.generate`, transformers
  through one batched `generate` call;
- online latency at each concurrency c: c clients each send --rounds requests one after the
  other. Ours: a real `serve` process, streamed over HTTP (TTFT to the first chunk, ITL between
  chunks, measured by the client). Transformers has no server: it serves each round as one
  static batch (the best a generate-based server can do), TTFT to its first step, ITL per step.

`speedup` is ours over transformers: throughput ours/theirs, latency theirs/ours (>1: we win).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", help="checkpoint directory")
    a("--tiny", action="store_true", help="build and use a random tiny checkpoint")
    a("--json", action="store_true", help="print the results as JSON (else a table)")
    a("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a("--quant", choices=["none", "w4a16"], default="none", help="our engine's weights")
    a("--dtype", choices=["auto", *_DTYPES], default="auto")
    a("--prompt-len", type=int, default=64)
    a("--gen-len", type=int, default=64)
    a("--concurrency", default="1,4,16,64")
    a("--rounds", type=int, default=2, help="requests per client at each concurrency")
    a("--threads", type=int, help="torch CPU threads (both engines)")
    a("--seed", type=int, default=0)


def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    arr = np.asarray(values) * 1000
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99))}


def _prompts(vocab_size: int, special: set[int], n: int, length: int, seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([i for i in range(vocab_size) if i not in special])
    return [
        allowed[torch.randint(len(allowed), (length,), generator=gen)].tolist() for _ in range(n)
    ]


# ---- transformers ------------------------------------------------------------------------
def _bench_transformers(model_dir: Path, prompts: list[list[int]], levels: list[int], args, dtype):
    from transformers import DeepseekV3ForCausalLM, LogitsProcessor, LogitsProcessorList

    class Clock(LogitsProcessor):
        """Called once per decoding step, right after the forward: the step's timestamp."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def __call__(self, input_ids, scores):
            self.times.append(time.perf_counter())
            return scores

    model = DeepseekV3ForCausalLM.from_pretrained(model_dir, dtype=dtype).to(args.device).eval()

    def generate(batch: list[list[int]]) -> tuple[float, list[float]]:
        clock = Clock()
        ids = torch.tensor(batch, device=args.device)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=args.gen_len,
                min_new_tokens=args.gen_len,
                do_sample=False,
                logits_processor=LogitsProcessorList([clock]),
                pad_token_id=model.config.pad_token_id or 0,
            )
        _sync(args.device)
        assert out.shape[1] == ids.shape[1] + args.gen_len
        return start, clock.times

    generate(prompts[:1])  # warm-up
    start, times = generate(prompts)
    offline = len(prompts) * args.gen_len / (times[-1] - start)
    online = {}
    for c in levels:
        ttft, itl, tokens = [], [], 0
        t0 = time.perf_counter()
        for r in range(args.rounds):
            start, times = generate(prompts[r * c : (r + 1) * c] or prompts[:c])
            ttft += [times[0] - start] * c
            itl += [b - a for a, b in itertools.pairwise(times)] * c
            tokens += c * args.gen_len
        online[c] = {
            "ttft": _pcts(ttft),
            "itl": _pcts(itl),
            "tok_s": tokens / (time.perf_counter() - t0),
        }
    return offline, online


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---- ours --------------------------------------------------------------------------------
def _bench_offline(model_dir: Path, prompts: list[list[int]], args, dtype) -> float:
    from modelserver.chat.tokenizer import Tokenizer
    from modelserver.engine import EngineConfig, LLMEngine, SamplingParams
    from modelserver.loader import load_model

    model = load_model(model_dir, quant=args.quant, device=args.device, dtype=dtype)
    max_len = args.prompt_len + args.gen_len
    blocks = len(prompts) * (-(-max_len // 16) + 1)
    engine = LLMEngine(
        model,
        Tokenizer(model_dir),
        EngineConfig(
            max_model_len=max_len,
            num_blocks=blocks,
            max_num_seqs=len(prompts),
            cuda_graphs=args.device.startswith("cuda"),
        ),
    )
    params = SamplingParams(max_tokens=args.gen_len, temperature=0, ignore_eos=True)
    engine.generate(prompts[:1], params)  # warm-up
    _sync(args.device)
    start = time.perf_counter()
    outputs = engine.generate(prompts, params)
    _sync(args.device)
    elapsed = time.perf_counter() - start
    assert all(o.completion_tokens == args.gen_len for o in outputs)
    del engine, model
    return len(prompts) * args.gen_len / elapsed


async def _one_stream(http, url: str, prompt: list[int], args) -> tuple[float, list[float]]:
    body = {
        "model": "bench",
        "prompt": prompt,
        "max_tokens": args.gen_len,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
    }
    start = time.perf_counter()
    first, last, gaps = None, None, []
    async with http.stream("POST", url + "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            if not json.loads(line[6:])["choices"][0]["text"]:
                continue
            now = time.perf_counter()
            if first is None:
                first = now
            else:
                gaps.append(now - last)
            last = now
    return first - start, gaps


def _bench_online(model_dir: Path, prompts: list[list[int]], levels: list[int], args) -> dict:
    import httpx

    from modelserver.testing import ServerProcess

    serve_args = [
        "--served-model-name",
        "bench",
        "--device",
        args.device,
        "--quant",
        args.quant,
        "--dtype",
        args.dtype,
        "--max-num-seqs",
        str(max(levels)),
        "--max-model-len",
        str(args.prompt_len + args.gen_len + 16),
    ]
    results = {}
    with ServerProcess(model_dir, *serve_args, threads=args.threads) as server:

        async def level(c: int) -> dict:
            limits = httpx.Limits(max_connections=c + 8)
            async with httpx.AsyncClient(timeout=600, limits=limits) as http:
                await _one_stream(http, server.url, prompts[0], args)  # warm-up

                async def client(i: int) -> list[tuple[float, list[float]]]:
                    return [
                        await _one_stream(
                            http, server.url, prompts[(r * c + i) % len(prompts)], args
                        )
                        for r in range(args.rounds)
                    ]

                t0 = time.perf_counter()
                per_client = await asyncio.gather(*[client(i) for i in range(c)])
                elapsed = time.perf_counter() - t0
            runs = [run for runs in per_client for run in runs]
            return {
                "ttft": _pcts([t for t, _ in runs]),
                "itl": _pcts([g for _, gaps in runs for g in gaps]),
                "tok_s": len(runs) * args.gen_len / elapsed,
            }

        for c in levels:
            results[c] = asyncio.run(level(c))
    return results


# ---- report ------------------------------------------------------------------------------
def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        from modelserver.testing import build_tiny_checkpoint

        model_dir = build_tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny-r1")
    elif args.model:
        model_dir = Path(args.model)
    else:
        print("bench: --model DIR or --tiny is required", file=sys.stderr)
        return 2
    from modelserver.chat.tokenizer import Tokenizer

    tokenizer = Tokenizer(model_dir)
    dtype = _DTYPES.get(args.dtype) or (
        torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    )
    levels = [int(c) for c in args.concurrency.split(",")]
    special = {tokenizer.token_id(t) for t in ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")}
    prompts = _prompts(
        tokenizer.vocab_size, special, max(levels) * args.rounds, args.prompt_len, args.seed
    )

    hf_offline, hf_online = _bench_transformers(
        model_dir, prompts[: max(levels)], levels, args, dtype
    )
    ours_offline = _bench_offline(model_dir, prompts[: max(levels)], args, dtype)
    ours_online = _bench_online(model_dir, prompts, levels, args)

    result: dict[str, Any] = {
        "model": str(model_dir),
        "device": torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu ({torch.get_num_threads()} threads)",
        "quant": args.quant,
        "dtype": str(dtype).removeprefix("torch."),
        "prompt_len": args.prompt_len,
        "gen_len": args.gen_len,
        "offline": {
            "requests": max(levels),
            "ours_tok_s": round(ours_offline, 1),
            "transformers_tok_s": round(hf_offline, 1),
            "speedup": _ratio(ours_offline, hf_offline),
        },
        "online": [],
    }
    for c in levels:
        ours, hf = ours_online[c], hf_online[c]
        result["online"].append(
            {
                "concurrency": c,
                "ours": ours,
                "transformers": hf,
                "speedup": {
                    "tok_s": _ratio(ours["tok_s"], hf["tok_s"]),
                    "ttft_p50": _ratio(hf["ttft"]["p50_ms"], ours["ttft"]["p50_ms"]),
                    "itl_p50": _ratio(hf["itl"]["p50_ms"], ours["itl"]["p50_ms"]),
                },
            }
        )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return 0


def format_table(r: dict[str, Any]) -> str:
    o = r["offline"]
    lines = [
        f"model {r['model']} on {r['device']}, {r['dtype']}, quant {r['quant']}, "
        f"prompt {r['prompt_len']} + gen {r['gen_len']} tokens",
        "",
        f"offline, {o['requests']} requests: ours {o['ours_tok_s']} tok/s, "
        f"transformers {o['transformers_tok_s']} tok/s, x{o['speedup']}",
        "",
        "| c | ours tok/s | hf tok/s | x | ours TTFT p50/p99 ms | hf TTFT p50/p99 ms | x p50 "
        "| ours ITL p50/p99 ms | hf ITL p50/p99 ms | x p50 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["online"]:
        ours, hf, x = row["ours"], row["transformers"], row["speedup"]
        lines.append(
            f"| {row['concurrency']} | {ours['tok_s']:.1f} | {hf['tok_s']:.1f} | {x['tok_s']} "
            f"| {ours['ttft']['p50_ms']:.1f} / {ours['ttft']['p99_ms']:.1f} "
            f"| {hf['ttft']['p50_ms']:.1f} / {hf['ttft']['p99_ms']:.1f} | {x['ttft_p50']} "
            f"| {ours['itl']['p50_ms']:.1f} / {ours['itl']['p99_ms']:.1f} "
            f"| {hf['itl']['p50_ms']:.1f} / {hf['itl']['p99_ms']:.1f} | {x['itl_p50']} |"
        )
    return "\n".join(lines)
