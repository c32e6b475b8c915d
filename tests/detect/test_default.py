"""The pieces of the default detector: its noise matrix, its score and its cut."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mislabel
from mislabel.detect import _default as dflt


def _noisy_posterior(seed: int = 0, n: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from T and the exact noisy posterior ``pi @ T`` of sharp clean posteriors."""
    rng = np.random.default_rng(seed)
    t = np.array([[0.7, 0.3, 0.0], [0.0, 0.9, 0.1], [0.2, 0.0, 0.8]])
    true = rng.integers(0, 3, n)
    pi = np.full((n, 3), 0.01)
    pi[np.arange(n), true] = 0.98
    labels = np.array([rng.choice(3, p=t[c]) for c in true])
    return labels, pi @ t, t


def test_anchor_rows_are_the_noise_matrix_when_anchors_exist() -> None:
    _, p, t = _noisy_posterior()
    est = dflt.anchor_noise_matrix(p)
    np.testing.assert_allclose(est.sum(axis=1), 1.0)
    # every anchor of class i has pi = 0.98 at i and 0.01 elsewhere
    np.testing.assert_allclose(est, (np.full((3, 3), 0.01) + 0.97 * np.eye(3)) @ t, atol=1e-9)


def test_anchor_rows_are_the_same_when_read_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    _, p, _ = _noisy_posterior(n=3000)
    whole = dflt.anchor_noise_matrix(p)
    monkeypatch.setattr("mislabel._validation._CHUNK_BYTES", 1)
    np.testing.assert_allclose(dflt.anchor_noise_matrix(p), whole)


def test_scores_break_ties_by_the_given_labels_probability() -> None:
    wrong = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    sc = np.array([0.9, 0.6, 0.2, 0.1], dtype=np.float32)
    q = dflt.quality_scores(wrong, sc)
    assert q[0] > q[1] > q[2] > q[3]
    assert q.min() >= 0 and q.max() <= 1


@pytest.mark.parametrize(
    ("count", "expected_wrong", "joint", "out"),
    [
        (80, 90.0, 100, 80),  # posterior and joint agree: the expected-F1 count stands
        (40, 50.0, 100, 100),  # the posterior expects half the joint's count: the joint's
        (40, 70.0, 100, 70),  # in between: half-way
        (400, 300.0, 100, 125),  # never more than 1.25 times the joint's count
        (7, 3.0, 0, 7),  # no joint count: nothing to bound by
    ],
)
def test_the_cut_stays_within_what_the_joint_supports(
    count: int, expected_wrong: float, joint: int, out: int
) -> None:
    assert dflt.bounded_count(count, expected_wrong, joint) == out


def test_default_flags_at_most_the_bound_of_the_joint_count() -> None:
    labels, p, _ = _noisy_posterior(seed=1)
    issues = mislabel.find_label_issues(labels, p)
    joint = mislabel.estimate_noise(labels, p).n_issues
    assert 0 < issues.n_issues <= dflt.MAX_COUNT_RATIO * joint
    # a known noise matrix is trusted as given: no estimate, no bound
    known = mislabel.find_label_issues(labels, p, noise_matrix=np.eye(3) * 0.5 + 0.5 / 3)
    assert known.n_issues > 0


