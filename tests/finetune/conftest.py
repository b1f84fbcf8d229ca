import random
from pathlib import Path

import pytest

from assistant.agent import spec
from modelserver.demo import corpus, world
from modelserver.finetune.data import Unit

SYSTEM = spec.system_prompt(
    shop_name="Northwind Goods",
    window_days=30,
    non_returnable=["gift cards"],
    customer_name="the customer",
)


def make_units(count: int, dialogues: int = 1, seed: int = 0) -> list[Unit]:
    """Customers of the demo world with short held-out-phrasing dialogues (the shop's own)."""
    rng = random.Random(f"finetune-test-{seed}")
    units = []
    for i in range(count):
        customer = world.make_customer(rng, rng.choice(["en", "zh"]))
        ds = [
            corpus.dialogue(rng, customer, "held_out", rng.choice(["order_status", "track"]))
            for _ in range(dialogues)
        ]
        units.append(Unit(f"u{i}", SYSTEM, [d.messages[1:] for d in ds]))
    return units


DEMO = Path(__file__).resolve().parents[2] / "modelserver" / "demo" / "checkpoint"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Training here shares the cores with the worker and server processes the tests start:
    torch's threads spinning against each other made steps ten times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised R1-architecture model of the demo's "tiny" size with the demo's
    tokenizer (whose system prompt is short), saved as a checkpoint both transformers and our
    model server load."""
    import shutil

    import torch
    from tokenizers import Tokenizer
    from transformers import DeepseekV3ForCausalLM

    from modelserver.demo import train

    path = tmp_path_factory.mktemp("ft-tiny")
    torch.manual_seed(0)
    vocab = Tokenizer.from_file(str(DEMO / "tokenizer.json")).get_vocab_size()
    model = DeepseekV3ForCausalLM(train.model_config(vocab, "tiny"))
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(DEMO / name, path / name)
    return path
