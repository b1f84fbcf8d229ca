"""Fixtures shared by the model server's tests (model, engine, server). Add to this file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from modelserver.testing import build_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny R1-architecture checkpoint with its tokenizer (built once per session)."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-r1")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    from modelserver.loader import load_model

    return load_model(tiny_model_dir, dtype=torch.float32)


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir: Path):
    from modelserver.chat.tokenizer import Tokenizer

    return Tokenizer(tiny_model_dir)


@pytest.fixture(scope="session")
def reference_greedy(tiny_model) -> Callable[[list[int], int], list[int]]:
    """The straight loop: the whole sequence through the plain forward, argmax, repeat."""

    @torch.inference_mode()
    def generate(
        prompt_ids: list[int], max_tokens: int, stop_ids: frozenset = frozenset()
    ) -> list[int]:
        ids = list(prompt_ids)
        for _ in range(max_tokens):
            token = int(tiny_model(torch.tensor([ids]))[0, -1].argmax())
            ids.append(token)
            if token in stop_ids:
                break
        return ids[len(prompt_ids) :]

    return generate


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: a second OpenMP thread mostly spins and waits
    (SDPA and index_add_ ran 50-100x slower with two threads under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
