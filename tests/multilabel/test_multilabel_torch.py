"""Multi-label training with torch: forward-corrected BCE against F.binary_cross_entropy,
MultiLabelTorchClassifier, and fastai's MultiCategoryBlock end to end."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from mislabel import InvalidInputError, InvalidParameterError  # noqa: E402
from mislabel.multilabel import (  # noqa: E402
    MultiLabelTorchClassifier,
    cross_val_multilabel_pred_probs,
    find_label_issues,
)
from mislabel.multilabel.losses import (  # noqa: E402
    ForwardCorrectedBCELoss,
    forward_corrected_bce,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _noise(k: int, miss: float = 0.2, false: float = 0.05) -> torch.Tensor:
    return torch.tensor([[1 - false, false], [miss, 1 - miss]], dtype=torch.float64).expand(k, 2, 2)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, "entry", "class"])
def test_identity_noise_is_bce_with_logits(reduction, weight):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 4, generator=g, dtype=torch.float64) * 3
    target = (torch.rand(16, 4, generator=g) < 0.4).double()
    w = {
        "entry": torch.rand(16, 4, generator=g, dtype=torch.float64),
        "class": torch.rand(4, dtype=torch.float64),
    }.get(weight)
    ours = forward_corrected_bce(
        logits, target, torch.eye(2).expand(4, 2, 2), weight=w, reduction=reduction
    )
    ref = F.binary_cross_entropy_with_logits(logits, target, weight=w, reduction=reduction)
    torch.testing.assert_close(ours, ref)


def test_matches_the_formula_and_gradchecks():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 3, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.rand(8, 3, generator=g, dtype=torch.float64)  # soft targets too
    t = _noise(3)
    p = torch.sigmoid(logits)
    q = p * t[:, 1, 1] + (1 - p) * t[:, 0, 1]
    ref = -(target * torch.log(q) + (1 - target) * torch.log(1 - q))
    torch.testing.assert_close(forward_corrected_bce(logits, target, t, reduction="none"), ref)
    assert torch.autograd.gradcheck(lambda z: forward_corrected_bce(z, target, t), (logits,))


def test_module_is_the_function_with_buffers_and_fastai_hooks():
    t = _noise(3)
    loss_fn = ForwardCorrectedBCELoss(t, reduction="sum")
    assert "noise_matrices" in dict(loss_fn.named_buffers())
    logits = torch.randn(5, 3, requires_grad=True)
    target = torch.ones(5, 3)
    torch.testing.assert_close(
        loss_fn(logits, target), forward_corrected_bce(logits, target, t.float(), reduction="sum")
    )
    loss_fn(logits, target).backward()
    assert logits.grad is not None
    torch.testing.assert_close(loss_fn.activation(logits), torch.sigmoid(logits))
    assert loss_fn.decodes(torch.tensor([0.2, 0.7])).tolist() == [False, True]


def test_bad_loss_arguments():
    with pytest.raises(
        InvalidInputError,
        match=r"`noise_matrices` must have shape \(n_classes, 2, 2\) = \(3, 2, 2\)",
    ):
        forward_corrected_bce(torch.zeros(2, 3), torch.zeros(2, 3), torch.eye(2).expand(2, 2, 2))
    with pytest.raises(InvalidInputError, match=r"rows .* must each sum to 1"):
        ForwardCorrectedBCELoss(torch.full((3, 2, 2), 0.3))
    with pytest.raises(InvalidInputError, match=r"`logits` and `target` must both have shape"):
        forward_corrected_bce(torch.zeros(2, 3), torch.zeros(2, 2), _noise(3))
    with pytest.raises(InvalidParameterError, match="`reduction` must be one of"):
        forward_corrected_bce(torch.zeros(2, 3), torch.zeros(2, 3), _noise(3), reduction="avg")


def _tags(n: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    true = (rng.random((n, k)) < 0.3).astype(np.int8)
    x = (true @ rng.normal(0, 2.0, (k, 8)) + rng.normal(0, 1.0, (n, 8))).astype(np.float32)
    return x, true, rng


def test_torch_classifier_is_seeded_and_learns():
    x, true, _ = _tags(400, 4, 0)
    make = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))  # noqa: E731
    a = MultiLabelTorchClassifier(make, epochs=20, lr=1e-2, random_state=3).fit(x, true)
    b = MultiLabelTorchClassifier(make, epochs=20, lr=1e-2, random_state=3).fit(x, true)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert (a.predict(x) == true).mean() > 0.9
    w = np.ones_like(true, dtype=np.float32)
    w[:, 0] = 0.0  # no signal for tag 0: its output stays near the initial one
    c = MultiLabelTorchClassifier(make, epochs=20, lr=1e-2, random_state=3).fit(
        x, true, sample_weight=w
    )
    assert (c.predict(x)[:, 1:] == true[:, 1:]).mean() > 0.9
    with pytest.raises(InvalidInputError, match=r"`noise_matrices` must be given"):
        MultiLabelTorchClassifier(make, loss="forward").fit(x, true)
    from mislabel import NotFittedError

    with pytest.raises(NotFittedError):
        MultiLabelTorchClassifier(make).predict_proba(x)


def test_torch_module_through_cross_validation_finds_errors():
    x, true, rng = _tags(600, 4, 1)
    noisy = np.where(rng.random(true.shape) < 0.05, 1 - true, true)
    module = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    raw = cross_val_multilabel_pred_probs(module, x, noisy, cv=3, random_state=0)
    assert raw.shape == noisy.shape  # a bare module is trained with the default settings
    est = MultiLabelTorchClassifier(module, epochs=30, lr=1e-2)
    probs = cross_val_multilabel_pred_probs(est, x, noisy, cv=3, random_state=0)
    res = find_label_issues(noisy, probs)
    assert (noisy != true)[res.entry_mask].mean() > 0.6


def test_forward_correction_recovers_missing_tags():
    """Half of every tag dropped: plain BCE learns to under-predict, the corrected loss with
    the true flip rates predicts the clean tags."""
    x, true, rng = _tags(1500, 3, 2)
    noisy = np.where((true == 1) & (rng.random(true.shape) < 0.5), 0, true)
    t = np.array([[[1.0, 0.0], [0.5, 0.5]]] * 3)
    make = lambda: nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))  # noqa: E731
    plain = MultiLabelTorchClassifier(make, epochs=15, random_state=0).fit(x, noisy)
    fixed = MultiLabelTorchClassifier(
        make, loss="forward", noise_matrices=t, epochs=15, random_state=0
    ).fit(x, noisy)
    recall = lambda m: (m.predict(x)[true == 1] == 1).mean()  # noqa: E731
    assert recall(fixed) > recall(plain) + 0.2


def test_fastai_multicategory_block():
    pytest.importorskip("fastai.learner")
    import pandas as pd
    from fastai.callback.progress import ProgressCallback  # noqa: F401  (Learner.no_bar)
    from fastai.data.block import ColReader, DataBlock, MultiCategoryBlock, TransformBlock
    from fastai.data.transforms import IndexSplitter
    from fastai.learner import Learner

    x, true, rng = _tags(512, 4, 3)
    noisy = np.where(rng.random(true.shape) < 0.05, 1 - true, true)
    names = np.array(["red", "green", "blue", "gold"])
    frame = pd.DataFrame(
        {"x": list(x), "tags": [" ".join(names[np.flatnonzero(r)]) for r in noisy]}
    )
    block = DataBlock(
        blocks=(TransformBlock(type_tfms=lambda v: torch.as_tensor(v)), MultiCategoryBlock),
        get_x=ColReader("x"),
        get_y=ColReader("tags", label_delim=" "),
        splitter=IndexSplitter(list(range(384, 512))),
    )
    dls = block.dataloaders(frame, bs=64, num_workers=0)
    vocab = list(dls.vocab)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, len(vocab)))
    order = [list(names).index(v) for v in vocab]
    issues_before = ForwardCorrectedBCELoss(np.array([np.eye(2)] * len(vocab)))
    learn = Learner(dls, net, loss_func=issues_before)
    with learn.no_bar(), learn.no_logging():
        learn.fit(3, 1e-2)
        probs, targs = learn.get_preds()
    assert probs.shape == targs.shape == (128, len(vocab))
    assert float(probs.min()) >= 0 and float(probs.max()) <= 1  # activation applied
    given = targs.numpy().astype(int)
    np.testing.assert_array_equal(given, noisy[384:, order])
    res = find_label_issues(given, probs.numpy())
    assert res.entry_mask.shape == given.shape
    # the default BCE of MultiCategoryBlock gives probabilities too
    learn2 = Learner(dls, nn.Sequential(nn.Linear(8, len(vocab))))
    with learn2.no_bar(), learn2.no_logging():
        learn2.fit(1, 1e-2)
        probs2, _ = learn2.get_preds()
    assert float(probs2.min()) >= 0 and float(probs2.max()) <= 1
