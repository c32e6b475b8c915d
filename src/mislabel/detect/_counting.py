"""Counting: per-class thresholds, the confident joint and the noise matrices.

Convention used everywhere in mislabel: matrices indexed by (true class, given label) have
**rows = true class, columns = given (observed) label**. cleanlab stores its confident joint
the other way round (rows = given); we transpose at the boundary of the parity tests only.

Everything here scans ``pred_probs`` in row chunks (:func:`iter_row_chunks`), so a
:class:`numpy.memmap` larger than memory is processed with bounded resident memory, and no
float64 copy of float16/float32 input is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mislabel._validation import ROW_SUM_TOLERANCE, check_prob_chunk, iter_row_chunks

# cleanlab's constants, kept identical for the cleanlab-compatible methods.
FLOATING_POINT_COMPARISON = 1e-6
CONFIDENT_THRESHOLDS_LOWER_BOUND = 2 * FLOATING_POINT_COMPARISON
TINY_VALUE = 1e-100
CLIPPING_LOWER_BOUND = 1e-6


@dataclass(frozen=True)
class SampleStats:
    """Per-sample quantities gathered in one pass over ``pred_probs``."""

    self_confidence: np.ndarray  # p[i, labels[i]], input dtype
    max_value: np.ndarray  # max_j p[i, j], input dtype
    argmax: np.ndarray  # first argmax_j p[i, j]
    label_counts: np.ndarray  # (K,) number of samples per given label
    max_other: np.ndarray | None = None  # max_{j != labels[i]} p[i, j] when asked for


def sample_stats(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    with_max_other: bool = False,
    validate: bool = False,
) -> SampleStats:
    """One chunked pass; ``with_max_other`` costs a copy of each chunk, so only the methods
    that need it (margins) ask. ``validate`` checks each block's probabilities on the way
    (the public entry points then skip their own pass)."""
    n, k = pred_probs.shape
    sc = np.empty(n, dtype=pred_probs.dtype)
    mx = np.empty(n, dtype=pred_probs.dtype)
    mo = np.empty(n, dtype=pred_probs.dtype) if with_max_other else None
    am = np.empty(n, dtype=np.int32)
    for start, chunk in iter_row_chunks(pred_probs):
        stop = start + chunk.shape[0]
        rows = np.arange(chunk.shape[0])
        y = labels[start:stop]
        if validate:
            check_prob_chunk(chunk, start)
        sc[start:stop] = chunk[rows, y]
        best = chunk.argmax(axis=1)
        am[start:stop] = best
        mx[start:stop] = chunk[rows, best]
        if mo is not None:
            other = np.array(chunk, copy=True)
            other[rows, y] = -np.inf
            mo[start:stop] = other.max(axis=1)
    counts = np.bincount(labels, minlength=k)
    return SampleStats(sc, mx, am, counts, mo)


def class_order(labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices sorted by class (stable: original order within a class) and class offsets."""
    # small integer keys take numpy's radix sort (stable), several times faster than int64's
    keys = labels.astype(np.int16) if n_classes <= np.iinfo(np.int16).max else labels
    order = np.argsort(keys, kind="stable")
    bounds = np.zeros(n_classes + 1, dtype=np.intp)
    np.cumsum(np.bincount(labels, minlength=n_classes), out=bounds[1:])
    return order, bounds


def confident_thresholds(
    self_confidence: np.ndarray, order: np.ndarray, bounds: np.ndarray, dtype: np.dtype
) -> np.ndarray:
    """Per-class mean self-confidence t_k = mean(p[i, k] for labels[i] == k).

    Same arithmetic (dtype, element order) as cleanlab's ``get_confident_thresholds``; a class
    with no sample gets 2 so nothing is ever confidently counted in it. As in cleanlab, the
    thresholds are float64 when a class has no sample (its integer 2 promotes the means) and
    in the input's dtype otherwise, so that a probability just below a threshold compares the
    same way.
    """
    n_classes = len(bounds) - 1
    empty = bool(np.any(bounds[1:] == bounds[:-1]))
    out_dtype = np.dtype(np.float64) if empty else np.dtype(dtype)
    out = np.empty(n_classes, dtype=out_dtype)
    for k in range(n_classes):
        seg = self_confidence[order[bounds[k] : bounds[k + 1]]]
        out[k] = np.mean(seg) if seg.size else 2
    return np.clip(out, CONFIDENT_THRESHOLDS_LOWER_BOUND, None).astype(out_dtype, copy=False)


