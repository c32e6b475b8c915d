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


# --------------------------------------------------------------------------- clean accuracy


def _exact_noisy_set(q_counts: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (true i, predicted k) cell of ``q_counts`` given labels in exactly T[i]'s shares."""
    given, pred = [], []
    for i, k in np.ndindex(q_counts.shape):
        n_ik = int(q_counts[i, k])
        shares = np.rint(t[i] * n_ik).astype(int)
        assert shares.sum() == n_ik
        for j, c in enumerate(shares):
            given += [j] * c
            pred += [k] * c
    return np.array(given), np.array(pred)


def test_clean_accuracy_is_exact_when_the_labels_follow_t_exactly() -> None:
    from mislabel.metrics import estimate_clean_accuracy

    t = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.0, 0.4, 0.6]])
    q = np.array([[50, 10, 0], [20, 60, 10], [0, 30, 40]]) * 10  # true × predicted counts
    given, pred = _exact_noisy_set(q, t)
    est = estimate_clean_accuracy(given, pred, t)
    assert est.accuracy == pytest.approx(np.trace(q) / q.sum(), abs=1e-12)
    assert est.noisy_accuracy == pytest.approx(np.mean(given == pred))
    assert est.noisy_accuracy < est.accuracy  # the noisy labels undersell the model
    assert est.n == q.sum() and est.std_error > 0


def test_clean_accuracy_with_identity_is_plain_accuracy() -> None:
    from mislabel.metrics import estimate_clean_accuracy

    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    est = estimate_clean_accuracy(y, pred, np.eye(4))
    assert est.accuracy == pytest.approx(np.mean(y == pred))


def test_clean_accuracy_of_a_real_model_from_noisy_validation_labels() -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from mislabel.metrics import estimate_clean_accuracy
    from mislabel.noise import flip_symmetric

    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X / 16.0, y, test_size=0.5, random_state=0)
    model = LogisticRegression(max_iter=2000).fit(X_tr, y_tr)
    pred = model.predict(X_va)
    noisy = flip_symmetric(y_va, 0.4, n_classes=10, random_state=0)
    est = estimate_clean_accuracy(noisy.labels, pred, noisy.noise_matrix)
    clean = float(np.mean(pred == y_va))
    # the noisy labels read the model ~40 points worse; the estimate recovers the truth
    assert est.noisy_accuracy < clean - 0.3
    assert abs(est.accuracy - clean) < 3 * est.std_error
    assert abs(est.accuracy - clean) < 0.05


@pytest.mark.parametrize(
    ("t", "match"),
    [
        (np.full((3, 3), 1 / 3), "must be invertible"),
        (np.array([[0.9, 0.5, 0.0], [0.1, 0.5, 0.0], [0.0, 0.0, 1.0]]), "transpose"),
        (np.eye(2), "shape"),
    ],
)
def test_clean_accuracy_bad_noise_matrix(t: np.ndarray, match: str) -> None:
    from mislabel.metrics import estimate_clean_accuracy

    with pytest.raises(InvalidInputError, match=match):
        estimate_clean_accuracy([0, 1, 2], [0, 1, 1], t, n_classes=3)


def test_clean_accuracy_bad_predictions_named() -> None:
    from mislabel.metrics import estimate_clean_accuracy

    with pytest.raises(InvalidInputError, match="predictions"):
        estimate_clean_accuracy([0, 1, 2], [0, 1], np.eye(3))
