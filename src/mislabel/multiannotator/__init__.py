"""Several annotators per item: a consensus label, its quality, and each annotator's.

:func:`consensus` takes an (items × annotators) table (NaN or -1 = not labelled) or a long
table (item, annotator, label) and, optionally, a model's out-of-fold probabilities
(:func:`cross_val_consensus_pred_probs`). It never imports torch.
"""

from __future__ import annotations

from mislabel.multiannotator._consensus import (
    CONSENSUS_METHODS,
    ConsensusResult,
    consensus,
    majority_vote,
)
from mislabel.multiannotator._oof import cross_val_consensus_pred_probs

__all__ = [
    "CONSENSUS_METHODS",
    "ConsensusResult",
    "consensus",
    "cross_val_consensus_pred_probs",
    "majority_vote",
]