@dataclass(frozen=True)
class ConfidentCounts:
    """Result of the confident-joint pass."""

    confident_joint: np.ndarray  # (K, K) raw counts, rows = true guess, cols = given label
    off_diagonal: np.ndarray  # (n,) bool: confidently counted with true guess != given
    argmax_agrees: np.ndarray  # (n,) bool: cleanlab's "_reduce_issues" (argmax == given, +eps)


def confident_counts(
    labels: np.ndarray, pred_probs: np.ndarray, thresholds: np.ndarray, stats: SampleStats
) -> ConfidentCounts:
    """Count, per (true guess, given label), the samples confidently in a class.

    ``pred_probs`` must have passed the row checks (rows sum to 1 within the tolerance).

    A sample is confident in class j when p[i, j] >= t_j; its true-label guess is the argmax
    among its confident classes (the first confident class if there is only one).
    """
    k = pred_probs.shape[1]
    # cleanlab compares against ``thresholds - 1e-6`` in the thresholds' dtype (see
    # confident_thresholds): float64 thresholds compare float32 probabilities exactly.
    cmp = thresholds - thresholds.dtype.type(FLOATING_POINT_COMPARISON)
    eps = pred_probs.dtype.type(FLOATING_POINT_COMPARISON)
    # A sample whose argmax class is confident has the argmax as its guess, whatever else is
    # confident. Any other class j has p[j] <= max and p[j] <= row sum - max <= 1 + tol - max
    # (rows were checked), so a row whose bound is below every threshold has no confident
    # class. Only the remaining rows are read again.
    mx = stats.max_value
    guess = stats.argmax.astype(np.intp)
    any_conf = mx >= cmp[stats.argmax]
    bound = np.minimum(mx, (1 + ROW_SUM_TOLERANCE) - mx)
    rest = np.flatnonzero(~any_conf & (bound >= cmp.min()))
    if rest.size:
        for start, chunk in iter_row_chunks(pred_probs):
            lo, hi = np.searchsorted(rest, [start, start + chunk.shape[0]])
            if hi == lo:
                continue
            rows = rest[lo:hi]
            confident = chunk[rows - start] >= cmp
            n_conf = np.count_nonzero(confident, axis=1)
            # several confident classes: the argmax (cleanlab's rule); one: that class
            guess[rows] = np.where(n_conf > 1, guess[rows], confident.argmax(axis=1))
            any_conf[rows] = n_conf > 0
    yc = labels[any_conf]
    joint = np.bincount(guess[any_conf] * k + yc, minlength=k * k)
    off = any_conf & (guess != labels)
    # cleanlab's _reduce_issues: is the argmax y once eps is added to p[y]? Exactly when the
    # argmax already is y, or p[y] + eps beats the row max, or ties it with the first maximum
    # after y (argmax returns the first index of the maximum).
    bumped = stats.self_confidence + eps
    agrees = (
        (stats.argmax == labels)
        | (bumped > stats.max_value)
        | ((bumped == stats.max_value) & (labels < stats.argmax))
    )
    cj = joint.reshape(k, k)
    np.fill_diagonal(cj, cj.diagonal().clip(min=1))
    return ConfidentCounts(cj, off, agrees)


