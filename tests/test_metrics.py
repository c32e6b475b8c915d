from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from mislabel import InvalidInputError
from mislabel.metrics import detection_report, precision_recall_f1


def test_matches_sklearn_and_per_class_counts_add_up() -> None:
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, 500)
    given = np.where(rng.random(500) < 0.2, rng.integers(0, 5, 500), true)
    flagged = (given != true) ^ (rng.random(500) < 0.1)
    rep = detection_report(flagged, given, true)
    actual = given != true
    assert rep.precision == pytest.approx(precision_score(actual, flagged))
    assert rep.recall == pytest.approx(recall_score(actual, flagged))
    assert rep.f1 == pytest.approx(f1_score(actual, flagged))
    assert rep.per_class.sum(axis=0).tolist() == [rep.tp, rep.fp, rep.tn, rep.fn]
    assert rep.tp + rep.fp + rep.tn + rep.fn == 500
    c = 3
    sel = given == c
    assert rep.per_class[c, 0] == np.sum(flagged[sel] & actual[sel])
    assert len(rep.to_frame()) == 5


def test_edge_conventions_and_errors() -> None:
    assert precision_recall_f1(np.zeros(3, bool), np.zeros(3, bool)) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(np.zeros(3, bool), np.array([1, 0, 0], bool))[2] == 0.0
    msg = r"boolean mask; got dtype int64\. Pass issues\.mask"
    with pytest.raises(InvalidInputError, match=msg):
        precision_recall_f1(np.array([0, 5]), np.array([True, False]))
    with pytest.raises(InvalidInputError, match="must have 2 entries; got 3"):
        precision_recall_f1(np.array([True, False]), np.array([True, False, True]))
