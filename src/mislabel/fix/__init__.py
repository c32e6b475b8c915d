"""Act on issues: remove or relabel the flagged samples, and export the result.

:func:`apply_policy` takes a :class:`~mislabel.LabelIssues` (or the ``issues.csv`` table of
``mislabel find``) and returns :class:`CleanedLabels`, which writes the cleaned labels and a
change log atomically.
"""

from __future__ import annotations

from mislabel.fix._policy import (
    POLICIES,
    CleanedInput,
    CleanedLabels,
    Policy,
    apply_policy,
    load_cleaned,
    load_cleaned_labels,
)

__all__ = [
    "POLICIES",
    "CleanedInput",
    "CleanedLabels",
    "Policy",
    "apply_policy",
    "load_cleaned",
    "load_cleaned_labels",
]
