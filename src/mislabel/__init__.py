"""mislabel: find, fix and train through wrong labels in classification data.

Data flows one way: :mod:`mislabel.detect` (find) → :mod:`mislabel.fix` → training
(:mod:`mislabel.losses`, needs the ``torch`` extra). ``import mislabel`` never imports torch.
Other shapes of noisy labels: :mod:`mislabel.multiannotator` (several annotators per item) and
:mod:`mislabel.multilabel` (several tags per sample).
"""

from __future__ import annotations

from mislabel import metrics, multiannotator, multilabel
from mislabel.detect import (
    LabelIssues,
    NoiseEstimate,
    cross_val_pred_probs,
    embedding_pred_probs,
    estimate_noise,
    find_label_issues,
    health_summary,
    label_quality_scores,
    neighbor_label_probs,
    true_label_posterior,
)
from mislabel.detect._oof import is_torch_module as _is_torch_module
from mislabel.detect._oof import register_estimator_adapter as _register_estimator_adapter
from mislabel.exceptions import (
    InvalidInputError,
    InvalidParameterError,
    MislabelError,
    MissingDependencyError,
    NotFittedError,
)
from mislabel.train._noise_aware import NoiseAwareClassifier

__version__ = "0.1.0"


def _torch_module_estimator(model: object) -> object:
    """:func:`cross_val_pred_probs` on a bare ``torch.nn.Module``: the torch side wraps it."""
    from mislabel.integrations.torch import to_estimator

    return to_estimator(model)


_register_estimator_adapter(_is_torch_module, _torch_module_estimator)

__all__ = [
    "InvalidInputError",
    "InvalidParameterError",
    "LabelIssues",
    "MislabelError",
    "MissingDependencyError",
    "NoiseAwareClassifier",
    "NoiseEstimate",
    "NotFittedError",
    "__version__",
    "cross_val_pred_probs",
    "embedding_pred_probs",
    "estimate_noise",
    "find_label_issues",
    "health_summary",
    "label_quality_scores",
    "metrics",
    "multiannotator",
    "multilabel",
    "neighbor_label_probs",
    "true_label_posterior",
]
