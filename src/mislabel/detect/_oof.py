"""Out-of-fold predicted probabilities: the input of every detection method."""

from __future__ import annotations

import hashlib
import logging
import numbers
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mislabel._validation import MAX_CLASSES, as_seed, check_labels, check_option, check_scalar
from mislabel.detect._cache import FoldCache
from mislabel.detect._parallel import BACKENDS, run_tasks
from mislabel.exceptions import InvalidInputError, InvalidParameterError, MislabelError

logger = logging.getLogger(__name__)


def is_torch_module(obj: Any) -> bool:
    """True for a torch.nn.Module, without importing torch."""
    return any(
        c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module"
        for c in type(obj).__mro__
    )


#: (predicate, adapter) pairs that turn other kinds of models into scikit-learn classifiers.
#: ``import mislabel`` registers the one for a bare ``torch.nn.Module`` (the torch side wraps
#: it), so this module imports no torch-side code.
_ADAPTERS: list[tuple[Callable[[Any], bool], Callable[[Any], Any]]] = []


def register_estimator_adapter(
    predicate: Callable[[Any], bool], adapter: Callable[[Any], Any]
) -> None:
    """Make :func:`cross_val_pred_probs` pass an estimator for which ``predicate`` is true
    through ``adapter`` (which returns a scikit-learn classifier) first."""
    _ADAPTERS.append((predicate, adapter))


def _as_estimator(estimator: Any) -> Any:
    for predicate, adapter in _ADAPTERS:
        if predicate(estimator):
            return adapter(estimator)
    return estimator


def _check_estimator(estimator: Any) -> None:
    missing = [m for m in ("fit", "predict_proba") if not callable(getattr(estimator, m, None))]
    if missing:
        raise InvalidParameterError(
            f"`estimator` must be a scikit-learn classifier with fit() and predict_proba(); "
            f"{type(estimator).__name__} has no {' or '.join(missing)}(). For SVC pass "
            "probability=True; wrap other models in an sklearn-compatible class."
        )


