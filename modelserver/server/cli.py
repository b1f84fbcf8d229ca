"""`python -m modelserver serve --model DIR ...`: load a checkpoint and serve the OpenAI API.

The HTTP server starts at once (`/health` answers, `/ready` says 503) while the engine thread
loads the model; `/ready` turns 200 when requests can be served.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from modelserver.chat.grammar import GrammarFactory
from modelserver.chat.tokenizer import Tokenizer
from modelserver.engine.engine import AsyncEngine, EngineConfig, LLMEngine
from modelserver.engine.lora import read_adapter
from modelserver.model import ModelConfig
from modelserver.server.app import ServerState, create_app
from modelserver.server.metrics import Metrics

log = logging.getLogger("modelserver")

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", required=True, help="checkpoint directory (config.json, safetensors, tokenizer)")
    a("--quant", choices=["none", "w4a16"], default="none")
    a("--host", default="127.0.0.1")
    a("--port", type=int, default=8001)
    a("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu | cuda[:N]")
    a(
        "--dtype",
        choices=["auto", *_DTYPES],
        default="auto",
        help="auto: bfloat16 on CUDA, float32 on CPU",
    )
    a(
        "--api-key",
        default=os.environ.get("MODELSERVER_API_KEY"),
        help="require 'Authorization: Bearer KEY' on /v1 (default: $MODELSERVER_API_KEY)",
    )
    a("--served-model-name", help="the model id clients send (default: the directory's name)")
    a("--max-model-len", type=int, help="context length (default: the model's)")
    a("--block-size", type=int, default=16, help="tokens per cache block")
    a("--num-blocks", type=int, help="cache blocks (default: from --kv-cache-gb)")
    a(
        "--kv-cache-gb",
        type=float,
        help="latent cache size (default: 1 on CPU, 90%% of free GPU memory after loading)",
    )
    a("--max-num-seqs", type=int, default=64, help="requests in the running batch")
    a("--max-batched-tokens", type=int, default=512, help="tokens per step (prefill chunking)")
    a("--max-waiting", type=int, default=256, help="queued requests before answering 429")
    a("--max-body-bytes", type=int, default=4 << 20)
    a("--enforce-eager", action="store_true", help="no CUDA graphs")
    a("--adapter", action="append", default=[], metavar="NAME=DIR", help="LoRA to load at start")
    a("--threads", type=int, help="torch CPU threads")
    a("--log-level", default="info")


def _sampling_defaults(model_dir: Path) -> dict[str, float]:
    path = model_dir / "generation_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    return {k: config[k] for k in ("temperature", "top_p", "top_k") if k in config}


def _num_blocks(
    args: argparse.Namespace, config: ModelConfig, dtype: torch.dtype, device: torch.device
) -> int:
    if args.num_blocks:
        return args.num_blocks
    per_block = (
        config.num_hidden_layers
        * args.block_size
        * (config.kv_lora_rank + config.qk_rope_head_dim)
        * dtype.itemsize
    )
    if args.kv_cache_gb:
        budget = args.kv_cache_gb * 2**30
    elif device.type == "cuda":
        budget = 0.9 * torch.cuda.mem_get_info(device)[0]
    else:
        budget = 2**30
    return int(budget // per_block)


def build_state(args: argparse.Namespace) -> ServerState:
    from modelserver.loader import load_model

    model_dir = Path(args.model)
    tokenizer = Tokenizer(model_dir)
    config = ModelConfig.from_pretrained(model_dir)
    device = torch.device(args.device)
    if args.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        dtype = _DTYPES[args.dtype]
    max_model_len = min(
        args.max_model_len or config.max_position_embeddings, config.max_position_embeddings
    )
    state_ref: list[ServerState] = []

    def build() -> LLMEngine:
        if args.threads:
            torch.set_num_threads(args.threads)
        model = load_model(model_dir, quant=args.quant, device=device, dtype=dtype)
        num_blocks = _num_blocks(args, config, dtype, device)
        state = state_ref[0]
        if num_blocks * args.block_size < state.max_model_len and not args.max_model_len:
            # The cache decides the context when the model's own is longer than it holds.
            log.warning("context cut to %d tokens to fit the cache", num_blocks * args.block_size)
            state.max_model_len = num_blocks * args.block_size
        engine_config = EngineConfig(
            max_model_len=state.max_model_len,
            block_size=args.block_size,
            num_blocks=num_blocks,
            max_num_seqs=args.max_num_seqs,
            max_batched_tokens=args.max_batched_tokens,
            cuda_graphs=not args.enforce_eager,
        )
        engine = LLMEngine(model, tokenizer, engine_config, observer=state.metrics)
        for i, spec in enumerate(args.adapter, start=1):
            name, _, path = spec.partition("=")
            engine.runner.adapters.install(read_adapter(name, path, model, -i))
        log.info(
            "engine ready: %s on %s, %d cache blocks of %d tokens, context %d",
            model_dir,
            device,
            num_blocks,
            args.block_size,
            state.max_model_len,
        )
        return engine

    engine = AsyncEngine(build)
    state_ref.append(
        ServerState(
            engine=engine,
            tokenizer=tokenizer,
            grammars=GrammarFactory(tokenizer, config.vocab_size),
            model_name=args.served_model_name or model_dir.resolve().name,
            max_model_len=max_model_len,
            max_num_seqs=args.max_num_seqs,
            max_waiting=args.max_waiting,
            max_body_bytes=args.max_body_bytes,
            api_key=args.api_key,
            defaults=_sampling_defaults(model_dir),
            metrics=Metrics(engine.stats),
        )
    )
    return state_ref[0]


def main(args: argparse.Namespace) -> int:
    import uvicorn

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(build_state(args))
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5
    )
    return 0
