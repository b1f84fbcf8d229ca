"""Tiny random R1-architecture checkpoints for tests (no hub, no network).

`build_tiny_checkpoint(dir)` writes the same file layout as a real DeepSeek-R1 checkpoint:
`config.json` + safetensors (written by `transformers.DeepseekV3ForCausalLM.save_pretrained`),
and a byte-level BPE `tokenizer.json` trained here on a small mixed English/Chinese/JSON corpus,
with R1's special tokens and a `tokenizer_config.json`. Model and integration tests share it.
"""

from __future__ import annotations

import json
from pathlib import Path

# R1's added tokens. bos/eos/pad are "special" (dropped by skip_special_tokens); the chat,
# tool, FIM and think markers are plain added tokens, as in the real tokenizer.json.
SPECIAL_TOKENS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"]
ADDED_TOKENS = [
    "<｜User｜>",
    "<｜Assistant｜>",
    "<think>",
    "</think>",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁sep｜>",
    "<｜tool▁outputs▁begin｜>",
    "<｜tool▁outputs▁end｜>",
    "<｜tool▁output▁begin｜>",
    "<｜tool▁output▁end｜>",
    "<｜fim▁begin｜>",
    "<｜fim▁hole｜>",
    "<｜fim▁end｜>",
]

_CORPUS = [
    "Hello! How can I help you with your order today?",
    "Your order #12345 has shipped and will arrive on Friday.",
    "I would like to return the blue shoes, they are too small.",
    "The refund of 49.99 EUR was sent to your card.",
    "Please tell me the tracking number of my parcel.",
    "def add(a, b):\n    return a + b\n",
    "for item in cart.items():\n    total += item.price * item.quantity\n",
    '{"order_id": "A-1001", "status": "shipped", "items": [1, 2, 3], "paid": true}',
    '{"name": "get_order", "arguments": {"order_id": "A-7", "verbose": false, "n": -3.5e2}}',
    "您好！请问有什么可以帮您？您的订单已经发货了。",
    "我想退货，这双鞋太小了。退款将在三到五个工作日内到账。",
    "谢谢你的帮助，祝你有美好的一天！中文测试：汉字、标点。",
    "The quick brown fox jumps over the lazy dog 0123456789.",
    "Let me think about this step by step. First, check the order status.",
]


def train_tokenizer(vocab_size: int = 640):  # -> tokenizers.Tokenizer
    """A byte-level BPE with R1's special tokens at ids 0, 1, 2 and the markers after the merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
    return tok


def tiny_config_kwargs(vocab_size: int) -> dict:
    """R1's shape in miniature: MLA with q/kv LoRA, YaRN RoPE, one dense layer then MoE layers
    with grouped sigmoid routing (noaux_tc) and a shared expert."""
    return dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_hidden_layers=3,
        first_k_dense_replace=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        n_shared_experts=1,
        n_routed_experts=8,
        num_experts_per_tok=2,
        n_group=4,
        topk_group=2,
        routed_scaling_factor=2.5,
        norm_topk_prob=True,
        q_lora_rank=32,
        kv_lora_rank=32,
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=16,
        max_position_embeddings=1024,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 10000.0,
            "factor": 4.0,
            "original_max_position_embeddings": 256,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
        },
        rms_norm_eps=1e-6,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
        # Larger than the default 0.02 so a random model has peaked, tie-free logits.
        initializer_range=0.1,
    )


def build_tiny_checkpoint(path: str | Path, *, seed: int = 0, **config_overrides) -> Path:
    """Write a random tiny R1-architecture checkpoint with its tokenizer to `path`."""
    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer()
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "add_bos_token": True,
                "add_eos_token": False,
                "bos_token": SPECIAL_TOKENS[0],
                "eos_token": SPECIAL_TOKENS[1],
                "pad_token": SPECIAL_TOKENS[2],
                "model_max_length": 1024,
                "clean_up_tokenization_spaces": False,
                "tokenizer_class": "LlamaTokenizerFast",
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    kwargs = tiny_config_kwargs(tok.get_vocab_size())
    kwargs.update(config_overrides)
    config = DeepseekV3Config(**kwargs)
    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(config).eval()
    with torch.no_grad():
        # Random routing-bias values so selection and weighting differ, as in a trained R1.
        for layer in model.model.layers[config.first_k_dense_replace :]:
            layer.mlp.gate.e_score_correction_bias.uniform_(-0.5, 0.5)
    model.save_pretrained(path)
    return path


def write_lora_adapter(
    path: str | Path,
    shapes: dict[str, tuple[int, int]],
    *,
    rank: int = 4,
    alpha: float = 8.0,
    seed: int = 0,
    std: float = 0.5,
) -> dict:
    """A random LoRA adapter in PEFT's layout for the modules in `shapes` ({HF module name:
    (out_features, in_features)}). Returns the tensors written."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (out_features, in_features) in shapes.items():
        prefix = f"base_model.model.{name}"
        tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, in_features, generator=gen) * std
        tensors[f"{prefix}.lora_B.weight"] = torch.randn(out_features, rank, generator=gen) * std
    save_file(tensors, str(path / "adapter_model.safetensors"))
    config = {
        "r": rank,
        "lora_alpha": alpha,
        "target_modules": sorted({n.rsplit(".", 1)[1] for n in shapes}),
    }
    (path / "adapter_config.json").write_text(json.dumps(config))
    return tensors


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m modelserver serve` in a subprocess, for integration tests.

    with ServerProcess(model_dir, "--max-model-len", "512") as server:
        openai.OpenAI(base_url=server.url + "/v1", api_key="x")
    """

    def __init__(
        self, model_dir: str | Path, *args: str, timeout: float = 180.0, threads: int | None = 1
    ) -> None:
        self.model_dir = Path(model_dir)
        self.args = (*args, "--threads", str(threads)) if threads else args
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.model_dir.parent / f"modelserver-{self.port}.log"
        self.proc = None

    def __enter__(self) -> ServerProcess:
        import subprocess
        import sys
        import time
        import urllib.request

        command = [
            sys.executable,
            "-m",
            "modelserver",
            "serve",
            "--model",
            str(self.model_dir),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.args,
        ]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise TimeoutError(
            f"server not ready in {self.timeout} s: {self.log_path.read_text()[-3000:]}"
        )

    def __exit__(self, *exc: object) -> None:
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
