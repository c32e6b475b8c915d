"""Optional dependencies of the loss tests: skip locally, fail on CI.

The test modules here start with ``pytest.importorskip("torch")`` (and ``"fastai.learner"``
for the fastai tests), so a checkout without the ``torch`` / ``fastai`` extras skips them.
On CI (``CI=true``) a skip would hide a broken environment, so this conftest, which pytest
loads before collecting those modules, stops the run with the reason instead (exit code 4).
"""

from __future__ import annotations

import importlib
import os

import pytest

#: module → the extra that provides it
REQUIRED_ON_CI = {"torch": "torch", "fastai.learner": "fastai"}


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    """On CI, stop with the reason when an optional dependency of these tests is missing."""
    if not _on_ci():
        return
    for module, extra in REQUIRED_ON_CI.items():
        try:
            importlib.import_module(module)
            continue
        except Exception as exc:  # broken installs raise more than ImportError
            why = f"{type(exc).__name__}: {exc}"
        raise pytest.UsageError(
            f"CI=true and `{module}` cannot be imported ({why}); tests/losses must run on CI, "
            f"not skip. Install: pip install -e '.[{extra}]'"
        )


# ------------------------------------------------------------------------------ factories

#: Extra cases beyond the registry names: the other forms of label smoothing.
VARIANTS = ("label_smoothing[vector]", "label_smoothing[matrix]")


def noise_matrix(n_classes: int, *, seed: int = 0, diag: float = 0.7):  # -> torch.Tensor
    """A row-stochastic, well-conditioned, non-symmetric (K, K) noise matrix."""
    import torch

    g = torch.Generator().manual_seed(seed)
    off = torch.softmax(torch.randn(n_classes, n_classes, generator=g, dtype=torch.float64), 1)
    return diag * torch.eye(n_classes, dtype=torch.float64) + (1 - diag) * off


def build_loss(case: str, *, n_samples: int, n_classes: int, **overrides):
    """A loss for ``case`` (a registry name or one of VARIANTS) with its required arguments."""
    import torch

    import mislabel.losses as ml

    g = torch.Generator().manual_seed(123)
    required = {
        "weighted_ce": {"sample_weights": torch.rand(n_samples, generator=g) + 0.1},
        "truncated_gce": {"n_samples": n_samples},
        "elr": {"n_samples": n_samples, "n_classes": n_classes},
        "forward_correction": {"noise_matrix": noise_matrix(n_classes)},
        "backward_correction": {"noise_matrix": noise_matrix(n_classes)},
        "label_smoothing[vector]": {
            "smoothing": torch.rand(n_classes, generator=g, dtype=torch.float64) * 0.3
        },
        "label_smoothing[matrix]": {"smoothing": noise_matrix(n_classes, seed=1, diag=0.8)},
    }
    name = case.split("[")[0]
    kwargs = {**required.get(case, {}), **overrides}
    loss = ml.get(name, **kwargs)
    if name == "truncated_gce":
        # prune a few samples so the stored weights matter
        loss.pruning_weights[::3] = 0.0
    return loss


@pytest.fixture
def loss_factory():
    """``build_loss`` as a fixture, for test modules (conftest is not importable by name)."""
    return build_loss
