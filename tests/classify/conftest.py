"""Classifier tests run torch on one thread: with ``pytest -n 2`` on 2 cores, two threads per worker
oversubscribe the CPU and make small convolutions several times slower."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)