def round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Round floats to ints so that their sum (rounded) is kept (cleanlab's algorithm)."""
    floats = np.asarray(values, dtype=float)
    ints = floats.round()
    orig_sum = np.sum(floats).round()
    int_sum = np.sum(ints).round()
    while abs(int_sum - orig_sum) > FLOATING_POINT_COMPARISON:
        diff = np.round(orig_sum - int_sum)
        increment = -1 if int(diff < 0.0) else 1
        changes = min(int(abs(diff)), len(floats))
        for i in np.argsort(floats - ints)[::-increment][:changes]:
            ints[i] = ints[i] + increment
        int_sum = np.sum(ints).round()
    return ints.astype(int)


def round_preserving_col_totals(matrix: np.ndarray) -> np.ndarray:
    """Round each column of a (true, given) matrix keeping its total."""
    return np.stack([round_preserving_sum(c) for c in matrix.T], axis=1).astype(int)


def calibrate(confident_joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Rescale so column k sums to the number of samples labelled k, and the total to n.

    ``confident_joint`` has rows = true class, columns = given label.
    """
    cj = confident_joint.astype(float)
    col = cj / np.clip(cj.sum(axis=0), TINY_VALUE, None) * label_counts
    col = col / np.clip(np.sum(col), TINY_VALUE, None) * np.sum(label_counts)
    return round_preserving_col_totals(col)


def _clip_noise_rates(m: np.ndarray) -> np.ndarray:
    """Clip off-diagonal rates to [0, 0.9999] and renormalise rows (rows = conditioning class)."""
    diag = np.diagonal(m).copy()
    out = np.clip(m, 0, 0.9999)
    np.fill_diagonal(out, diag)
    return out / np.clip(out.sum(axis=1, keepdims=True), TINY_VALUE, None)


def _identity_where_empty(m: np.ndarray, row_counts: np.ndarray) -> np.ndarray:
    """Give an identity row to each row of ``m`` conditioned on a class with no samples (no
    evidence of noise there), so that every row sums to 1."""
    empty = np.flatnonzero(row_counts <= 0)
    if empty.size:
        m = m.copy()
        m[empty] = 0.0
        m[empty, empty] = 1.0
    return m


@dataclass(frozen=True)
class NoiseEstimate:
    """What the confident joint says about the label noise.

    All (true, given) matrices have **rows = true class, columns = given label**.

    Attributes:
        confident_joint: (K, K) int, calibrated counts of samples by (true class, given label);
            its columns sum to the given-label counts and its total is n.
        joint: ``confident_joint / n``, an estimate of P(true = i, given = j).
        noise_matrix: (K, K) P(given = j | true = i); rows = true class, each row sums to 1.
        inverse_noise_matrix: (K, K) P(true = j | given = i); rows = **given** label, each row
            sums to 1 (the transpose convention of ``noise_matrix``, as its meaning requires).
        prior_true: (K,) estimated P(true = k).
        prior_given: (K,) observed P(given = k).
        n_issues: estimated number of wrong labels, round((1 - trace(joint)) * n).
        noise_rate: estimated fraction of wrong labels, ``n_issues / n``.
        per_class_noise_rate: (K,) P(given != k | true = k) = 1 - noise_matrix[k, k].
        per_label_error_rate: (K,) P(true != k | given = k): the share of the samples labelled
            k whose label is wrong.
    """

    confident_joint: np.ndarray
    joint: np.ndarray
    noise_matrix: np.ndarray
    inverse_noise_matrix: np.ndarray
    prior_true: np.ndarray
    prior_given: np.ndarray
    n_issues: int
    noise_rate: float
    per_class_noise_rate: np.ndarray
    per_label_error_rate: np.ndarray


def noise_from_joint(calibrated: np.ndarray, label_counts: np.ndarray) -> NoiseEstimate:
    """Derive every noise quantity from a calibrated (true, given) count matrix."""
    n = int(label_counts.sum())
    cj = calibrated.astype(float)
    ps = label_counts / float(n)
    true_counts = cj.sum(axis=1)
    given_counts = cj.sum(axis=0)
    noise = cj / np.clip(true_counts[:, None], TINY_VALUE, None)
    inverse = (cj / np.clip(given_counts[None, :], TINY_VALUE, None)).T
    # cleanlab's robust "cnt" prior: P(true=k) = inv[k,k] / noise[k,k] * P(given=k)
    py = np.diagonal(inverse) / np.clip(np.diagonal(noise), TINY_VALUE, None) * ps
    py = np.clip(py, CLIPPING_LOWER_BOUND, 1.0)
    py = py / np.clip(py.sum(), TINY_VALUE, None)
    noise = _clip_noise_rates(_identity_where_empty(noise, true_counts))
    inverse = _clip_noise_rates(_identity_where_empty(inverse, given_counts))
    joint = cj / np.clip(cj.sum(), TINY_VALUE, None)
    n_issues = int(np.rint((1.0 - np.trace(joint)) * n))
    return NoiseEstimate(
        confident_joint=calibrated.astype(np.int64),
        joint=joint,
        noise_matrix=noise,
        inverse_noise_matrix=inverse,
        prior_true=py,
        prior_given=ps,
        n_issues=n_issues,
        noise_rate=n_issues / n,
        per_class_noise_rate=1.0 - np.diagonal(noise),
        per_label_error_rate=1.0 - np.diagonal(inverse),
    )
