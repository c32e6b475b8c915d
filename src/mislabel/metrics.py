"""Measure detection against known truth (per-class TP/FP/TN/FN, precision, recall, F1), and a
model's clean accuracy from a held-out split whose labels are noisy."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel._validation import check_labels, check_scalar
from mislabel.exceptions import InvalidInputError

__all__ = [
    "CleanAccuracyEstimate",
    "DetectionReport",
    "detection_report",
    "estimate_clean_accuracy",
    "precision_recall_f1",
]


def _as_mask(x: Any, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InvalidInputError(f"`{name}` must be a 1-D boolean mask; got shape {arr.shape}.")
    if arr.dtype != bool:
        if arr.dtype.kind in "iu" and set(np.unique(arr).tolist()) <= {0, 1}:
            arr = arr.astype(bool)
        else:
            raise InvalidInputError(
                f"`{name}` must be a boolean mask; got dtype {arr.dtype}. Pass issues.mask, "
                "not issues.ranked."
            )
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(f"`{name}` must have {n} entries; got {arr.shape[0]}.")
    return arr


def precision_recall_f1(predicted: Any, actual: Any) -> tuple[float, float, float]:
    """Precision, recall and F1 of a flag mask against the true error mask.

    Conventions: precision of no flags is 1.0 when there is no error else 0.0; recall with
    no errors is 1.0.
    """
    pred = _as_mask(predicted, "predicted")
    act = _as_mask(actual, "actual", pred.shape[0])
    tp = int(np.sum(pred & act))
    n_pred, n_act = int(pred.sum()), int(act.sum())
    precision = tp / n_pred if n_pred else float(n_act == 0)
    recall = tp / n_act if n_act else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class DetectionReport:
    """Detection quality against known truth.

    Attributes:
        tp, fp, tn, fn: overall counts (positive = "label is wrong").
        precision, recall, f1: overall.
        per_class: (K, 4) int array of TP, FP, TN, FN among the samples with each given label.
        per_class_precision, per_class_recall, per_class_f1: (K,) float (nan where undefined).
    """

    tp: int
    fp: int
    tn: int
    fn: int
    precision: float
    recall: float
    f1: float
    per_class: np.ndarray
    per_class_precision: np.ndarray
    per_class_recall: np.ndarray
    per_class_f1: np.ndarray

    def to_frame(self, class_names: Any = None) -> Any:
        """Per-class table as a pandas DataFrame."""
        import pandas as pd

        k = self.per_class.shape[0]
        return pd.DataFrame(
            {
                "class": list(range(k)) if class_names is None else list(class_names),
                "tp": self.per_class[:, 0],
                "fp": self.per_class[:, 1],
                "tn": self.per_class[:, 2],
                "fn": self.per_class[:, 3],
                "precision": self.per_class_precision,
                "recall": self.per_class_recall,
                "f1": self.per_class_f1,
            }
        )


def detection_report(
    flagged: Any, labels: Any, true_labels: Any, *, n_classes: int | None = None
) -> DetectionReport:
    """Compare a flag mask with the truth (``labels != true_labels``), overall and per class.

    Args:
        flagged: (n,) bool mask of flagged samples (e.g. ``issues.mask``).
        labels: (n,) given labels.
        true_labels: (n,) true labels.
        n_classes: number of classes (default: max label + 1).
    """
    labels = check_labels(labels, n_classes=n_classes)
    true_labels = check_labels(
        true_labels, n_classes=n_classes, n_samples=labels.shape[0], name="true_labels"
    )
    pred = _as_mask(flagged, "flagged", labels.shape[0])
    k = n_classes if n_classes is not None else int(max(labels.max(), true_labels.max())) + 1
    actual = labels != true_labels
    cells = np.stack([pred & actual, pred & ~actual, ~pred & ~actual, ~pred & actual], axis=1)
    per_class = np.stack(
        [np.bincount(labels, weights=cells[:, i], minlength=k).astype(int) for i in range(4)],
        axis=1,
    )
    tp, fp, tn, fn = (int(v) for v in cells.sum(axis=0))
    p, r, f = precision_recall_f1(pred, actual)
    with np.errstate(divide="ignore", invalid="ignore"):
        pc_p = per_class[:, 0] / (per_class[:, 0] + per_class[:, 1])
        pc_r = per_class[:, 0] / (per_class[:, 0] + per_class[:, 3])
        pc_f = 2 * pc_p * pc_r / (pc_p + pc_r)
    return DetectionReport(tp, fp, tn, fn, p, r, f, per_class, pc_p, pc_r, pc_f)


@dataclass(frozen=True)
class CleanAccuracyEstimate:
    """Estimated accuracy on the true labels, from noisy ones.

    Attributes:
        accuracy: the unbiased estimate (may leave [0, 1] on small sets; not clipped).
        std_error: its standard error (per-sample spread / sqrt(n); inf for one sample).
        noisy_accuracy: plain agreement with the given (noisy) labels, for comparison.
        n: held-out samples.
    """

    accuracy: float
    std_error: float
    noisy_accuracy: float
    n: int

    def __str__(self) -> str:
        return (
            f"estimated clean accuracy {self.accuracy:.1%} ± {self.std_error:.1%} "
            f"(agreement with the noisy labels {self.noisy_accuracy:.1%}, n = {self.n})"
        )


def estimate_clean_accuracy(
    labels: Any, predictions: Any, noise_matrix: Any, *, n_classes: int | None = None
) -> CleanAccuracyEstimate:
    r"""A model's accuracy on the *true* labels of a held-out set that only has noisy ones.

    With class-conditional noise T (``T[i, j] = P(given = j | true = i)``, rows = true class),
    the given label is independent of the prediction given the true class, so the joint of
    (given, predicted) is :math:`C = T^\top Q`, with Q the joint of (true, predicted), whose
    trace is the clean accuracy. Hence the unbiased per-sample estimate

    .. math:: \widehat{acc} = \frac1n \sum_i (T^{-1})_{\tilde y_i, \hat y_i}

    (the backward-corrected 0-1 loss of Patrini et al., CVPR 2017). With ``T = I`` it is the
    plain accuracy; under symmetric noise it ranks models as the noisy accuracy does, but
    on the right scale; under pair or class-dependent noise it can rank them differently.
    Use it to choose between recipes (mixup or not, one detection round or two, epochs) on a
    noisy validation split; compare the estimates with their ``std_error``.

    Args:
        labels: (n,) given (noisy) labels of the held-out samples.
        predictions: (n,) predicted classes (``pred_probs.argmax(1)``).
        noise_matrix: (K, K) P(given | true), rows summing to 1 and invertible, e.g.
            ``mislabel.estimate_noise(train_labels, oof_pred_probs).noise_matrix``.
        n_classes: K (default: the matrix's size).

    Example:
        >>> est = estimate_clean_accuracy(y_val_noisy, model.predict(X_val), T)  # doctest: +SKIP
        >>> print(est)  # doctest: +SKIP
    """
    from mislabel._validation import check_noise_matrix

    if n_classes is not None:
        check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2)
    t = check_noise_matrix(noise_matrix, n_classes=n_classes)
    k = t.shape[0]
    y = check_labels(labels, n_classes=k)
    pred = check_labels(predictions, n_classes=k, n_samples=y.shape[0], name="predictions")
    if y.shape[0] == 0:
        raise InvalidInputError("`labels` must hold at least one held-out sample; got none.")
    cond = float(np.linalg.cond(t))
    if not np.isfinite(cond) or cond > 1e8:
        raise InvalidInputError(
            f"`noise_matrix` must be invertible (condition number {cond:.3g}): a class whose "
            "labels carry no information about it leaves its accuracy undetermined."
        )
    values = np.linalg.inv(t)[y, pred]
    n = int(y.shape[0])
    se = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return CleanAccuracyEstimate(
        accuracy=float(values.mean()),
        std_error=se,
        noisy_accuracy=float(np.mean(y == pred)),
        n=n,
    )
