"""Property-based fuzzing of the public numpy API: detection, scores, noise estimates, noise
generators, k-NN label probabilities, out-of-fold probabilities, fix policies and metrics.

See fuzz_helpers.py: a valid result (checked) or a library error naming an argument.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mislabel
from fuzz_helpers import (
    ODD_SCALARS,
    assert_finite,
    fuzz,
    label_vectors,
    outcome,
    prob_matrices,
    setting,
)
from mislabel import metrics, noise
from mislabel.detect import METHODS, SCORE_METHODS
from mislabel.fix import POLICIES, apply_policy

pytestmark = pytest.mark.filterwarnings("ignore")

DETECT_ARGS = (
    "labels",
    "pred_probs",
    "method",
    "noise_rate",
    "noise_matrix",
    "n_issues",
    "rank_by",
    "min_examples_per_class",
    "frac_noise",
)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, 5))
    labels = draw(label_vectors(n=n, k=k))
    p = draw(prob_matrices(n, k))
    return labels, p


def _check_issues(res, n: int, k: int) -> None:
    assert res.mask.shape == (n,) and res.mask.dtype == bool
    assert_finite(res.scores, "scores")
    assert np.all((res.scores >= -1e-9) & (res.scores <= 1 + 1e-9))
    assert res.suggested.shape == (n,) and res.suggested.min() >= 0 and res.suggested.max() < k
    assert sorted(res.ranked.tolist()) == sorted(np.flatnonzero(res.mask).tolist())
    assert_finite(res.suggested_prob, "suggested_prob")


@fuzz(500)
@given(
    problems(),
    setting(st.sampled_from(METHODS)),
    st.one_of(st.none(), setting(st.floats(0, 0.99))),
    st.one_of(st.none(), setting(st.integers(0, 40))),
    setting(st.floats(0, 1)),
    setting(st.integers(0, 5)),
)
def test_find_label_issues(problem, method, noise_rate, n_issues, frac_noise, min_per_class):
    labels, p = problem
    res = outcome(
        lambda: mislabel.find_label_issues(
            labels,
            p,
            method=method,
            noise_rate=noise_rate,
            n_issues=n_issues,
            frac_noise=frac_noise,
            min_examples_per_class=min_per_class,
        ),
        DETECT_ARGS,
    )
    if res is not None:
        _check_issues(res, len(labels), np.shape(p)[1])


@fuzz(150)
@given(problems(), st.one_of(st.none(), ODD_SCALARS, st.just("identity"), st.integers(0, 3)))
def test_find_label_issues_with_a_noise_matrix(problem, matrix_kind):
    labels, p = problem
    k = max(np.shape(p)[1], 1) if np.ndim(p) == 2 else 2
    if isinstance(matrix_kind, int) and not isinstance(matrix_kind, bool) and 0 <= matrix_kind <= 3:
        t = [np.eye(k), np.full((k, k), 1 / k), np.eye(k).T * 2, np.eye(k + 1)][matrix_kind]
    else:
        t = matrix_kind
    res = outcome(lambda: mislabel.find_label_issues(labels, p, noise_matrix=t), DETECT_ARGS)
    if res is not None:
        _check_issues(res, len(labels), k)


@fuzz(300)
@given(problems(), setting(st.sampled_from(SCORE_METHODS)))
def test_label_quality_scores(problem, method):
    labels, p = problem
    s = outcome(
        lambda: mislabel.label_quality_scores(labels, p, method=method),
        ("labels", "pred_probs", "method"),
    )
    if s is not None:
        assert s.shape == (len(labels),)
        assert_finite(s, "scores")
        assert np.all((s >= -1e-9) & (s <= 1 + 1e-9))


@fuzz(250)
@given(problems())
def test_estimate_noise_and_posterior(problem):
    labels, p = problem
    est = outcome(lambda: mislabel.estimate_noise(labels, p), ("labels", "pred_probs"))
    if est is None:
        return
    k = np.shape(p)[1]
    for name in ("noise_matrix", "inverse_noise_matrix"):
        m = getattr(est, name)
        assert m.shape == (k, k)
        assert_finite(m, name)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-6, err_msg=name)
    assert 0 <= est.noise_rate <= 1
    post = outcome(
        lambda: mislabel.true_label_posterior(labels, p, noise_matrix=est.noise_matrix),
        ("labels", "pred_probs", "noise_matrix"),
    )
    if post is not None:
        assert_finite(post, "posterior")
        np.testing.assert_allclose(post.sum(axis=1), 1.0, atol=1e-6)
    again = outcome(
        lambda: mislabel.find_label_issues(labels, p, noise_matrix=est.noise_matrix),
        DETECT_ARGS,
    )
    if again is not None:
        _check_issues(again, len(labels), k)


@fuzz(200)
@given(
    problems(),
    st.one_of(st.none(), st.just(["a", "b", "c", "d", "e"]), st.just(["x"]), ODD_SCALARS),
    setting(st.integers(0, 10)),
)
def test_health_summary(problem, class_names, top_pairs):
    labels, p = problem
    names = class_names
    if isinstance(class_names, list) and len(class_names) == 5 and np.ndim(p) == 2:
        names = class_names[: np.shape(p)[1]]
    h = outcome(
        lambda: mislabel.health_summary(labels, p, class_names=names, top_pairs=top_pairs),
        ("labels", "pred_probs", "class_names", "top_pairs"),
    )
    if h is not None:
        assert 0 <= h.estimated_noise_rate <= 1
        assert len(h.confused_pairs) <= top_pairs
        for row in h.per_class:
            for key in ("label_error_rate", "noise_rate", "mean_quality"):
                assert row[key] is None or np.isfinite(row[key]), (key, row)
        str(h)


# ------------------------------------------------------------------------------ noise


@fuzz(300)
@given(
    label_vectors(),
    setting(st.floats(0, 1)),
    st.one_of(st.none(), setting(st.integers(2, 8))),
    st.sampled_from(["flip", "resample", "pairs", "pairs_sampled"]),
    st.one_of(st.integers(0, 2**40), st.none(), ODD_SCALARS),
)
def test_label_noise_generators(labels, rate, n_classes, which, seed):
    names = ("labels", "noise_rate", "n_classes", "random_state", "mapping")
    calls = {
        "flip": lambda: noise.flip_symmetric(labels, rate, n_classes=n_classes, random_state=seed),
        "resample": lambda: noise.resample_symmetric(
            labels, rate, n_classes=n_classes, random_state=seed
        ),
        "pairs": lambda: noise.flip_pairs(
            labels, rate, mapping="pairflip", n_classes=n_classes, random_state=seed
        ),
        "pairs_sampled": lambda: noise.flip_pairs(
            labels, rate, mapping="pairflip", exact=False, random_state=seed
        ),
    }
    res = outcome(calls[which], names)
    if res is None:
        return
    y = np.asarray(labels).astype(np.int64)
    assert res.labels.shape == y.shape
    assert res.labels.min() >= 0 and res.labels.max() < res.n_classes
    np.testing.assert_array_equal(res.true_labels, y)
    assert_finite(res.noise_matrix, "realized noise matrix")
    np.testing.assert_allclose(res.noise_matrix.sum(axis=1), 1.0, atol=1e-9)
    if which == "flip" and isinstance(seed, int) and not isinstance(seed, bool):
        again = noise.flip_symmetric(labels, rate, n_classes=n_classes, random_state=seed)
        np.testing.assert_array_equal(again.labels, res.labels)


@fuzz(150)
@given(
    setting(st.integers(2, 6)),
    setting(st.floats(0.5, 6)),
    setting(st.floats(0, 1)),
    st.booleans(),
    st.integers(0, 1000),
)
def test_random_noise_matrix(k, trace, sparsity, valid, seed):
    nm = outcome(
        lambda: noise.random_noise_matrix(
            k, trace=trace, sparsity=sparsity, valid=valid, random_state=seed, max_iter=200
        ),
        ("n_classes", "trace", "sparsity", "max_iter", "py"),
    )
    if nm is not None:
        assert nm.shape == (k, k)
        assert_finite(nm, "noise matrix")
        assert nm.min() >= 0
        np.testing.assert_allclose(nm.sum(axis=1), 1.0, atol=1e-9)
        np.testing.assert_allclose(np.trace(nm), trace, rtol=1e-6)
        labels = np.arange(4 * k) % k
        out = noise.apply_noise_matrix(labels, nm, random_state=seed)
        assert out.labels.shape == labels.shape


@fuzz(100, deadline_ms=10_000)
@given(
    st.integers(4, 30),
    setting(st.floats(0, 1)),
    setting(st.floats(1e-3, 1e3)),
    st.integers(0, 100),
)
def test_instance_dependent(n, rate, std, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 4))
    res = outcome(
        lambda: noise.instance_dependent(x, y, rate, norm_std=std, random_state=seed),
        ("features", "labels", "noise_rate", "norm_std", "n_classes"),
    )
    if res is not None:
        assert res.labels.shape == (n,)
        assert_finite(res.expected_noise_matrix, "expected noise matrix")


# ------------------------------------------------------------------------------ k-NN, OOF


@fuzz(200)
@given(
    st.integers(2, 30),
    st.integers(1, 5),
    setting(st.integers(1, 10)),
    setting(st.floats(0, 1)),
    st.sampled_from(["normal", "zeros", "nan", "inf", "ints", "1d"]),
    st.integers(0, 100),
)
def test_neighbor_label_probs(n, d, n_neighbors, smoothing, feat, seed):
    rng = np.random.default_rng(seed)
    x = {
        "normal": lambda: rng.normal(size=(n, d)),
        "zeros": lambda: np.zeros((n, d)),
        "nan": lambda: np.where(rng.random((n, d)) < 0.2, np.nan, 1.0),
        "inf": lambda: np.full((n, d), np.inf),
        "ints": lambda: rng.integers(0, 3, (n, d)),
        "1d": lambda: rng.normal(size=n),
    }[feat]()
    y = rng.integers(0, 3, n)
    q = outcome(
        lambda: mislabel.neighbor_label_probs(x, y, n_neighbors=n_neighbors, smoothing=smoothing),
        ("features", "labels", "n_neighbors", "smoothing", "n_classes"),
    )
    if q is not None:
        assert q.shape == (n, int(y.max()) + 1)
        assert_finite(q, "knn probabilities")
        np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-5)


@fuzz(120, deadline_ms=20_000)
@given(
    st.integers(4, 30),
    st.integers(2, 3),
    setting(st.integers(2, 4)),
    st.sampled_from(["ok", "inf", "nan", "complex", "str", "rows"]),
    st.one_of(st.none(), st.integers(0, 2**64), ODD_SCALARS),
    st.sampled_from(["none", "ones", "zeros", "negative", "short"]),
    st.integers(0, 100),
)
def test_cross_val_pred_probs(n, k, cv, feat, seed, weights, data_seed):
    from sklearn.naive_bayes import GaussianNB

    rng = np.random.default_rng(data_seed)
    y = np.arange(n) % k
    x = rng.normal(size=(n, 2)) + y[:, None]
    x = {
        "ok": lambda: x,
        "inf": lambda: np.where(np.arange(n)[:, None] == 0, np.inf, x),
        "nan": lambda: np.where(np.arange(n)[:, None] == 1, np.nan, x),
        "complex": lambda: x.astype(complex),
        "str": lambda: np.array([["a", "b"]] * n),
        "rows": lambda: x[:-1],
    }[feat]()
    w = {
        "none": None,
        "ones": np.ones(n),
        "zeros": np.zeros(n),
        "negative": -np.ones(n),
        "short": np.ones(n - 1),
    }[weights]
    if w is not None:  # GaussianNB takes sample_weight
        pass
    p = outcome(
        lambda: mislabel.cross_val_pred_probs(
            GaussianNB(), x, y, cv=cv, random_state=seed, sample_weight=w
        ),
        ("estimator", "X", "labels", "cv", "random_state", "sample_weight", "n_classes"),
    )
    if p is not None:
        assert p.shape == (n, k)
        assert_finite(p, "out-of-fold probabilities")
        assert np.all(p >= 0)


# ------------------------------------------------------------------------------ fix, metrics


@st.composite
def issues_tables(draw):
    n = draw(st.integers(1, 12))
    ids = draw(
        st.one_of(
            st.just(list(range(n))),
            st.lists(st.integers(-3, 20), min_size=n, max_size=n),
            st.lists(
                st.one_of(st.floats(allow_nan=True), st.text(max_size=2)),
                min_size=n,
                max_size=n,
            ),
        )
    )
    names = st.sampled_from(["a", "b", "=x", "+1", "-", "@"])
    return pd.DataFrame(
        {
            "id": ids,
            "given_label": draw(st.lists(names, min_size=n, max_size=n)),
            "suggested_label": draw(st.lists(names, min_size=n, max_size=n)),
            "suggested_prob": draw(
                st.lists(st.floats(0, 1) | st.just(float("nan")), min_size=n, max_size=n)
            ),
            "score": draw(
                st.lists(st.floats(-2, 2) | st.just(float("nan")), min_size=n, max_size=n)
            ),
            "is_issue": draw(
                st.lists(st.sampled_from(["true", "false", "1", "x"]), min_size=n, max_size=n)
            ),
        }
    )


@fuzz(300)
@given(issues_tables(), setting(st.sampled_from(POLICIES)), setting(st.floats(0, 1)))
def test_apply_policy(frame, policy, min_confidence):
    res = outcome(
        lambda: apply_policy(frame, policy, min_confidence=min_confidence),
        ("issues", "policy", "min_confidence", "id", "score"),
    )
    if res is None:
        return
    n = len(frame)
    assert res.ids.shape == (n,) and res.ids.min() >= 0
    assert len(np.unique(res.ids)) == n
    assert res.n_removed <= n
    if policy == "reweight":
        assert res.keep.all()
        assert_finite(res.weight, "weights")
        assert np.all((res.weight >= 0) & (res.weight <= 1))
    res.labels_frame()
    res.changes_frame()


@fuzz(200)
@given(
    hnp.arrays(np.int8, st.integers(0, 20), elements=st.integers(-1, 2)),
    hnp.arrays(np.int8, st.integers(0, 20), elements=st.integers(-1, 2)),
)
def test_precision_recall_f1(a, b):
    out = outcome(lambda: metrics.precision_recall_f1(a, b), ("predicted", "actual", "mask"))
    if out is not None:
        assert all(0 <= v <= 1 for v in out)


def test_fuzz_warnings_do_not_escape() -> None:
    """The fuzz tests silence warnings; the library's own warnings stay one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mislabel.find_label_issues(np.array([0, 1, 1, 1]), np.array([[0.3, 0.7]] * 4))
    assert all("\n" not in str(w.message) for w in caught)


