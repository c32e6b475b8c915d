"""Plain-PyTorch noise-aware trainers: co-teaching, small-loss, per-sample weights."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import mislabel  # noqa: E402
from mislabel.exceptions import InvalidInputError, InvalidParameterError  # noqa: E402
from mislabel.noise import flip_symmetric  # noqa: E402
from mislabel.train import TrainResult, coteaching, small_loss, train_weighted  # noqa: E402

FAST = {"epochs": 2, "batch_size": 32, "progress": False}


@pytest.fixture
def noisy(blobs):
    X, y = blobs(400, 0)
    noisy = flip_symmetric(y, 0.4, random_state=0)
    X_test, y_test = blobs(1000, 1)
    return X, noisy, X_test, y_test


def test_coteaching_beats_plain_ce_on_noisy_labels(noisy, mlp) -> None:
    X, nl, X_test, y_test = noisy
    make = mlp(hidden=128)
    kw = {"epochs": 30, "batch_size": 64, "lr": 3e-3, "progress": False, "random_state": 0}
    plain = train_weighted(make, X, nl.labels, np.ones(len(X)), **kw)
    co = coteaching(make, X, nl.labels, noise_rate=0.4, t_k=10, **kw)
    acc_plain = (plain.predict(X_test) == y_test).mean()
    acc_co = (co.predict(X_test) == y_test).mean()
    assert acc_co > acc_plain + 0.05, (acc_co, acc_plain)
    assert co.forget_rate == 0.4 and len(co.models) == 2
    assert co.history[-1].keep_rate == pytest.approx(0.6)


def test_same_seed_same_result_and_rng_untouched(noisy, mlp) -> None:
    X, nl, X_test, _ = noisy
    state = torch.random.get_rng_state()
    a = coteaching(mlp(), X, nl.labels, noise_rate=0.4, random_state=3, **FAST)
    b = coteaching(mlp(), X, nl.labels, noise_rate=0.4, random_state=3, **FAST)
    c = coteaching(mlp(), X, nl.labels, noise_rate=0.4, random_state=4, **FAST)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert not np.array_equal(a.predict_proba(X_test), c.predict_proba(X_test))


def test_small_loss_drops_the_scheduled_share(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    res = small_loss(
        mlp(),
        X,
        nl.labels,
        forget_rate=0.5,
        t_k=2,
        warmup_epochs=1,
        **{**FAST, "epochs": 5, "batch_size": 50},
    )
    assert isinstance(res, TrainResult)
    rates = [h.keep_rate for h in res.history]
    assert rates == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.5])
    kept = [h.n_kept for h in res.history]
    assert kept == [400, 400, 8 * round(0.75 * 50), 200, 200]
    assert all(h.n_seen == 400 for h in res.history)


def test_noise_rate_is_the_forget_rate_and_pred_probs_give_an_estimate(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    assert small_loss(mlp(), X, nl.labels, noise_rate=0.1, **FAST).forget_rate == 0.1
    # out-of-fold-like probabilities that know the truth: the estimate is the noise rate
    pred_probs = np.full((len(X), 4), 0.02)
    pred_probs[np.arange(len(X)), nl.true_labels] = 0.94
    res = small_loss(mlp(), X, nl.labels, pred_probs=pred_probs, **FAST)
    expected = mislabel.estimate_noise(nl.labels, pred_probs).noise_rate
    assert res.forget_rate == pytest.approx(expected)
    assert res.forget_rate == pytest.approx(0.4, abs=0.02)


def test_unknown_noise_rate_is_estimated_from_out_of_fold_probabilities(noisy, mlp) -> None:
    from mislabel.integrations.torch import TorchClassifier

    X, nl, _, _ = noisy
    res = small_loss(mlp(), X, nl.labels, random_state=0, **FAST)
    same = TorchClassifier(mlp(), epochs=2, batch_size=32, progress=False, n_classes=4)
    pred_probs = mislabel.cross_val_pred_probs(same, X, nl.labels, cv=5, random_state=0)
    expected = mislabel.estimate_noise(nl.labels, pred_probs).noise_rate
    assert res.forget_rate == pytest.approx(min(expected, 0.99))


def test_sample_weights_change_the_fit(noisy, mlp) -> None:
    X, nl, X_test, _ = noisy
    y = nl.true_labels
    uniform = train_weighted(mlp(), X, y, np.ones(len(X)), random_state=0, **FAST)
    w = np.where(y == 0, 0.0, 1.0)
    no_zero = train_weighted(mlp(), X, y, w, random_state=0, **FAST)
    p_u = uniform.predict_proba(X_test)[:, 0].mean()
    p_w = no_zero.predict_proba(X_test)[:, 0].mean()
    assert p_w < p_u - 0.05, (p_w, p_u)


def test_aum_flags_flipped_labels_better_than_chance(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    res = train_weighted(
        mlp(),
        X,
        nl.labels,
        np.ones(len(X)),
        record_dynamics=True,
        random_state=0,
        **{**FAST, "epochs": 8},
    )
    dyn = res.dynamics
    assert dyn is not None and dyn.n_epochs == 8 and dyn.losses.shape == (8, 400)
    issues = dyn.to_label_issues(noise_rate=0.4)
    precision = nl.is_noisy[issues.mask].mean()
    assert precision > 0.7, precision  # chance is 0.4


def test_losses_with_index_train_in_the_trainers(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    res = coteaching(mlp(), X, nl.labels, noise_rate=0.2, loss="elr", **FAST)
    assert np.isfinite(res.history[-1].loss)
    res = small_loss(
        mlp(),
        X,
        nl.labels,
        noise_rate=0.2,
        loss="weighted_ce",
        sample_weight=np.ones(len(X)),
        **FAST,
    )
    assert np.isfinite(res.history[-1].loss)


def test_coteaching_accepts_a_module_and_reinitialises_the_second(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    res = coteaching(mlp()(), X, nl.labels, noise_rate=0.2, random_state=0, **FAST)
    a, b = (next(iter(m.parameters())) for m in res.models)
    assert not torch.equal(a, b)


class _Fixed(nn.Module):
    """A parameter without reset_parameters: a re-initialised copy stays identical."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(10, 4))

    def forward(self, x):
        return x @ self.w


