"""The benchmark trainer's mixup option: reproducible, weights normalised, less memorization."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mislabel.bench._models import TrainSpec, fit  # noqa: E402
from mislabel.noise import flip_symmetric  # noqa: E402


@pytest.fixture(scope="module")
def noisy_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)[:600]
    y = y[:600]
    noisy = flip_symmetric(y, 0.4, n_classes=10, random_state=0).labels
    return X, y, noisy


def _params(net: object) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])  # type: ignore[attr-defined]


def test_mixup_is_reproducible_and_changes_training(noisy_digits) -> None:
    X, _, noisy = noisy_digits
    spec = TrainSpec(model="mlp", epochs=2, batch_size=64)
    a = _params(fit(spec, X, noisy, 10, seed=3, mixup=1.0).net)
    b = _params(fit(spec, X, noisy, 10, seed=3, mixup=1.0).net)
    plain = _params(fit(spec, X, noisy, 10, seed=3).net)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)


def test_mixup_with_equal_weights_is_mixup_without_weights(noisy_digits) -> None:
    X, _, noisy = noisy_digits
    spec = TrainSpec(model="mlp", epochs=2, batch_size=64)
    w = np.full(noisy.shape[0], 0.25)
    weighted = _params(fit(spec, X, noisy, 10, seed=1, mixup=1.0, sample_weight=w).net)
    plain = _params(fit(spec, X, noisy, 10, seed=1, mixup=1.0).net)
    np.testing.assert_allclose(weighted, plain, rtol=1e-4, atol=1e-6)


def _memorized(noisy_digits, **kwargs: float) -> float:
    """The share of the wrong labels a 30-epoch MLP reproduces on its own training images."""
    X, y, noisy = noisy_digits
    wrong = noisy != y
    spec = TrainSpec(model="mlp", epochs=30, batch_size=32, lr=3e-3)
    pred = fit(spec, X, noisy, 10, seed=0, **kwargs).predict_proba(X).argmax(axis=1)
    return float(np.mean(pred[wrong] == noisy[wrong]))


def test_mixup_fits_fewer_wrong_labels(noisy_digits) -> None:
    plain, mixed = _memorized(noisy_digits), _memorized(noisy_digits, mixup=1.0)
    # without mixup the MLP learns most of the wrong labels by heart (0.76 when written);
    # with mixup far fewer (0.26)
    assert plain > 0.6
    assert mixed < plain - 0.3


def test_small_loss_selection_fits_fewer_wrong_labels(noisy_digits) -> None:
    assert _memorized(noisy_digits, forget_rate=0.4) < _memorized(noisy_digits) - 0.3
    X, _, noisy = noisy_digits
    with pytest.raises(ValueError, match="do not combine"):
        fit(TrainSpec(model="mlp"), X, noisy, 10, seed=0, forget_rate=0.4, mixup=1.0)


def test_elr_in_the_trainer_sees_every_row_and_fits_fewer_wrong_labels(noisy_digits) -> None:
    from mislabel.losses import ELRLoss

    X, _, noisy = noisy_digits
    loss = ELRLoss(n_samples=X.shape[0], n_classes=10)
    fit(TrainSpec(model="mlp", epochs=1, batch_size=64), X, noisy, 10, seed=0, loss=loss)
    # one epoch gives every training row its running-average target (rows sum to 1)
    np.testing.assert_allclose(loss.ema_target.sum(dim=1).numpy(), 0.3, atol=1e-5)
    elr = ELRLoss(n_samples=X.shape[0], n_classes=10)
    assert _memorized(noisy_digits, loss=elr) < _memorized(noisy_digits) - 0.3
    with pytest.raises(ValueError, match="does not combine with mixup"):
        fit(TrainSpec(model="mlp"), X, noisy, 10, seed=0, loss=elr, mixup=1.0)


def test_bench_estimator_passes_mixup_to_its_folds(noisy_digits) -> None:
    from sklearn.base import clone

    from mislabel.bench._models import BenchEstimator

    X, _, noisy = noisy_digits
    est = BenchEstimator(model="mlp", epochs=2, n_classes=10, random_state=0, mixup=1.0)
    assert clone(est).mixup == 1.0  # cross-validation clones the estimator
    mixed = est.fit(X, noisy).predict_proba(X)
    plain = clone(est).set_params(mixup=0.0).fit(X, noisy).predict_proba(X)
    assert not np.allclose(mixed, plain)
    np.testing.assert_array_equal(mixed, clone(est).fit(X, noisy).predict_proba(X))


def test_refined_targets_replace_wrong_labels_by_the_networks_guess(noisy_digits) -> None:
    X, y, noisy = noisy_digits
    wrong = noisy != y
    spec = TrainSpec(model="mlp", epochs=30, batch_size=32, lr=3e-3)
    start = np.full((X.shape[0], 10), 0.1)
    # the known wrong labels get weight 0: their target is the network's own running guess
    fitted = fit(spec, X, noisy, 10, seed=0, refine=((~wrong).astype(float), start))
    pred = fitted.predict_proba(X).argmax(axis=1)
    # plain CE reproduces most wrong labels (0.76 when written); here they are not learnt and
    # most of those images get their true class back
    assert np.mean(pred[wrong] == noisy[wrong]) < 0.1
    assert np.mean(pred[wrong] == y[wrong]) > 0.7
    again = fit(spec, X, noisy, 10, seed=0, refine=((~wrong).astype(float), start))
    np.testing.assert_array_equal(_params(fitted.net), _params(again.net))
    with pytest.raises(ValueError, match="own soft targets"):
        fit(spec, X, noisy, 10, seed=0, refine=(np.ones(600), start), sample_weight=np.ones(600))


def test_epoch_probs_average_every_epoch_and_rank_wrong_labels_low(noisy_digits) -> None:
    from sklearn.metrics import roc_auc_score

    from mislabel.bench._models import epoch_probs

    X, y, noisy = noisy_digits
    spec = TrainSpec(model="mlp", epochs=20, batch_size=32, lr=3e-3)
    probs = epoch_probs(spec, X, noisy, 10, seed=0, mixup=1.0)
    assert probs.shape == (600, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # the probability of the given label separates the 40 % wrong labels (0.99 when written)
    given = probs[np.arange(600), noisy]
    assert roc_auc_score(noisy != y, -given) > 0.95
    one = epoch_probs(
        TrainSpec(model="mlp", epochs=1, batch_size=32, lr=3e-3), X, noisy, 10, seed=0, mixup=1.0
    )
    assert not np.allclose(one, probs)


def test_epoch_probs_with_neighbors_mix_in_the_feature_space_label_vote(noisy_digits) -> None:
    from sklearn.metrics import roc_auc_score

    from mislabel.bench._models import epoch_probs

    X, y, noisy = noisy_digits
    spec = TrainSpec(model="mlp", epochs=20, batch_size=32, lr=3e-3)
    plain = epoch_probs(spec, X, noisy, 10, seed=0, mixup=4.0)
    mixed = epoch_probs(spec, X, noisy, 10, seed=0, mixup=4.0, neighbors=10)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(mixed, plain)
    np.testing.assert_array_equal(
        mixed, epoch_probs(spec, X, noisy, 10, seed=0, mixup=4.0, neighbors=10)
    )
    # the neighbours' labels separate the 40 % wrong labels as well (0.99 when written)
    given = mixed[np.arange(600), noisy]
    assert roc_auc_score(noisy != y, -given) > 0.95
    # a linear model has no hidden layer: its neighbours are found in the input itself
    lin = epoch_probs(TrainSpec(model="logreg", epochs=4), X, noisy, 10, seed=0, neighbors=10)
    np.testing.assert_allclose(lin.sum(axis=1), 1.0, atol=1e-5)