@fuzz(200)
@given(
    label_vectors(n=12, k=3),
    label_vectors(n=12, k=3),
    st.sampled_from(["eye", "mixed", "singular", "odd", "transpose"]),
    st.one_of(st.none(), setting(st.integers(2, 4))),
)
def test_detection_report_and_clean_accuracy(labels, other, matrix, n_classes):
    t = {
        "eye": np.eye(3),
        "mixed": 0.8 * np.eye(3) + 0.2 / 3,
        "singular": np.full((3, 3), 1 / 3),
        "odd": "identity",
        "transpose": np.array([[0.9, 0.5, 0.0], [0.1, 0.5, 0.0], [0.0, 0.0, 1.0]]),
    }[matrix]
    flagged = np.arange(12) % 2 == 0
    rep = outcome(
        lambda: metrics.detection_report(flagged, labels, other, n_classes=n_classes),
        ("flagged", "labels", "true_labels", "n_classes"),
    )
    if rep is not None:
        for key in ("precision", "recall", "f1"):
            value = getattr(rep, key, None)
            if value is not None:
                assert 0 <= value <= 1
    est = outcome(
        lambda: metrics.estimate_clean_accuracy(labels, other, t, n_classes=n_classes),
        ("labels", "predictions", "noise_matrix", "n_classes"),
    )
    if est is not None:
        assert_finite([est.accuracy, est.noisy_accuracy], "accuracy estimate")
        assert est.std_error >= 0


