"""Detection API: results, bad input, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mislabel
from mislabel import InvalidInputError, InvalidParameterError
from mislabel.detect import METHODS, SCORE_METHODS
from mislabel.detect._default import TIE_BREAK


def _case(n: int = 300, k: int = 4, noise: float = 0.2, seed: int = 0):
    rng = np.random.default_rng(seed)
    true = np.arange(n) % k
    labels = true.copy()
    flip = rng.random(n) < noise
    labels[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    logits = rng.normal(size=(n, k)) + 3 * np.eye(k)[true]
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    return labels, p, true


def test_result_fields_are_consistent() -> None:
    labels, p, _ = _case()
    res = mislabel.find_label_issues(labels, p)
    assert res.mask.dtype == bool and res.mask.shape == labels.shape
    assert set(res.ranked.tolist()) == set(np.flatnonzero(res.mask).tolist())
    assert np.all(np.diff(res.scores[res.ranked]) >= -1e-12), "ranked is most suspect first"
    assert np.all(res.suggested[res.mask] != labels[res.mask])
    assert np.all(res.suggested[~res.mask] == labels[~res.mask])
    assert res.per_class.sum() == res.n_issues
    frame = res.to_frame()
    assert list(frame["index"]) == res.ranked.tolist()
    assert set(frame.columns) >= {"given_label", "suggested_label", "score", "is_issue"}
    with pytest.raises(AttributeError):
        res.mask = res.mask  # type: ignore[misc]  # frozen


def test_finds_most_flipped_labels() -> None:
    labels, p, true = _case(n=2000)
    res = mislabel.find_label_issues(labels, p)
    wrong = labels != true
    recall = (res.mask & wrong).sum() / wrong.sum()
    precision = (res.mask & wrong).sum() / res.mask.sum()
    assert recall > 0.8 and precision > 0.8


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_and_flags_something(method: str) -> None:
    labels, p, _ = _case(n=800)
    res = mislabel.find_label_issues(labels, p, method=method)
    assert 0 < res.n_issues < labels.size
    assert res.method == method


def test_true_label_posterior_is_the_soft_clean_label() -> None:
    labels, p, true = _case(n=2000, noise=0.3)
    q = mislabel.true_label_posterior(labels, p)
    assert q.shape == p.shape and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-5)
    assert q.min() >= 0
    # its column y is the posterior label-quality score, P(given label is right), whose ties
    # are broken by the self-confidence with weight TIE_BREAK, and the default's prob_right
    rows = np.arange(labels.size)
    w = TIE_BREAK
    expected = (1 - w) * q[rows, labels] + w * p[rows, labels]
    scores = mislabel.label_quality_scores(labels, p, method="noise_posterior")
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    prob_right = mislabel.find_label_issues(labels, p).prob_right
    np.testing.assert_allclose(np.asarray(prob_right), expected, atol=1e-5)
    # its argmax recovers the true class of most wrong labels, and keeps most right ones
    wrong = labels != true
    # (these probabilities are the clean posterior, a model that learned none of the noise:
    # the anchor rows of the detector's noise matrix are then clean, and it is less sure)
    assert np.mean(q[wrong].argmax(1) == true[wrong]) > 0.75
    assert np.mean(q[~wrong].argmax(1) == labels[~wrong]) > 0.9
    # no noise (T = I): the given label, exactly
    np.testing.assert_array_equal(
        mislabel.true_label_posterior(labels, p, noise_matrix=np.eye(4)), np.eye(4)[labels]
    )


def test_noise_rate_and_n_issues_set_the_count() -> None:
    labels, p, _ = _case(n=1000)
    assert mislabel.find_label_issues(labels, p, noise_rate=0.1).n_issues == 100
    assert mislabel.find_label_issues(labels, p, n_issues=37).n_issues == 37
    low = mislabel.find_label_issues(labels, p, method="prune_by_noise_rate", noise_rate=0.05)
    high = mislabel.find_label_issues(labels, p, method="prune_by_noise_rate", noise_rate=0.3)
    assert low.n_issues < high.n_issues


def test_known_noise_matrix_is_used() -> None:
    labels, p, _ = _case(n=600)
    k = p.shape[1]
    t = np.full((k, k), 0.2 / (k - 1))
    np.fill_diagonal(t, 0.8)
    res = mislabel.find_label_issues(labels, p, noise_matrix=t)
    np.testing.assert_allclose(res.noise_matrix, t)
    with pytest.raises(InvalidInputError, match=r"rows .* must each sum to 1"):
        mislabel.find_label_issues(labels, p, noise_matrix=t.T * 2)
    with pytest.raises(InvalidInputError, match=r"shape \(n_classes, n_classes\) = \(4, 4\)"):
        mislabel.find_label_issues(labels, p, noise_matrix=np.eye(3))


def test_estimate_noise_shapes_and_conventions() -> None:
    labels, p, true = _case(n=3000, noise=0.2)
    est = mislabel.estimate_noise(labels, p)
    np.testing.assert_allclose(est.noise_matrix.sum(1), 1.0)
    np.testing.assert_allclose(est.inverse_noise_matrix.sum(1), 1.0)
    assert est.confident_joint.sum() == labels.size
    np.testing.assert_array_equal(est.confident_joint.sum(0), np.bincount(labels))
    assert abs(est.noise_rate - np.mean(labels != true)) < 0.06


def test_health_summary_reports_confusions() -> None:
    labels, p, _ = _case(n=1000)
    h = mislabel.health_summary(labels, p, class_names=["a", "b", "c", "d"])
    assert 0 < h.estimated_noise_rate < 0.5
    assert h.confused_pairs and h.confused_pairs[0]["count"] >= h.confused_pairs[-1]["count"]
    assert [r["class"] for r in h.per_class] == ["a", "b", "c", "d"]
    assert "estimated noise rate" in str(h)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("labels", "pred_probs", "match"),
    [
        (np.array(["a", "b"]), np.full((2, 2), 0.5), "integer class indices; got dtype"),
        (np.array([0.5, 1.0]), np.full((2, 2), 0.5), "float values such as"),
        (np.array([0, 2]), np.full((2, 2), 0.5), r"in \[0, 2\); got 2"),
        (np.array([0, -1]), np.full((2, 2), 0.5), "negative value -1"),
        (np.array([0, 1, 1]), np.full((2, 2), 0.5), "one entry per sample"),
        (np.array([[0, 1]]), np.full((2, 2), 0.5), "1-D array"),
        (np.array([0, 1]), np.array([[np.nan, 1], [0.5, 0.5]]), "finite probabilities; got nan"),
        (np.array([0, 1]), np.array([[np.inf, 0], [0.5, 0.5]]), "finite probabilities; got inf"),
        (np.array([0, 1]), np.array([[-0.1, 1.1], [0.5, 0.5]]), "non-negative.*logits"),
        (np.array([0, 1]), np.array([[0.9, 0.9], [0.5, 0.5]]), "row 0 sums to 1.8"),
        (np.array([0, 1, 2]), np.full((3, 2), 0.5), r"got 2\. Does `pred_probs` have"),
        (np.array([0, 0]), np.full((2, 2), 0.5), "at least 2 distinct classes"),
        (np.array([], dtype=int), np.zeros((0, 2)), "must not be empty"),
        (np.array([0, 1]), np.full((2,), 0.5), r"shape \(n_samples, n_classes\); got shape"),
    ],
)
def test_bad_input_is_named(labels, pred_probs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        mislabel.find_label_issues(labels, pred_probs)
    if "distinct classes" in match:
        return  # scores are defined for one class
    for method in SCORE_METHODS:
        with pytest.raises(InvalidInputError, match=match):
            mislabel.label_quality_scores(labels, pred_probs, method=method)
    with pytest.raises(InvalidInputError, match=match):
        mislabel.true_label_posterior(labels, pred_probs)


def test_fewer_columns_than_classes_is_named() -> None:
    with pytest.raises(InvalidInputError, match="Did you drop a class column"):
        mislabel.metrics  # noqa: B018
        from mislabel._validation import check_pred_probs

        check_pred_probs(np.full((4, 2), 0.5), n_classes=3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "magic"}, "`method` must be one of"),
        ({"noise_rate": 1.5}, "`noise_rate` must be < 1.0"),
        ({"noise_rate": "10%"}, "`noise_rate` must be Real"),
        ({"n_issues": -1}, "`n_issues` must be >= 0"),
        ({"noise_rate": 0.1, "n_issues": 3}, "at most one of `noise_rate` and `n_issues`"),
        ({"rank_by": "entropy"}, "`rank_by` must be one of"),
    ],
)
def test_bad_parameters_are_named(kwargs, match) -> None:
    labels, p, _ = _case(n=50)
    with pytest.raises(InvalidParameterError, match=match):
        mislabel.find_label_issues(labels, p, **kwargs)


def test_low_precision_input_is_not_copied_to_float64(monkeypatch) -> None:
    labels, p, _ = _case(n=400)
    p16 = p.astype(np.float16)
    from mislabel import _validation

    checked = _validation.check_pred_probs(p16)
    assert checked is p16
    res = mislabel.find_label_issues(labels, p16)
    assert res.n_issues > 0


# ---------------------------------------------------------------------------- properties


@st.composite
def _problems(draw):
    k = draw(st.integers(2, 6))
    n = draw(st.integers(k * 2, 80))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)
    p = rng.dirichlet(np.full(k, draw(st.floats(0.1, 3.0))), size=n)
    return labels, p, seed


@settings(max_examples=60, deadline=None)
@given(_problems(), st.sampled_from(SCORE_METHODS))
def test_scores_are_in_unit_range(problem, method) -> None:
    labels, p, _ = problem
    s = mislabel.label_quality_scores(labels, p, method=method)
    assert s.shape == labels.shape
    assert np.all((s >= -1e-12) & (s <= 1 + 1e-12))


@settings(max_examples=40, deadline=None)
@given(_problems(), st.sampled_from(METHODS))
def test_flags_are_permutation_invariant(problem, method) -> None:
    labels, p, seed = problem
    perm = np.random.default_rng(seed).permutation(labels.size)
    a = mislabel.find_label_issues(labels, p, method=method)
    b = mislabel.find_label_issues(labels[perm], p[perm], method=method)
    # Same count always; same set unless ties straddle the cut.
    assert a.n_issues == b.n_issues
    sa = mislabel.label_quality_scores(labels, p)
    sb = mislabel.label_quality_scores(labels[perm], p[perm])
    np.testing.assert_allclose(sa[perm], sb, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(_problems())
def test_same_input_same_result(problem) -> None:
    labels, p, _ = problem
    a = mislabel.find_label_issues(labels, p)
    b = mislabel.find_label_issues(labels.copy(), p.copy())
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.ranked, b.ranked)


def test_memmap_gives_the_in_memory_result(tmp_path) -> None:
    labels, p, _ = _case(n=50_000, k=5)
    p32 = p.astype(np.float32)
    path = tmp_path / "p.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=p32.shape)
    mm[:] = p32
    mm.flush()
    ro = np.memmap(path, dtype=np.float32, mode="r", shape=p32.shape)
    for method in ("noise_posterior", "prune_by_noise_rate", "both"):
        a = mislabel.find_label_issues(labels, p32, method=method)
        b = mislabel.find_label_issues(labels, ro, method=method)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_allclose(a.scores, b.scores)


@pytest.mark.parametrize(
    "method", ["noise_posterior", "prune_by_noise_rate", "both", "low_normalized_margin"]
)
def test_dask_array_gives_the_in_memory_result(method) -> None:
    da = pytest.importorskip("dask.array", reason="dask is needed for Dask-array input")
    labels, p, _ = _case(n=30_000, k=6, seed=3)
    p32 = p.astype(np.float32)
    lazy = da.from_array(p32, chunks=(7_000, 6))
    a = mislabel.find_label_issues(labels, p32, method=method)
    b = mislabel.find_label_issues(labels, lazy, method=method)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.suggested, b.suggested)
    np.testing.assert_allclose(a.scores, b.scores)
    est_a = mislabel.estimate_noise(labels, p32)
    est_b = mislabel.estimate_noise(labels, lazy)
    np.testing.assert_array_equal(est_a.confident_joint, est_b.confident_joint)


def test_a_second_round_with_score_weights_sharpens_the_flags() -> None:
    # The two-round recipe of docs/results.md: out-of-fold models retrained with the first
    # round's scores as sample weights learn less of the noise, so the second round's flags
    # are better.
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    labels = y.copy()
    flip = rng.random(y.size) < 0.3
    labels[flip] = (y[flip] + rng.integers(1, 10, int(flip.sum()))) % 10
    wrong = labels != y

    def f1(mask: np.ndarray) -> float:
        return 2 * float((mask & wrong).sum()) / float(mask.sum() + wrong.sum())

    model = LogisticRegression(max_iter=1000)
    p1 = mislabel.cross_val_pred_probs(model, X, labels, cv=5, random_state=0)
    first = mislabel.find_label_issues(labels, p1)
    scores = mislabel.label_quality_scores(labels, p1)
    p2 = mislabel.cross_val_pred_probs(model, X, labels, cv=5, random_state=0, sample_weight=scores)
    second = mislabel.find_label_issues(labels, p2)
    assert f1(second.mask) > f1(first.mask) + 0.02
