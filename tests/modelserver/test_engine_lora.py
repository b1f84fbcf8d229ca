import pytest
import torch

from modelserver.engine import EngineConfig, LLMEngine, SamplingParams, Sequence
from modelserver.engine.lora import AdapterError, read_adapter
from modelserver.testing import write_lora_adapter

TARGETS = {
    "model.layers.0.self_attn.q_a_proj": (32, 64),
    "model.layers.0.self_attn.o_proj": (64, 64),
    "model.layers.1.mlp.shared_experts.down_proj": (64, 32),
}
RANK, ALPHA = 4, 8.0
GREEDY = SamplingParams(max_tokens=10, temperature=0, ignore_eos=True)


def write_adapter(path, targets=TARGETS):
    return write_lora_adapter(path, targets, rank=RANK, alpha=ALPHA)


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lora") / "shop"
    write_adapter(path)
    return path


@pytest.fixture(scope="module")
def merged_greedy(tiny_model_dir, adapter_dir):
    """The reference: the same adapter merged into a second copy of the weights."""
    from safetensors.torch import load_file

    from modelserver.loader import load_model

    model = load_model(tiny_model_dir, dtype=torch.float32)
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    with torch.no_grad():
        for name in TARGETS:
            a = tensors[f"base_model.model.{name}.lora_A.weight"]
            b = tensors[f"base_model.model.{name}.lora_B.weight"]
            model.get_submodule(name.removeprefix("model.")).weight += (ALPHA / RANK) * b @ a

    @torch.inference_mode()
    def generate(prompt, n):
        ids = list(prompt)
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
        return ids[len(prompt) :]

    return generate


def test_requests_with_and_without_the_adapter_share_a_batch_and_each_get_their_model(
    tiny_model, tokenizer, adapter_dir, merged_greedy, reference_greedy
):
    eng = LLMEngine(
        tiny_model, tokenizer, EngineConfig(max_model_len=128, block_size=4, num_blocks=128)
    )
    adapter = read_adapter("shop", adapter_dir, tiny_model, generation=1)
    eng.runner.adapters.install(adapter)
    prompts = [
        tokenizer.encode(t, add_bos=True)
        for t in ("Where is my order?", "Hello", "Where is my order?")
    ]
    adapters = [adapter.key, None, None]
    for i, (p, a) in enumerate(zip(prompts, adapters, strict=True)):
        eng.add(Sequence(f"r{i}", p, GREEDY, tokenizer, adapter=a))
    tokens: dict[str, list[int]] = {f"r{i}": [] for i in range(3)}
    while eng.has_work():
        for out in eng.step():
            tokens[out.request_id] += out.token_ids
    assert tokens["r0"] == merged_greedy(prompts[0], 10)
    assert tokens["r1"] == reference_greedy(prompts[1], 10)
    assert tokens["r2"] == reference_greedy(prompts[2], 10)
    assert tokens["r0"] != tokens["r2"]  # the adapter changes the output
    eng.runner.adapters.remove("shop")
    assert not eng.runner.adapters.has_key(adapter.key)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"model.layers.1.mlp.experts.0.up_proj": (32, 64)}, "cannot target"),
        ({"model.layers.0.self_attn.kv_b_proj": (128, 32)}, "cannot target"),
        ({"model.layers.0.self_attn.o_proj": (64, 32)}, "do not fit"),
    ],
)
def test_adapters_that_do_not_fit_the_model_are_refused(tiny_model, tmp_path, targets, message):
    write_adapter(tmp_path, targets)
    with pytest.raises(AdapterError, match=message):
        read_adapter("bad", tmp_path, tiny_model, generation=1)