MATRICES = st.sampled_from(
    [
        np.eye(3),
        0.7 * np.eye(3) + 0.1,
        np.full((3, 3), 1 / 3),
        np.eye(3) * 2,
        np.eye(2),
        np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [np.nan, 0.5, 0.5]]),
        "identity",
        None,
        np.ones(3),
    ]
)


@fuzz(150)
@given(label_vectors(n=15, k=3), MATRICES, st.booleans(), st.one_of(st.none(), ODD_SCALARS))
def test_noise_matrices(labels, t, exact, py):
    prior = py if py is not None and not isinstance(py, float) else None
    valid = outcome(
        lambda: noise.is_valid_noise_matrix(t, py=prior), ("noise_matrix", "py", "n_classes")
    )
    assert valid is None or isinstance(valid, bool)
    res = outcome(
        lambda: noise.apply_noise_matrix(labels, t, exact=exact, random_state=0),
        ("labels", "noise_matrix", "random_state"),
    )
    if res is not None:
        assert res.labels.shape == (15,)
        np.testing.assert_allclose(res.noise_matrix.sum(axis=1), 1.0)


@fuzz(100)
@given(
    problems(),
    st.one_of(st.none(), st.just(["x", "y", "z", "w", "v"]), st.just(["x"]), ODD_SCALARS),
    st.booleans(),
    setting(st.sampled_from(POLICIES)),
)
def test_issues_to_frame_and_policy(problem, names, only_issues, policy):
    labels, p = problem
    res = outcome(lambda: mislabel.find_label_issues(labels, p), DETECT_ARGS)
    if res is None:
        return
    use = names[: res.n_classes] if isinstance(names, list) and len(names) == 5 else names
    frame = outcome(
        lambda: res.to_frame(only_issues=only_issues, class_names=use),
        ("class_names", "only_issues"),
    )
    if frame is not None:
        assert len(frame) == (res.n_issues if only_issues else len(res.mask))
    cleaned = outcome(lambda: apply_policy(res, policy, class_names=use), ("policy", "class_names"))
    if cleaned is not None:
        assert cleaned.ids.shape == res.mask.shape
