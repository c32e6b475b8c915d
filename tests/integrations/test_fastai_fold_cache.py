"""The fastai k-fold runner shares the fold cache of cross_val_pred_probs: a damaged fold file
is reported in one warning line and only that fold is trained again."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fastai.learner")

from fastai.learner import Learner  # noqa: E402
from fastai.losses import CrossEntropyLossFlat  # noqa: E402
from torch import nn  # noqa: E402

from mislabel.detect._cache import FoldCacheWarning  # noqa: E402
from mislabel.integrations.fastai import array_dls, cross_val_pred_probs_fastai  # noqa: E402

N, K, D = 90, 3, 6
BUILT = {"learners": 0}


def make_learner(dls):
    BUILT["learners"] += 1
    net = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, K))
    return Learner(dls, net, loss_func=CrossEntropyLossFlat())


def test_a_damaged_fastai_fold_is_retrained(blobs, tmp_path) -> None:
    X, y = blobs(N, 0, n_classes=K, dim=D)
    dls = functools.partial(array_dls, X, y, bs=32)
    kw = {"cv": 3, "epochs": 1, "lr": 1e-2, "random_state": 0, "cache_dir": tmp_path}
    BUILT["learners"] = 0
    first = cross_val_pred_probs_fastai(make_learner, dls, y, **kw)
    assert BUILT["learners"] == 3
    files = sorted(tmp_path.glob("oof-fastai-*/fold-*.npz"))
    assert len(files) == 3
    files[2].write_bytes(files[2].read_bytes()[:40])
    with pytest.warns(FoldCacheWarning, match="recomputing fold 2"):
        again = cross_val_pred_probs_fastai(make_learner, dls, y, **kw)
    assert BUILT["learners"] == 4
    np.testing.assert_allclose(again, first, atol=1e-6)
