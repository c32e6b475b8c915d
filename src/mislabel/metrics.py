"""Measure detection against known truth: per-class TP/FP/TN/FN, precision, recall, F1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel._validation import check_labels
from mislabel.exceptions import InvalidInputError

__all__ = ["DetectionReport", "detection_report", "precision_recall_f1"]


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
    labels = check_labels(labels)
    true_labels = check_labels(true_labels, n_samples=labels.shape[0], name="true_labels")
    pred = _as_mask(flagged, "flagged", labels.shape[0])
    k = n_classes or int(max(labels.max(), true_labels.max())) + 1
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
