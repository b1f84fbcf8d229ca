"""Kernel tests run the Triton kernels on CPU tensors through Triton's interpreter.

The variable must be set before triton is first imported, which this conftest guarantees
because pytest loads it before the test modules.
"""

import os

os.environ["TRITON_INTERPRET"] = "1"

import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded() -> None:
    # Fresh but reproducible inputs per test.
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _poisoned_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernel outputs start as NaN, so any element a kernel leaves unwritten fails the test.
    monkeypatch.setattr("kernels._buffers.POISON", True)
