"""mislabel.multilabel.find_label_issues: inputs, result, errors, out-of-fold probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mislabel import InvalidInputError, InvalidParameterError
from mislabel.multilabel import (
    MultiLabelIssues,
    cross_val_multilabel_pred_probs,
    find_label_issues,
)


def make_data(n: int = 600, k: int = 5, flip: float = 0.05, seed: int = 0):
    """True tags, noisy tags (``flip`` of the entries flipped) and out-of-fold probabilities
    of a one-vs-rest logistic regression on features made from the true tags."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    rng = np.random.default_rng(seed)
    true = (rng.random((n, k)) < 0.3).astype(int)
    x = true @ rng.normal(0, 1.5, (k, 10)) + rng.normal(0, 1.0, (n, 10))
    noisy = np.where(rng.random((n, k)) < flip, 1 - true, true)
    probs = cross_val_multilabel_pred_probs(
        OneVsRestClassifier(LogisticRegression()), x, noisy, cv=4, random_state=0
    )
    return x, true, noisy, probs


@pytest.fixture(scope="module")
def data():
    return make_data()


def test_result_is_consistent(data):
    _, true, noisy, probs = data
    res = find_label_issues(noisy, probs)
    assert isinstance(res, MultiLabelIssues)
    n, k = noisy.shape
    assert res.entry_mask.shape == res.entry_scores.shape == res.posterior.shape == (n, k)
    np.testing.assert_array_equal(res.mask, res.entry_mask.any(axis=1))
    np.testing.assert_array_equal(res.suggested, np.where(res.entry_mask, 1 - noisy, noisy))
    assert np.all((res.scores >= 0) & (res.scores <= 1))
    assert np.all(np.diff(res.scores[res.ranked]) >= 0)
    assert set(res.ranked) == set(np.flatnonzero(res.mask))
    assert res.noise_matrices.shape == (k, 2, 2)
    np.testing.assert_allclose(res.noise_matrices.sum(axis=2), 1.0, atol=1e-6)
    # suspects are mostly real errors, and fixing them brings the tags closer to the truth
    wrong = noisy != true
    assert wrong[res.entry_mask].mean() > 0.5
    assert (res.suggested != true).sum() < wrong.sum()
    # estimated per-class noise rates near the flip rate (5 %)
    assert np.all(res.false_tag_rate < 0.2) and np.all(res.missing_rate < 0.3)


def test_scores_rank_wrong_samples_first(data):
    from sklearn.metrics import roc_auc_score

    _, true, noisy, probs = data
    res = find_label_issues(noisy, probs)
    wrong = (noisy != true).any(axis=1)
    assert roc_auc_score(wrong, -res.scores) > 0.8
    entry_wrong = (noisy != true).ravel()
    assert roc_auc_score(entry_wrong, -res.entry_scores.ravel()) > 0.8


def test_label_formats_agree(data):
    _, _, noisy, probs = data
    base = find_label_issues(noisy, probs)
    lists = [np.flatnonzero(r).tolist() for r in noisy]
    for other in (
        lists,
        [set(r) for r in lists],
        noisy.astype(bool),
        pd.DataFrame(noisy),
        [list(r) for r in noisy],
    ):
        res = find_label_issues(other, pd.DataFrame(probs) if other is lists else probs)
        np.testing.assert_array_equal(res.mask, base.mask)
        np.testing.assert_array_equal(res.entry_mask, base.entry_mask)


def test_same_input_same_answer_and_permutation(data):
    _, _, noisy, probs = data
    a = find_label_issues(noisy, probs)
    perm = np.random.default_rng(1).permutation(noisy.shape[0])
    b = find_label_issues(noisy[perm], probs[perm])
    np.testing.assert_array_equal(a.entry_mask[perm], b.entry_mask)
    np.testing.assert_allclose(a.scores[perm], b.scores, rtol=1e-6)


