"""neighbor_label_probs: the given labels' distribution among each sample's nearest others."""

from __future__ import annotations

import numpy as np
import pytest

import mislabel
from mislabel.exceptions import InvalidInputError, InvalidParameterError


def _brute_force(x: np.ndarray, labels: np.ndarray, k: int, n_classes: int, s: float) -> np.ndarray:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    dist = 1.0 - unit @ unit.T
    np.fill_diagonal(dist, np.inf)  # never one's own neighbour
    out = np.zeros((x.shape[0], n_classes))
    for i in range(x.shape[0]):
        for j in np.argsort(dist[i], kind="stable")[:k]:
            out[i, labels[j]] += 1
    return (out + s) / (k + n_classes * s)


def test_matches_a_brute_force_count_of_the_cosine_neighbours() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    labels = rng.integers(0, 4, size=120)
    got = mislabel.neighbor_label_probs(x, labels, n_neighbors=7, n_classes=5, smoothing=0.5)
    assert got.shape == (120, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, _brute_force(x, labels, 7, 5, 0.5), atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    # scale does not matter (cosine): a sample's length is not its identity
    scaled = mislabel.neighbor_label_probs(
        x * rng.uniform(0.1, 10, size=(120, 1)), labels, n_neighbors=7, n_classes=5, smoothing=0.5
    )
    np.testing.assert_allclose(scaled, got, atol=1e-6)


def test_a_sample_never_votes_for_its_own_label_even_among_duplicates() -> None:
    # two identical points with different labels, far from two others
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = np.array([0, 1, 2, 2])
    got = mislabel.neighbor_label_probs(x, labels, n_neighbors=1, smoothing=1e-6)
    assert got[0].argmax() == 1 and got[1].argmax() == 0  # each sees the other one
    assert got[2].argmax() == 2 and got[3].argmax() == 2


def test_flags_flipped_digits_without_training_a_model() -> None:
    from sklearn.datasets import load_digits

    from mislabel.metrics import precision_recall_f1
    from mislabel.noise import flip_symmetric

    X, y = load_digits(return_X_y=True)
    noisy = flip_symmetric(y, 0.2, n_classes=10, random_state=0).labels
    probs = mislabel.neighbor_label_probs(X, noisy, n_neighbors=10)
    issues = mislabel.find_label_issues(noisy, probs)
    p, r, f1 = precision_recall_f1(issues.mask, noisy != y)
    # on raw pixels: precision 1.00, recall 0.83, F1 0.90 when written (5-fold logistic
    # regression: F1 0.91)
    assert p > 0.95 and r > 0.75 and f1 > 0.85


def test_bad_input_names_what_is_wrong() -> None:
    x = np.zeros((10, 3)) + np.arange(10)[:, None]
    labels = np.arange(10) % 2
    with pytest.raises(InvalidInputError, match=r"`features` must have shape \(n_samples"):
        mislabel.neighbor_label_probs(x.ravel(), labels)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="`features` must be finite"):
        mislabel.neighbor_label_probs(bad, labels, n_neighbors=3)
    with pytest.raises(InvalidInputError, match=r"`n_neighbors` must be below .* \(10\); got 10"):
        mislabel.neighbor_label_probs(x, labels, n_neighbors=10)
    with pytest.raises(InvalidInputError, match=r"one entry per sample \(10\); got 9"):
        mislabel.neighbor_label_probs(x, labels[:9], n_neighbors=3)
    with pytest.raises(InvalidParameterError, match="`n_neighbors` must be >= 1"):
        mislabel.neighbor_label_probs(x, labels, n_neighbors=0)
    with pytest.raises(InvalidParameterError, match="`smoothing` must be > 0"):
        mislabel.neighbor_label_probs(x, labels, n_neighbors=3, smoothing=0.0)