def _two_class(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """A rare class 1 (5 %) with 10 % flips both ways and a noisy posterior of some spread."""
    rng = np.random.default_rng(seed)
    true = (rng.random(n) < 0.05).astype(np.int64)
    labels = np.where(rng.random(n) < 0.1, 1 - true, true)
    logit = rng.normal(3.0 * (2 * true - 1), 1.5)
    p1 = 0.1 + 0.8 / (1 + np.exp(-logit))
    return labels, np.stack([1 - p1, p1], axis=1)


def test_two_classes_never_flag_the_models_most_probable_class() -> None:
    labels, p = _two_class()
    issues = mislabel.find_label_issues(labels, p)
    assert issues.n_issues > 0
    assert not np.any(issues.mask & (p.argmax(axis=1) == labels))
    # the count and the rate given by the user are kept as asked
    assert mislabel.find_label_issues(labels, p, n_issues=500).n_issues == 500


def test_two_classes_average_the_posteriors_with_and_without_the_inverse() -> None:
    from mislabel.detect._issues import noise_posterior

    labels, p = _two_class(seed=1)
    rows = np.arange(labels.size)
    ts = dflt.detection_noise_matrices(mislabel.estimate_noise(labels, p).noise_matrix, p)
    wrong = np.mean(
        [noise_posterior(labels, p, t, invert=inv)[0] for t in ts for inv in (True, False)], axis=0
    )
    q = mislabel.true_label_posterior(labels, p)
    np.testing.assert_allclose(q[rows, labels], 1 - wrong, atol=1e-5)
    scores = mislabel.label_quality_scores(labels, p, method="noise_posterior")
    np.testing.assert_allclose(scores, dflt.quality_scores(wrong, p[rows, labels]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(mislabel.find_label_issues(labels, p).prob_right), scores)


def _overlapping_two_class(seed: int = 0, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping classes, 10 % of the labels flipped, a model surer than the noise
    allows: the posterior expects far fewer wrong labels than the calibrated joint counts."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % 2
    x = rng.normal(size=n) + (2 * true - 1)
    labels = np.where(rng.random(n) < 0.1, 1 - true, true)
    p1 = 1 / (1 + np.exp(-1.3 * x))
    return labels, np.c_[1 - p1, p1]


def test_scores_rank_by_self_confidence_unless_the_noise_matrix_is_known() -> None:
    labels, p, t = _noisy_posterior(n=1500)
    rows = np.arange(labels.size)
    issues = mislabel.find_label_issues(labels, p)
    # an estimated noise matrix decides the flags, not the order: scores are p[y]
    np.testing.assert_allclose(issues.scores, p[rows, labels], rtol=1e-6)
    np.testing.assert_allclose(mislabel.label_quality_scores(labels, p), issues.scores)
    assert np.all(np.diff(issues.scores[issues.ranked]) >= 0)
    frame = issues.to_frame(only_issues=False)
    assert np.all(np.diff(frame["score"].to_numpy()) >= 0)
    # the posterior is kept as prob_right, the training weights
    assert issues.prob_right is not None
    np.testing.assert_allclose(issues.weights, np.clip(issues.prob_right, 0, 1))
    by_posterior = mislabel.find_label_issues(labels, p, rank_by="noise_posterior")
    np.testing.assert_array_equal(by_posterior.mask, issues.mask)
    np.testing.assert_allclose(by_posterior.scores, np.asarray(issues.prob_right))
    # a known noise matrix is trusted with the order too
    known = mislabel.find_label_issues(labels, p, noise_matrix=t)
    np.testing.assert_allclose(known.scores, np.asarray(known.prob_right))
    np.testing.assert_allclose(
        mislabel.label_quality_scores(labels, p, noise_matrix=t), known.scores, atol=1e-6
    )
    assert not np.allclose(known.scores, p[rows, labels], atol=1e-3)


def test_the_order_never_changes_the_flags() -> None:
    labels, p, _ = _noisy_posterior(seed=1, n=1200)
    base = mislabel.find_label_issues(labels, p)
    for rank_by in ("self_confidence", "normalized_margin", "noise_posterior"):
        other = mislabel.find_label_issues(labels, p, rank_by=rank_by)
        np.testing.assert_array_equal(other.mask, base.mask)
        assert set(other.ranked.tolist()) == set(np.flatnonzero(base.mask).tolist())


def _overlapping_three_class(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Three classes on a line, 10 % of the labels swapped with a neighbouring class, a model
    surer than the noise allows."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % 3
    centres = 2.0 * (np.arange(3) - 1)
    x = rng.normal(size=n) + centres[true]
    neighbour = np.where(true == 1, np.where(x > 0, 2, 0), 1)
    labels = np.where(rng.random(n) < 0.1, neighbour, true)
    logits = -0.5 * (x[:, None] - centres) ** 2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return labels, p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("make", [_overlapping_two_class, _overlapping_three_class])
def test_a_too_sure_posterior_leaves_the_flags_to_confident_learning(make: Any) -> None:
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    labels, p = make()
    est = mislabel.estimate_noise(labels, p)
    ts = dflt.detection_noise_matrices(est.noise_matrix, p)
    from mislabel.detect._issues import _mixture_posterior

    wrong, _ = _mixture_posterior(labels, p, ts, estimated=True)
    assert dflt.follows_joint(float(wrong.sum()), est.n_issues)
    issues = mislabel.find_label_issues(labels, p)
    # exactly what cleanlab flags by default: never worse than the reference there
    np.testing.assert_array_equal(issues.mask, cleanlab_filter.find_label_issues(labels, p))
    assert not np.any(issues.mask & (p.argmax(axis=1) == labels))
    # the order is still self-confidence
    assert np.all(np.diff(p[issues.ranked, labels[issues.ranked]]) >= 0)


def test_confident_learning_flags_only_where_the_posterior_is_far_too_sure() -> None:
    assert dflt.follows_joint(50.0, 100)
    assert dflt.follows_joint(60.0, 100)
    assert not dflt.follows_joint(70.0, 100)
    assert not dflt.follows_joint(0.0, 0)


def test_each_class_count_moves_toward_the_joints_count_in_it() -> None:
    # class 1: the posterior expects 30 wrong labels where the joint counts 100 (ratio 0.3):
    # all the way to the joint's count; class 0 agrees with the joint (20 vs 12): unchanged
    np.testing.assert_array_equal(
        dflt.class_counts(np.array([10, 50]), np.array([20.0, 30.0]), np.array([12, 100])),
        [10, 100],
    )
    # halfway through the agreement band: halfway to the joint's count; never down
    np.testing.assert_array_equal(
        dflt.class_counts(np.array([40, 30]), np.array([70.0, 1.0]), np.array([100, 5])),
        [70, 30],
    )
    assert dflt.balances_classes(2) and not dflt.balances_classes(3)
