"""Find wrong or missing tags in multi-label data (one image, several tags)."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mislabel._validation import check_option, check_scalar
from mislabel.detect import METHODS, estimate_noise, true_label_posterior
from mislabel.detect import find_label_issues as _find_single
from mislabel.detect._issues import Method
from mislabel.exceptions import InvalidParameterError
from mislabel.multilabel._input import check_multilabel_labels, check_multilabel_probs, to_lists

#: Smallest / largest per-class probability handed to the binary detector.
_CLIP = 1e-6


@dataclass(frozen=True)
class MultiLabelIssues:
    """The result of :func:`find_label_issues` for multi-label data.

    Every class is a yes/no question per sample ("is tag k present?"), checked on its own
    against the model's probability of that tag.

    Attributes:
        mask: (n,) bool, True where at least one of the sample's tags is suspect.
        scores: (n,) float in [0, 1], the sample's label quality (with the default method, the
            estimated probability that *all* its tags are right); **low = suspect**.
        ranked: indices of the flagged samples, most suspect first.
        entry_mask: (n, K) bool, the suspect (sample, class) entries: a given tag that is
            probably wrong, or a missing tag that is probably present.
        entry_scores: (n, K) float, quality of each entry (probability that the given yes/no
            is right with the default method); usable as per-(sample, class) training weights.
        posterior: (n, K) estimated P(tag truly present | x, given tags), a soft target.
        suggested: (n, K) int8 indicator of the tag set we would put instead (the suspect
            entries flipped).
        labels: (n, K) int8 indicator of the given tags.
        noise_matrices: (K, 2, 2) per class, P(given = b | true = a) with **rows = true**
            (0 = absent, 1 = present), columns = given.
        method: the detection method used for each class.
    """

    mask: np.ndarray
    scores: np.ndarray
    ranked: np.ndarray
    entry_mask: np.ndarray = field(repr=False)
    entry_scores: np.ndarray = field(repr=False)
    posterior: np.ndarray = field(repr=False)
    suggested: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    noise_matrices: np.ndarray = field(repr=False)
    method: str = "noise_posterior"

    @property
    def n_issues(self) -> int:
        """Number of flagged samples."""
        return int(self.mask.sum())

    @property
    def n_classes(self) -> int:
        """Number of classes (tags)."""
        return int(self.labels.shape[1])

    @property
    def missing_rate(self) -> np.ndarray:
        """(K,) estimated P(tag not given | tag present), per class."""
        return self.noise_matrices[:, 1, 0]

    @property
    def false_tag_rate(self) -> np.ndarray:
        """(K,) estimated P(tag given | tag absent), per class."""
        return self.noise_matrices[:, 0, 1]

    def suggested_lists(self) -> list[list[int]]:
        """The suggested tag set of every sample as a list of class indices."""
        return to_lists(self.suggested)

    def to_frame(self, *, only_issues: bool = True, class_names: Any = None) -> Any:
        """A pandas DataFrame, one row per sample (flagged ones only by default), most suspect
        first, with columns index, given_tags, suggested_tags, missing_tags, wrong_tags, score,
        is_issue (tags as lists of class indices, or of ``class_names``)."""
        import pandas as pd

        idx = self.ranked if only_issues else np.argsort(self.scores, kind="stable")
        names = None if class_names is None else np.asarray(class_names)

        def tags(row: np.ndarray) -> list[Any]:
            hits = np.flatnonzero(row)
            return hits.tolist() if names is None else names[hits].tolist()

        sus = self.entry_mask[idx]
        given = self.labels[idx].astype(bool)
        return pd.DataFrame(
            {
                "index": idx,
                "given_tags": [tags(r) for r in self.labels[idx]],
                "suggested_tags": [tags(r) for r in self.suggested[idx]],
                "missing_tags": [tags(r) for r in sus & ~given],
                "wrong_tags": [tags(r) for r in sus & given],
                "score": self.scores[idx],
                "is_issue": self.mask[idx],
            }
        )

    def classes_frame(self, *, class_names: Any = None) -> Any:
        """A pandas DataFrame, one row per class: n_given (tags given), n_missing_suspect
        (suspect missing tags), n_wrong_suspect (suspect given tags), missing_rate,
        false_tag_rate (estimated per-class noise rates)."""
        import pandas as pd

        given = self.labels.astype(bool)
        return pd.DataFrame(
            {
                "class": np.arange(self.n_classes) if class_names is None else class_names,
                "n_given": given.sum(axis=0),
                "n_missing_suspect": (self.entry_mask & ~given).sum(axis=0),
                "n_wrong_suspect": (self.entry_mask & given).sum(axis=0),
                "missing_rate": self.missing_rate,
                "false_tag_rate": self.false_tag_rate,
            }
        )

    def __repr__(self) -> str:
        return (
            f"MultiLabelIssues(method={self.method!r}, n_issues={self.n_issues} of "
            f"{self.mask.shape[0]}, n_suspect_entries={int(self.entry_mask.sum())}, "
            f"n_classes={self.n_classes})"
        )


def _binary(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _CLIP, 1.0 - _CLIP)
    return np.stack([1.0 - q, q], axis=1)


def _one_class(
    y: np.ndarray,
    p: np.ndarray,
    method: str,
    n_issues: int | None,
    min_examples_per_class: int,
    frac_noise: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(entry mask, entry scores, P(present), noise matrix) for one class."""
    p2 = _binary(p)
    self_conf = np.where(y == 1, p, 1.0 - p)
    if y.min() == y.max():  # every sample says the same: no noise estimate for this class
        mask = np.zeros(y.shape[0], dtype=bool)
        if n_issues:
            mask[np.argsort(self_conf, kind="stable")[:n_issues]] = True
        return mask, self_conf, p.copy(), np.eye(2)
    res = _find_single(
        y,
        p2,
        method=method,  # type: ignore[arg-type]
        min_examples_per_class=min_examples_per_class,
        frac_noise=frac_noise,
    )
    t = res.noise_matrix if res.noise_matrix is not None else estimate_noise(y, p2).noise_matrix
    if method == "noise_posterior":
        scores = res.scores
        present = true_label_posterior(y, p2, noise_matrix=t)[:, 1].astype(np.float64)
        # an entry is suspect only where the model's own yes/no disagrees with it
        mask = res.mask & ((p > 0.5) != (y == 1))
    else:
        scores = self_conf
        present = p.copy()
        mask = res.mask.copy()
    if n_issues is not None:  # the n least likely entries of this class, either side
        mask = np.zeros(y.shape[0], dtype=bool)
        mask[np.argsort(scores, kind="stable")[:n_issues]] = True
    return mask, scores, present, np.asarray(t, dtype=np.float64)


