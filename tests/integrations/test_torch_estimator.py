"""A PyTorch network in the k-fold machinery: mislabel.integrations.torch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from torch import nn  # noqa: E402

import mislabel  # noqa: E402
import mislabel.losses as ml  # noqa: E402
from mislabel.exceptions import (  # noqa: E402
    InvalidInputError,
    InvalidParameterError,
    NotFittedError,
)
from mislabel.integrations.torch import TorchClassifier, stable_repr, to_estimator  # noqa: E402

FAST = {"epochs": 2, "batch_size": 32, "lr": 1e-2, "progress": False}
CALLS = {"n": 0}


def counting_factory():
    """A module-level factory (picklable, stable repr) that counts its calls = trainings."""
    CALLS["n"] += 1
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.fixture
def data(blobs):
    return blobs(200, 0)


def test_in_cross_val_pred_probs_with_the_fold_cache(data, tmp_path) -> None:
    X, y = data
    est = to_estimator(counting_factory, **FAST)
    CALLS["n"] = 0
    p = mislabel.cross_val_pred_probs(est, X, y, cv=3, random_state=0, cache_dir=tmp_path)
    assert CALLS["n"] == 4  # one network for the up-front check, then one per fold
    assert p.shape == (200, 4)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert (p.argmax(1) == y).mean() > 0.5
    files = sorted(tmp_path.glob("oof-*/fold-*.npz"))
    assert len(files) == 3
    again = mislabel.cross_val_pred_probs(est, X, y, cv=3, random_state=0, cache_dir=tmp_path)
    assert CALLS["n"] == 4  # everything came from the cache: no check, no training
    np.testing.assert_array_equal(p, again)
    files[1].unlink()
    mislabel.cross_val_pred_probs(est, X, y, cv=3, random_state=0, cache_dir=tmp_path)
    assert CALLS["n"] == 6  # the check, then only the missing fold was trained


def test_same_seed_same_result(data, mlp) -> None:
    X, y = data
    est = to_estimator(mlp(hidden=16), **FAST)
    a = mislabel.cross_val_pred_probs(est, X, y, cv=3, random_state=1)
    b = mislabel.cross_val_pred_probs(est, X, y, cv=3, random_state=1)
    c = mislabel.cross_val_pred_probs(est, X, y, cv=3, random_state=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    one = clone(est).set_params(random_state=5).fit(X, y).predict_proba(X)
    two = clone(est).set_params(random_state=5).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(one, two)


def test_a_bare_module_is_wrapped(data, mlp) -> None:
    X, y = data
    module = mlp(hidden=16)()
    before = [p.detach().clone() for p in module.parameters()]
    p = mislabel.cross_val_pred_probs(module, X, y, cv=2, random_state=0)
    assert p.shape == (200, 4)
    # the given module is copied, never trained in place
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def _loss_kwargs(name: str, k: int):
    if name in ("forward_correction", "backward_correction"):
        t = np.full((k, k), 0.1 / (k - 1))
        np.fill_diagonal(t, 0.9)
        return {"noise_matrix": torch.as_tensor(t)}
    return None


@pytest.mark.parametrize("name", ml.available())
def test_each_loss_trains(data, mlp, name) -> None:
    X, y = data
    est = to_estimator(mlp(hidden=16), loss=name, loss_kwargs=_loss_kwargs(name, 4), **FAST)
    sw = np.linspace(0.5, 1.5, len(y)) if name == "weighted_ce" else None
    est.fit(X, y, sample_weight=sw)
    p = est.predict_proba(X)
    assert p.shape == (200, 4) and np.all(np.isfinite(p))
    assert np.isfinite(est.history_[-1].loss)
    if name == "elr":  # the sample indices reached the loss
        assert torch.count_nonzero(est.loss_.ema_target.sum(1)) == len(y)


def test_sample_weights_change_the_fit(data, mlp) -> None:
    X, y = data
    est = to_estimator(mlp(hidden=16), random_state=0, **FAST)
    plain = clone(est).fit(X, y).predict_proba(X)[:, 0].mean()
    weighted = clone(est).fit(X, y, sample_weight=(y != 0).astype(float))
    assert weighted.predict_proba(X)[:, 0].mean() < plain - 0.05


def test_sklearn_protocol(data, mlp) -> None:
    X, y = data
    est = to_estimator(counting_factory, loss="gce", loss_kwargs={"q": 0.5}, **FAST)
    params = est.get_params()
    assert params["loss"] == "gce" and params["epochs"] == 2
    assert "0x" not in repr(est) and "counting_factory#" in repr(est)
    assert repr(clone(est)) == repr(est)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict_proba(X)
    est.fit(X, y)
    assert est.classes_.tolist() == [0, 1, 2, 3] and est.n_classes_ == 4
    assert 0.0 <= est.score(X, y) <= 1.0
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    assert stable_repr(lambda: 1) != stable_repr(lambda: 2)


@pytest.fixture
def no_training(monkeypatch):
    import mislabel.train._loop as loop

    def fail(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(loop, "_fit_module", fail)


def test_bad_inputs_raise_before_training(data, mlp, no_training) -> None:
    X, y = data
    with pytest.raises(InvalidParameterError, match=r"module_or_factory.*got int"):
        to_estimator(42)
    with pytest.raises(InvalidParameterError, match="registered loss"):
        to_estimator(mlp(), loss="no_such_loss")
    with pytest.raises(
        InvalidInputError, match=r"shape \(n_samples, n_classes\) = \(2, 4\); got \(2, 3\)"
    ):
        to_estimator(mlp(n_classes=3), n_classes=4, **FAST).fit(X, y)
    with pytest.raises(
        InvalidInputError, match=r"shape \(n_samples, n_classes\) = \(2, 4\); got \(2, 3\)"
    ):  # checked by check_folds before any fold trains
        mislabel.cross_val_pred_probs(to_estimator(mlp(n_classes=3), **FAST), X, y, cv=2)
    with pytest.raises(InvalidInputError, match=r"logits of shape .*got \(2, 4, 1\)"):
        to_estimator(lambda: nn.Sequential(nn.Linear(10, 4), nn.Unflatten(1, (4, 1))), **FAST).fit(
            X, y
        )
    with pytest.raises(InvalidInputError, match="labels"):
        to_estimator(mlp(), **FAST).fit(X, y + 10)
    with pytest.raises(InvalidInputError, match="sample_weight"):
        to_estimator(mlp(), **FAST).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(InvalidParameterError, match="epochs"):
        TorchClassifier(mlp(), epochs=0).fit(X, y)


def test_a_fold_without_a_class_is_an_error(data, mlp, no_training) -> None:
    X, y = data
    y = y.copy()
    y[y == 3] = 0
    y[0] = 3  # class 3 has one sample: the folds that hold it out cannot learn it
    est = to_estimator(mlp(), **FAST)
    with pytest.raises(InvalidInputError, match=r"no sample of classes \[3\]"):
        est.check_folds(X, y, [(np.arange(1, 200), np.arange(1))], n_classes=4)
    with pytest.raises(InvalidInputError, match=r"no sample of classes \[3\]"):
        est.fit(X[1:], y[1:])
    with (
        pytest.warns(UserWarning, match="fewer samples than cv=2"),
        pytest.raises(InvalidInputError, match=r"no sample of classes \[3\]"),
    ):
        mislabel.cross_val_pred_probs(est, X, y, cv=2, random_state=0)


def test_fold_without_a_class_fails_before_any_fold_trains(data, mlp, no_training) -> None:
    X, y = data
    y = y.copy()
    y[y == 3] = 2
    y[0] = 3  # one sample of class 3: the fold holding it out trains without class 3
    est = to_estimator(mlp(), **FAST)
    with (
        pytest.warns(UserWarning, match="fewer samples than cv"),
        pytest.raises(InvalidInputError, match=r"training part has no sample of classes \[3\]"),
    ):
        mislabel.cross_val_pred_probs(est, X, y, cv=2, random_state=0)


def test_mixup_fits_fewer_wrong_labels_and_keys_the_fold_cache(mlp) -> None:
    from sklearn.datasets import load_digits

    from mislabel.noise import flip_symmetric

    X, y = load_digits(return_X_y=True)
    X, y = (X / 16.0).astype(np.float32)[:600], y[:600]
    noisy = flip_symmetric(y, 0.4, n_classes=10, random_state=0).labels
    wrong = noisy != y
    base = {"epochs": 30, "batch_size": 32, "lr": 3e-3, "progress": False, "random_state": 0}
    est = TorchClassifier(mlp(dim=64, n_classes=10, hidden=256), **base)
    mixed = clone(est).set_params(mixup=1.0)
    assert "mixup=1.0" in repr(mixed) and "mixup" not in repr(est)  # distinct fold-cache keys

    def memorized(e: TorchClassifier) -> float:
        return float(np.mean(e.fit(X, noisy).predict(X)[wrong] == noisy[wrong]))

    plain_share, mixed_share = memorized(est), memorized(mixed)
    assert plain_share > 0.6  # the MLP learns most wrong labels by heart
    assert mixed_share < plain_share - 0.3
    p = clone(mixed).fit(X, noisy).predict_proba(X)
    np.testing.assert_array_equal(p, clone(mixed).fit(X, noisy).predict_proba(X))
    with pytest.raises(InvalidParameterError, match="mixup"):
        TorchClassifier(mlp(dim=64, n_classes=10), loss="elr", mixup=1.0, **FAST).fit(X, noisy)


def test_forget_rate_trains_on_the_small_loss_share_and_resists_wrong_labels() -> None:
    """digits with 30 % of the labels moved to the next class: dropping the largest-loss
    share of each batch keeps the network from fitting them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    noisy = ytr.copy()
    flip = np.random.default_rng(0).random(ytr.size) < 0.3
    noisy[flip] = (noisy[flip] + 1) % 10

    def net():
        return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))

    kw = {"epochs": 60, "batch_size": 64, "lr": 1e-3, "progress": False, "random_state": 0}
    plain = TorchClassifier(net, **kw).fit(Xtr, noisy)
    small = TorchClassifier(net, forget_rate=0.3, **kw).fit(Xtr, noisy)
    rates = [log.keep_rate for log in small.history_]
    assert rates[0] == 1.0 and rates[-1] == pytest.approx(0.7)
    assert all(log.keep_rate == 1.0 for log in plain.history_)
    assert small.score(Xte, yte) > plain.score(Xte, yte) + 0.03
    with pytest.raises(InvalidParameterError, match="forget_rate"):
        TorchClassifier(net, forget_rate=1.0, **kw).fit(Xtr, noisy)


def test_a_cosine_learning_rate_falls_from_lr_towards_zero(data, mlp) -> None:
    import math

    X, y = data
    kw = {**FAST, "epochs": 4, "random_state": 0}
    cosine = TorchClassifier(mlp(), lr_schedule="cosine", **kw).fit(X, y)
    expected = [1e-2 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert [log.lr for log in cosine.history_] == pytest.approx(expected)
    constant = TorchClassifier(mlp(), **kw).fit(X, y)
    assert [log.lr for log in constant.history_] == [1e-2] * 4
    assert not np.allclose(cosine.predict_proba(X), constant.predict_proba(X))
    with pytest.raises(InvalidParameterError, match="`lr_schedule` must be one of 'constant'"):
        TorchClassifier(mlp(), lr_schedule="step", **kw).fit(X, y)
