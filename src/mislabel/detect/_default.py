"""What the default detector (``noise_posterior``) estimates: its noise matrix and its cut.

Two estimators of the noise matrix T (rows = true class, columns = given label) fail in
different places:

- the calibrated confident joint (Northcutt et al., JAIR 2021) counts the samples whose
  probability of a class reaches that class's mean self-confidence; where the probabilities sit
  near those thresholds (a calibrated model on symmetric noise, a weak model, sparse matrices)
  it misplaces whole cells;
- anchor points (Patrini et al., CVPR 2017) read row i off the samples most confidently in
  class i; an over-confident model makes those rows too clean.

The detector averages the posteriors under three matrices: the two estimates and their mean
(an equal-weight model average, never far from the better estimate).

With two classes it also hedges between two readings of ``pred_probs``: a model that learned
the noise (the clean posterior is recovered through ``inv(T)``) and one that resisted it
(``pred_probs`` read as the clean posterior); the posterior is the average of both. A binary
noise matrix has one free cell a row, and the row of a rare or very noisy class is easily
misplaced by either estimate; the inverse then turns that error into a wrong ranking, while
the plain reading does not. For the same reason the cut never flags, with two classes, a sample
whose given label is the model's most probable class (as confident learning never does).

Its cut is the expected-F1 cut of the posterior, kept within what the calibrated joint
supports: it moves toward the joint's count when the posterior expects far fewer wrong labels
than the joint counts (the posterior is then too sure of the labels), and it never flags more
than ``MAX_COUNT_RATIO`` times the joint's count. When the posterior expects so few wrong labels
that the count moves all the way to the joint's, the posterior is not trusted with where the
wrong labels are either: the flags are then confident learning's (``prune_by_noise_rate``,
cleanlab's default), which takes the joint's count in each of its (true class, given label)
cells, the samples with the largest margin toward that true class, and never flags a sample
whose given label is the model's most probable class. With two classes that is the joint's
count in each given class, its least self-confident samples. Otherwise, with two classes, the
same agreement rule also applies within each given class (:func:`class_counts`): the
posterior can get the total about right but split it badly between the classes (5 % of one
class wrong, 25 % of the other), and then stops short in the noisier one.

The posterior decides the flags; it does not order them. Its per-class reweighting (the
estimated T) recovers class-conditional noise well, but real label errors depend on the sample
(an ambiguous image, a hard sentence), and there an estimated T reorders the samples by class
in a way that ranks the wrong labels worse than the model's own probability of the given label.
So with an estimated noise matrix the label-quality score, the order of ``ranked`` and of every
table is self-confidence, ``p[y]``; with a known ``noise_matrix`` it is the posterior
P(label right). The posterior P(label right) itself stays available as
``LabelIssues.prob_right`` (the training weights of the ``reweight`` policy).
"""

from __future__ import annotations

import math

import numpy as np

from mislabel._validation import iter_row_chunks
from mislabel.detect import _counting as cnt

#: Share of the samples whose mean predicted distribution is an anchor row.
ANCHOR_FRACTION = 0.05
#: Weight of the given label's probability in the label-quality score (breaks the ties of a
#: posterior that is exactly 0 or 1).
TIE_BREAK = 1e-4
#: The expected-F1 count moves fully to the joint's count when the posterior's expected number
#: of wrong labels is below ``LOW_AGREEMENT`` times the joint's count, not at all above
#: ``LOW_AGREEMENT + AGREEMENT_BAND``.
LOW_AGREEMENT = 0.6
AGREEMENT_BAND = 0.2
#: The cut flags at most this many times the calibrated joint's count.
MAX_COUNT_RATIO = 1.25
#: Where the flags come from when the posterior is not trusted (see ``follows_joint``): the
#: confident-learning method that cleanlab runs by default.
FALLBACK_METHOD = "prune_by_noise_rate"


def anchor_noise_matrix(pred_probs: np.ndarray) -> np.ndarray:
    """T (rows = true class) with row i the mean of ``pred_probs`` over the
    ``ceil(ANCHOR_FRACTION * n)`` samples with the largest probability of class i.

    Two chunked passes: the per-class thresholds (:func:`_top_thresholds`), then the row sums
    of the samples at or above them. Rows sum to 1.
    """
    n, k = pred_probs.shape
    threshold = _top_thresholds(pred_probs, max(1, math.ceil(ANCHOR_FRACTION * n)))
    sums = np.zeros((k, k))
    counts = np.zeros(k)
    for _, chunk in iter_row_chunks(pred_probs):
        p = np.asarray(chunk)
        sel = p >= threshold
        sums += sel.T.astype(p.dtype) @ p  # float32 within a block, float64 across blocks
        counts += sel.sum(axis=0)
    t = sums / np.clip(counts, 1.0, None)[:, None]
    return t / np.clip(t.sum(axis=1, keepdims=True), cnt.TINY_VALUE, None)