def _splits(cv: Any, labels: np.ndarray, seed: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        check_scalar(cv, "cv", kind=numbers.Integral, min_val=2, max_val=labels.shape[0])
        counts = np.bincount(labels)
        present = counts[counts > 0]
        if int(present.min()) < int(cv):
            small = [int(c) for c in np.flatnonzero((counts > 0) & (counts < int(cv)))][:5]
            warnings.warn(
                f"classes {small} have fewer samples than cv={cv} folds: some folds will train "
                "without them (their probability column is 0 there).",
                stacklevel=3,
            )
        if int(counts.max()) < int(cv):
            raise InvalidParameterError(
                f"`cv` must be at most the size of the largest class ({int(counts.max())}) for "
                f"stratified folds; got {cv}. Use fewer folds."
            )
        splitter: Any = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return list(splitter.split(np.zeros(labels.shape[0]), labels))
    if hasattr(cv, "split") and not isinstance(cv, str | bytes):
        try:
            splits = list(cv.split(np.zeros(labels.shape[0]), labels))
        except ValueError as exc:  # e.g. StratifiedKFold with more splits than a class
            raise InvalidParameterError(
                f"`cv` ({type(cv).__name__}) cannot split these {labels.shape[0]} labels: {exc}"
            ) from exc
        return [_check_split(s, labels.shape[0], i) for i, s in enumerate(splits)]
    raise InvalidParameterError(
        f"`cv` must be an int >= 2 or a scikit-learn splitter with .split(); got {cv!r}."
    )


def _check_split(split: Any, n: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        train, test = (np.asarray(part) for part in split)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"`cv`'s split() must yield (train, test) index arrays; fold {fold} gave {split!r}."
        ) from exc
    for name, idx in (("train", train), ("test", test)):
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise InvalidParameterError(
                f"`cv`'s fold {fold} must have a non-empty 1-D integer {name} index; got "
                f"{idx.dtype} of shape {idx.shape}."
            )
        if int(idx.min()) < 0 or int(idx.max()) >= n:
            raise InvalidParameterError(f"`cv`'s fold {fold} has {name} indices outside [0, {n}).")
    return train.astype(np.intp), test.astype(np.intp)


def _check_folds_trainable(
    splits: list[tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    weights: np.ndarray | None,
) -> None:
    for fold, (train, _) in enumerate(splits):
        present = np.unique(labels[train])
        if present.size < 2:
            raise InvalidInputError(
                f"fold {fold}'s training part holds only class {int(present[0])}; a classifier "
                "needs at least 2 classes to train. Use fewer folds (`cv`) or more samples."
            )
        if weights is not None and not weights[train].sum() > 0:
            raise InvalidInputError(
                f"`sample_weight` is 0 on every sample of fold {fold}'s training part; give "
                "some training samples a positive weight."
            )


def _check_features(X: Any) -> None:
    """Refuse numeric features that no classifier can fit (NaN or inf, complex numbers)."""
    if not isinstance(X, np.ndarray):
        return
    if X.dtype.kind == "c":
        raise InvalidInputError(
            f"`X` must hold real numbers; got complex dtype {X.dtype}. Split real and "
            "imaginary parts into separate features."
        )
    if X.dtype.kind == "f" and X.size and not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        where = tuple(int(b) for b in bad)
        raise InvalidInputError(
            f"`X` must hold finite numbers; got {X[where]} at index {where}. Impute or drop "
            "missing values first."
        )


def _take(x: Any, idx: np.ndarray) -> Any:
    from sklearn.utils import _safe_indexing

    return _safe_indexing(x, idx)


def _fit_predict_fold(
    estimator: Any,
    x: Any,
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    n_classes: int,
    seed: int | None,
    fold: int,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    from sklearn.base import clone

    model = clone(estimator)
    if (
        seed is not None
        and "random_state" in model.get_params()
        and model.get_params()["random_state"] is None
    ):
        model.set_params(random_state=seed + fold)
    y_train = labels[train]
    try:
        if sample_weight is None:
            model.fit(_take(x, train), y_train)
        else:
            model.fit(_take(x, train), y_train, sample_weight=sample_weight[train])
        proba = np.asarray(model.predict_proba(_take(x, test)), dtype=np.float64)
    except MislabelError:
        raise
    except (ValueError, TypeError) as exc:  # the estimator refused the data
        raise InvalidInputError(
            f"fold {fold}: `estimator` ({type(estimator).__name__}) could not fit or predict "
            f"on `X`: {type(exc).__name__}: {' '.join(str(exc).split())}"
        ) from exc
    classes = np.asarray(getattr(model, "classes_", np.unique(y_train)))
    if proba.ndim != 2 or proba.shape != (test.shape[0], classes.shape[0]):
        raise InvalidInputError(
            f"`estimator.predict_proba` must return shape (n_samples, n_classes_seen) = "
            f"({test.shape[0]}, {classes.shape[0]}); got {proba.shape}."
        )
    out = np.zeros((test.shape[0], n_classes), dtype=np.float64)
    out[:, classes.astype(np.intp)] = proba
    absent = sorted(set(range(n_classes)) - set(classes.tolist()))
    if absent:
        warnings.warn(
            f"fold {fold}: classes {absent[:10]} are absent from the training part; their "
            "out-of-fold probability is 0 in this fold.",
            stacklevel=2,
        )
    return out


def _fold_task(
    train: np.ndarray,
    test: np.ndarray,
    fold: int,
    *,
    estimator: Any,
    x: Any,
    labels: np.ndarray,
    n_classes: int,
    seed: int | None,
    sample_weight: np.ndarray | None = None,
) -> tuple[int, np.ndarray, np.ndarray]:
    proba = _fit_predict_fold(
        estimator, x, labels, train, test, n_classes, seed, fold, sample_weight
    )
    return fold, test, proba


def _cache_key(
    estimator: Any,
    labels: np.ndarray,
    splits: list[Any],
    n_classes: int,
    sample_weight: np.ndarray | None = None,
) -> str:
    h = hashlib.sha256()
    if sample_weight is not None:
        h.update(b"w" + np.asarray(sample_weight, dtype=np.float64).tobytes())
    h.update(repr(estimator).encode())
    h.update(labels.astype(np.int64).tobytes())
    h.update(str(n_classes).encode())
    for _, test in splits:
        h.update(np.asarray(test, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def cross_val_pred_probs(
    estimator: Any,
    X: Any,
    labels: Any,
    *,
    cv: Any = 5,
    random_state: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    n_classes: int | None = None,
    backend: str = "local",
    scheduler: str | None = None,
    callback: Callable[[int, int, int], None] | None = None,
    sample_weight: Any = None,
) -> np.ndarray:
    """Out-of-fold predicted probabilities from k stratified folds.

    Each fold trains a fresh :func:`sklearn.base.clone` of ``estimator`` on the other folds and
    predicts the held-out one, so every sample's probabilities come from a model that never saw
    its (possibly wrong) label.

    Args:
        estimator: a scikit-learn classifier (``fit`` + ``predict_proba``), or a PyTorch
            ``nn.Module`` mapping a batch of X to (batch, n_classes) logits, which is wrapped by
            :func:`mislabel.integrations.torch.to_estimator` (defaults; call it yourself to
            choose the loss, epochs, device, ...).
        X: features, (n_samples, ...) array-like or DataFrame.
        labels: (n,) given labels in ``[0, n_classes)``.
        cv: number of stratified, shuffled folds, or a scikit-learn splitter.
        random_state: seeds the fold assignment and, when the estimator's own ``random_state``
            is None, each fold's model (seed + fold). Same seed, same result.
        n_jobs: folds trained in parallel (None = 1, -1 = all cores); with Dask, the number of
            workers of the LocalCluster it starts.
        cache_dir: if given, each finished fold is written there atomically; a rerun with the
            same estimator, labels and folds computes only the missing folds. A damaged or
            foreign fold file is reported in one warning line and its fold recomputed.
        n_classes: number of classes (default: max label + 1).
        backend: ``"local"`` processes (default), ``"threads"``, or ``"dask"``; any other
            joblib backend name (e.g. ``"ray"`` after ``register_ray()``) is passed through.
            Same seed, same result on every backend.
        scheduler: with ``backend="dask"``: None or ``"local"`` starts a LocalCluster,
            ``"tcp://host:port"`` joins a running cluster.
        callback: called as ``callback(fold, n_done, n_folds)`` after each fold (for progress
            bars); cached folds are reported first.
        sample_weight: (n,) non-negative per-sample weights (e.g. label-quality scores); each
            fold's model gets ``fit(..., sample_weight=sample_weight[train])``.

    Returns:
        (n_samples, n_classes) float64 array; a class absent from a fold's training part gets a
        zero column in that fold (with a warning).
    """
    check_option(backend, "backend", BACKENDS)
    estimator = _as_estimator(estimator)
    _check_estimator(estimator)
    if n_classes is not None:
        check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2, max_val=MAX_CLASSES)
    if n_jobs is not None:
        check_scalar(n_jobs, "n_jobs", kind=numbers.Integral)
        if n_jobs == 0:
            raise InvalidParameterError("`n_jobs` must be None, -1 or a non-zero int; got 0.")
    labels = check_labels(labels, n_classes=n_classes)
    n = labels.shape[0]
    n_x = (
        getattr(X, "shape", (len(X),))[0] if hasattr(X, "shape") or hasattr(X, "__len__") else None
    )
    if n_x != n:
        raise InvalidInputError(f"`X` must have one row per label ({n}); got {n_x} rows.")
    k = int(n_classes) if n_classes is not None else int(labels.max()) + 1
    if np.unique(labels).size < 2:
        raise InvalidInputError(
            f"`labels` must contain at least 2 classes for cross-validation; got only class "
            f"{int(labels[0])}."
        )
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.shape != (n,) or not np.all(np.isfinite(weights)) or weights.min() < 0:
            raise InvalidInputError(
                f"`sample_weight` must be {n} finite, non-negative weights (one per label); "
                f"got shape {weights.shape}."
            )
    if weights is not None and not weights.sum() > 0:
        raise InvalidInputError(
            "`sample_weight` must give some sample a positive weight; got all zeros."
        )
    _check_features(X)
    seed = as_seed(random_state)
    splits = _splits(cv, labels, seed)
    _check_folds_trainable(splits, labels, weights)
    out = np.zeros((n, k), dtype=np.float64)
    todo = list(range(len(splits)))
    cache: FoldCache | None = None
    if cache_dir is not None:
        key = _cache_key(estimator, labels, splits, k, weights)
        cache = FoldCache(Path(cache_dir) / f"oof-{key}", splits, k)
        todo = []
        for f in range(len(splits)):
            cached = cache.load(f)
            if cached is None:
                todo.append(f)
            else:
                out[splits[f][1]] = cached

    check_folds = getattr(estimator, "check_folds", None)
    if todo and callable(check_folds):  # e.g. TorchClassifier: output shape, classes per fold
        check_folds(X, labels, [splits[f] for f in todo], k)  # before any fold trains
    if callback is not None:
        for done, f in enumerate(f for f in range(len(splits)) if f not in todo):
            callback(f, done + 1, len(splits))
    done = len(splits) - len(todo)
    tasks = [(splits[f][0], splits[f][1], f) for f in todo]
    common = {
        "estimator": estimator,
        "x": X,
        "labels": labels,
        "n_classes": k,
        "seed": seed,
        "sample_weight": weights,
    }
    for f, test, proba in run_tasks(
        _fold_task, tasks, backend=backend, n_jobs=n_jobs, scheduler=scheduler, shared=common
    ):
        out[test] = proba
        if cache is not None:  # written by the driver as each fold finishes
            cache.save(f, test, proba)
        done += 1
        if callback is not None:
            callback(f, done, len(splits))
    return out