def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    method: Method = "noise_posterior",
    n_issues_per_class: Any = None,
    min_examples_per_class: int = 1,
    frac_noise: float = 1.0,
) -> MultiLabelIssues:
    """Flag the samples of a multi-label dataset whose tags are probably wrong or incomplete.

    Each class k is a binary task, "is tag k present?", checked with the single-label
    detector (:func:`mislabel.find_label_issues`) on the given yes/no and the model's
    ``pred_probs[:, k]``; a sample is flagged when any of its entries is suspect. With the
    default ``"noise_posterior"`` each class gets its own 2×2 noise matrix (missing tags and
    false tags have different rates), an entry's score is the posterior probability that its
    yes/no is right, an entry is suspect only where the model's own yes/no (threshold 0.5)
    disagrees, and a sample's score is the product of its entry scores (the probability that
    all its tags are right).

    Args:
        labels: the given tags: an (n, K) 0/1 indicator matrix (array or DataFrame), or a list
            of n tag lists of class indices (``[[0, 2], [], [1]]``).
        pred_probs: (n, K) **out-of-fold** per-class probabilities (sigmoid outputs; rows need
            not sum to 1), see :func:`cross_val_multilabel_pred_probs`.
        method: the single-label method run on each class (:data:`mislabel.detect.METHODS`);
            the confident-learning ones follow cleanlab's multi-label semantics.
        n_issues_per_class: (K,) number of entries to flag per class, the lowest-scored of
            either side (given tags and missing ones); overrides the estimate.
        min_examples_per_class: CL prune methods never flag a yes/no group below this size.
        frac_noise: CL prune methods flag only this fraction of the estimated count.

    Returns:
        A frozen :class:`MultiLabelIssues`.

    Example:
        >>> issues = find_label_issues([[0, 2], [1], []], pred_probs)   # doctest: +SKIP
        >>> issues.to_frame()                                           # doctest: +SKIP
        >>> weight = issues.entry_scores       # per-(sample, class) BCE weights  # doctest: +SKIP
    """
    check_option(method, "method", METHODS)
    probs = check_multilabel_probs(pred_probs)
    n, k = probs.shape
    y = check_multilabel_labels(labels, n_classes=k, n_samples=n)
    check_scalar(min_examples_per_class, "min_examples_per_class", kind=numbers.Integral, min_val=0)
    check_scalar(frac_noise, "frac_noise", min_val=0.0, max_val=1.0)
    per_class: list[int | None] = [None] * k
    if n_issues_per_class is not None:
        counts = np.asarray(n_issues_per_class)
        if counts.shape != (k,) or counts.dtype.kind not in "iu" or (counts < 0).any():
            raise InvalidParameterError(
                f"`n_issues_per_class` must be {k} non-negative ints, one per class; got "
                f"{n_issues_per_class!r}."
            )
        if (counts > n).any():
            raise InvalidParameterError(
                f"`n_issues_per_class` must be at most n_samples = {n}; got {counts.max()}."
            )
        per_class = [int(c) for c in counts]
    entry_mask = np.zeros((n, k), dtype=bool)
    entry_scores = np.empty((n, k))
    posterior = np.empty((n, k))
    noise = np.empty((k, 2, 2))
    for c in range(k):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m, s, post, t = _one_class(
                y[:, c].astype(np.intp),
                probs[:, c],
                method,
                per_class[c],
                int(min_examples_per_class),
                float(frac_noise),
            )
        for w in caught:  # the binary task's classes 0 / 1 are this tag's absent / present
            if issubclass(w.category, RuntimeWarning):
                continue
            text = (
                str(w.message)
                .replace("class 0", "untagged samples")
                .replace("class 1", "tagged samples")
            )
            warnings.warn(f"tag {c}: {text}", w.category, stacklevel=2)
        entry_mask[:, c], entry_scores[:, c], posterior[:, c], noise[c] = m, s, post, t
    if method == "noise_posterior":
        scores = np.prod(entry_scores, axis=1)
    else:
        scores = entry_scores.min(axis=1)
    mask = np.asarray(entry_mask.any(axis=1))
    flagged = np.flatnonzero(mask)
    ranked = flagged[np.argsort(scores[flagged], kind="stable")]
    suggested = np.where(entry_mask, 1 - y, y).astype(np.int8)
    return MultiLabelIssues(
        mask=mask,
        scores=scores,
        ranked=ranked,
        entry_mask=entry_mask,
        entry_scores=entry_scores,
        posterior=np.clip(posterior, 0.0, 1.0),
        suggested=suggested,
        labels=y,
        noise_matrices=noise,
        method=str(method),
    )
