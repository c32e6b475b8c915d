"""Fixtures of the integration tests; optional dependencies skip locally and fail on CI.

The test modules start with ``pytest.importorskip("torch")`` (and ``"fastai.learner"``), so a
checkout without the ``torch`` / ``fastai`` extras skips them. On CI (``CI=true``) a skip would
hide a broken environment, so this conftest, which pytest loads before collecting those
modules, fails the run right away.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

#: module → the extra that provides it
REQUIRED_ON_CI = {"torch": "torch", "fastai.learner": "fastai"}


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _check_required() -> None:
    if not _on_ci():
        return
    for module, extra in REQUIRED_ON_CI.items():
        try:
            importlib.import_module(module)
        except Exception as exc:  # broken installs raise more than ImportError
            pytest.fail(
                f"CI=true and `{module}` cannot be imported ({type(exc).__name__}: {exc}); "
                f"tests/integrations must run on CI, not skip. "
                f"Install: pip install -e '.[{extra}]'",
                pytrace=False,
            )


_check_required()


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
