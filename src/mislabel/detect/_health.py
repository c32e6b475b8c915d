"""A one-look summary of a dataset's label health."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel._validation import check_class_names, check_labels, check_pred_probs, check_scalar
from mislabel.detect._counting import NoiseEstimate
from mislabel.detect._issues import estimate_noise, find_label_issues


@dataclass(frozen=True)
class HealthSummary:
    """Overall and per-class label quality.

    Attributes:
        noise: the :class:`NoiseEstimate` (matrices with rows = true class).
        n_samples, n_classes: sizes.
        estimated_noise_rate: estimated fraction of wrong labels.
        n_flagged: samples flagged by the default :func:`find_label_issues`.
        confused_pairs: list of dicts (given_label, true_label, count, share_of_given),
            most common confusion first.
        per_class: list of dicts per class: class, n_given, n_flagged, label_error_rate
            (share of the samples labelled k that are wrong), noise_rate (share of true-k samples
            labelled otherwise), mean_quality (mean label quality score; None for a class no
            sample is labelled with).
    """

    noise: NoiseEstimate
    n_samples: int
    n_classes: int
    estimated_noise_rate: float
    n_flagged: int
    confused_pairs: list[dict[str, Any]]
    per_class: list[dict[str, Any]]

    def __str__(self) -> str:
        lines = [
            f"{self.n_samples} samples, {self.n_classes} classes; estimated noise rate "
            f"{self.estimated_noise_rate:.1%}; {self.n_flagged} flagged.",
            "Most confused (given ← true): "
            + ", ".join(
                f"{p['given_label']}←{p['true_label']} ({p['count']})"
                for p in self.confused_pairs[:5]
            ),
        ]
        worst = sorted(self.per_class, key=lambda r: -r["label_error_rate"])[:5]
        lines.append(
            "Worst classes: "
            + ", ".join(f"{r['class']} ({r['label_error_rate']:.1%} wrong)" for r in worst)
        )
        return "\n".join(lines)


def health_summary(
    labels: Any,
    pred_probs: Any,
    *,
    class_names: Any = None,
    top_pairs: int = 10,
) -> HealthSummary:
    """Estimated noise rate, the most confused class pairs, and per-class quality.

    Args:
        labels: (n,) given labels.
        pred_probs: (n, n_classes) out-of-fold predicted probabilities.
        class_names: optional names used in the report instead of indices.
        top_pairs: how many confused pairs to list (an int >= 0).

    The ``mean_quality`` of a class that no sample carries as its given label is None.
    """
    pred_probs = check_pred_probs(pred_probs)
    n, k = pred_probs.shape
    labels = check_labels(labels, n_classes=k, n_samples=n)
    check_scalar(top_pairs, "top_pairs", kind=numbers.Integral, min_val=0)
    names = list(range(k)) if class_names is None else check_class_names(class_names, k)
    noise = estimate_noise(labels, pred_probs)
    issues = find_label_issues(labels, pred_probs)
    cj = noise.confident_joint
    given_counts = np.bincount(labels, minlength=k)
    pairs = []
    for true_k, given_k in zip(*np.nonzero(cj), strict=True):
        if true_k != given_k and cj[true_k, given_k] > 0:
            pairs.append(
                {
                    "given_label": names[given_k],
                    "true_label": names[true_k],
                    "count": int(cj[true_k, given_k]),
                    "share_of_given": float(cj[true_k, given_k] / max(given_counts[given_k], 1)),
                }
            )
    pairs.sort(key=lambda p: -p["count"])
    flagged = issues.per_class
    per_class = []
    for c in range(k):
        sel = labels == c
        per_class.append(
            {
                "class": names[c],
                "n_given": int(given_counts[c]),
                "n_flagged": int(flagged[c]),
                "label_error_rate": float(noise.per_label_error_rate[c]),
                "noise_rate": float(noise.per_class_noise_rate[c]),
                "mean_quality": float(issues.scores[sel].mean()) if sel.any() else None,
            }
        )
    return HealthSummary(
        noise=noise,
        n_samples=n,
        n_classes=k,
        estimated_noise_rate=noise.noise_rate,
        n_flagged=issues.n_issues,
        confused_pairs=pairs[:top_pairs],
        per_class=per_class,
    )
