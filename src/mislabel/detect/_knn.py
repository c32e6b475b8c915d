"""Label distributions of each sample's nearest neighbours in a feature space.

A wrong label is usually surrounded by samples of its true class: the share of each given label
among a sample's k nearest neighbours (the sample itself left out) is a second opinion on its
label that needs no held-out model, only features (a network's penultimate layer, text or image
embeddings). Averaged with a model's probabilities it feeds :func:`mislabel.find_label_issues`
(Deep k-NN filtering, Bahri, Jiang & Gupta, ICML 2020).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mislabel._validation import check_features, check_labels, check_scalar
from mislabel.exceptions import InvalidInputError, NotFittedError

__all__ = ["TemporalVote", "neighbor_label_probs", "vote_neighbors"]


def vote_neighbors(neighbors: int, n_samples: int) -> int:
    """The neighbours of a label vote among ``n_samples``: at most ``neighbors``, and at most 5
    or a tenth of the samples, whichever is more (a vote among a large share of a small set is
    only the class prior)."""
    return int(min(neighbors, max(5, n_samples // 10), n_samples - 1))


def neighbor_label_probs(
    features: Any,
    labels: Any,
    *,
    n_neighbors: int = 30,
    n_classes: int | None = None,
    smoothing: float = 0.01,
) -> np.ndarray:
    """(n, n_classes) the given labels' distribution among each sample's nearest neighbours.

    Row i is ``(count_j + smoothing) / (n_neighbors + n_classes · smoothing)``, with ``count_j``
    the number of the ``n_neighbors`` nearest other samples (cosine distance on ``features``)
    labelled j. Use it as probabilities for :func:`~mislabel.find_label_issues`, alone or
    averaged with a model's (``(pred_probs + knn) / 2``).

    Args:
        features: (n, d) finite features (e.g. a network's penultimate activations).
        labels: (n,) given labels in ``[0, n_classes)``.
        n_neighbors: neighbours per sample, below n.
        n_classes: number of classes (default: ``labels.max() + 1``).
        smoothing: added to every count, so that no class has probability 0.

    Returns:
        (n, n_classes) float32 rows summing to 1.

    Example:
        >>> knn = neighbor_label_probs(embeddings, labels, n_neighbors=30)  # doctest: +SKIP
        >>> issues = mislabel.find_label_issues(labels, (pred_probs + knn) / 2)  # doctest: +SKIP
    """
    from sklearn.neighbors import NearestNeighbors

    x = check_features(features)
    y = check_labels(labels, n_classes=n_classes, n_samples=x.shape[0])
    k = int(y.max()) + 1 if n_classes is None else int(n_classes)
    n = x.shape[0]
    check_scalar(n_neighbors, "n_neighbors", kind=numbers.Integral, min_val=1)
    if n_neighbors >= n:
        raise InvalidInputError(
            f"`n_neighbors` must be below the number of samples ({n}); got {n_neighbors}."
        )
    smoothing = float(check_scalar(smoothing, "smoothing", min_val=0.0, include_min=False))
    n_neighbors = int(n_neighbors)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    nn = NearestNeighbors(n_neighbors=int(n_neighbors) + 1).fit(x)
    _, ind = nn.kneighbors(x)
    # leave the sample itself out: it is among its own k + 1 nearest (distance 0) unless
    # exact duplicates push it out, in which case the farthest neighbour goes instead
    own = ind == np.arange(n)[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), ind.shape[1] - 1)
    keep = np.ones_like(ind, dtype=bool)
    keep[np.arange(n), drop] = False
    neigh = ind[keep].reshape(n, int(n_neighbors))
    counts = np.zeros((n, k), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(n), n_neighbors), y[neigh].ravel()), 1.0)
    probs = (counts + smoothing) / (n_neighbors + k * smoothing)
    return probs.astype(np.float32)


class TemporalVote:
    """Running mean of a training run's per-epoch probabilities for every training sample
    (a temporal ensemble) and, over the run's second half, of the k-NN label vote in its
    features (:func:`neighbor_label_probs`); :meth:`mean` averages the two. Shared by the
    one-run detectors (``temporal_pred_probs``, fastai's ``TemporalProbsRecorder``).

    Args:
        neighbors: neighbours of the vote; 0: no vote.
    """

    def __init__(self, neighbors: int = 0) -> None:
        self.neighbors = int(check_scalar(neighbors, "neighbors", kind=numbers.Integral, min_val=0))
        self.n_epochs = 0
        self._probs: np.ndarray | None = None
        self._votes: np.ndarray | None = None
        self._n_votes = 0

    def votes_at(self, epoch: int, n_epochs: int) -> bool:
        """Whether the 0-based ``epoch`` of ``n_epochs`` votes (needs features)."""
        return self.neighbors > 0 and epoch >= n_epochs // 2

    def add(self, probs: np.ndarray, features: Any = None, labels: Any = None) -> None:
        """One epoch's (n, K) probabilities, with its (n, d) features and the (n,) given
        labels when it votes."""
        p = np.asarray(probs, dtype=np.float64)
        self._probs = p.copy() if self._probs is None else self._probs + p
        self.n_epochs += 1
        if features is not None:
            v = neighbor_label_probs(
                features, labels, n_neighbors=self.neighbors, n_classes=p.shape[1]
            )
            self._votes = v.astype(np.float64) if self._votes is None else self._votes + v
            self._n_votes += 1

    def mean(self) -> np.ndarray:
        """(n, K) float32: the mean probabilities, averaged with the mean vote if any."""
        if self._probs is None:
            raise NotFittedError("nothing recorded yet: no epoch has finished")
        out = self._probs / self.n_epochs
        if self._votes is not None:
            out = (out + self._votes / self._n_votes) / 2
        return out.astype(np.float32)
