"""Noise-robust losses for PyTorch (needs the ``torch`` extra: ``pip install 'mislabel[torch]'``).

Each loss is a function that holds the math (``generalized_cross_entropy(logits, target, *,
q=0.7, weight=None, ignore_index=-100, reduction="mean")``) and a thin ``nn.Module`` that
stores the settings (``GCELoss(q=0.7)``). All take logits (n, K) and integer targets (n,),
a per-class ``weight`` (a buffer), ``ignore_index`` and ``reduction`` in ``{"none", "mean",
"sum"}`` with ``F.cross_entropy``'s weighted-mean rule, and carry fastai's ``activation`` /
``decodes``.

A registry maps names to classes, for configuration files and the CLI::

    >>> import mislabel.losses as ml
    >>> ml.available()[:3]
    ['backward_correction', 'bootstrap_hard', 'bootstrap_soft']
    >>> loss = ml.get("gce", q=0.7)

Sample indices: ``weighted_ce``, ``truncated_gce`` and ``elr`` use per-sample state
(``takes_index = True``). Pass ``index=`` (the dataset indices of the batch rows) to the
forward call, or call ``loss.bind_index(idx)`` just before it when the trainer calls
``loss(pred, target)`` itself (fastai: a callback takes the indices out of the batch in
``before_batch`` and binds them while training).
"""

from __future__ import annotations

from mislabel._validation import optional_import

optional_import("torch", "torch", "mislabel.losses")

from mislabel.losses._base import REDUCTIONS, LossBase  # noqa: E402
from mislabel.losses._registry import available, get, get_class, register  # noqa: E402
from mislabel.losses.bootstrap import (  # noqa: E402
    HardBootstrapLoss,
    SoftBootstrapLoss,
    hard_bootstrap_cross_entropy,
    soft_bootstrap_cross_entropy,
)
from mislabel.losses.ce import (  # noqa: E402
    CELoss,
    LabelSmoothingLoss,
    WeightedCELoss,
    cross_entropy,
    label_smoothing_cross_entropy,
    weighted_cross_entropy,
)
from mislabel.losses.correction import (  # noqa: E402
    BackwardCorrectionLoss,
    ForwardCorrectionLoss,
    backward_corrected_cross_entropy,
    forward_corrected_cross_entropy,
)
from mislabel.losses.elr import ELRLoss, elr_loss  # noqa: E402
from mislabel.losses.gce import (  # noqa: E402
    GCELoss,
    TruncatedGCELoss,
    generalized_cross_entropy,
    truncated_gce_loss,
)
from mislabel.losses.symmetric import (  # noqa: E402
    MAELoss,
    NCELoss,
    NCEMAELoss,
    NCERCELoss,
    RCELoss,
    SCELoss,
    mean_absolute_error,
    nce_mae_loss,
    nce_rce_loss,
    normalized_cross_entropy,
    reverse_cross_entropy,
    symmetric_cross_entropy,
)
from mislabel.losses.taylor import TaylorCELoss, taylor_cross_entropy  # noqa: E402

__all__ = [
    "REDUCTIONS",
    "BackwardCorrectionLoss",
    "CELoss",
    "ELRLoss",
    "ForwardCorrectionLoss",
    "GCELoss",
    "HardBootstrapLoss",
    "LabelSmoothingLoss",
    "LossBase",
    "MAELoss",
    "NCELoss",
    "NCEMAELoss",
    "NCERCELoss",
    "RCELoss",
    "SCELoss",
    "SoftBootstrapLoss",
    "TaylorCELoss",
    "TruncatedGCELoss",
    "WeightedCELoss",
    "available",
    "backward_corrected_cross_entropy",
    "cross_entropy",
    "elr_loss",
    "forward_corrected_cross_entropy",
    "generalized_cross_entropy",
    "get",
    "get_class",
    "hard_bootstrap_cross_entropy",
    "label_smoothing_cross_entropy",
    "mean_absolute_error",
    "nce_mae_loss",
    "nce_rce_loss",
    "normalized_cross_entropy",
    "register",
    "reverse_cross_entropy",
    "soft_bootstrap_cross_entropy",
    "symmetric_cross_entropy",
    "taylor_cross_entropy",
    "truncated_gce_loss",
    "weighted_cross_entropy",
]
