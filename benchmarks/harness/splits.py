"""The (experiment, noise, seed) splits of the benchmarks: a fixed stratified training subset,
its noisy labels, the clean test set.

Seeds vary the noise draw and the training, never the data: the training subset is drawn with
``subset_seed`` (0 unless a dev check asks for another). :func:`prepare_features` turns raw
features into the float32 input of the recipes' networks exactly as
:class:`mislabel.NoiseAwareClassifier` does for its default networks (uint8 pixels scaled to
``x / 255 − 0.5``), so a recipe that trains a :class:`~mislabel.integrations.torch.TorchClassifier`
on prepared features and the estimator on raw ones see the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel._validation import as_rng

__all__ = ["Data", "Split", "prepare_features", "realized_matrix", "stratified_subset"]


def prepare_features(X: np.ndarray, model: str) -> np.ndarray:
    """Raw features as float32 network input.

    Images (uint8, (n, H, W) or (n, H, W, C)) are scaled to ``x / 255 − 0.5``; for ``"cnn"``
    they become (n, C, H, W), for ``"mlp"`` they are flattened. Embeddings and other float
    features pass through as float32 (flattened to (n, d)).
    """
    arr = np.asarray(X)
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0 - 0.5
        if model == "cnn":
            x = x[:, None, :, :] if x.ndim == 3 else np.moveaxis(x, -1, 1)
            return np.ascontiguousarray(x)
        return x.reshape(x.shape[0], -1)
    x = arr.astype(np.float32, copy=False)
    if model == "cnn" and x.ndim == 4:
        return np.ascontiguousarray(x)
    return x.reshape(x.shape[0], -1)


def raw_features(X: np.ndarray, model: str) -> np.ndarray:
    """Raw features in the shape :class:`mislabel.NoiseAwareClassifier` sizes its default
    network from: images as given for ``"cnn"``, flattened for ``"mlp"`` and ``"logreg"``
    (uint8 pixels stay uint8, so the estimator scales them itself)."""
    arr = np.asarray(X)
    if model == "cnn":
        return arr
    return arr.reshape(arr.shape[0], -1)


@dataclass(frozen=True, eq=False)
class Split:
    """One (experiment, noise, seed) setting: prepared features, raw features and the three
    label sets (``cl-cifar10-oof``: no features, its given out-of-fold probabilities)."""

    X: np.ndarray | None  # prepared train features
    labels: np.ndarray  # noisy train labels
    true_labels: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    n_classes: int
    noise_matrix: np.ndarray  # realized, rows = true class, columns = observed label
    X_raw: np.ndarray | None = None  # train features before preparation (the estimator's input)
    X_test_raw: np.ndarray | None = None
    pred_probs: np.ndarray | None = None  # given out-of-fold probabilities (cl-cifar10-oof)

    @property
    def wrong(self) -> np.ndarray:
        """The known wrong labels (given ≠ true)."""
        return np.asarray(self.labels != self.true_labels)


def stratified_subset(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a class-stratified random subset of size ``n`` (all, shuffled, if None)."""
    rng = np.random.default_rng(seed)
    if n is None or n >= y.shape[0]:
        return np.sort(rng.permutation(y.shape[0]))
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(y.shape[0]), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


def realized_matrix(true: np.ndarray, noisy: np.ndarray, k: int) -> np.ndarray:
    """The realised noise matrix (rows = true class, columns = observed label)."""
    counts = np.bincount(true * k + noisy, minlength=k * k).reshape(k, k).astype(float)
    rows = counts.sum(axis=1, keepdims=True)
    out = np.where(rows > 0, counts / np.maximum(rows, 1), np.eye(k))
    return np.asarray(out)


def noisy_labels(
    noise: Mapping[str, Any], truth: np.ndarray, given: np.ndarray, k: int, seed: int
) -> np.ndarray:
    """The training labels of one noise setting: synthetic flips of the truth drawn with
    ``seed``, or the dataset's own (real) labels."""
    from mislabel import noise as mn

    kind = noise["kind"]
    rng = as_rng(seed)
    if kind == "symmetric":
        return mn.flip_symmetric(truth, noise["rate"], n_classes=k, random_state=rng).labels
    if kind == "pair":
        mapping = noise.get("mapping", "pairflip")
        return mn.flip_pairs(
            truth, noise["rate"], mapping=mapping, n_classes=k, random_state=rng
        ).labels
    if kind == "real":
        return np.asarray(given)
    return np.asarray(truth)


