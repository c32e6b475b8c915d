"""embedding_pred_probs: fixed features judged by a neighbour vote and a k-fold head, refined."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import mislabel
from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.metrics import precision_recall_f1


def _digits(kind: str, rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits' 64 pixel features as fixed features; ``rate`` of the labels made wrong, either
    to a random other class or each class to the next (pair noise)."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    noisy = y.copy()
    flip = rng.random(y.size) < rate
    shift = rng.integers(1, 10, flip.sum()) if kind == "uniform" else 1
    noisy[flip] = (y[flip] + shift) % 10
    return X, noisy, y


def _f1(labels: np.ndarray, probs: np.ndarray, truth: np.ndarray) -> float:
    mask = mislabel.find_label_issues(labels, probs).mask
    return float(precision_recall_f1(mask, labels != truth)[2])


def test_finds_random_flips() -> None:
    X, noisy, y = _digits("uniform", 0.2)
    probs = mislabel.embedding_pred_probs(X, noisy, random_state=0)
    assert probs.shape == (X.shape[0], 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert _f1(noisy, probs, y) >= 0.93


def test_rounds_undo_heavy_pair_noise_better_than_cleanlab_on_a_kfold_head() -> None:
    cleanlab = pytest.importorskip("cleanlab.filter")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, noisy, y = _digits("pair", 0.4)
    one = mislabel.embedding_pred_probs(X, noisy, rounds=1, random_state=0)
    refined = mislabel.embedding_pred_probs(X, noisy, random_state=0)
    assert _f1(noisy, refined, y) >= 0.95
    assert _f1(noisy, refined, y) > _f1(noisy, one, y) + 0.03
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    oof = mislabel.cross_val_pred_probs(head, X, noisy, cv=5, random_state=0)
    theirs = precision_recall_f1(cleanlab.find_label_issues(noisy, oof), noisy != y)[2]
    assert _f1(noisy, refined, y) > theirs + 0.1


def test_same_seed_same_probabilities_and_a_known_noise_rate_sets_the_count() -> None:
    X, noisy, _ = _digits("uniform", 0.2)
    a = mislabel.embedding_pred_probs(X, noisy, random_state=3)
    np.testing.assert_array_equal(a, mislabel.embedding_pred_probs(X, noisy, random_state=3))
    known = mislabel.embedding_pred_probs(X, noisy, noise_rate=0.2, random_state=0)
    flagged = int(mislabel.find_label_issues(noisy, known, noise_rate=0.2).mask.sum())
    assert abs(flagged - round(0.2 * X.shape[0])) <= 2


def test_bad_input_names_the_argument() -> None:
    X, noisy, _ = _digits("uniform", 0.2)
    bad = X.copy()
    bad[5, 3] = np.nan
    with pytest.raises(InvalidInputError, match="finite"):
        mislabel.embedding_pred_probs(bad, noisy)
    with pytest.raises(InvalidInputError, match=r"\(n_samples, n_features\)"):
        mislabel.embedding_pred_probs(X.reshape(-1, 2, 4, 8), noisy)
    with pytest.raises(InvalidInputError, match="labels"):
        mislabel.embedding_pred_probs(X, noisy[:-1])
    images = (X.reshape(-1, 8, 8) * 16).astype(np.uint8)  # grey images, not embeddings
    with pytest.raises(InvalidInputError, match="Images\\? Embed them first"):
        mislabel.embedding_pred_probs(images, noisy)
    with pytest.raises(InvalidParameterError, match="rounds"):
        mislabel.embedding_pred_probs(X, noisy, rounds=0)
    with pytest.raises(InvalidParameterError, match="noise_rate"):
        mislabel.embedding_pred_probs(X, noisy, noise_rate=float("nan"))


def test_several_views_are_judged_by_their_mean() -> None:
    X, noisy, _ = _digits("uniform", 0.2)
    shift = np.random.default_rng(1).normal(0.0, 4.0, X.shape)
    views = np.stack([X + shift, X - shift], axis=1)  # (n, 2, 64), mean X
    probs = mislabel.embedding_pred_probs(views, noisy, random_state=0)
    of_mean = mislabel.embedding_pred_probs(X, noisy, random_state=0)
    np.testing.assert_allclose(probs, of_mean, atol=1e-9)
    mask = mislabel.find_label_issues(noisy, probs).mask
    np.testing.assert_array_equal(mask, mislabel.find_label_issues(noisy, of_mean).mask)
    one_view = mislabel.embedding_pred_probs(views[:, 0], noisy, random_state=0)
    assert not np.allclose(probs, one_view, atol=1e-3)
