"""Multi-label data: several tags per sample, some missing or wrong.

:func:`find_label_issues` checks every (sample, tag) entry against a model's out-of-fold
per-tag probabilities (:func:`cross_val_multilabel_pred_probs`). Training through the noise:
per-entry weights (``MultiLabelIssues.entry_scores``), soft targets
(``MultiLabelIssues.posterior``) and the losses of :mod:`mislabel.multilabel.losses` (needs
torch, imported only there).
"""

from __future__ import annotations

from mislabel.multilabel._issues import MultiLabelIssues, find_label_issues
from mislabel.multilabel._oof import cross_val_multilabel_pred_probs
from mislabel.multilabel._torch import MultiLabelTorchClassifier

__all__ = [
    "MultiLabelIssues",
    "MultiLabelTorchClassifier",
    "cross_val_multilabel_pred_probs",
    "find_label_issues",
]