def _top_thresholds(pred_probs: np.ndarray, m: int) -> np.ndarray:
    """(k,) the ``m``-th largest value of each column, in one chunked pass: a column keeps its
    ``m`` largest values so far and takes from each block only the values above the smallest
    of them (a value at or below it cannot change the ``m``-th largest)."""
    k = pred_probs.shape[1]
    tops: list[np.ndarray] = [np.empty(0, dtype=pred_probs.dtype)] * k
    threshold = np.full(k, -np.inf)
    for _, chunk in iter_row_chunks(pred_probs):
        columns = np.ascontiguousarray(np.asarray(chunk).T)
        above = columns > threshold.astype(columns.dtype)[:, None]
        for j in np.flatnonzero(above.any(axis=1)):
            kept = np.concatenate([tops[j], columns[j][above[j]]])
            if kept.shape[0] >= m:
                kept = np.partition(kept, kept.shape[0] - m)[-m:]
                threshold[j] = kept.min()
            tops[j] = kept
    return np.array([t.min() for t in tops], dtype=pred_probs.dtype)


def detection_noise_matrices(
    joint_noise_matrix: np.ndarray, pred_probs: np.ndarray
) -> list[np.ndarray]:
    """The noise matrices (rows = true class) whose posteriors the detector averages: the
    calibrated joint's, the anchor points' and their mean."""
    joint = np.asarray(joint_noise_matrix, dtype=np.float64)
    anchor = anchor_noise_matrix(pred_probs)
    return [joint, anchor, (joint + anchor) / 2]


def inversion_modes(n_classes: int) -> tuple[bool, ...]:
    """How the clean posterior is read for an estimated noise matrix, one posterior each:
    through ``inv(T)`` (True) or as ``pred_probs`` itself (False); both with two classes."""
    return (True,) if n_classes >= 3 else (True, False)


def guards_prediction(n_classes: int) -> bool:
    """Whether the cut keeps the samples whose given label is the model's most probable
    class (two classes, estimated noise)."""
    return n_classes == 2


def ranks_by_posterior(estimated: bool) -> bool:
    """Whether the label-quality score is the posterior P(label right) (a known noise matrix)
    rather than self-confidence (an estimated one); see the module docstring."""
    return not estimated


def quality_scores(prob_wrong: np.ndarray, self_confidence: np.ndarray) -> np.ndarray:
    """P(label is right), ties broken by the given label's probability (weight
    ``TIE_BREAK``), float64 in [0, 1]."""
    q = 1.0 - prob_wrong.astype(np.float64)
    q *= 1.0 - TIE_BREAK
    q += TIE_BREAK * self_confidence.astype(np.float64)
    return q


def joint_weight(expected_wrong: float, joint_count: int) -> float:
    """How far the cut moves from the posterior's count toward the calibrated joint's
    ``joint_count``: 0 when the posterior's ``expected_wrong`` (the sum of its P(wrong)) is at
    least ``LOW_AGREEMENT + AGREEMENT_BAND`` times the joint's count, 1 at or below
    ``LOW_AGREEMENT`` times it, linear between."""
    if joint_count <= 0:
        return 0.0
    agreement = expected_wrong / joint_count
    return min(max((LOW_AGREEMENT + AGREEMENT_BAND - agreement) / AGREEMENT_BAND, 0.0), 1.0)


def follows_joint(expected_wrong: float, joint_count: int) -> bool:
    """Whether the flags are confident learning's (``FALLBACK_METHOD``) rather than the
    posterior's cut: the posterior's ``expected_wrong`` is so far below the calibrated joint's
    ``joint_count`` that the cut has moved all the way to the joint's count."""
    return joint_weight(expected_wrong, joint_count) >= 1.0


def balances_classes(n_classes: int) -> bool:
    """Whether the cut also applies the agreement rule within each given class (two classes,
    see :func:`class_counts`)."""
    return n_classes == 2


def class_counts(
    counts: np.ndarray, expected_wrong: np.ndarray, joint_counts: np.ndarray
) -> np.ndarray:
    """The cut's flags per given class after the agreement rule within each class: a class's
    ``counts`` move toward the calibrated joint's count of wrong labels in it
    (``joint_counts``, the off-diagonal of its column) by :func:`joint_weight` of the
    posterior's ``expected_wrong`` in that class; never down. With two classes the posterior
    can split a right total badly between the classes (a class with 5 % wrong labels, the
    other 25 %), and the global rule then stops short in the noisier class."""
    out = np.asarray(counts, dtype=np.int64).copy()
    for c in range(out.shape[0]):
        joint = int(joint_counts[c])
        if out[c] < joint:
            weight = joint_weight(float(expected_wrong[c]), joint)
            out[c] = round(out[c] + weight * (joint - out[c]))
    return out


def bounded_count(count: int, expected_wrong: float, joint_count: int) -> int:
    """Keep the expected-F1 ``count`` within what the calibrated joint's ``joint_count``
    supports (see the module docstring); ``expected_wrong`` is the sum of the posterior's
    P(wrong)."""
    if joint_count <= 0:
        return count
    weight = joint_weight(expected_wrong, joint_count)
    if count < joint_count:
        count = round(count + weight * (joint_count - count))
    return int(min(count, math.floor(MAX_COUNT_RATIO * joint_count)))