class Data:
    """Loads each dataset once and cuts the (experiment, noise, seed) splits."""

    def __init__(self) -> None:
        self._raw: dict[tuple[str, str | None], Any] = {}

    def load(self, dataset: str, variant: str | None) -> Any:
        """(train, test or None) of a dataset; ``variant``: CIFAR-10N's label set."""
        key = (dataset, variant)
        if key in self._raw:
            return self._raw[key]
        from benchmarks.harness import datasets as ds

        out: Any
        if dataset == "fashion-mnist":
            out = (ds.load_fashion_mnist("train"), ds.load_fashion_mnist("test"))
        elif dataset == "mnist":
            out = (ds.load_mnist("train"), ds.load_mnist("test"))
        elif dataset == "cifar10n":
            out = (ds.load_cifar10n(variant or "aggre"), ds.load_cifar10("test"))
        elif dataset == "rt-snippets":
            out = (ds.load_rt_snippets(), None)
        elif dataset == "trec":
            out = (ds.load_trec(), None)
        elif dataset == "sms-spam":
            out = (ds.load_sms_spam(), None)
        elif dataset == "digits":
            out = (ds.load_digits(), None)
        else:
            out = ds.load_cl_cifar10_oof(variant or "sparsity0.0_noise0.2")
        self._raw[key] = out
        return out

    def split(self, exp: Mapping[str, Any], noise: Mapping[str, Any], seed: int) -> Split:
        """The split of one experiment (``dataset``, ``n_train``, ``n_test``,
        ``test_fraction``, ``subset_seed``, ``test_from_train``, ``train.model``) under one
        noise setting and seed."""
        dataset, model = exp["dataset"], exp["train"]["model"]
        raw = self.load(dataset, noise.get("labels"))
        if dataset == "cl-cifar10-oof":
            idx = stratified_subset(raw.labels, exp.get("n_train"), 0)
            labels, true = raw.labels[idx], raw.true_labels[idx]
            return Split(
                X=None,
                labels=labels,
                true_labels=true,
                X_test=None,
                y_test=None,
                n_classes=raw.n_classes,
                noise_matrix=realized_matrix(true, labels, raw.n_classes),
                pred_probs=raw.pred_probs[idx],
            )
        train, test = raw
        k = train.n_classes
        X_all = np.asarray(train.X)
        if dataset == "digits":
            X_all = (X_all / 16.0).astype(np.float32)
        given = train.y
        truth = train.y if train.y_true is None else train.y_true
        if test is None:  # one labelled set: a fixed stratified test split, scored on the truth
            from sklearn.model_selection import train_test_split

            tr_idx, te_idx = train_test_split(
                np.arange(given.shape[0]),
                test_size=exp.get("test_fraction", 0.3),
                stratify=truth,
                random_state=0,
            )
            X_test_raw, y_test = X_all[np.sort(te_idx)], truth[np.sort(te_idx)]
            keep = np.sort(tr_idx)
            X_all, given, truth = X_all[keep], given[keep], truth[keep]
        else:
            X_test_raw, y_test = np.asarray(test.X), test.y
        idx = stratified_subset(truth, exp.get("n_train"), exp.get("subset_seed", 0))
        if exp.get("test_from_train"):
            # a dev check: the test set is other training images with their true labels, so that
            # choosing between recipes never reads the real test set
            rest = np.setdiff1d(np.arange(truth.shape[0]), idx)
            t_idx = rest[stratified_subset(truth[rest], exp["test_from_train"], 1)]
            X_test_raw, y_test = X_all[t_idx], truth[t_idx]
        X_tr, given, truth = X_all[idx], given[idx], truth[idx]
        n_test = exp.get("n_test")
        if n_test is not None and n_test < y_test.shape[0]:
            t_idx = stratified_subset(y_test, n_test, 0)
            X_test_raw, y_test = X_test_raw[t_idx], y_test[t_idx]
        labels = noisy_labels(noise, truth, given, k, seed)
        return Split(
            X=prepare_features(X_tr, model),
            labels=labels,
            true_labels=truth,
            X_test=prepare_features(X_test_raw, model),
            y_test=np.asarray(y_test),
            n_classes=k,
            noise_matrix=realized_matrix(truth, labels, k),
            X_raw=raw_features(X_tr, model),
            X_test_raw=raw_features(X_test_raw, model),
        )
