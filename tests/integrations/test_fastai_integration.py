"""fastai: out-of-fold probabilities for a Learner factory, and the noise-aware callbacks.

Tiny tabular-like data (Gaussian blobs), MLPs, one or two epochs; ``fastai.vision`` is never
imported (next to a CPU-only torch, torchvision can fail to import).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fastai.learner")

from fastai.callback.core import Callback  # noqa: E402
from fastai.learner import Learner  # noqa: E402
from fastai.losses import CrossEntropyLossFlat  # noqa: E402
from torch import nn  # noqa: E402

import mislabel  # noqa: E402
import mislabel.losses as ml  # noqa: E402
from mislabel.exceptions import InvalidInputError, InvalidParameterError  # noqa: E402
from mislabel.integrations.fastai import (  # noqa: E402
    SampleWeightCallback,
    SmallLossCallback,
    TemporalProbsRecorder,
    TrainingDynamicsRecorder,
    array_dls,
    cross_val_pred_probs_fastai,
)
from mislabel.noise import flip_symmetric  # noqa: E402

N, K, D = 240, 4, 10
BUILT = {"learners": 0}


class NoTraining(Callback):
    def before_fit(self) -> None:
        raise AssertionError("training started")


def _net(k: int = K) -> nn.Module:
    return nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, k))


def make_learner(dls):
    BUILT["learners"] += 1
    return Learner(dls, _net(), loss_func=CrossEntropyLossFlat())


@pytest.fixture
def data(blobs):
    X, y = blobs(N, 0, n_classes=K, dim=D)
    return X, y


def test_oof_probabilities_cache_and_seed(data, tmp_path) -> None:
    X, y = data
    dls = functools.partial(array_dls, X, y, bs=32)
    BUILT["learners"] = 0
    kw = {"cv": 3, "epochs": 2, "lr": 1e-2, "random_state": 0}
    p = cross_val_pred_probs_fastai(make_learner, dls, y, cache_dir=tmp_path, **kw)
    assert BUILT["learners"] == 3
    assert p.shape == (N, K)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert (p.argmax(1) == y).mean() > 0.6
    calls = []
    again = cross_val_pred_probs_fastai(
        make_learner, dls, y, cache_dir=tmp_path, callback=lambda *a: calls.append(a), **kw
    )
    assert BUILT["learners"] == 3  # from the cache
    assert calls == [(0, 1, 3), (1, 2, 3), (2, 3, 3)]
    np.testing.assert_array_equal(p, again)
    fresh = cross_val_pred_probs_fastai(make_learner, dls, y, **kw)  # same seed, no cache
    np.testing.assert_allclose(fresh, p, atol=1e-6)


def test_oof_with_an_index_loss(data) -> None:
    X, y = data
    losses = []

    def elr_learner(dls):
        loss = ml.get("elr", n_samples=N, n_classes=K)
        losses.append(loss)
        return Learner(dls, _net(), loss_func=loss)

    p = cross_val_pred_probs_fastai(
        elr_learner,
        functools.partial(array_dls, X, y, bs=32),
        y,
        cv=2,
        epochs=1,
        lr=1e-2,
        random_state=0,
    )
    assert p.shape == (N, K)
    # each fold's ELR targets were updated for its training rows (global indices)
    for loss in losses:
        assert 0 < torch.count_nonzero(loss.ema_target.sum(1)) < N


def test_oof_bad_inputs_raise_before_training(data) -> None:
    X, y = data
    dls = functools.partial(array_dls, X, y, bs=32)

    def learner(k=K):
        return lambda d: Learner(d, _net(k), loss_func=CrossEntropyLossFlat(), cbs=NoTraining())

    with pytest.raises(InvalidParameterError, match="`learner_factory` must be callable"):
        cross_val_pred_probs_fastai("learner", dls, y)
    with pytest.raises(InvalidParameterError, match="`dls_factory` must be callable"):
        cross_val_pred_probs_fastai(learner(), None, y)
    with pytest.raises(
        InvalidInputError, match=r"shape \(n_samples, n_classes\) = \(32, 4\); got \(32, 3\)"
    ):
        cross_val_pred_probs_fastai(learner(3), dls, y, cv=2)
    with pytest.raises(InvalidInputError, match=r"labels.*\[0, 3\)"):
        cross_val_pred_probs_fastai(learner(), dls, y, n_classes=3)
    rare = y.copy()
    rare[rare == 3] = 0
    rare[0] = 3
    with pytest.raises(
        InvalidInputError, match=r"fold \d's training part has no sample of classes \[3\]"
    ):
        cross_val_pred_probs_fastai(learner(), dls, rare, cv=2)
    with pytest.raises(InvalidParameterError, match="must return fastai DataLoaders"):
        cross_val_pred_probs_fastai(learner(), lambda tr, va: (tr, va), y, cv=2)


def _fit(X, y, cbs, *, epochs=3, loss=None, with_index=True, seed=0):
    torch.manual_seed(seed)
    dls = array_dls(X, y, np.arange(len(y)), np.arange(len(y))[:64], bs=40, with_index=with_index)
    learn = Learner(dls, _net(), loss_func=loss or CrossEntropyLossFlat(), cbs=cbs)
    with learn.no_bar(), learn.no_logging():
        learn.fit(epochs, 1e-2)
    return learn


def test_small_loss_callback_drops_the_scheduled_share(data) -> None:
    X, y = data
    cb = SmallLossCallback(forget_rate=0.5, warmup_epochs=1, t_k=2)
    _fit(X, y, [cb], epochs=4)
    # 240 samples, batches of 40: 6 batches per epoch
    assert [h["n_seen"] for h in cb.history] == [240] * 4
    assert [h["keep_rate"] for h in cb.history] == pytest.approx([1.0, 1.0, 0.75, 0.5])
    assert [h["n_kept"] for h in cb.history] == [240, 240, 6 * 30, 6 * 20]


def test_sample_weight_callback_weights_the_loss(data) -> None:
    X, y = data
    w = (y != 0).astype(float)
    cb = SampleWeightCallback(w)
    learn = _fit(X, y, [cb], epochs=3)
    assert cb.n_seen == 3 * N and cb.n_zero_weight == 3 * int((y == 0).sum())
    assert cb.weight_sum == pytest.approx(3 * w.sum())
    assert learn.loss_func.reduction == "mean"  # restored
    plain = _fit(X, y, [], epochs=3, with_index=False)
    xb = torch.as_tensor(X)
    p_w = torch.softmax(learn.model.eval()(xb), 1)[:, 0].mean()
    p_u = torch.softmax(plain.model.eval()(xb), 1)[:, 0].mean()
    assert p_w < p_u - 0.05
    with pytest.raises(InvalidInputError, match="one entry per sample"):
        _fit(X, y, [SampleWeightCallback(np.ones(5))], epochs=1)
    with pytest.raises(InvalidInputError, match="non-negative"):
        SampleWeightCallback(-np.ones(5))


def test_training_dynamics_recorder_flags_flipped_labels(data) -> None:
    X, y = data
    nl = flip_symmetric(y, 0.3, random_state=0)
    rec = TrainingDynamicsRecorder()
    sl = SmallLossCallback(forget_rate=0.3, warmup_epochs=2, t_k=1)
    _fit(X, nl.labels, [rec, sl], epochs=5)  # the recorder sees every sample, before selection
    assert rec.dynamics is not None and rec.dynamics.n_epochs == 5
    assert not np.isnan(rec.aum()).any()
    scores = rec.as_scores()
    assert np.all((scores > 0) & (scores < 1))
    issues = rec.to_label_issues(noise_rate=0.3)
    precision = nl.is_noisy[issues.mask].mean()
    assert precision > 0.6, precision  # chance: 0.3
    # usable where detection takes scores: the rank of AUM as a detection signal
    auc_like = np.mean(scores[nl.is_noisy][:, None] < scores[~nl.is_noisy][None, :])
    assert auc_like > 0.8
    # or, in-sample, as probabilities for find_label_issues
    found = mislabel.find_label_issues(nl.labels, rec.dynamics.mean_probs(), noise_rate=0.3)
    assert found.n_issues == round(0.3 * N)


def test_temporal_probs_recorder_gives_one_run_detection_probabilities(data) -> None:
    from fastai.callback.mixup import MixUp
    from sklearn.metrics import roc_auc_score

    from mislabel.exceptions import NotFittedError

    X, y = data
    nl = flip_symmetric(y, 0.3, random_state=0)
    everything = np.arange(N)
    rec = TemporalProbsRecorder(array_dls(X, nl.labels, everything, everything, bs=64).valid)
    with pytest.raises(NotFittedError, match="call fit"):
        rec.probs()
    _fit(X, nl.labels, [MixUp(1.0), rec], epochs=6, with_index=False)  # needs no index
    probs = rec.probs()
    assert rec.n_epochs == 6
    assert probs.shape == (N, K) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    count = mislabel.estimate_noise(nl.labels, probs).n_issues
    issues = mislabel.find_label_issues(nl.labels, probs, n_issues=count)
    # the flipped 30 % of these separable blobs: 71 flagged of 72, all of them flipped, ROC-AUC
    # 1.0 when written (chance: 0.5, precision 0.3)
    assert abs(count - nl.is_noisy.sum()) <= 0.2 * nl.is_noisy.sum()
    assert roc_auc_score(nl.is_noisy, -np.asarray(issues.scores)) > 0.95
    assert nl.is_noisy[issues.mask].mean() > 0.9


def test_temporal_probs_recorder_with_neighbors_adds_the_feature_space_label_vote(data) -> None:
    X, y = data
    nl = flip_symmetric(y, 0.3, random_state=0)
    everything = np.arange(N)
    valid = array_dls(X, nl.labels, everything, everything, bs=64).valid
    plain, voting = TemporalProbsRecorder(valid), TemporalProbsRecorder(valid, neighbors=5)
    learn = _fit(X, nl.labels, [plain, voting], epochs=2, with_index=False)
    # of 2 epochs only the second votes: the trained model's penultimate features (the input
    # of its last nn.Linear), each sample's 5 nearest others' labels
    with torch.no_grad():
        feats = learn.model[:-1](torch.as_tensor(X, dtype=torch.float32)).numpy()
    votes = mislabel.neighbor_label_probs(feats, nl.labels, n_neighbors=5, n_classes=K)
    np.testing.assert_allclose(voting.probs(), (plain.probs() + votes) / 2, atol=1e-5)

    class InputsOnly:  # batches without their labels
        def __iter__(self):
            yield (torch.as_tensor(X, dtype=torch.float32),)

    with pytest.raises(InvalidInputError, match="needs the labels"):
        _fit(X, y, [TemporalProbsRecorder(InputsOnly(), neighbors=5)], epochs=2, with_index=False)
    with pytest.raises(InvalidParameterError, match="`neighbors` must be >= 0"):
        TemporalProbsRecorder(valid, neighbors=-2)


def test_temporal_probs_recorder_rejects_a_changing_loader(data) -> None:
    X, y = data
    sizes = iter([N, N // 2])

    class Shrinking:
        def __iter__(self):
            n = next(sizes)
            yield (torch.as_tensor(X[:n], dtype=torch.float32),)

    with pytest.raises(InvalidInputError, match="same samples"):
        _fit(X, y, [TemporalProbsRecorder(Shrinking())], epochs=2, with_index=False)
    with pytest.raises(InvalidParameterError, match="iterable of batches"):
        TemporalProbsRecorder(3)


def test_elr_on_a_linear_head_warns_that_it_cannot_memorise(data) -> None:
    from mislabel.integrations.fastai import BatchIndexCallback

    X, y = data
    dls = array_dls(X, y, np.arange(N), np.arange(N)[:64], bs=40, with_index=True)
    loss = ml.get("elr", n_samples=N, n_classes=K)
    learn = Learner(dls, nn.Linear(D, K), loss_func=loss, cbs=[BatchIndexCallback()])
    expected = r"44 trainable parameters for 240 training samples"
    with pytest.warns(UserWarning, match=expected), learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)


def test_positions_come_from_the_loader_order_without_an_index(data) -> None:
    X, y = data
    rec = TrainingDynamicsRecorder()
    _fit(X, y, [rec], epochs=2, with_index=False)
    aum = rec.aum()
    # the whole item list: 240 training items, then the 64 validation items (never trained)
    assert aum.shape == (N + 64,)
    assert not np.isnan(aum[:N]).any() and np.isnan(aum[N:]).all()
    # weights reach the right samples: class 0 weighted out, as with indexed batches
    w = (y != 0).astype(float)
    learn = _fit(X, y, [SampleWeightCallback(w)], epochs=3, with_index=False)
    plain = _fit(X, y, [], epochs=3, with_index=False)
    xb = torch.as_tensor(X)
    p_w = torch.softmax(learn.model.eval()(xb), 1)[:, 0].mean()
    p_u = torch.softmax(plain.model.eval()(xb), 1)[:, 0].mean()
    assert p_w < p_u - 0.05
    with pytest.raises(InvalidInputError, match=r"one entry per sample .* \(304, .*\(240\)"):
        _fit(X, y, [SampleWeightCallback(np.ones(5))], epochs=1, with_index=False)
