"""Kernel tests run the Triton kernels on CPU tensors through Triton's interpreter
(`TRITON_INTERPRET=1`, set for the whole suite in pyproject.toml)."""

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
