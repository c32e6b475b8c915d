"""Find the samples whose given label is probably wrong."""

from __future__ import annotations

import logging
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np

from mislabel._validation import (
    _mmap_of,
    check_class_names,
    check_labels,
    check_noise_matrix,
    check_option,
    check_pred_probs,
    check_scalar,
    iter_row_chunks,
)
from mislabel.detect import _counting as cnt
from mislabel.detect import _default as dflt
from mislabel.detect._parallel import one_blas_thread
from mislabel.detect._scores import SCORE_METHODS, ScoreMethod, _row_scores, _simple_scores
from mislabel.exceptions import InvalidInputError, InvalidParameterError

logger = logging.getLogger(__name__)

Method = Literal[
    "noise_posterior",
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]
METHODS: tuple[str, ...] = get_args(Method)
CL_METHODS = METHODS[1:]
DEFAULT_METHOD: Method = "noise_posterior"
_PRUNE = ("prune_by_noise_rate", "prune_by_class", "both")


@dataclass(frozen=True)
class LabelIssues:
    """The result of :func:`find_label_issues`.

    Attributes:
        mask: (n,) bool, True where the given label is flagged as wrong.
        scores: (n,) float, label quality in [0, 1]; **low = suspect**: the order of
            ``ranked`` and of every table. For the default method, self-confidence ``p[y]``
            with an estimated noise matrix and the posterior P(label right) with a known one
            (see :func:`find_label_issues`).
        ranked: indices of the flagged samples, most suspect (lowest score) first.
        suggested: (n,) int, the label we would put instead (the given label where not flagged).
        suggested_prob: (n,) float, the estimated probability of ``suggested``.
        labels: (n,) the given labels.
        method: the detection method used.
        n_classes: number of classes.
        noise_matrix: (K, K) P(given | true) used (rows = true class), or None; for the
            default method with an estimated noise, the mean of the matrices whose posteriors
            it averages.
        prob_right: (n,) float, the default method's estimate of P(given label is right | x,
            given) under its noise model, in [0, 1]; None for the other methods.
    """

    mask: np.ndarray
    scores: np.ndarray
    ranked: np.ndarray
    suggested: np.ndarray
    suggested_prob: np.ndarray
    labels: np.ndarray
    method: str
    n_classes: int
    noise_matrix: np.ndarray | None = field(default=None, repr=False)
    prob_right: np.ndarray | None = field(default=None, repr=False)

    @property
    def weights(self) -> np.ndarray:
        """(n,) training weights in [0, 1]: the probability that each given label is right,
        ``prob_right`` where the method estimates it, else ``scores``, clipped."""
        w = self.scores if self.prob_right is None else self.prob_right
        return np.clip(np.asarray(w, dtype=np.float64), 0.0, 1.0)

    @property
    def n_issues(self) -> int:
        """Number of flagged samples."""
        return int(self.mask.sum())

    @property
    def per_class(self) -> np.ndarray:
        """(K,) number of flagged samples per given label."""
        return np.bincount(self.labels[self.mask], minlength=self.n_classes)

    @property
    def per_class_suggested(self) -> np.ndarray:
        """(K,) number of flagged samples per suggested label."""
        return np.bincount(self.suggested[self.mask], minlength=self.n_classes)

    def to_frame(self, *, only_issues: bool = True, class_names: Any = None) -> Any:
        """A pandas DataFrame, one row per sample (flagged ones only by default), most
        suspect first, with columns index, given_label, suggested_label, suggested_prob,
        score, is_issue."""
        from mislabel._validation import optional_import

        pd = optional_import("pandas", "pandas", "LabelIssues.to_frame()")
        idx = self.ranked if only_issues else np.argsort(self.scores, kind="stable")
        given = self.labels[idx]
        sugg = self.suggested[idx]
        if class_names is not None:
            names = np.asarray(check_class_names(class_names, self.n_classes), dtype=object)
            given, sugg = names[given], names[sugg]
        return pd.DataFrame(
            {
                "index": idx,
                "given_label": given,
                "suggested_label": sugg,
                "suggested_prob": self.suggested_prob[idx],
                "score": self.scores[idx],
                "is_issue": self.mask[idx],
            }
        )

    def __repr__(self) -> str:
        return (
            f"LabelIssues(method={self.method!r}, n_issues={self.n_issues} of "
            f"{self.mask.shape[0]}, n_classes={self.n_classes})"
        )


# --------------------------------------------------------------------------- noise matrices


def _estimate_counts(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    with_max_other: bool = False,
    validate: bool = False,
) -> tuple[cnt.SampleStats, cnt.ConfidentCounts, np.ndarray, np.ndarray]:
    k = pred_probs.shape[1]
    stats = cnt.sample_stats(labels, pred_probs, with_max_other=with_max_other, validate=validate)
    order, bounds = cnt.class_order(labels, k)
    thr = cnt.confident_thresholds(stats.self_confidence, order, bounds, pred_probs.dtype)
    counts = cnt.confident_counts(labels, pred_probs, thr, stats)
    return stats, counts, order, bounds