class _NoParams(nn.Module):
    def forward(self, x):
        return x[:, :4]


def test_bad_inputs_raise_before_training(noisy, mlp, monkeypatch) -> None:
    import mislabel.train._coteaching as co
    import mislabel.train._loop as loop

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(loop, "_fit_module", no_training)
    monkeypatch.setattr(co, "_fit_pair", no_training)
    X, nl, _, _ = noisy
    y = nl.labels
    with pytest.raises(InvalidParameterError, match="callable"):
        coteaching(42, X, y, noise_rate=0.1, **FAST)
    with pytest.raises(InvalidParameterError, match=r"must return a torch\.nn\.Module"):
        small_loss(lambda: "not a net", X, y, noise_rate=0.1, **FAST)
    with pytest.raises(InvalidInputError, match=r"shape \(n_samples, n_classes\).*got \(2, 3\)"):
        small_loss(mlp(n_classes=3), X, y, noise_rate=0.1, n_classes=4, **FAST)
    with pytest.raises(InvalidInputError, match=r"\[0, 3\) for a network with 3 outputs"):
        train_weighted(mlp(n_classes=3), X, y, np.ones(len(X)), **FAST)
    with pytest.raises(InvalidInputError, match="one row per label"):
        train_weighted(mlp(), X[:10], y, np.ones(len(X)), **FAST)
    with pytest.raises(InvalidInputError, match="sample_weight"):
        train_weighted(mlp(), X, y, -np.ones(len(X)), **FAST)
    with pytest.raises(InvalidInputError, match="input layer"):
        small_loss(mlp(dim=3), X, y, noise_rate=0.1, **FAST)
    with pytest.raises(InvalidParameterError, match="forget_rate"):
        small_loss(mlp(), X, y, forget_rate=1.0, **FAST)
    with pytest.raises(InvalidParameterError, match="registered loss"):
        coteaching(mlp(), X, y, noise_rate=0.1, loss="nope", **FAST)
    with pytest.raises(InvalidParameterError, match="weighted_ce' needs per-sample weights"):
        small_loss(mlp(), X, y, noise_rate=0.1, loss="weighted_ce", **FAST)
    with pytest.raises(InvalidParameterError, match="differently initialised"):
        coteaching(_Fixed(), X, y, noise_rate=0.1, **FAST)
    with pytest.raises(InvalidParameterError, match="no trainable parameters"):
        small_loss(_NoParams(), X, y, noise_rate=0.1, **FAST)


def test_mixup_learns_fewer_wrong_labels_and_is_reproducible(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    make = mlp(hidden=128)
    kw = {"epochs": 30, "batch_size": 32, "lr": 3e-3, "progress": False, "random_state": 0}
    ones = np.ones(len(X))
    wrong = nl.is_noisy

    def memorized(res) -> float:
        pred = res.predict(X)
        return float(np.mean(pred[wrong] == nl.labels[wrong]))

    plain = train_weighted(make, X, nl.labels, ones, **kw)
    mixed = train_weighted(make, X, nl.labels, ones, loss="gce", mixup=1.0, **kw)
    again = train_weighted(make, X, nl.labels, ones, loss="gce", mixup=1.0, **kw)
    # plain CE learns the 40 % wrong labels by heart; on mixup batches far fewer
    assert memorized(plain) > 0.5
    assert memorized(mixed) < memorized(plain) - 0.25
    np.testing.assert_array_equal(mixed.predict_proba(X), again.predict_proba(X))


def test_mixup_with_equal_weights_equals_mixup_without(noisy, mlp) -> None:
    X, nl, _, _ = noisy
    a = train_weighted(mlp(), X, nl.labels, np.ones(len(X)), mixup=0.5, random_state=1, **FAST)
    b = train_weighted(mlp(), X, nl.labels, np.full(len(X), 3.0), mixup=0.5, random_state=1, **FAST)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mixup": -1.0}, "mixup"),
        ({"mixup": 1.0, "loss": "elr"}, "does not combine with the loss ELRLoss"),
        ({"mixup": 1.0, "record_dynamics": True}, "record_dynamics"),
    ],
)
def test_mixup_bad_arguments_raise(noisy, mlp, kwargs, match) -> None:
    X, nl, _, _ = noisy
    with pytest.raises((InvalidParameterError, InvalidInputError), match=match):
        train_weighted(mlp(), X, nl.labels, np.ones(len(X)), **{**FAST, **kwargs})
