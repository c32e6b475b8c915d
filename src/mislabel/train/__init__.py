"""Noise-aware training (needs the ``torch`` extra for the trainers themselves).

:class:`NoiseAwareClassifier` is the whole recipe in one scikit-learn estimator: find the
wrong labels, weight them down, train through the rest. :func:`train_on_data` trains it (or a
plain registered loss) on a loaded dataset; it is what ``mislabel train`` runs, and
:func:`load_model` reads back the folder it saves, for predictions on new data.
:func:`default_network` builds the default MLP or small CNN for an input shape.

Noise-aware training in plain PyTorch (any ``nn.Module`` factory): :func:`coteaching` (two
networks exchange their small-loss samples), :func:`small_loss` (one network, the same
schedule), :func:`train_weighted` (per-sample weights from detection scores), all returning a
:class:`TrainResult`; :class:`TrainingDynamics` records per-sample loss and margin per epoch
(area under the margin); :func:`keep_rate` is the schedule ``R(t) = 1 - τ·min(t/T_k, 1)``;
:func:`can_memorize` says whether a network has the capacity to learn wrong labels by heart
(then weights and ELR pay off; else plain CE is the better final loss).
These are loaded on first access, so ``import mislabel.train`` still does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mislabel.train._dataset import (
    DataTrainResult,
    load_model,
    predictions_frame,
    symmetric_noise_matrix,
    train_on_data,
)
from mislabel.train._networks import default_network
from mislabel.train._noise_aware import NoiseAwareClassifier, one_run_issues, one_run_pred_probs

__all__ = [
    "DataTrainResult",
    "NoiseAwareClassifier",
    "default_network",
    "load_model",
    "one_run_issues",
    "one_run_pred_probs",
    "predictions_frame",
    "symmetric_noise_matrix",
    "train_on_data",
]

# Noise-aware trainers (torch): loaded lazily on first attribute access.
from mislabel.train._dynamics import TrainingDynamics
from mislabel.train._schedule import keep_rate

if TYPE_CHECKING:
    from mislabel.train._capacity import can_memorize, n_parameters
    from mislabel.train._coteaching import coteaching
    from mislabel.train._loop import EpochLog, TrainResult
    from mislabel.train._single import small_loss, train_weighted

_LAZY = {
    "can_memorize": "mislabel.train._capacity",
    "n_parameters": "mislabel.train._capacity",
    "EpochLog": "mislabel.train._loop",
    "TrainResult": "mislabel.train._loop",
    "coteaching": "mislabel.train._coteaching",
    "small_loss": "mislabel.train._single",
    "train_weighted": "mislabel.train._single",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        from mislabel._validation import optional_import

        optional_import("torch", "torch", f"mislabel.train.{name}")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mislabel.train' has no attribute {name!r}")


__all__ += [
    "EpochLog",
    "TrainResult",
    "TrainingDynamics",
    "can_memorize",
    "coteaching",
    "keep_rate",
    "n_parameters",
    "small_loss",
    "train_weighted",
]