def _scale_to_rate(t: np.ndarray, prior_true: np.ndarray, noise_rate: float) -> np.ndarray:
    """Rescale the off-diagonal of T so that sum_k P(true=k)(1 - T[k,k]) = noise_rate."""
    k = t.shape[0]
    current = float(np.sum(prior_true * (1 - np.diagonal(t))))
    if current <= 1e-12:
        out = np.full((k, k), noise_rate / (k - 1))
        np.fill_diagonal(out, 1 - noise_rate)
        return out
    lam = noise_rate / current
    off = t - np.diag(np.diagonal(t))
    off_sum = off.sum(axis=1)
    lam_rows = np.minimum(lam, 1.0 / np.clip(off_sum, 1e-12, None))
    out = off * lam_rows[:, None]
    np.fill_diagonal(out, 1 - out.sum(axis=1))
    return out


def _detection_noise(
    labels: np.ndarray, pred_probs: np.ndarray, *, validate: bool = False
) -> tuple[list[np.ndarray], cnt.NoiseEstimate]:
    """The noise matrices whose posteriors the default detector averages (rows = true class,
    see :mod:`mislabel.detect._default`) and the calibrated joint's estimate."""
    k = pred_probs.shape[1]
    counts = _estimate_counts(labels, pred_probs, validate=validate)[1]
    label_counts = np.bincount(labels, minlength=k)
    est = cnt.noise_from_joint(cnt.calibrate(counts.confident_joint, label_counts), label_counts)
    return dflt.detection_noise_matrices(est.noise_matrix, pred_probs), est


def _noise_matrices_for(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    noise_matrix: Any,
    noise_rate: float | None,
    validate: bool = False,
) -> list[np.ndarray]:
    k = pred_probs.shape[1]
    if noise_matrix is not None:
        return [check_noise_matrix(noise_matrix, n_classes=k)]
    ts, est = _detection_noise(labels, pred_probs, validate=validate)
    if noise_rate is not None:
        ts = [_scale_to_rate(t, est.prior_true, noise_rate) for t in ts]
    return ts


def _components(
    noise_matrices: list[np.ndarray], n_classes: int, *, estimated: bool
) -> list[tuple[np.ndarray, bool]]:
    """(T, invert) for every posterior the default averages: each matrix, read through
    ``inv(T)`` and, for an estimated matrix with two classes, also without it."""
    modes = dflt.inversion_modes(n_classes) if estimated else (True,)
    return [(t, invert) for t in noise_matrices for invert in modes]


