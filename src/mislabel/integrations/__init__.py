"""Bridges to other frameworks; each submodule imports its framework only when imported.

=====================================  =========================================================
:mod:`mislabel.integrations.torch`     ``to_estimator`` / ``TorchClassifier``: a PyTorch
                                       network as a scikit-learn classifier, for
                                       :func:`mislabel.cross_val_pred_probs` (``torch`` extra)
:mod:`mislabel.integrations.fastai`    out-of-fold probabilities for a fastai ``Learner``
                                       factory, callbacks for sample weights, small-loss
                                       selection and training dynamics (``fastai`` extra)
=====================================  =========================================================
"""

from __future__ import annotations

__all__: list[str] = []
