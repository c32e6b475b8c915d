"""Detection probabilities on fixed features (the embeddings of a pretrained backbone).

A network trained on strong fixed features fits every given label within its first epochs, so
its in-sample (one-run) probabilities hide the wrong labels. On such features two judges that
never see a sample's own label work instead: the labels' vote among its nearest neighbours and
a strongly regularised logistic-regression head trained on the other folds. Their mean is cut
by :func:`mislabel.find_label_issues`; then, in a few rounds, the head is retrained on the
samples that were not flagged and the vote counts the corrected labels of the flagged ones,
which cleans both judges of the errors they were taught.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mislabel._validation import (
    as_seed,
    check_features,
    check_labels,
    check_scalar,
    split_views,
)

__all__ = ["embedding_pred_probs"]


def embedding_pred_probs(
    features: Any,
    labels: Any,
    *,
    n_neighbors: int = 30,
    cv: int = 5,
    rounds: int = 3,
    noise_rate: float | None = None,
    n_classes: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Out-of-sample probabilities of every sample's class from fixed features.

    Each round averages two judges that never see a sample's own label: the labels' vote
    among its ``n_neighbors`` nearest other samples (cosine distance,
    :func:`mislabel.neighbor_label_probs`) and a logistic-regression head on the standardised
    features (``C = 4 / n_features``). The first round's head is ``cv``-fold on all samples;
    each later round cuts the previous round's probabilities with
    :func:`mislabel.find_label_issues`, trains the head on the unflagged samples (``cv``
    folds among them, one fit for the flagged ones) and lets the flagged samples vote with
    their most probable class instead of their given label. Cut the result with
    :func:`mislabel.find_label_issues`.

    Args:
        features: (n, d) finite features, e.g. :func:`mislabel.data.embed_images`; or
            (n, v, d), ``v`` views of every sample (``embed_images(views=("identity",
            "hflip"))``), judged by their mean over the views.
        labels: (n,) given labels in ``[0, n_classes)``.
        n_neighbors: neighbours of the vote (at most 5 or a tenth of the samples, whichever is
            more).
        cv: folds of the head.
        rounds: 1 is the plain mean of the two judges; each further round refines it.
        noise_rate: the known share of wrong labels, used by the cut between rounds.
        n_classes: number of classes (default: ``labels.max() + 1``).
        random_state: seeds the folds.

    Returns:
        (n, n_classes) float64 rows summing to 1.

    Example:
        >>> X = embed_images(paths)                                   # doctest: +SKIP
        >>> probs = embedding_pred_probs(X, labels, random_state=0)   # doctest: +SKIP
        >>> issues = mislabel.find_label_issues(labels, probs)       # doctest: +SKIP
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from mislabel.detect._issues import find_label_issues
    from mislabel.detect._knn import neighbor_label_probs, vote_neighbors
    from mislabel.detect._oof import cross_val_pred_probs

    x = check_features(split_views(features)[0])  # several views: their mean embedding
    y = check_labels(labels, n_classes=n_classes, n_samples=x.shape[0])
    k = int(y.max()) + 1 if n_classes is None else int(n_classes)
    check_scalar(n_neighbors, "n_neighbors", kind=numbers.Integral, min_val=1)
    check_scalar(cv, "cv", kind=numbers.Integral, min_val=2)
    check_scalar(rounds, "rounds", kind=numbers.Integral, min_val=1)
    if noise_rate is not None:
        check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
    seed = as_seed(random_state)
    n, d = x.shape
    z = StandardScaler().fit_transform(x).astype(np.float32)
    n_vote = vote_neighbors(int(n_neighbors), n)
    head = LogisticRegression(C=4.0 / d, max_iter=300, tol=1e-3)
    folds = int(cv)

    probs = _mean(
        cross_val_pred_probs(head, z, y, cv=folds, random_state=seed, n_classes=k),
        neighbor_label_probs(z, y, n_neighbors=n_vote, n_classes=k),
    )
    for _ in range(int(rounds) - 1):
        flagged = np.asarray(find_label_issues(y, probs, noise_rate=noise_rate).mask)
        kept = ~flagged
        counts = np.bincount(y[kept], minlength=k)
        if flagged.sum() == 0 or np.count_nonzero(counts) < 2 or counts[counts > 0].min() < folds:
            break  # nothing to refine, or too little left to refit the head on
        voted = np.where(flagged, probs.argmax(axis=1), y)
        judged = np.empty((n, k))
        judged[kept] = cross_val_pred_probs(
            head, z[kept], y[kept], cv=folds, random_state=seed, n_classes=k
        )
        fitted = clone(head).fit(z[kept], y[kept])
        judged[flagged] = 0.0
        judged[np.ix_(flagged, fitted.classes_)] = fitted.predict_proba(z[flagged])
        probs = _mean(judged, neighbor_label_probs(z, voted, n_neighbors=n_vote, n_classes=k))
    return probs


def _mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = (np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64)) / 2
    return np.asarray(p / p.sum(axis=1, keepdims=True))
