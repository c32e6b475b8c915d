"""Out-of-fold per-tag probabilities for multi-label data."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from mislabel._validation import as_seed, check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.multilabel._input import check_multilabel_labels


def _is_torch_module(obj: Any) -> bool:
    """True for a torch.nn.Module, without importing torch."""
    return any(
        c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module"
        for c in type(obj).__mro__
    )


def _take(x: Any, idx: np.ndarray) -> Any:
    from sklearn.utils import _safe_indexing

    return _safe_indexing(x, idx)


def _folds(y: np.ndarray, cv: Any, seed: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds stratified by tag set; tag sets rarer than the number of folds share one group."""
    from sklearn.model_selection import StratifiedKFold

    if hasattr(cv, "split") and not isinstance(cv, str):
        return list(cv.split(np.zeros(y.shape[0]), y))
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral):
        raise InvalidParameterError(
            f"`cv` must be an int >= 2 or a scikit-learn splitter with .split(); got {cv!r}."
        )
    check_scalar(cv, "cv", kind=numbers.Integral, min_val=2, max_val=y.shape[0])
    _, group, counts = np.unique(y, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    group = np.where(counts[group] < int(cv), -1, group)
    splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(np.zeros(y.shape[0]), group))


def _proba(model: Any, x: Any, k: int) -> np.ndarray:
    """(n, K) probability of each tag from predict_proba's array or list-of-arrays form."""
    out = model.predict_proba(x)
    if isinstance(out, list):  # one (n, 2) array per tag (random forests, k-NN)
        cols = [
            np.asarray(o)[:, -1] if np.asarray(o).shape[1] > 1 else np.zeros(len(o)) for o in out
        ]
        out = np.stack(cols, axis=1)
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != k:
        raise InvalidInputError(
            f"`estimator.predict_proba` must return (n_samples, n_classes) = (n, {k}) per-tag "
            f"probabilities for multi-label targets; got shape {arr.shape}. Wrap a single-label "
            "classifier in sklearn.multiclass.OneVsRestClassifier."
        )
    return arr


def cross_val_multilabel_pred_probs(
    estimator: Any,
    X: Any,
    labels: Any,
    *,
    cv: Any = 5,
    n_classes: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Out-of-fold per-tag probabilities: each fold's model never saw the held-out tags.

    Args:
        estimator: a scikit-learn estimator that fits an (n, K) 0/1 target and returns per-tag
            probabilities (e.g. ``OneVsRestClassifier(LogisticRegression())``,
            ``MLPClassifier``, ``RandomForestClassifier``), or a PyTorch ``nn.Module`` (or
            factory) mapping a batch of X to (batch, K) logits, trained with BCE by
            :class:`MultiLabelTorchClassifier` (defaults; pass one yourself to choose).
        X: features, one row per sample.
        labels: (n, K) 0/1 indicator or a list of tag lists.
        cv: number of folds (stratified by tag set, rare tag sets grouped) or a splitter.
        n_classes: number of tags (needed with tag lists whose last class never occurs).
        random_state: seeds the folds and, when the estimator's own ``random_state`` is None,
            each fold's model (seed + fold).

    Returns:
        (n, K) float64 out-of-fold probabilities.
    """
    from sklearn.base import clone

    from mislabel.multilabel._torch import MultiLabelTorchClassifier

    y = check_multilabel_labels(labels, n_classes=n_classes)
    n, k = y.shape
    n_x = getattr(X, "shape", (len(X),))[0]
    if n_x != n:
        raise InvalidInputError(f"`X` must have one row per sample of `labels` ({n}); got {n_x}.")
    if _is_torch_module(estimator) or (callable(estimator) and not hasattr(estimator, "fit")):
        estimator = MultiLabelTorchClassifier(estimator)
    if not (
        callable(getattr(estimator, "fit", None))
        and callable(getattr(estimator, "predict_proba", None))
    ):
        raise InvalidParameterError(
            f"`estimator` must have fit() and predict_proba(); {type(estimator).__name__} has not."
        )
    seed = as_seed(random_state)
    out = np.zeros((n, k), dtype=np.float64)
    for fold, (train, test) in enumerate(_folds(y, cv, seed)):
        model = clone(estimator)
        params = model.get_params()
        if seed is not None and "random_state" in params and params["random_state"] is None:
            model.set_params(random_state=seed + fold)
        model.fit(_take(X, train), y[train])
        out[test] = _proba(model, _take(X, test), k)
    return out
