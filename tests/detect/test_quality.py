"""The default method's detection quality on real data with known truth."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import mislabel
from mislabel.metrics import precision_recall_f1

cleanlab_filter = pytest.importorskip("cleanlab.filter", reason="cleanlab is the test oracle")


@pytest.mark.slow
def test_default_beats_cleanlab_default_on_every_cifar10_file(shared_data: Path) -> None:
    f1s = []
    for path in sorted((shared_data / "cl-cifar10-oof").glob("*.npz")):
        with np.load(path) as z:
            labels = z["noisy_labels"].astype(np.int64)
            truth = labels != z["true_labels"]
            pred_probs = z["pred_probs"]
        ours = mislabel.find_label_issues(labels, pred_probs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cleanlab_filter.find_label_issues(labels, pred_probs, n_jobs=1)
        f_ours = precision_recall_f1(ours.mask, truth)[2]
        f_theirs = precision_recall_f1(theirs, truth)[2]
        assert f_ours >= f_theirs, (path.name, f_ours, f_theirs)
        f1s.append(f_ours)
    assert np.mean(f1s) >= 0.82, f1s


@pytest.mark.slow
def test_known_noise_matrix_improves_detection(shared_data: Path) -> None:
    with np.load(shared_data / "cl-cifar10-oof" / "sparsity0.0_noise0.2.npz") as z:
        labels = z["noisy_labels"].astype(np.int64)
        true = z["true_labels"].astype(np.int64)
        pred_probs = z["pred_probs"]
    k = pred_probs.shape[1]
    t = np.zeros((k, k))
    np.add.at(t, (true, labels), 1)
    t /= t.sum(1, keepdims=True)
    estimated = mislabel.find_label_issues(labels, pred_probs)
    known = mislabel.find_label_issues(labels, pred_probs, noise_matrix=t)
    truth = labels != true
    assert precision_recall_f1(known.mask, truth)[2] > precision_recall_f1(estimated.mask, truth)[2]


def test_known_noise_rate_sets_the_count_on_digits() -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(1)
    given = y.copy()
    flip = rng.choice(y.size, 180, replace=False)
    given[flip] = (y[flip] + rng.integers(1, 10, 180)) % 10
    pred_probs = mislabel.cross_val_pred_probs(
        LogisticRegression(max_iter=500, C=0.05), x, given, cv=4, random_state=0
    )
    issues = mislabel.find_label_issues(given, pred_probs, noise_rate=0.1)
    assert issues.n_issues == 180
    p, r, f1 = precision_recall_f1(issues.mask, given != y)
    assert f1 > 0.8, (p, r, f1)
    # suggestions recover the true digit for most flagged true errors
    hit = issues.mask & (given != y)
    assert np.mean(issues.suggested[hit] == y[hit]) > 0.8
