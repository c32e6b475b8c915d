"""Label quality scores: one float per sample, **low = suspect**."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from mislabel._validation import (
    check_labels,
    check_option,
    check_pred_probs,
    check_prob_chunk,
    iter_row_chunks,
)
from mislabel.detect import _counting as cnt

ScoreMethod = Literal[
    "noise_posterior",
    "self_confidence",
    "normalized_margin",
    "confidence_weighted_entropy",
    "adjusted_self_confidence",
    "adjusted_normalized_margin",
]
SCORE_METHODS: tuple[str, ...] = get_args(ScoreMethod)
#: The score :func:`label_quality_scores` gives without a known noise matrix.
DEFAULT_SCORE_METHOD: ScoreMethod = "self_confidence"


def label_quality_scores(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    method: ScoreMethod | None = None,
    noise_matrix: np.ndarray | None = None,
) -> np.ndarray:
    """Score how well each given label agrees with its out-of-fold prediction.

    Args:
        labels: (n,) given labels in ``[0, n_classes)``.
        pred_probs: (n, n_classes) out-of-fold predicted probabilities.
        method: how to score (all in [0, 1], low = suspect). By default
            ``"noise_posterior"`` when ``noise_matrix`` is given, else ``"self_confidence"``:
            an estimated noise matrix recovers class-conditional noise well but orders real,
            sample-dependent label errors worse than self-confidence does, so it decides the
            flags of :func:`find_label_issues` but not the default ranking.

            - ``"noise_posterior"``: P(given label is right | x), the posterior of the
              class-conditional noise model. The clean posterior is recovered from the noisy one
              as ``pi = pred_probs @ inv(T)`` and the score is
              ``pi[y] T[y, y] / sum_j pi[j] T[j, y]``, with T the noise matrix (rows = true
              class, columns = given label). Unless T is given, the score is the average of
              the posteriors under two estimates that fail in different places, the
              calibrated confident joint (Northcutt et al., JAIR 2021) and anchor points
              (Patrini et al., CVPR 2017: row i is the mean ``pred_probs`` of the 5 % of
              samples most confidently in class i), and under their mean; with two classes
              each posterior is also taken with ``pi = pred_probs`` (no inverse) and averaged
              in. Ties (a posterior of exactly 0 or 1) are broken by ``p[y]`` with weight
              1e-4. The results page of the documentation compares it with the other scores.
            - ``"self_confidence"``: ``p[y]``.
            - ``"normalized_margin"``: ``(p[y] - max_{j != y} p[j] + 1) / 2``.
            - ``"confidence_weighted_entropy"``: ``log(1 + H/p[y]) / (H/p[y])`` with H the
              normalised entropy (cleanlab's definition).
            - ``"adjusted_*"``: the same after subtracting each class's mean self-confidence
              from its column and renormalising (corrects for class imbalance).
        noise_matrix: known (K, K) P(given | true), rows = true class, for ``noise_posterior``.

    Returns:
        (n,) float64 array, low = suspect.
    """
    if method is None:
        method = DEFAULT_SCORE_METHOD if noise_matrix is None else "noise_posterior"
    check_option(method, "method", SCORE_METHODS)
    # The values are checked block by block in the first scan over pred_probs (one pass less).
    pred_probs = check_pred_probs(pred_probs, check_rows=False)
    labels = check_labels(labels, n_classes=pred_probs.shape[1], n_samples=pred_probs.shape[0])
    if method == "noise_posterior":
        from mislabel.detect._default import quality_scores
        from mislabel.detect._issues import _mixture_posterior, _noise_matrices_for

        if noise_matrix is not None:  # no counting pass to check the values in
            check_pred_probs(pred_probs)
        ts = _noise_matrices_for(
            labels, pred_probs, noise_matrix=noise_matrix, noise_rate=None, validate=True
        )
        return quality_scores(
            *_mixture_posterior(labels, pred_probs, ts, estimated=noise_matrix is None)
        )
    return _simple_scores(labels, pred_probs, method, validate=True)


def _adjust(chunk: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    adj = chunk - thresholds
    adj += thresholds.max()
    adj /= adj.sum(axis=1, keepdims=True)
    return adj


def _simple_scores(
    labels: np.ndarray, pred_probs: np.ndarray, method: str, *, validate: bool = False
) -> np.ndarray:
    """Scores computed row-wise in chunks, in the input's dtype, returned as float64.
    ``validate`` checks each block's probabilities in the first scan."""
    n, k = pred_probs.shape
    thresholds = None
    if method.startswith("adjusted_"):
        stats = cnt.sample_stats(labels, pred_probs, validate=validate)
        validate = False
        order, bounds = cnt.class_order(labels, k)
        thresholds = cnt.confident_thresholds(
            stats.self_confidence, order, bounds, pred_probs.dtype
        )
        method = method[len("adjusted_") :]
    out = np.empty(n, dtype=np.float64)
    for start, chunk in iter_row_chunks(pred_probs):
        if validate:
            check_prob_chunk(chunk, start)
        y = labels[start : start + chunk.shape[0]]
        out[start : start + chunk.shape[0]] = _row_scores(chunk, y, method, thresholds)
    return out


def _row_scores(
    chunk: np.ndarray, y: np.ndarray, method: str, thresholds: np.ndarray | None
) -> np.ndarray:
    if thresholds is not None:
        chunk = _adjust(chunk, thresholds)
    rows = np.arange(chunk.shape[0])
    sc = chunk[rows, y]
    if method == "self_confidence":
        return sc
    if method == "normalized_margin":
        other = np.array(chunk, copy=True)
        other[rows, y] = -np.inf
        return (sc - other.max(axis=1) + 1) / 2
    # confidence_weighted_entropy
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(chunk > 0, chunk * np.log(np.where(chunk > 0, chunk, 1)), 0.0)
    entropy = -plogp.sum(axis=1) / np.log(chunk.shape[1])
    sc = np.clip(sc, cnt.CLIPPING_LOWER_BOUND, None)
    ratio = entropy / sc
    clipped = np.clip(ratio, cnt.CLIPPING_LOWER_BOUND, None)
    return np.log(ratio + 1) / clipped
