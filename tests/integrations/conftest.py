"""Fixtures of the integration tests (torch models on small synthetic data).

On CI the root conftest requires torch and fastai; locally the modules importorskip them.
"""

from __future__ import annotations

import numpy as np
import pytest


def make_blobs(n: int, seed: int, *, n_classes: int = 4, dim: int = 10, sep: float = 2.0):
    """Well-separated Gaussian blobs; the centres are the same for every ``seed``."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(size=(n_classes, dim)) * sep
    y = np.arange(n) % n_classes
    X = (centres[y] + rng.normal(size=(n, dim))).astype(np.float32)
    return X, y


@pytest.fixture
def blobs():
    return make_blobs


@pytest.fixture
def mlp():
    """A factory of factories: ``mlp(dim, n_classes, hidden)`` → ``() -> nn.Module``."""

    def factory(dim: int = 10, n_classes: int = 4, hidden: int = 32):
        from torch import nn

        def make():
            return nn.Sequential(
                nn.Linear(dim, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, n_classes),
            )

        return make

    return factory


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test process (pytest -n 2 runs two processes on two cores)."""
    try:
        import torch
    except Exception:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
