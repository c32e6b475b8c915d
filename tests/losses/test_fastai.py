"""Every loss inside a real fastai ``Learner``: fit, ``get_preds(with_loss=True)``, interpretation.

A tiny MLP on 256 noisy 2-D blobs, one epoch (4 batches) per loss. The dataset yields
``(x, y, index)``; a callback takes the index out of the batch and binds it to losses that
use it (``takes_index``), which is how sample indices reach a loss under fastai.
(``fastai.vision`` is not used: next to a CPU-only torch, torchvision can fail to import.)
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fastai.learner")

from fastai.callback.core import Callback  # noqa: E402
from fastai.callback.progress import ProgressCallback  # noqa: E402, F401  (adds Learner.no_bar)
from fastai.data.core import DataLoaders  # noqa: E402
from fastai.data.load import DataLoader  # noqa: E402
from fastai.interpret import ClassificationInterpretation  # noqa: E402
from fastai.learner import Learner  # noqa: E402
from fastai.metrics import accuracy  # noqa: E402
from torch import nn  # noqa: E402

import mislabel.losses as ml  # noqa: E402

N_TRAIN, N_VALID, K, D = 256, 64, 4, 8
CASES = [*ml.available(), "label_smoothing[vector]", "label_smoothing[matrix]"]


class _Blobs:
    """(x, y, index) items; ``vocab`` and ``n_inp`` are read by fastai through the loader."""

    n_inp = 1
    vocab = ("red", "green", "yellow", "blue")

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        true = torch.arange(n) % K
        centers = torch.randn(K, D, generator=g) * 3
        self.x = centers[true] + torch.randn(n, D, generator=g)
        flip = torch.rand(n, generator=g) < 0.2
        self.y = torch.where(flip, (true + 1) % K, true)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i], torch.tensor(i)


class BatchIndex(Callback):
    """Move the dataset index out of the batch; bind it to the loss while training."""

    order = -10

    def before_batch(self) -> None:
        *ys, index = self.learn.yb
        self.learn.yb = tuple(ys)
        loss = self.learn.loss_func
        if self.training and getattr(loss, "takes_index", False):
            loss.bind_index(index)


def _learner(loss) -> Learner:
    torch.manual_seed(0)
    dls = DataLoaders(
        DataLoader(_Blobs(N_TRAIN, 0), bs=64, shuffle=True, drop_last=True),
        DataLoader(_Blobs(N_VALID, 1), bs=64),
    )
    model = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, K))
    return Learner(dls, model, loss_func=loss, metrics=accuracy, cbs=BatchIndex())


@pytest.mark.parametrize("case", CASES)
def test_learner_fits_predicts_and_interprets(case, loss_factory) -> None:
    loss = loss_factory(case, n_samples=N_TRAIN, n_classes=K)
    learn = _learner(loss)
    before = [p.detach().clone() for p in learn.model.parameters()]
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr=1e-2)
    train_loss, valid_loss, acc = learn.recorder.values[-1]
    assert all(map(torch.isfinite, map(torch.tensor, (train_loss, valid_loss, acc))))
    moved = [not torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True)]
    assert all(moved)
    if case == "elr":
        assert torch.count_nonzero(loss.ema_target.sum(1)) > 0  # indices reached the loss

    with learn.no_bar():
        preds, targs, decoded, losses = learn.get_preds(with_loss=True, with_decoded=True)
    assert loss.reduction == "mean"  # fastai set "none" for the call, then restored it
    assert preds.shape == (N_VALID, K) and losses.shape == (N_VALID,)
    torch.testing.assert_close(preds.sum(1), torch.ones(N_VALID))  # `activation` applied
    assert torch.equal(decoded, preds.argmax(1))  # `decodes` applied
    assert torch.equal(targs, _Blobs(N_VALID, 1).y)
    # the per-item losses are the loss itself with reduction="none" (no index: evaluation)
    with torch.no_grad():
        loss.reduction = "none"
        logits = learn.model(_Blobs(N_VALID, 1).x)
        torch.testing.assert_close(losses, loss(logits, targs), rtol=1e-4, atol=1e-5)
        loss.reduction = "mean"
    torch.testing.assert_close(losses.mean(), torch.tensor(valid_loss), rtol=1e-4, atol=1e-5)

    with learn.no_bar():
        interp = ClassificationInterpretation.from_learner(learn)
        cm = interp.confusion_matrix()
        top, idx = interp.top_losses(5)
    assert cm.shape == (K, K) and cm.sum() == N_VALID
    assert (cm.diagonal().sum() / N_VALID) == pytest.approx(float(acc), abs=1e-6)
    torch.testing.assert_close(top, losses[idx])
