"""Out-of-fold probabilities."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

import mislabel
from mislabel import InvalidInputError, InvalidParameterError


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:600], y[:600]


def test_rows_are_held_out_probabilities(digits) -> None:
    x, y = digits
    p = mislabel.cross_val_pred_probs(GaussianNB(), x, y, cv=3, random_state=0)
    assert p.shape == (600, 10)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    # held-out accuracy is lower than training accuracy (no leakage)
    train_acc = np.mean(GaussianNB().fit(x, y).predict(x) == y)
    assert np.mean(p.argmax(1) == y) < train_acc + 1e-9
    assert np.mean(p.argmax(1) == y) > 0.6


def test_same_seed_same_result(digits) -> None:
    x, y = digits
    est = DecisionTreeClassifier()
    a = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=7)
    b = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=7)
    np.testing.assert_array_equal(a, b)
    c = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=8)
    assert not np.array_equal(a, c)


def test_parallel_equals_serial(digits) -> None:
    x, y = digits
    est = LogisticRegression(max_iter=300)
    a = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=1, n_jobs=1)
    b = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=1, n_jobs=2)
    np.testing.assert_allclose(a, b)


def test_class_absent_from_a_training_fold_gets_zero_column(digits) -> None:
    x, y = digits
    y = y.copy()
    lone = np.flatnonzero(y == 9)
    y[lone[1:]] = 8  # class 9 has one sample: absent from the training part of its fold
    with pytest.warns(UserWarning, match="absent from the training part"):
        p = mislabel.cross_val_pred_probs(GaussianNB(), x, y, cv=3, random_state=0)
    assert p.shape == (600, 10)
    assert p[lone[0], 9] == 0.0


def test_cache_resumes_only_missing_folds(tmp_path, digits) -> None:
    x, y = digits
    est = LogisticRegression(max_iter=300)
    full = mislabel.cross_val_pred_probs(est, x, y, cv=4, random_state=3, cache_dir=tmp_path)
    folder = next(tmp_path.iterdir())
    folds = sorted(folder.glob("fold-*.npz"))
    assert len(folds) == 4
    folds[2].unlink()
    stamps = {f: f.stat().st_mtime_ns for f in folds if f.exists()}
    again = mislabel.cross_val_pred_probs(est, x, y, cv=4, random_state=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(full, again)
    assert (folder / "fold-2.npz").exists()
    for f, t in stamps.items():
        assert f.stat().st_mtime_ns == t, "finished folds are not recomputed"
    assert not list(folder.glob("*.tmp")), "no temporary file is left behind"


def test_bad_estimator_and_shapes(digits) -> None:
    x, y = digits
    with pytest.raises(InvalidParameterError, match=r"has no fit or predict_proba\(\)"):
        mislabel.cross_val_pred_probs(object(), x, y)
    with pytest.raises(InvalidInputError, match=r"one row per label \(600\); got 10 rows"):
        mislabel.cross_val_pred_probs(GaussianNB(), x[:10], y)
    with pytest.raises(InvalidParameterError, match="`cv` must be >= 2"):
        mislabel.cross_val_pred_probs(GaussianNB(), x, y, cv=1)
    with pytest.raises(InvalidInputError, match="at least 2 classes"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mislabel.cross_val_pred_probs(GaussianNB(), x, np.zeros(600, int))


def test_callback_reports_every_fold(tmp_path, digits) -> None:
    x, y = digits
    seen: list[tuple[int, int, int]] = []
    est = GaussianNB()
    mislabel.cross_val_pred_probs(
        est, x, y, cv=3, random_state=0, callback=lambda *a: seen.append(a)
    )
    assert sorted(f for f, _, _ in seen) == [0, 1, 2]
    assert [d for _, d, _ in seen] == [1, 2, 3]


@pytest.mark.parametrize("backend", ["local", "threads"])
def test_backends_give_the_same_result(backend, digits) -> None:
    x, y = digits
    est = LogisticRegression(max_iter=300)
    ref = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=2)
    other = mislabel.cross_val_pred_probs(
        est, x, y, cv=3, random_state=2, n_jobs=2, backend=backend
    )
    np.testing.assert_allclose(ref, other)


def test_dask_local_cluster_gives_the_local_result(tmp_path, digits) -> None:
    pytest.importorskip("distributed", reason="dask.distributed is the Dask backend")
    x, y = digits
    est = DecisionTreeClassifier()
    ref = mislabel.cross_val_pred_probs(est, x, y, cv=4, random_state=5)
    got = mislabel.cross_val_pred_probs(
        est, x, y, cv=4, random_state=5, n_jobs=2, backend="dask", cache_dir=tmp_path
    )
    np.testing.assert_array_equal(ref, got)
    assert len(list(next(tmp_path.iterdir()).glob("fold-*.npz"))) == 4


def test_bad_backend_is_named(digits) -> None:
    x, y = digits
    with pytest.raises(InvalidParameterError, match="`backend` must be one of"):
        mislabel.cross_val_pred_probs(GaussianNB(), x, y, backend="spark")
    with pytest.raises(InvalidParameterError, match="only used with backend='dask'"):
        mislabel.cross_val_pred_probs(GaussianNB(), x, y, scheduler="tcp://x:1")


def test_sample_weights_reach_each_fold(tmp_path, digits) -> None:
    x, y = digits
    est = LogisticRegression(max_iter=300)
    plain = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=0)
    w = np.where(y == 3, 5.0, 1.0)
    weighted = mislabel.cross_val_pred_probs(est, x, y, cv=3, random_state=0, sample_weight=w)
    assert weighted[:, 3].mean() > plain[:, 3].mean()  # up-weighting class 3 raises its mass
    ones = mislabel.cross_val_pred_probs(
        est, x, y, cv=3, random_state=0, sample_weight=np.ones(len(y))
    )
    np.testing.assert_allclose(ones, plain, atol=1e-6)
    with pytest.raises(InvalidInputError, match="`sample_weight` must be 600 finite"):
        mislabel.cross_val_pred_probs(est, x, y, sample_weight=np.ones(3))