def test_frames(data):
    _, _, noisy, probs = data
    res = find_label_issues(noisy, probs)
    frame = res.to_frame()
    assert len(frame) == res.n_issues
    assert list(frame.columns) == [
        "index",
        "given_tags",
        "suggested_tags",
        "missing_tags",
        "wrong_tags",
        "score",
        "is_issue",
    ]
    row = frame.iloc[0]
    i = int(row["index"])
    assert row["given_tags"] == np.flatnonzero(noisy[i]).tolist()
    assert set(row["missing_tags"]) | set(row["wrong_tags"]) == set(
        np.flatnonzero(res.entry_mask[i])
    )
    named = res.to_frame(class_names=list("abcde"))
    assert all(isinstance(t, str) for tags in named["given_tags"] for t in tags)
    classes = res.classes_frame()
    assert classes["n_given"].tolist() == noisy.sum(axis=0).tolist()
    assert (classes["n_missing_suspect"] + classes["n_wrong_suspect"]).sum() == res.entry_mask.sum()
    assert res.suggested_lists()[i] == np.flatnonzero(res.suggested[i]).tolist()
    assert "MultiLabelIssues(" in repr(res)


def test_constant_class_is_not_flagged():
    probs = np.random.default_rng(0).random((50, 3))
    labels = np.zeros((50, 3), dtype=int)
    labels[:25, 0] = 1
    res = find_label_issues(labels, probs)
    assert not res.entry_mask[:, 1:].any()
    np.testing.assert_array_equal(res.noise_matrices[1], np.eye(2))


@pytest.mark.parametrize(
    ("labels", "probs", "match"),
    [
        (
            np.zeros((4, 3)),
            np.full((4, 2), 0.5),
            r"`labels` must have shape \(n_samples, n_classes\) = \(4, 2\)",
        ),
        (np.full((4, 2), 2), np.full((4, 2), 0.5), r"indicator matrix must hold only 0 and 1"),
        ([[0], [3]], np.full((2, 3), 0.5), r"class indices in \[0, 3\); got 3"),
        ([["cat"], ["dog"]], np.full((2, 2), 0.5), r"tag lists must hold integer class indices"),
        ([[0], [-1]], np.full((2, 2), 0.5), r"indices >= 0"),
        (np.array([0, 1, 1]), np.full((3, 2), 0.5), r"indicator matrix or a list of tag lists"),
        (np.zeros((3, 2)), np.full((3, 2), 1.5), r"probabilities in \[0, 1\]; got 1\.5.*sigmoid"),
        (np.zeros((3, 2)), np.full((3, 1), 0.5), r"n_classes >= 2"),
        (np.zeros((3, 2)), np.array([[0.1, np.nan]] * 3), r"must be finite"),
        (np.zeros((4, 2)), np.full((3, 2), 0.5), r"one row per row of `pred_probs` \(3\)"),
    ],
)
def test_bad_input(labels, probs, match):
    with pytest.raises(InvalidInputError, match=match):
        find_label_issues(labels, probs)


def test_bad_parameters(data):
    _, _, noisy, probs = data
    with pytest.raises(InvalidParameterError, match="`method` must be one of"):
        find_label_issues(noisy, probs, method="vote")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"`n_issues_per_class` must be 5 non-negative"):
        find_label_issues(noisy, probs, n_issues_per_class=[1, 2])
    with pytest.raises(InvalidParameterError, match="`frac_noise` must be <= 1"):
        find_label_issues(noisy, probs, frac_noise=2.0)


def test_cross_val_multilabel_pred_probs_estimators(data):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier

    x, _, noisy, _ = data
    for est in (
        RandomForestClassifier(n_estimators=10),
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=50),
    ):
        a = cross_val_multilabel_pred_probs(est, x, noisy, cv=3, random_state=2)
        b = cross_val_multilabel_pred_probs(est, x, noisy, cv=3, random_state=2)
        assert a.shape == noisy.shape and np.all((a >= 0) & (a <= 1))
        np.testing.assert_array_equal(a, b)


class _SingleColumn:
    """An estimator that returns one probability column whatever the target."""

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params: object) -> _SingleColumn:
        return self

    def fit(self, x: np.ndarray, y: np.ndarray) -> _SingleColumn:
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.full((len(x), 1), 0.5)


def test_cross_val_multilabel_pred_probs_errors(data):
    from sklearn.linear_model import LogisticRegression

    x, _, noisy, _ = data
    with pytest.raises(InvalidInputError, match=r"one row per sample of `labels` \(600\)"):
        cross_val_multilabel_pred_probs(LogisticRegression(), x[:10], noisy)
    with pytest.raises(InvalidInputError, match="OneVsRestClassifier"):
        cross_val_multilabel_pred_probs(_SingleColumn(), x, noisy, cv=2)
    with pytest.raises(InvalidParameterError, match="`cv` must be an int >= 2"):
        cross_val_multilabel_pred_probs(LogisticRegression(), x, noisy, cv="five")
