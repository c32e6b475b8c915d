"""Out-of-fold probabilities trained on the annotators' consensus."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mislabel._validation import as_seed, check_scalar
from mislabel.detect import cross_val_pred_probs
from mislabel.multiannotator._consensus import consensus


def cross_val_consensus_pred_probs(
    estimator: Any,
    X: Any,
    annotations: Any,
    *,
    cv: Any = 5,
    n_rounds: int = 1,
    sample_weight_by_quality: bool = False,
    n_classes: int | None = None,
    random_state: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
    item_column: str = "item",
    annotator_column: str = "annotator",
    label_column: str = "label",
) -> np.ndarray:
    """Out-of-fold probabilities of ``estimator`` trained on the consensus of the annotators.

    Round 1 trains on the Dawid–Skene consensus of the votes alone (:func:`consensus`); each
    further round trains on the consensus of the votes and the previous round's probabilities.
    Pass the result to ``consensus(annotations, pred_probs=...)``.

    Args:
        estimator: a scikit-learn classifier or a PyTorch module, as for
            :func:`mislabel.cross_val_pred_probs`.
        X: features, one row per item, in the item order of ``annotations``.
        annotations: as for :func:`consensus`.
        cv: folds (int) or a scikit-learn splitter.
        n_rounds: consensus → probabilities rounds (>= 1).
        sample_weight_by_quality: train with ``sample_weight`` = the consensus quality (the
            estimator's ``fit`` must accept it).
        n_classes: number of classes (default: the largest label + 1).
        random_state: seeds the folds and each fold's model; same seed, same result.
        n_jobs: folds trained in parallel.

    Returns:
        (n_items, n_classes) float64 out-of-fold probabilities.
    """
    check_scalar(n_rounds, "n_rounds", kind=numbers.Integral, min_val=1)
    seed = as_seed(random_state)
    probs: np.ndarray | None = None
    if n_classes is not None:
        check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2)
    for _ in range(int(n_rounds)):
        result = consensus(
            annotations,
            pred_probs=probs,
            item_column=item_column,
            annotator_column=annotator_column,
            label_column=label_column,
        )
        k = max(result.n_classes, int(n_classes or 0))
        probs = cross_val_pred_probs(
            estimator,
            X,
            result.labels,
            cv=cv,
            random_state=seed,
            n_jobs=n_jobs,
            n_classes=k,
            sample_weight=result.quality if sample_weight_by_quality else None,
        )
    return np.asarray(probs)
