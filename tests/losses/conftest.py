"""Factories of the loss tests.

On CI the root conftest requires torch and fastai; locally the modules importorskip them.
"""

from __future__ import annotations

import pytest

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
