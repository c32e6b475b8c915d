"""Find wrong labels: out-of-fold probabilities, scores, counting, issues."""

from __future__ import annotations

from mislabel.detect._counting import NoiseEstimate
from mislabel.detect._embedding import embedding_pred_probs
from mislabel.detect._health import HealthSummary, health_summary
from mislabel.detect._issues import (
    CL_METHODS,
    DEFAULT_METHOD,
    METHODS,
    LabelIssues,
    estimate_noise,
    expected_f1_cutoff,
    find_label_issues,
    true_label_posterior,
)
from mislabel.detect._knn import neighbor_label_probs
from mislabel.detect._oof import cross_val_pred_probs
from mislabel.detect._scores import DEFAULT_SCORE_METHOD, SCORE_METHODS, label_quality_scores

__all__ = [
    "CL_METHODS",
    "DEFAULT_METHOD",
    "DEFAULT_SCORE_METHOD",
    "METHODS",
    "SCORE_METHODS",
    "HealthSummary",
    "LabelIssues",
    "NoiseEstimate",
    "cross_val_pred_probs",
    "embedding_pred_probs",
    "estimate_noise",
    "expected_f1_cutoff",
    "find_label_issues",
    "health_summary",
    "label_quality_scores",
    "neighbor_label_probs",
    "true_label_posterior",
]