def _mixture_posterior(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    noise_matrices: list[np.ndarray],
    *,
    estimated: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`noise_posterior` averaged over ``noise_matrices`` (and, for an estimated matrix,
    the readings of :func:`mislabel.detect._default.inversion_modes`): (prob_wrong,
    self_confidence)."""
    parts = _components(noise_matrices, pred_probs.shape[1], estimated=estimated)
    wrong, self_conf = noise_posterior(labels, pred_probs, parts[0][0], invert=parts[0][1])
    for t, invert in parts[1:]:
        wrong += noise_posterior(labels, pred_probs, t, invert=invert)[0]
    wrong /= len(parts)
    return wrong, self_conf


def _inverse(t: np.ndarray) -> np.ndarray:
    k = t.shape[0]
    try:
        inv = np.linalg.inv(t)
    except np.linalg.LinAlgError:
        inv = None
    if inv is None or not np.all(np.isfinite(inv)) or np.abs(inv).max() > 1e6:
        # singular: fall back to the noisy posterior as the clean one
        logger.warning("noise matrix is near-singular; using pred_probs as the clean posterior")
        return np.eye(k)
    return np.asarray(inv)


def _posterior_rows(
    chunk: np.ndarray, y: np.ndarray, t_inv: np.ndarray, t_cols: np.ndarray
) -> np.ndarray:
    """P(true = j | x, given = y) for a block of rows, float32 (ranking needs no more)."""
    p = chunk.astype(np.float32, copy=False)
    pi = p @ t_inv
    np.maximum(pi, 0.0, out=pi)
    s = pi.sum(axis=1)
    bad = s <= 1e-12
    if bad.any():
        pi[bad] = p[bad]
        s[bad] = pi[bad].sum(axis=1)
    pi /= s[:, None]
    pi *= t_cols[y]
    total = pi.sum(axis=1)
    total[total <= 0] = 1.0
    pi /= total[:, None]
    return pi


def _clean_posterior(
    p: np.ndarray, y: np.ndarray, t32: np.ndarray, t_inv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For a block: the clean posterior ``pi = max(p @ inv(T), 0)`` (unnormalised) and
    ``den = sum_j pi_j T[j, y]``, so that P(true = j | x, given = y) = pi_j T[j, y] / den.
    Rows whose clean probabilities were all clipped away use the noisy posterior ``p``."""
    pi = p @ t_inv
    np.maximum(pi, 0.0, out=pi)
    cols = t32.T[y]  # column y of T for each row: den is a row-wise dot product
    den = np.einsum("ij,ij->i", pi, cols)
    bad = den <= 1e-12
    if bad.any():
        pi[bad] = p[bad]
        den[bad] = np.einsum("ij,ij->i", p[bad], cols[bad])
    return pi, den


def noise_posterior(
    labels: np.ndarray, pred_probs: np.ndarray, noise_matrix: np.ndarray, *, invert: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """P(given label is wrong | x, given) under class-conditional noise T (rows = true).

    The model was trained on noisy labels, so ``pred_probs`` estimates the noisy posterior
    P(given | x) = T^T pi(x). We recover the clean posterior ``pi = p @ inv(T)`` (clipped to be
    a distribution) and apply Bayes: P(true = j | x, given = y) ∝ pi_j T[j, y]. With
    ``invert=False``, ``pi = p`` (a model that did not learn the noise).

    Returns (prob_wrong, self_confidence); self_confidence (p[y]) breaks ties among samples
    whose posterior is exactly 0 or 1.
    """
    n = pred_probs.shape[0]
    t = np.asarray(noise_matrix, dtype=np.float64)
    t_inv = (_inverse(t) if invert else np.eye(t.shape[0])).astype(np.float32)
    t32 = t.astype(np.float32)
    diag = np.diagonal(t32)
    wrong = np.empty(n, dtype=np.float32)
    self_conf = np.empty(n, dtype=np.float32)
    for start, chunk in iter_row_chunks(pred_probs):
        stop = start + chunk.shape[0]
        y = labels[start:stop]
        rows = np.arange(chunk.shape[0])
        p = chunk.astype(np.float32, copy=False)
        self_conf[start:stop] = p[rows, y]
        # wrong = 1 - pi_y T[y,y] / sum_j pi_j T[j,y]; pi's normalisation cancels.
        pi, den = _clean_posterior(p, y, t32, t_inv)
        num = pi[rows, y] * diag[y]
        with np.errstate(divide="ignore", invalid="ignore"):
            wrong[start:stop] = 1.0 - np.where(den > 0, num / den, 0.0)
    np.clip(wrong, 0.0, 1.0, out=wrong)
    return wrong, self_conf


def true_label_posterior(labels: Any, pred_probs: Any, *, noise_matrix: Any = None) -> np.ndarray:
    """P(true class = j | x, given label) for every sample and class: the soft clean label.

    Under class-conditional noise T (rows = true class, columns = given label; estimated as in
    :func:`label_quality_scores` unless given), the clean posterior is recovered from the
    out-of-fold (noisy) one as ``pi = pred_probs @ inv(T)`` (clipped to a distribution), and
    Bayes with the given label y gives ``q_j ∝ pi_j T[j, y]`` (averaged over the estimates of T
    as the score is). Its column ``y`` is the
    label-quality score of ``noise_posterior`` (before its tie-break); its argmax is the most
    probable true class. Train on ``q`` as a soft target (e.g.
    ``F.cross_entropy(logits, q)``) to keep every sample while correcting the
    labels that are probably wrong, in proportion to the evidence.

    Args:
        labels: (n,) given labels.
        pred_probs: (n, n_classes) out-of-fold predicted probabilities.
        noise_matrix: known (K, K) P(given | true), rows = true class.

    Returns:
        (n, n_classes) float32, each row summing to 1.
    """
    pred_probs = check_pred_probs(pred_probs)
    n, k = pred_probs.shape
    labels = check_labels(labels, n_classes=k, n_samples=n)
    ts = _noise_matrices_for(labels, pred_probs, noise_matrix=noise_matrix, noise_rate=None)
    parts = _components(ts, k, estimated=noise_matrix is None)
    out = np.zeros((n, k), dtype=np.float32)
    for t, invert in parts:
        t32 = np.asarray(t, dtype=np.float32)
        t_inv = (_inverse(np.asarray(t, dtype=np.float64)) if invert else np.eye(k)).astype(
            np.float32
        )
        for start, chunk in iter_row_chunks(pred_probs):
            stop = start + chunk.shape[0]
            y = labels[start:stop]
            pi, den = _clean_posterior(chunk.astype(np.float32, copy=False), y, t32, t_inv)
            q = pi * t32[:, y].T
            bad = den <= 0
            if bad.any():  # T gives the label no chance from any likely class: trust the label
                q[bad] = 0.0
                q[bad, y[bad]] = 1.0
                den[bad] = 1.0
            out[start:stop] += q / den[:, None]
    out /= len(parts)
    return out


def _suggest(
    pred_probs: np.ndarray,
    labels: np.ndarray,
    which: np.ndarray,
    ts: list[np.ndarray],
    *,
    estimated: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """For the samples ``which`` (sorted), the most probable true class other than the given
    label under the noise posterior (averaged as the score is over the noise matrices ``ts``),
    and its probability."""
    if which.size == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
    k = pred_probs.shape[1]
    y = labels[which]
    rows = _take_rows(pred_probs, which)
    post = np.zeros((which.size, k), dtype=np.float32)
    parts = _components(ts, k, estimated=estimated)
    for t, invert in parts:
        t_inv = (_inverse(t) if invert else np.eye(k)).astype(np.float32)
        t_cols = np.ascontiguousarray(t.T, dtype=np.float32)
        post += _posterior_rows(rows, y, t_inv, t_cols)
    post /= len(parts)
    at = np.arange(which.size)
    post[at, y] = -1.0
    best = post.argmax(axis=1)
    return best, post[at, best].astype(np.float64)


def expected_f1_cutoff(prob_wrong: np.ndarray) -> int:
    """Number of top-ranked samples that maximises the expected F1 of the flags.

    ``prob_wrong`` is taken in ranking order (most suspect first). With
    q_i = P(label i is wrong) and the k most suspect flagged, the plug-in expected F1 is
    2 * sum_{top k} q / (k + sum_all q); we take its arg-max (Jansche 2007; Nan et al. 2012).
    """
    total = float(prob_wrong.sum(dtype=np.float64))
    if total <= 0.5:
        return 0
    gain = np.cumsum(prob_wrong, dtype=np.float64)
    f1 = 2 * gain / (np.arange(1, prob_wrong.size + 1) + total)
    return int(np.argmax(f1)) + 1


# --------------------------------------------------------------------------- selection helpers


def _smallest_like_argsort(x: np.ndarray, count: int) -> np.ndarray:
    """Positions of ``np.argsort(x)[:count]`` (as a set), without a full sort when no tie
    straddles the cut. Ties at the cut fall back to the full argsort so that the selected set
    is exactly the one cleanlab's argsort picks."""
    size = x.shape[0]
    if count <= 0:
        return np.empty(0, dtype=np.intp)
    if count >= size:
        return np.arange(size)
    v = np.partition(x, count - 1)[count - 1]
    below = x < v
    n_below = int(below.sum())
    equal = x == v
    if n_below + int(equal.sum()) == count:
        return np.flatnonzero(below | equal)
    return np.argsort(x)[:count]


def _take_rows(pred_probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``pred_probs[rows]`` for sorted ``rows``; a memmap is read chunk by chunk, its pages
    released after each chunk, so resident memory stays bounded."""
    if _mmap_of(pred_probs) is None:
        return np.asarray(pred_probs[rows])
    out = np.empty((rows.size, pred_probs.shape[1]), dtype=pred_probs.dtype)
    for start, chunk in iter_row_chunks(pred_probs):
        lo, hi = np.searchsorted(rows, [start, start + chunk.shape[0]])
        if hi > lo:
            out[lo:hi] = chunk[rows[lo:hi] - start]
    return out


def _prune_by_margin(
    pred_probs: np.ndarray,
    idx: np.ndarray,
    c: int,
    col: np.ndarray,
    margin_bound: np.ndarray,
) -> np.ndarray:
    """cleanlab's prune-by-noise-rate for the samples labelled ``c`` (indices ``idx``): for
    each other class j, flag the ``col[j]`` samples with the largest p[j] - p[c].

    Exact and fast: ``margin_bound`` = max_{j != c} p[j] - p[c] bounds every pair's margin, so
    only the samples with the largest bounds are candidates; a pair whose selection is not
    provably inside the candidates (or whose cut splits a tie) is redone on the whole class
    with cleanlab's own argsort.
    """
    n_c = idx.size
    pairs = [int(j) for j in np.flatnonzero(col) if j != c]
    local = np.zeros(n_c, dtype=bool)
    if not pairs:
        return local
    wanted = int(sum(int(col[j]) for j in pairs))
    size = min(n_c, max(2 * wanted, 512))
    if size < n_c:
        tau = np.partition(margin_bound, n_c - size)[n_c - size]
        cand = np.flatnonzero(margin_bound >= tau)
    else:
        tau = None
        cand = np.arange(n_c)
    sub_t = np.ascontiguousarray(_take_rows(pred_probs, idx[cand]).T)
    full_t: np.ndarray | None = None
    for j in pairs:
        count = int(col[j])
        neg = -(sub_t[j] - sub_t[c])
        if count > cand.size:
            ok = False
        else:
            v = np.partition(neg, count - 1)[count - 1]
            n_below = int(np.count_nonzero(neg < v))
            n_equal = int(np.count_nonzero(neg == v))
            inside = tau is None or -v >= tau
            ok = inside and n_below + n_equal == count
        if ok:
            local[cand[neg <= v]] = True
            continue
        if full_t is None:
            full_t = np.ascontiguousarray(_take_rows(pred_probs, idx).T)
        local[_smallest_like_argsort(-(full_t[j] - full_t[c]), count)] = True
    return local


def _keep_at_least_n_per_class(prune: np.ndarray, n: int, frac_noise: float = 1.0) -> np.ndarray:
    """cleanlab's adjustment of the prune counts (rows = true, columns = given)."""
    diag = np.diagonal(prune)
    new_diag = np.maximum(diag, n)
    diff = new_diag - diag
    per_col = np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    new = prune - diff / per_col
    new[new < 0] = 0
    np.fill_diagonal(new, new_diag)
    reduced = new * frac_noise
    np.fill_diagonal(reduced, new.diagonal())
    np.fill_diagonal(reduced, new.diagonal() + np.sum(new - reduced, axis=0))
    reduced = reduced.astype(int)
    return np.stack([cnt.round_preserving_sum(r) for r in reduced]).astype(int)


def _prune_counts_from_noise_matrix(t: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Counts by (true, given) implied by a known P(given | true) and the observed label counts."""
    ps = label_counts / label_counts.sum()
    try:
        py = np.linalg.solve(t.T, ps)
    except np.linalg.LinAlgError:
        py = ps.copy()
    py = np.clip(py, cnt.CLIPPING_LOWER_BOUND, None)
    py /= py.sum()
    joint = py[:, None] * t
    joint = joint / np.clip(joint.sum(axis=0, keepdims=True), cnt.TINY_VALUE, None) * label_counts
    return cnt.round_preserving_col_totals(joint)


def _rescale_prune_to_rate(prune: np.ndarray, label_counts: np.ndarray, n_wrong: int) -> np.ndarray:
    off = prune.astype(float) - np.diag(np.diagonal(prune))
    total = off.sum()
    if total <= 0:
        return prune
    off *= n_wrong / total
    off = np.minimum(
        off, np.maximum(label_counts - 1, 0)[None, :] * off / np.clip(off.sum(axis=0), 1e-12, None)
    )
    out = off.copy()
    np.fill_diagonal(out, label_counts - off.sum(axis=0))
    return cnt.round_preserving_col_totals(out)


# --------------------------------------------------------------------------- the public API


def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: Method = DEFAULT_METHOD,
    noise_rate: float | None = None,
    noise_matrix: Any = None,
    n_issues: int | None = None,
    rank_by: ScoreMethod | None = None,
    min_examples_per_class: int = 1,
    frac_noise: float = 1.0,
) -> LabelIssues:
    """Flag the samples whose given label is probably wrong.

    Args:
        labels: (n,) given labels in ``[0, n_classes)``.
        pred_probs: (n, n_classes) **out-of-fold** predicted probabilities (see
            :func:`cross_val_pred_probs`). float16/float32/float64 and numpy memmaps are read
            in chunks without a float64 copy.
        method: ``"noise_posterior"`` (default) flags by the posterior probability that the
            label is wrong under class-conditional noise (see :func:`label_quality_scores`),
            with the cut that maximises the expected F1, kept within what the calibrated
            confident joint supports (it moves toward the joint's count of wrong labels when the
            posterior expects far fewer, and never flags more than 1.25 times that count; with
            two classes it never flags a sample whose given label is the model's most probable
            class, and the count of each given class moves toward the joint's count in it by
            the same rule). Where the count has moved all the way to the joint's, the
            posterior is not trusted with which samples are wrong either and the flags are
            ``"prune_by_noise_rate"``'s (cleanlab's default). The flags come from the
            posterior; the order does
            not: with an estimated noise matrix, ``scores`` and ``ranked`` are self-confidence
            (the estimated matrix reorders real, sample-dependent errors worse than the model's
            own probability of the given label does), with a known ``noise_matrix`` the
            posterior P(label right); the posterior is kept as ``prob_right``. The
            confident-learning family
            (Northcutt et al., JAIR 2021) follows cleanlab 2.9's ``filter_by`` semantics
            exactly: ``"prune_by_noise_rate"``, ``"prune_by_class"``, ``"both"``,
            ``"confident_learning"`` (C_confusion off-diagonal), ``"predicted_neq_given"``
            (argmax ≠ label), ``"low_normalized_margin"``, ``"low_self_confidence"``.
        noise_rate: the known fraction of wrong labels ("10 % are wrong" → 0.1). Replaces the
            estimate: the noise matrix is rescaled to it and about ``noise_rate * n`` samples
            are flagged.
        noise_matrix: a known (K, K) P(given = j | true = i), **rows = true class**, each row
            summing to 1. Replaces the estimate (and its bounds on the cut).
        n_issues: flag exactly this many (ranking methods), or prune this many in total
            (prune methods).
        rank_by: score used for ``scores`` and the order of ``ranked``; by default
            ``self_confidence`` (as cleanlab ranks), except ``noise_posterior`` for the default
            method with a known ``noise_matrix``. It never changes which samples are flagged.
        min_examples_per_class: CL prune methods never flag a class below this many samples.
        frac_noise: CL prune methods flag only this fraction of the estimated count.

    Returns:
        A frozen :class:`LabelIssues`.

    Example:
        >>> issues = find_label_issues(labels, pred_probs)          # doctest: +SKIP
        >>> issues.to_frame().head()                                  # doctest: +SKIP
    """
    return _find_label_issues(
        labels,
        pred_probs,
        method=method,
        noise_rate=noise_rate,
        noise_matrix=noise_matrix,
        n_issues=n_issues,
        rank_by=rank_by,
        min_examples_per_class=min_examples_per_class,
        frac_noise=frac_noise,
    )


def one_run_cut(labels: Any, pred_probs: Any, *, max_stretch: float) -> LabelIssues:
    """The default cut of in-sample (one-run) probabilities: where the calibrated joint counts
    more wrong labels than the default cut flags, flag the joint's count, at most
    ``max_stretch`` times the default's. The posterior ranks the count where it is trusted;
    where the default cut follows the joint instead (the posterior expects far fewer wrong
    labels than the joint counts, see :func:`mislabel.detect._default.follows_joint`), the
    lowest self-confidence does. Two classes: the default cut."""
    return _find_label_issues(labels, pred_probs, max_stretch=max_stretch)


def _find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: Method = DEFAULT_METHOD,
    noise_rate: float | None = None,
    noise_matrix: Any = None,
    n_issues: int | None = None,
    rank_by: ScoreMethod | None = None,
    min_examples_per_class: int = 1,
    frac_noise: float = 1.0,
    max_stretch: float | None = None,
) -> LabelIssues:
    """:func:`find_label_issues`, and the stretched count of :func:`one_run_cut`."""
    check_option(method, "method", METHODS)
    # The values are checked block by block in the first scan over pred_probs (one pass less).
    pred_probs = check_pred_probs(pred_probs, check_rows=False)
    n, k = pred_probs.shape
    labels = check_labels(labels, n_classes=k, n_samples=n)
    if np.count_nonzero(np.bincount(labels, minlength=k)) < 2:
        raise InvalidInputError(
            f"`labels` must contain at least 2 distinct classes to find label errors; got only "
            f"class {int(labels[0])} in {n} samples."
        )
    if noise_rate is not None:
        check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
    if n_issues is not None:
        check_scalar(n_issues, "n_issues", kind=numbers.Integral, min_val=0, max_val=n)
    if noise_rate is not None and n_issues is not None:
        raise InvalidParameterError("Give at most one of `noise_rate` and `n_issues`; got both.")
    if rank_by is not None:
        check_option(rank_by, "rank_by", SCORE_METHODS)
    check_scalar(min_examples_per_class, "min_examples_per_class", kind=numbers.Integral, min_val=0)
    check_scalar(frac_noise, "frac_noise", min_val=0.0, max_val=1.0)
    t = None if noise_matrix is None else check_noise_matrix(noise_matrix, n_classes=k)
    if noise_rate is not None and t is not None:
        raise InvalidParameterError(
            "Give at most one of `noise_rate` and `noise_matrix`; got both (the matrix already "
            "implies a noise rate)."
        )

    if method == "noise_posterior":
        if t is not None:  # the known matrix skips the counting pass: check here
            check_pred_probs(pred_probs)
        # BLAS on one thread: its blocks are small, and threads that spin while other work
        # holds the cores slow every product down (the results do not depend on it either)
        return one_blas_thread(
            _find_noise_posterior, labels, pred_probs, t, noise_rate, n_issues, rank_by, max_stretch
        )
    mask, stats = _find_cl(
        labels, pred_probs, method, t, noise_rate, n_issues, min_examples_per_class, frac_noise
    )
    return _assemble(labels, pred_probs, mask, method, rank_by or "self_confidence", t, stats)


def _find_noise_posterior(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    t: np.ndarray | None,
    noise_rate: float | None,
    n_issues: int | None,
    rank_by: str | None,
    max_stretch: float | None = None,
) -> LabelIssues:
    n, k = pred_probs.shape
    joint_count = None
    if t is None:
        ts, est = _detection_noise(labels, pred_probs, validate=True)
        joint_count = est.n_issues
        if noise_rate is not None:
            ts = [_scale_to_rate(m, est.prior_true, noise_rate) for m in ts]
    else:
        ts = [t]
    estimated = t is None
    wrong, self_conf = _mixture_posterior(labels, pred_probs, ts, estimated=estimated)
    prob_right = dflt.quality_scores(wrong, self_conf)
    order = np.argsort(prob_right, kind="stable")
    if n_issues is not None:
        top = order[:n_issues]
    elif noise_rate is not None:
        top = order[: round(noise_rate * n)]
    else:
        count = expected_f1_cutoff(wrong[order])
        if joint_count is None:
            top = order[:count]
        else:
            expected = float(wrong.sum(dtype=np.float64))
            follows = dflt.follows_joint(expected, joint_count)
            if follows:
                fallback, _ = _find_cl(
                    labels,
                    pred_probs,
                    dflt.FALLBACK_METHOD,
                    t=None,
                    noise_rate=None,
                    n_issues=None,
                    min_examples_per_class=1,
                    frac_noise=1.0,
                )
                top = np.flatnonzero(fallback)
                del fallback
            else:
                top = order[: dflt.bounded_count(count, expected, joint_count)]
                if dflt.balances_classes(k):
                    top = _balanced_top(labels, order, top, wrong, est.confident_joint)
            if max_stretch is not None and k > 2:
                # one-run probabilities: toward the joint's count, in the order trusted here
                wanted = max(top.size, min(joint_count, round(max_stretch * top.size)))
                if wanted > top.size:
                    top = _smallest_like_argsort(self_conf, wanted) if follows else order[:wanted]
    top = np.sort(top)  # a copy, not a view: frees the full order
    del order, wrong
    if n_issues is None and noise_rate is None and estimated and dflt.guards_prediction(k):
        top = top[_take_rows(pred_probs, top).argmax(axis=1) != labels[top]]
    mask = np.zeros(n, dtype=bool)
    mask[top] = True
    flagged = np.flatnonzero(mask)
    sugg = labels.astype(np.intp, copy=True)
    sugg_p = prob_right.copy()
    sugg[flagged], sugg_p[flagged] = _suggest(pred_probs, labels, flagged, ts, estimated=estimated)
    if rank_by is None:
        rank_by = "noise_posterior" if dflt.ranks_by_posterior(estimated) else "self_confidence"
    if rank_by == "noise_posterior":
        scores = prob_right
    elif rank_by == "self_confidence":
        scores = self_conf.astype(np.float64)
    else:
        scores = _simple_scores(labels, pred_probs, rank_by)
    del self_conf
    return _finish(
        labels,
        mask,
        scores,
        sugg,
        sugg_p,
        method="noise_posterior",
        n_classes=k,
        t=np.mean(ts, axis=0),
        prob_right=prob_right,
    )


def _balanced_top(
    labels: np.ndarray,
    order: np.ndarray,
    top: np.ndarray,
    wrong: np.ndarray,
    confident_joint: np.ndarray,
) -> np.ndarray:
    """``top`` (the first of ``order``) extended within each given class to
    :func:`mislabel.detect._default.class_counts`, in the posterior's order."""
    k = confident_joint.shape[0]
    joint = confident_joint.sum(axis=0) - np.diagonal(confident_joint)
    expected = np.bincount(labels, weights=wrong, minlength=k)
    counts = dflt.class_counts(np.bincount(labels[top], minlength=k), expected, joint)
    ordered = labels[order]
    return np.concatenate([order[ordered == c][: counts[c]] for c in range(k)])


def _finish(
    labels: np.ndarray,
    mask: np.ndarray,
    scores: np.ndarray,
    suggested: np.ndarray,
    suggested_prob: np.ndarray,
    *,
    method: str,
    n_classes: int,
    t: np.ndarray | None,
    prob_right: np.ndarray | None = None,
) -> LabelIssues:
    """Wrap up; ``suggested``/``suggested_prob`` already hold the given label (and its
    probability) where a sample is not flagged."""
    flagged = np.flatnonzero(mask)
    ranked = flagged[np.argsort(scores[flagged], kind="stable")]
    return LabelIssues(
        mask=mask,
        scores=np.asarray(scores, dtype=np.float64),
        ranked=ranked,
        suggested=suggested,
        suggested_prob=suggested_prob,
        labels=labels,
        method=method,
        n_classes=n_classes,
        noise_matrix=t,
        prob_right=prob_right,
    )


def _assemble(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    mask: np.ndarray,
    method: str,
    rank_by: str,
    t: np.ndarray | None,
    stats: cnt.SampleStats,
) -> LabelIssues:
    k = pred_probs.shape[1]
    sc = stats.self_confidence
    if rank_by == "noise_posterior":
        ts = (
            [t]
            if t is not None
            else _noise_matrices_for(labels, pred_probs, noise_matrix=None, noise_rate=None)
        )
        scores = dflt.quality_scores(
            *_mixture_posterior(labels, pred_probs, ts, estimated=t is None)
        )
    elif rank_by == "self_confidence":
        scores = sc.astype(np.float64)
    elif rank_by == "normalized_margin" and stats.max_other is not None:
        scores = ((sc - stats.max_other + 1) / 2).astype(np.float64)
    else:
        scores = _simple_scores(labels, pred_probs, rank_by)
    # Suggestions only for the flagged: the most probable class other than the given one.
    flagged = np.flatnonzero(mask)
    sugg = labels.astype(np.intp, copy=True)
    sugg_p = sc.astype(np.float64)
    if flagged.size:
        rows = _take_rows(pred_probs, flagged).astype(np.float64)
        at = np.arange(flagged.size)
        rows[at, labels[flagged]] = -1.0
        best = rows.argmax(axis=1)
        sugg[flagged] = best
        sugg_p[flagged] = rows[at, best]
    return _finish(labels, mask, scores, sugg, sugg_p, method=method, n_classes=k, t=t)


def _find_cl(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    method: str,
    t: np.ndarray | None,
    noise_rate: float | None,
    n_issues: int | None,
    min_examples_per_class: int,
    frac_noise: float,
) -> tuple[np.ndarray, cnt.SampleStats]:
    """The confident-learning family, mask for mask identical to cleanlab 2.9 when neither
    a noise rate, a noise matrix nor a count is given."""
    n, k = pred_probs.shape
    stats, counts, order, bounds = _estimate_counts(
        labels, pred_probs, with_max_other=method in ("prune_by_noise_rate", "both"), validate=True
    )
    label_counts = stats.label_counts

    if method in ("low_normalized_margin", "low_self_confidence"):
        if n_issues is not None:
            count = n_issues
        elif noise_rate is not None:
            count = round(noise_rate * n)
        elif t is not None:
            count = int(np.rint(n * (1 - np.sum(_prior_from(t, label_counts) * np.diagonal(t)))))
        else:
            count = int(np.sum(counts.off_diagonal & ~counts.argmax_agrees))
        score_name = method[len("low_") :]
        scores = np.empty(n, dtype=pred_probs.dtype)
        for start, chunk in iter_row_chunks(pred_probs):
            y = labels[start : start + chunk.shape[0]]
            scores[start : start + chunk.shape[0]] = _row_scores(chunk, y, score_name, None)
        mask = np.zeros(n, dtype=bool)
        mask[_smallest_like_argsort(scores, count)] = True
        return mask, stats

    if method in ("confident_learning", "predicted_neq_given"):
        if noise_rate is not None or n_issues is not None or t is not None:
            warnings.warn(
                f"method={method!r} flags by rule and ignores noise_rate / noise_matrix / "
                "n_issues; use 'noise_posterior' or a prune method to use them.",
                stacklevel=3,
            )
        mask = (
            counts.off_diagonal.copy() if method == "confident_learning" else stats.argmax != labels
        )
        mask[counts.argmax_agrees] = False
        return mask, stats

    # prune methods
    if t is not None:
        prune = _prune_counts_from_noise_matrix(t, label_counts)
    else:
        prune = cnt.calibrate(counts.confident_joint, label_counts)
        wanted = None
        if noise_rate is not None:
            wanted = round(noise_rate * n)
        elif n_issues is not None:
            wanted = n_issues
        if wanted is not None:
            prune = _rescale_prune_to_rate(prune, label_counts, wanted)
    prune = _keep_at_least_n_per_class(prune, min_examples_per_class, frac_noise)

    by_class = np.zeros(n, dtype=bool)
    by_rate = np.zeros(n, dtype=bool)
    for c in range(k):
        idx = order[bounds[c] : bounds[c + 1]]
        n_c = idx.size
        if n_c <= min_examples_per_class:
            if n_c:
                warnings.warn(
                    f"May not flag all label issues in class {c}: it has only {n_c} samples "
                    f"(min_examples_per_class={min_examples_per_class}).",
                    stacklevel=3,
                )
            continue
        if n_c < 2:
            continue
        col = prune[:, c]
        sc = stats.self_confidence[idx]
        if method in ("prune_by_class", "both"):
            num = n_c - int(col[c])
            if num >= 1:
                by_class[idx[_smallest_like_argsort(sc, num)]] = True
        if method in ("prune_by_noise_rate", "both"):
            max_other = cast(np.ndarray, stats.max_other)  # asked for by _estimate_counts
            bound = max_other[idx] - sc
            by_rate[idx] = _prune_by_margin(pred_probs, idx, c, col, bound)
    if method == "prune_by_class":
        mask = by_class
    elif method == "prune_by_noise_rate":
        mask = by_rate
    else:
        mask = by_class & by_rate
    mask[counts.argmax_agrees] = False
    return mask, stats


def _prior_from(t: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    ps = label_counts / label_counts.sum()
    try:
        py = np.linalg.solve(t.T, ps)
    except np.linalg.LinAlgError:
        py = ps.copy()
    py = np.clip(py, cnt.CLIPPING_LOWER_BOUND, None)
    return py / py.sum()


def estimate_noise(labels: Any, pred_probs: Any) -> cnt.NoiseEstimate:
    """Estimate the label noise with the calibrated confident joint (Northcutt et al. 2021).

    Args:
        labels: (n,) given labels.
        pred_probs: (n, n_classes) out-of-fold predicted probabilities.

    Returns:
        A :class:`NoiseEstimate`. Its ``noise_matrix`` is P(given = j | true = i) with
        **rows = true class** (each row sums to 1); ``confident_joint`` has rows = true class
        and columns = given label; ``inverse_noise_matrix`` is P(true = j | given = i) with
        rows = given label.
    """
    pred_probs = check_pred_probs(pred_probs)
    n, k = pred_probs.shape
    labels = check_labels(labels, n_classes=k, n_samples=n)
    counts = _estimate_counts(labels, pred_probs)[1]
    label_counts = np.bincount(labels, minlength=k)
    return cnt.noise_from_joint(cnt.calibrate(counts.confident_joint, label_counts), label_counts)
