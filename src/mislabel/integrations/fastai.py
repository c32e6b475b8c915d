"""fastai: find wrong labels with a Learner, and train through them with callbacks and losses.

Needs the ``fastai`` extra (``pip install 'mislabel[fastai]'``). Only ``fastai.learner``,
``fastai.callback.*`` and ``fastai.data.*`` are imported here, never ``fastai.vision``; the
vision workflow (``ImageDataLoaders``, ``DataBlock``, ``vision_learner``) works through them.

The whole recipe, in place of ``learn.fit_one_cycle(5)``::

    learn = vision_learner(dls, resnet34, metrics=accuracy)
    suspects = fit_noise_aware(learn, 5)     # detection, then the final training
    suspects.to_frame()                      # file paths, given and suggested class names

Its parts: :func:`find_suspects` (image files judged as ``mislabel find`` judges a folder, or
one run of the Learner with ``MixUp`` and :class:`TemporalProbsRecorder`),
:class:`SampleWeightCallback`, the :mod:`mislabel.losses` as ``loss_func`` (they declare
``y_int``, so fastai's ``MixUp`` mixes their losses), and k-fold out-of-fold probabilities::

    folds = datablock_folds(dblock, path, bs=64)           # or any (train, valid) -> dls
    pred_probs = cross_val_pred_probs_fastai(make_learner, folds, folds.labels, cv=5,
                                             epochs=5, random_state=0, cache_dir=".cache")
    folds.suspects(pred_probs).to_frame()

Sample positions
----------------
Per-sample state (weights, ELR's targets, training dynamics) is indexed by the position of
each item in :func:`item_list`: the training items, then the validation items
(:func:`n_items` in all). Importing this module adds :class:`BatchIndexCallback` to fastai's
default callbacks (as fastai adds its ``Recorder``), so every Learner created afterwards
knows the positions of each training batch, with no change to the data: the callback
records the order the training DataLoader draws for the epoch, and batch ``i`` holds the
positions ``i·bs ...`` of it. It acts only when a callback here or a loss with
``takes_index`` (ELR, truncated GCE, weighted CE) needs the positions, which it binds to the
loss right before the loss call. Because the batches are untouched, ``predict``,
``get_preds``, ``test_dl``, ``show_results``, ``ClassificationInterpretation``,
``export`` / ``load_learner`` and ``lr_find`` work as without mislabel. Datasets that yield
``(x, y, index)`` (:class:`IndexedDataset`, :func:`array_dls`) carry the index in the batch
instead; it leaves ``learn.yb`` before the loss and metrics see it.

Callbacks
---------
* :class:`SampleWeightCallback` — per-sample weights (e.g. ``issues.weights``): the batch loss
  becomes the weighted mean ``sum s_i l_i / sum s_i w_{y_i}``; with ``MixUp``, each of a
  mixed sample's two losses carries its own sample's weight.
* :class:`SmallLossCallback` — drops the largest-loss share of each batch after a warm-up,
  keeping ``R(t) = 1 - τ·min(t/T_k, 1)`` (co-teaching's schedule on one network).
* :class:`TrainingDynamicsRecorder` — per-sample loss and margin per epoch → area under the
  margin (``.aum()``, ``.as_scores()``, ``.to_label_issues()``).
* :class:`TemporalProbsRecorder` — the network's probabilities for every item after each
  epoch (through the validation transforms: no augmentation), averaged (``.probs()``):
  detection probabilities from one run (with fastai's ``MixUp``) instead of k folds, as
  :func:`mislabel.integrations.torch.temporal_pred_probs` does for plain PyTorch.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import numbers
import os
import random
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mislabel._validation import as_seed, check_labels, check_option, check_scalar, optional_import

optional_import("fastai.learner", "fastai", "mislabel.integrations.fastai")

import fastai.callback.progress  # noqa: E402  (adds Learner.no_bar)
import fastai.callback.schedule  # noqa: E402, F401  (adds Learner.fit_one_cycle)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from fastai.callback.core import Callback  # noqa: E402
from fastai.data.core import DataLoaders  # noqa: E402
from fastai.data.load import DataLoader  # noqa: E402
from torch import Tensor  # noqa: E402

from mislabel.detect._knn import TemporalVote  # noqa: E402
from mislabel.exceptions import InvalidInputError, InvalidParameterError  # noqa: E402
from mislabel.integrations.torch import stable_repr  # noqa: E402
from mislabel.train._dynamics import TrainingDynamics  # noqa: E402
from mislabel.train._schedule import check_schedule, keep_rate, n_keep  # noqa: E402

__all__ = [
    "ArrayDataset",
    "BatchIndexCallback",
    "DataBlockFolds",
    "FastaiIssues",
    "IndexedDataset",
    "SampleWeightCallback",
    "SmallLossCallback",
    "TemporalProbsRecorder",
    "TrainingDynamicsRecorder",
    "array_dls",
    "cross_val_pred_probs_fastai",
    "datablock_folds",
    "find_suspects",
    "fit_noise_aware",
    "item_labels",
    "item_list",
    "items_dl",
    "n_items",
]

if TYPE_CHECKING:
    from mislabel.data._load import ProgressCallback

logger = logging.getLogger(__name__)

FitMethod = Literal["fit", "fit_one_cycle"]


# --------------------------------------------------------------------------- datasets


class ArrayDataset:
    """Items ``(x_i, y_i)`` of a feature array and labels (float32 features, int64 labels)."""

    n_inp = 1

    def __init__(self, X: Any, labels: Any) -> None:
        x = X.detach() if isinstance(X, Tensor) else torch.from_numpy(np.ascontiguousarray(X))
        self.x = x if x.is_floating_point() else x.float()
        self.y = torch.as_tensor(check_labels(labels), dtype=torch.long)
        if self.x.shape[0] != self.y.shape[0]:
            raise InvalidInputError(
                f"`X` must have one row per label ({self.y.shape[0]}); got {self.x.shape[0]}."
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.y[i]


class IndexedDataset:
    """Items ``(*item, index)`` of a map-style dataset, ``index`` its position in ``dataset``.

    Args:
        dataset: items are tuples ``(x, y)`` (or ``(x1, x2, ..., y)`` with ``n_inp``).
        indices: optional subset (e.g. a fold's training part); the yielded index is still the
            position in the whole ``dataset``, so per-sample state lines up across folds.
        n_inp: number of inputs per item (default: ``dataset.n_inp`` or 1).

    Attributes:
        yields_index: True, the marker :func:`cross_val_pred_probs_fastai` looks for.
        n_total: ``len(dataset)``, the size per-sample state needs.
    """

    yields_index = True

    def __init__(self, dataset: Any, indices: Any = None, n_inp: int | None = None) -> None:
        self.dataset = dataset
        self.n_total = len(dataset)
        self.indices = (
            np.arange(self.n_total) if indices is None else np.asarray(indices, dtype=np.int64)
        )
        self.n_inp = int(n_inp if n_inp is not None else getattr(dataset, "n_inp", 1))

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        j = int(self.indices[i])
        item = self.dataset[j]
        if not isinstance(item, tuple):
            item = (item,)
        return (*item, torch.tensor(j))


def array_dls(
    X: Any,
    labels: Any,
    train_idx: Any,
    valid_idx: Any,
    *,
    bs: int = 64,
    with_index: bool = True,
    device: Any = None,
) -> DataLoaders:
    """fastai ``DataLoaders`` of one fold from a feature array and labels.

    The training loader shuffles and drops a last incomplete batch; the validation loader keeps
    the order of ``valid_idx``. With ``with_index`` items are ``(x, y, index)`` (index into
    ``X``) for :class:`BatchIndexCallback`. Use ``functools.partial(array_dls, X, labels)`` as
    the ``dls_factory`` of :func:`cross_val_pred_probs_fastai`.
    """
    base = ArrayDataset(X, labels)

    def wrap(idx: Any) -> Any:
        return IndexedDataset(base, idx) if with_index else _Subset(base, idx)

    train_dl = DataLoader(wrap(train_idx), bs=bs, shuffle=True, drop_last=True)
    valid_dl = DataLoader(wrap(valid_idx), bs=bs, shuffle=False)
    return DataLoaders(train_dl, valid_dl, device=device)


class _Subset:
    n_inp = 1

    def __init__(self, dataset: Any, indices: Any) -> None:
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self.indices[i])]


# --------------------------------------------------------------------------- callbacks


def _register_default(cb: type) -> None:
    """Make every Learner created from now on carry ``cb`` (as fastai does with Recorder)."""
    from fastai.learner import defaults

    if cb not in defaults.callbacks:
        defaults.callbacks.append(cb)


def _bind(loss: Any, index: Tensor | None) -> None:
    if index is not None and getattr(loss, "takes_index", False):
        loss.bind_index(index)


def _ensure_batch_index(learn: Any) -> None:
    if not any(isinstance(cb, BatchIndexCallback) for cb in learn.cbs):
        learn.add_cb(BatchIndexCallback())


def _index_of(learn: Any, who: str) -> Tensor:
    idx = getattr(learn, "yb_index", None)
    if idx is None:
        raise InvalidInputError(
            f"{who} needs the position of every training sample; it is taken from the "
            "training DataLoader's sample order (a fastai DataLoader) or from items "
            "(x, y, index) (IndexedDataset, or array_dls(..., with_index=True))."
        )
    return idx


def _yields_index(dls: Any) -> bool:
    return bool(getattr(dls.train.dataset, "yields_index", False))


def n_items(dls: Any) -> int:
    """Size of the per-sample state of a fastai ``DataLoaders``: the number of items in
    :func:`item_list` (training then validation items), or ``n_total`` of an
    :class:`IndexedDataset`."""
    ds = dls.train.dataset
    if getattr(ds, "yields_index", False):
        return int(getattr(ds, "n_total", len(ds)))
    return sum(len(dl.dataset) for dl in _train_valid(dls))


def _dataset_size(learn: Any) -> int:
    return n_items(learn.dls)


def _train_valid(dls: Any) -> list[Any]:
    loaders = list(getattr(dls, "loaders", [dls.train]))
    return loaders[:2]


def _mixup_of(learn: Any) -> Any:
    from fastai.callback.mixup import MixHandler

    return next((cb for cb in learn.cbs if isinstance(cb, MixHandler)), None)


class _OrderRecorder:
    """``dl.get_idxs`` while training: the sample order of the epoch, also kept by ``sink``.
    Pickles without ``sink`` (DataLoader workers started by spawning get a copy)."""

    def __init__(self, get_idxs: Callable[[], Any], sink: Any) -> None:
        self.get_idxs, self.sink = get_idxs, sink

    def __call__(self) -> Any:
        order = list(self.get_idxs())
        if self.sink is not None:
            self.sink._order = [int(i) for i in order]
        return order

    def __getstate__(self) -> dict[str, Any]:
        return {"get_idxs": self.get_idxs, "sink": None}


class BatchIndexCallback(Callback):
    """Give every training batch the positions of its samples, as ``learn.yb_index``, and
    bind them to a loss that takes them while training.

    The positions index :func:`item_list` (the training items, then the validation items),
    so per-sample state (weights, ELR targets, training dynamics) has :func:`n_items` rows.
    They come from the training DataLoader's own sample order: at ``before_train`` the
    callback records the order the DataLoader draws for the epoch (``get_idxs``), and batch
    ``i`` holds the positions ``i·bs ... i·bs + len(batch) - 1`` of it. The batches
    themselves are not changed, so ``predict``, ``get_preds``, ``test_dl``, ``show_results``
    and ``export`` work as without mislabel. Datasets that yield ``(x, y, index)``
    (:class:`IndexedDataset`, :func:`array_dls`) give the index in the batch instead: it
    leaves ``learn.yb`` at ``before_batch``, so the loss, metrics and ``get_preds`` see the
    usual targets. At ``after_pred`` the positions are bound to a loss with ``takes_index``
    (ELR, truncated GCE, weighted CE). Added automatically by the other callbacks here and by
    :func:`cross_val_pred_probs_fastai`.
    """

    order = -9  # after TrainEvalCallback (-10), before the other mislabel callbacks

    def __init__(self) -> None:
        super().__init__()
        self._order: list[int] | None = None
        self._watched: tuple[Any, bool, Any] | None = None

    def before_fit(self) -> None:
        from mislabel.train._capacity import warn_if_elr_cannot_help

        if not self._first():
            return
        learn = self.learn
        if getattr(learn.loss_func, "takes_index", False) and _mixup_of(learn) is not None:
            raise InvalidParameterError(
                f"{type(learn.loss_func).__name__} keeps per-sample state that a mixed input "
                "does not belong to: it does not combine with MixUp/CutMix. Train the loss "
                "without them, or use a loss without sample positions (e.g. 'gce', or 'ce' "
                "with SampleWeightCallback)."
            )
        # ELR on a model that cannot memorise its training set warns, as in mislabel.train
        warn_if_elr_cannot_help(learn.model, len(learn.dls.train.dataset), learn.loss_func)

    def _first(self) -> bool:
        """Only the first of several (fastai's default one and a user's) acts."""
        first = next(cb for cb in self.learn.cbs if isinstance(cb, BatchIndexCallback))
        return first is self

    def _needed(self) -> bool:
        learn = self.learn
        return bool(getattr(learn.loss_func, "takes_index", False)) or any(
            getattr(cb, "needs_positions", False) for cb in learn.cbs
        )

    def before_train(self) -> None:
        dl = self.learn.dl
        if not self._first():
            return
        if not getattr(dl.dataset, "yields_index", False) and self._needed():
            self._watch(dl)

    def _watch(self, dl: Any) -> None:
        get_idxs = getattr(dl, "get_idxs", None)
        if not callable(get_idxs) or not getattr(dl, "indexed", True):
            raise InvalidInputError(
                "the positions of the training samples come from a fastai DataLoader over a "
                f"map-style dataset; got {type(dl).__name__}. Wrap the dataset in "
                "IndexedDataset (items (x, y, index)) instead."
            )
        own = "get_idxs" in vars(dl)
        recording = _OrderRecorder(get_idxs, self)
        dl.get_idxs = recording
        self._watched = (dl, own, get_idxs)

    def _unwatch(self) -> None:
        if self._watched is not None:
            dl, own, get_idxs = self._watched
            if own:
                dl.get_idxs = get_idxs
            else:
                vars(dl).pop("get_idxs", None)
            self._watched = None
        self._order = None

    def before_batch(self) -> None:
        if not self._first():
            return
        if getattr(getattr(self.learn.dl, "dataset", None), "yields_index", False):
            self._take_from_batch()
        elif self.training and self._watched is not None:
            self.learn.yb_index = self._positions()
        else:
            self.learn.yb_index = None

    def _positions(self) -> Tensor:
        learn = self.learn
        b = int(learn.yb[0].shape[0]) if learn.yb else int(learn.xb[0].shape[0])
        order = self._order
        bs = int(getattr(learn.dl, "bs", b) or b)
        start = int(learn.iter) * bs
        if order is None or start + b > len(order):
            raise InvalidInputError(
                "the training DataLoader gave more samples than the order it drew for the "
                "epoch: its items cannot be matched to positions. Wrap the dataset in "
                "IndexedDataset (items (x, y, index)) instead."
            )
        return torch.as_tensor(
            order[start : start + b], dtype=torch.long, device=learn.yb[0].device
        )

    def _take_from_batch(self) -> None:
        yb = self.learn.yb
        if len(yb) < 2:
            raise InvalidInputError(
                f"batches must end with the dataset index: items (x, y, index) with n_inp=1; "
                f"got {len(self.learn.xb)} input(s) and {len(yb)} target(s). Wrap the dataset "
                "in IndexedDataset (or use array_dls(..., with_index=True))."
            )
        index = yb[-1]
        if (
            not isinstance(index, Tensor)
            or index.ndim != 1
            or index.is_floating_point()
            or index.shape[0] != yb[0].shape[0]
        ):
            raise InvalidInputError(
                "the last element of each batch must be the (batch,) integer dataset index; "
                f"got {getattr(index, 'shape', type(index).__name__)}."
            )
        self.learn.yb = tuple(yb[:-1])
        self.learn.yb_index = index

    def after_pred(self) -> None:
        if self.training and self._first():
            _bind(self.learn.loss_func, getattr(self.learn, "yb_index", None))

    def after_train(self) -> None:
        self._unwatch()

    def after_cancel_train(self) -> None:
        self._unwatch()

    def after_fit(self) -> None:
        self._unwatch()
        self.learn.yb_index = None


_register_default(BatchIndexCallback)


class TrainingDynamicsRecorder(Callback):
    """Record each training sample's loss and margin per epoch (area under the margin).

    Reads the logits of the training forward pass before any selection (so it sees every
    sample), with the dataset index from :class:`BatchIndexCallback`. After ``fit``:
    :meth:`aum` (low = suspect), :meth:`as_scores` (``sigmoid(AUM)``, label quality in (0, 1)),
    :meth:`to_label_issues` (a :class:`mislabel.LabelIssues`), and :attr:`dynamics` (the
    :class:`mislabel.train.TrainingDynamics` with the per-epoch ``losses`` and ``margins``).

    Args:
        n_samples: size of the indexed dataset (default: ``n_total`` of the training dataset,
            or its length).
    """

    order = -6
    run_valid = False
    needs_positions = True

    def __init__(self, n_samples: int | None = None) -> None:
        super().__init__()
        if n_samples is not None:
            check_scalar(n_samples, "n_samples", kind=numbers.Integral, min_val=1)
        self.n_samples = n_samples
        self.dynamics: TrainingDynamics | None = None

    def before_fit(self) -> None:
        _ensure_batch_index(self.learn)

    def after_pred(self) -> None:
        pred = self.learn.pred
        if self.dynamics is None:
            n = self.n_samples if self.n_samples is not None else _dataset_size(self.learn)
            self.dynamics = TrainingDynamics(n, int(pred.shape[1]))
        self.dynamics.update(
            _index_of(self.learn, "TrainingDynamicsRecorder"), pred, self.learn.yb[0]
        )

    def after_train(self) -> None:
        if self.dynamics is not None:
            self.dynamics.end_epoch()

    def _dyn(self) -> TrainingDynamics:
        if self.dynamics is None:
            from mislabel.exceptions import NotFittedError

            raise NotFittedError("TrainingDynamicsRecorder has recorded nothing; call fit first.")
        return self.dynamics

    def aum(self) -> np.ndarray:
        """(n,) area under the margin, low = suspect (nan for samples never trained on)."""
        return self._dyn().aum()

    def as_scores(self) -> np.ndarray:
        """(n,) ``sigmoid(AUM)``: label quality in (0, 1), low = suspect."""
        return self._dyn().as_scores()

    def to_label_issues(self, labels: Any = None, **kwargs: Any) -> Any:
        """:meth:`mislabel.train.TrainingDynamics.to_label_issues`."""
        return self._dyn().to_label_issues(labels, **kwargs)


class TemporalProbsRecorder(Callback):
    """After each epoch's training phase, predict every training sample and keep the running
    sum of the probabilities; :meth:`probs` is their mean over the epochs (a temporal
    ensemble), to cut with :func:`mislabel.train.one_run_issues` (see
    :func:`mislabel.integrations.torch.temporal_pred_probs` for why).
    Train with fastai's ``MixUp()`` callback so that single wrong labels are hardly
    memorised; the predictions here are of the unmixed samples.

    Args:
        dl: the samples to predict, in a fixed order, without augmentation, one batch at a
            time, the first ``n_inp`` elements of each batch being the model's inputs. Default
            (None): every item of the Learner's DataLoaders, training then validation items
            (:func:`item_list`; row i of :meth:`probs` is position i), through the
            validation transforms (:func:`items_dl`), so no training augmentation. For
            DataLoaders without an item list, e.g. ``array_dls(X, labels, idx, idx).valid``.
            Row i of :meth:`probs` is its i-th sample.
        n_inp: number of inputs per batch (default: ``dl.n_inp``, else 1).
        activation: maps the logits to probabilities (default softmax).
        neighbors: > 0 averages :meth:`probs` with the given labels' distribution among each
            sample's ``neighbors`` nearest others in the model's penultimate features (the
            input of its last ``nn.Linear``; :func:`mislabel.neighbor_label_probs`), averaged
            over the second half of the epochs (as
            :func:`mislabel.integrations.torch.temporal_pred_probs`); the labels are the
            batches' element ``n_inp``.
    """

    order = 60  # after the training phase's own callbacks

    def __init__(
        self,
        dl: Any = None,
        n_inp: int | None = None,
        activation: Callable[[Tensor], Tensor] | None = None,
        neighbors: int = 0,
    ) -> None:
        super().__init__()
        if dl is not None and not hasattr(dl, "__iter__"):
            from mislabel.exceptions import InvalidParameterError

            raise InvalidParameterError(
                "`dl` must be an iterable of batches (a fastai or torch DataLoader over the "
                f"training samples, unshuffled); got {type(dl).__name__}."
            )
        n = n_inp if n_inp is not None else getattr(dl, "n_inp", None)
        self.n_inp = int(
            check_scalar(1 if n is None else n, "n_inp", kind=numbers.Integral, min_val=1)
        )
        self.dl = dl
        self.activation = activation
        self._vote = TemporalVote(neighbors)
        self._shape: tuple[int, ...] | None = None
        self._n_inp_given = n_inp is not None or dl is not None
        self._items_dl: Any = None

    def before_fit(self) -> None:
        if self.dl is None:
            self._items_dl = items_dl(self.learn.dls)
            if not self._n_inp_given:
                self.n_inp = int(getattr(self._items_dl, "n_inp", None) or 1)

    def after_fit(self) -> None:
        self._items_dl = None  # built again by the next fit; not exported with the Learner

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_items_dl"] = None
        return state

    @property
    def n_epochs(self) -> int:
        """Epochs recorded so far."""
        return self._vote.n_epochs

    def after_train(self) -> None:
        from mislabel.train._loop import recording_penultimate

        model = self.learn.model
        vote = self._vote.votes_at(self.n_epochs, int(getattr(self.learn, "n_epoch", 0)))
        was_training = model.training
        model.eval()
        parts: list[Tensor] = []
        feats: list[Tensor] = []
        given: list[np.ndarray] = []
        dl = self.dl if self.dl is not None else self._items_dl
        with torch.no_grad(), recording_penultimate(model, feats) if vote else nullcontext():
            for batch in dl:
                logits = model(*batch[: self.n_inp]).float()
                act = self.activation
                parts.append((act(logits) if act is not None else logits.softmax(dim=1)).cpu())
                if vote:
                    given.append(self._batch_labels(batch))
        model.train(was_training)
        probs = torch.cat(parts).numpy()
        if self._shape is not None and self._shape != probs.shape:
            raise InvalidInputError(
                f"`dl` gave {probs.shape} probabilities after epoch {self.n_epochs + 1} "
                f"but {self._shape} before: it must yield the same samples, in the "
                "same order, every time (shuffle=False, drop_last=False)."
            )
        self._shape = probs.shape
        if vote:
            self._vote.add(probs, torch.cat(feats).numpy(), np.concatenate(given))
        else:
            self._vote.add(probs)

    def _batch_labels(self, batch: Any) -> np.ndarray:
        if len(batch) <= self.n_inp:
            raise InvalidInputError(
                f"`neighbors` needs the labels: each batch of `dl` must hold them after its "
                f"{self.n_inp} input(s); got batches of {len(batch)} element(s)."
            )
        return np.asarray(batch[self.n_inp].detach().cpu()).reshape(-1)

    def probs(self) -> np.ndarray:
        """(n, n_classes) float32: each training sample's probabilities averaged over the
        finished epochs (with ``neighbors``: averaged with the mean label vote)."""
        if self.n_epochs == 0:
            from mislabel.exceptions import NotFittedError

            raise NotFittedError("TemporalProbsRecorder has recorded nothing; call fit first.")
        return self._vote.mean()


class SmallLossCallback(Callback):
    """Train on the small-loss share of each batch: drop the rest after a warm-up.

    At epoch ``t`` (0-based) the ``R(t) = 1 - forget_rate·min((t - warmup_epochs) / t_k, 1)``
    share of each training batch with the smallest cross-entropy is kept; ``pred``, the
    targets and the bound index are cut to it before the loss, so any loss (and ELR's
    per-sample targets) sees only the kept samples (Han et al., NeurIPS 2018).

    Args:
        forget_rate: τ in [0, 1): the share dropped once the ramp is over; the noise rate,
            known or estimated (``mislabel.estimate_noise(labels, pred_probs).noise_rate``).
        warmup_epochs: epochs that keep every sample before the ramp starts.
        t_k: epochs the ramp takes.

    Attributes:
        history: one dict per epoch: ``epoch``, ``keep_rate``, ``n_seen``, ``n_kept``.
    """

    order = -5
    run_valid = False

    def __init__(self, forget_rate: float, warmup_epochs: int = 0, t_k: int = 10) -> None:
        super().__init__()
        check_schedule(forget_rate, t_k, warmup_epochs)
        self.forget_rate = float(forget_rate)
        self.warmup_epochs = int(warmup_epochs)
        self.t_k = int(t_k)
        self.history: list[dict[str, Any]] = []
        self._seen = 0
        self._kept = 0

    def before_fit(self) -> None:
        if getattr(self.learn.dls.train.dataset, "yields_index", False):
            _ensure_batch_index(self.learn)

    def before_train(self) -> None:
        self._seen = 0
        self._kept = 0

    def after_pred(self) -> None:
        rate = keep_rate(self.epoch, self.forget_rate, self.t_k, self.warmup_epochs)
        learn = self.learn
        y = learn.yb[0]
        b = int(y.shape[0])
        self._seen += b
        if rate >= 1.0:
            self._kept += b
            return
        with torch.no_grad():
            per = F.cross_entropy(learn.pred.float(), y, reduction="none")
        k = n_keep(rate, b)
        keep = torch.argsort(per, stable=True)[:k]
        learn.pred = learn.pred[keep]
        learn.yb = tuple(t[keep] for t in learn.yb)
        index = getattr(learn, "yb_index", None)
        if index is not None:
            learn.yb_index = index[keep.to(index.device)]
            _bind(learn.loss_func, learn.yb_index)
        self._kept += k

    def after_train(self) -> None:
        self.history.append(
            {
                "epoch": int(self.epoch),
                "keep_rate": keep_rate(self.epoch, self.forget_rate, self.t_k, self.warmup_epochs),
                "n_seen": self._seen,
                "n_kept": self._kept,
            }
        )


def _class_weight(loss: Any) -> Tensor | None:
    for obj in (loss, getattr(loss, "func", None)):
        w = getattr(obj, "weight", None)
        if isinstance(w, Tensor):
            return w
    return None


@contextmanager
def _no_reduction(loss: Any) -> Iterator[Any]:
    old = loss.reduction
    loss.reduction = "none"
    try:
        yield loss
    finally:
        loss.reduction = old


class SampleWeightCallback(Callback):
    """Weight each training sample's loss, e.g. by its detection score.

    While training, the loss runs with ``reduction="none"`` and the batch loss becomes
    ``sum_i s_i l_i / sum_i s_i w_{y_i}`` (``w``: the loss's per-class weight, if any), the
    weighted mean ``F.cross_entropy`` uses; validation is unweighted. Works with any loss that
    has a ``reduction`` attribute (fastai's ``CrossEntropyLossFlat``, torch's, every
    :mod:`mislabel.losses` loss except ``weighted_ce``, which weighs by itself).

    With fastai's ``MixUp`` (or ``CutMix``), each mixed sample's two losses are weighted by
    their own samples' weights: ``sum_i (λ_i s_i l_i + (1-λ_i) s_m(i) l'_i) / sum_i (λ_i s_i
    w_{y_i} + (1-λ_i) s_m(i) w_{y_m(i)})``, ``m(i)`` the sample mixed into ``i`` (read from
    the permutation the mixing callback draws with ``torch.randperm``).

    Args:
        weights: finite non-negative weights, one per position of :func:`item_list` (the
            training items, then the validation items; :func:`n_items` of them) or one per
            training item; e.g. ``issues.weights`` of :func:`mislabel.find_label_issues` (the
            probability that each label is right), or ``(~issues.mask).astype(float)`` to drop
            the flagged samples. With an :class:`IndexedDataset`, one per sample of its whole
            dataset.

    Attributes:
        n_seen, n_zero_weight, weight_sum: counters over the batches trained on.
    """

    order = -4
    run_valid = False
    needs_positions = True

    def __init__(self, weights: Any) -> None:
        super().__init__()
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise InvalidInputError(
                f"`weights` must be a 1-D array with one weight per sample; got shape {w.shape}."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            i = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise InvalidInputError(
                f"`weights` must be finite and non-negative; got {w[i]} at position {i}."
            )
        self.weights = torch.from_numpy(w.astype(np.float32))
        self.n_seen = 0
        self.n_zero_weight = 0
        self.weight_sum = 0.0
        self._reduction: str | None = None
        self._mix: Any = None
        self._mate: Tensor | None = None

    def before_fit(self) -> None:
        _ensure_batch_index(self.learn)
        loss = self.learn.loss_func
        if not hasattr(loss, "reduction"):
            raise InvalidParameterError(
                "SampleWeightCallback needs a loss with a `reduction` attribute (e.g. "
                f"CrossEntropyLossFlat(), mislabel.losses.get('ce')); got {type(loss).__name__}."
            )
        n = _dataset_size(self.learn)
        n_train = len(self.learn.dls.train.dataset)
        m = int(self.weights.shape[0])
        if m == n_train and m != n and not _yields_index(self.learn.dls):
            # one weight per training item: the validation positions are never trained on
            self.weights = torch.cat([self.weights, torch.ones(n - m)])
        elif m != n:
            raise InvalidInputError(
                f"`weights` must have one entry per sample of the indexed dataset ({n}, the "
                f"training then the validation items), or per training item ({n_train}); got "
                f"{m}."
            )
        self._mix = _mixup_of(self.learn)
        if self._mix is not None:
            if not getattr(loss, "y_int", False):
                raise InvalidParameterError(
                    "SampleWeightCallback with MixUp needs a loss on integer targets "
                    f"(`y_int = True`: CrossEntropyLossFlat, mislabel.losses); got "
                    f"{type(loss).__name__}."
                )
            self._watch_mixing(self._mix)

    def _watch_mixing(self, mix: Any) -> None:
        draw = type(mix).before_batch

        def before_batch() -> None:
            drawn: list[Tensor] = []
            randperm = torch.randperm

            def recording(*args: Any, **kwargs: Any) -> Tensor:
                out = randperm(*args, **kwargs)
                drawn.append(out)
                return out

            torch.randperm = recording
            try:
                draw(mix)
            finally:
                torch.randperm = randperm
            if len(drawn) != 1:
                raise InvalidParameterError(
                    f"SampleWeightCallback cannot tell which samples {type(mix).__name__} "
                    f"mixed ({len(drawn)} permutations drawn for one batch)."
                )
            self._mate = drawn[0]

        vars(mix)["before_batch"] = before_batch

    def after_pred(self) -> None:
        if self._mix is not None:
            return  # the mixed loss is weighted in after_loss
        loss = self.learn.loss_func
        self._reduction = loss.reduction
        loss.reduction = "none"

    def after_loss(self) -> None:
        if self._mix is not None:
            self._after_mixed_loss()
            return
        if self._reduction is None:
            return
        learn = self.learn
        learn.loss_func.reduction, self._reduction = self._reduction, None
        per = learn.loss_grad
        idx = _index_of(learn, "SampleWeightCallback")
        w = self.weights.to(per.device)[idx.to(per.device)].to(per.dtype)
        den = w
        cw = _class_weight(learn.loss_func)
        if cw is not None:
            den = w * cw.to(device=per.device, dtype=per.dtype)[learn.yb[0]]
        learn.loss_grad = (per * w).sum() / den.sum().clamp_min(1e-12)
        learn.loss = learn.loss_grad.clone()
        self._count(w)

    def _after_mixed_loss(self) -> None:
        learn, mix = self.learn, self._mix
        base = mix.old_lf
        idx = _index_of(learn, "SampleWeightCallback")
        mate = self._mate
        if mate is None:  # pragma: no cover - set by the mixing callback's before_batch
            raise InvalidParameterError("MixUp did not mix this batch.")
        y, y1 = learn.yb[0], mix.yb1[0]
        with _no_reduction(base) as lf:
            per, per1 = lf(learn.pred, y), lf(learn.pred, y1)
        dev, dt = per.device, per.dtype
        w_all = self.weights.to(dev)
        idx = idx.to(dev)
        w, w1 = w_all[idx].to(dt), w_all[idx[mate.to(dev)]].to(dt)
        lam = torch.as_tensor(mix.lam, device=dev, dtype=dt).reshape(-1)
        a, b = lam * w, (1 - lam) * w1
        cw = _class_weight(base)
        if cw is None:
            den = a + b
        else:
            cw = cw.to(device=dev, dtype=dt)
            den = a * cw[y] + b * cw[y1]
        learn.loss_grad = (a * per + b * per1).sum() / den.sum().clamp_min(1e-12)
        learn.loss = learn.loss_grad.clone()
        self._count(w)

    def _count(self, w: Tensor) -> None:
        self.n_seen += int(w.shape[0])
        self.n_zero_weight += int((w == 0).sum())
        self.weight_sum += float(w.sum())

    def _restore(self) -> None:
        if self._reduction is not None:
            self.learn.loss_func.reduction, self._reduction = self._reduction, None

    def after_cancel_batch(self) -> None:
        self._restore()

    def after_cancel_fit(self) -> None:
        self.after_fit()

    def after_fit(self) -> None:
        self._restore()
        if self._mix is not None:
            vars(self._mix).pop("before_batch", None)
            self._mix, self._mate = None, None


# --------------------------------------------------------------------------- out-of-fold


@contextmanager
def _seeded_everything(seed: int | None) -> Iterator[None]:
    """Seed python's, numpy's and torch's global RNGs (fastai draws from all three) and put
    the caller's states back afterwards."""
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def _check_output(learn: Any, k: int, fold: int) -> None:
    dls = learn.dls
    batch = dls.valid.one_batch()
    n_inp = int(getattr(dls, "n_inp", 1))
    xb = batch[:n_inp]
    model = learn.model
    try:
        device = next(model.parameters()).device
        xb = tuple(x.to(device) if isinstance(x, Tensor) else x for x in xb)
    except StopIteration:
        pass
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*xb)
    except Exception as exc:
        raise InvalidInputError(
            f"fold {fold}: the Learner's model failed on one validation batch: "
            f"{type(exc).__name__}: {exc}."
        ) from exc
    finally:
        model.train(was_training)
    b = int(batch[0].shape[0]) if hasattr(batch[0], "shape") else None
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[1] != k or out.shape[0] != b:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise InvalidInputError(
            f"the Learner's model must output logits of shape (n_samples, n_classes) = "
            f"({b}, {k}); got {got}. End the network with a layer of n_classes = {k} outputs."
        )


def _cache_key(
    learner_factory: Any,
    dls_factory: Any,
    labels: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    k: int,
    settings: str,
) -> str:
    h = hashlib.sha256()
    for part in (stable_repr(learner_factory), stable_repr(dls_factory), settings, str(k)):
        h.update(part.encode())
    h.update(labels.astype(np.int64).tobytes())
    for _, test in splits:
        h.update(np.asarray(test, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def cross_val_pred_probs_fastai(
    learner_factory: Callable[[Any], Any],
    dls_factory: Callable[[np.ndarray, np.ndarray], Any],
    labels: Any,
    *,
    cv: Any = 5,
    epochs: int = 1,
    lr: float = 1e-3,
    fit_method: FitMethod = "fit_one_cycle",
    random_state: int | np.random.Generator | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_key: str = "",
    n_classes: int | None = None,
    progress: bool = False,
    callback: Callable[[int, int, int], None] | None = None,
) -> np.ndarray:
    """Out-of-fold predicted probabilities from k stratified folds, with fastai.

    For each fold, ``dls_factory(train_idx, valid_idx)`` builds the fold's ``DataLoaders``
    (the validation loader holding exactly the held-out samples), ``learner_factory(dls)`` a
    fresh ``Learner``, which trains for ``epochs`` and predicts the held-out samples with
    ``get_preds``. Every sample's probabilities thus come from a model that never saw its label.

    Checked before any training: both factories callable, labels in ``[0, n_classes)`` with at
    least two classes, every fold's training part holding every class, and (per fold, before
    its training) the model's output on one validation batch being (batch, n_classes).

    Args:
        learner_factory: ``dls -> Learner``. Put the loss, metrics and callbacks there
            (:class:`BatchIndexCallback` is added when the data yield indices).
        dls_factory: ``(train_idx, valid_idx) -> DataLoaders`` (indices into ``labels``); the
            validation loader must not shuffle or drop samples. :func:`array_dls` builds one.
        labels: (n,) given labels.
        cv: number of stratified, shuffled folds, or a scikit-learn splitter.
        epochs: epochs per fold.
        lr: learning rate (the maximum of the one-cycle schedule with ``fit_one_cycle``).
        fit_method: ``"fit_one_cycle"`` or ``"fit"``.
        random_state: seeds the folds and, per fold (seed + fold), python's, numpy's and
            torch's RNGs while the DataLoaders and the Learner are built and trained (fastai
            draws from all three); the caller's RNG states are restored.
        cache_dir: each finished fold is written there atomically; a rerun with the same
            factories (by qualified name and code), labels, folds and settings computes only
            the missing folds.
        cache_key: extra text for the cache key, for factories whose code is the same but whose
            captured settings differ (closures, data).
        n_classes: number of classes (default: max label + 1).
        progress: show fastai's progress bars and epoch table.
        callback: ``callback(fold, n_done, n_folds)`` after each fold (cached ones first), as
            in :func:`mislabel.cross_val_pred_probs`.

    Returns:
        (n_samples, n_classes) float64 out-of-fold probabilities (softmax applied when the loss
        has no ``activation``).
    """
    from mislabel.detect._cache import FoldCache
    from mislabel.detect._oof import _splits

    for name, fn, sig in (
        ("learner_factory", learner_factory, "dls -> Learner"),
        ("dls_factory", dls_factory, "(train_idx, valid_idx) -> DataLoaders"),
    ):
        if not callable(fn):
            raise InvalidParameterError(
                f"`{name}` must be callable ({sig}); got {type(fn).__name__}."
            )
    check_scalar(epochs, "epochs", kind=numbers.Integral, min_val=1)
    check_scalar(lr, "lr", min_val=0.0, include_min=False)
    check_option(fit_method, "fit_method", ("fit", "fit_one_cycle"))
    if n_classes is not None:
        check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2)
    y = check_labels(labels, n_classes=n_classes)
    k = int(n_classes) if n_classes is not None else int(y.max()) + 1
    if np.unique(y).size < 2:
        raise InvalidInputError(
            f"`labels` must contain at least 2 classes for cross-validation; got only class "
            f"{int(y[0])}."
        )
    seed = as_seed(random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # replaced by the error below
        splits = _splits(cv, y, seed)
    for fold, (train, _) in enumerate(splits):
        missing = np.flatnonzero(np.bincount(y[train], minlength=k) == 0)
        if missing.size:
            total = np.bincount(y, minlength=k)[missing]
            raise InvalidInputError(
                f"fold {fold}'s training part has no sample of classes {missing[:10].tolist()} "
                f"({total[:10].tolist()} in all `labels`); a model trained there cannot predict "
                "them. Use fewer folds (cv) or merge or drop the rare classes."
            )

    n = y.shape[0]
    out = np.zeros((n, k), dtype=np.float64)
    todo = list(range(len(splits)))
    cache: FoldCache | None = None
    if cache_dir is not None:
        settings = f"epochs={epochs};lr={lr!r};fit={fit_method};seed={seed};key={cache_key}"
        key = _cache_key(learner_factory, dls_factory, y, splits, k, settings)
        cache = FoldCache(Path(cache_dir) / f"oof-fastai-{key}", splits, k)
        todo = []
        for f in range(len(splits)):
            cached = cache.load(f)
            if cached is None:
                todo.append(f)
            else:
                out[splits[f][1]] = cached

    done = len(splits) - len(todo)
    if callback is not None:
        for i, f in enumerate(f for f in range(len(splits)) if f not in todo):
            callback(f, i + 1, len(splits))
    for f in todo:
        train, test = splits[f]
        with _seeded_everything(None if seed is None else seed + f):
            proba = _fit_predict_fold(
                learner_factory, dls_factory, train, test, k, f, epochs, lr, fit_method, progress
            )
        out[test] = proba
        if cache is not None:
            cache.save(f, test, proba)
        done += 1
        if callback is not None:
            callback(f, done, len(splits))
    return out


def _fit_predict_fold(
    learner_factory: Any,
    dls_factory: Any,
    train: np.ndarray,
    test: np.ndarray,
    k: int,
    fold: int,
    epochs: int,
    lr: float,
    fit_method: str,
    progress: bool,
) -> np.ndarray:
    dls = dls_factory(train, test)
    if not (hasattr(dls, "train") and hasattr(dls, "valid")):
        raise InvalidParameterError(
            f"`dls_factory` must return fastai DataLoaders (with .train and .valid); got "
            f"{type(dls).__name__}."
        )
    n_valid = len(dls.valid.dataset)
    if n_valid != test.shape[0]:
        raise InvalidInputError(
            f"fold {fold}: the validation DataLoader must hold exactly the held-out samples "
            f"({test.shape[0]}); its dataset has {n_valid}. Build it from `valid_idx`."
        )
    learn = learner_factory(dls)
    if not all(callable(getattr(learn, m, None)) for m in ("fit", "get_preds")):
        raise InvalidParameterError(
            f"`learner_factory` must return a fastai Learner; got {type(learn).__name__}."
        )
    if getattr(dls.train.dataset, "yields_index", False):
        _ensure_batch_index(learn)
    _check_output(learn, k, fold)
    quiet = nullcontext() if progress else learn.no_bar()
    logging_off = nullcontext() if progress else learn.no_logging()
    with quiet, logging_off:
        getattr(learn, fit_method)(epochs, lr)
        preds = learn.get_preds(dl=dls.valid)[0]
    if getattr(learn.loss_func, "activation", None) is None:
        preds = torch.softmax(preds.float(), dim=1)
    proba = preds.detach().cpu().double().numpy()
    if proba.shape != (test.shape[0], k):
        raise InvalidInputError(
            f"fold {fold}: get_preds must give (n_held_out, n_classes) = ({test.shape[0]}, {k}); "
            f"got {proba.shape}."
        )
    if not math.isclose(float(proba.sum(axis=1).mean()), 1.0, abs_tol=1e-3):
        raise InvalidInputError(
            f"fold {fold}: the predictions are not probabilities (rows sum to "
            f"{float(proba.sum(axis=1).mean()):.4g} on average); give the loss an `activation` "
            "(mislabel losses and fastai's CrossEntropyLossFlat have one)."
        )
    return proba


# --------------------------------------------------------------------------- items and recipe


def item_list(dls: Any) -> list[Any]:
    """The items of a fastai ``DataLoaders`` in the order of the sample positions: the
    training items, then the validation items (for image DataLoaders, the file paths).

    Per-sample state (:class:`SampleWeightCallback`'s weights, ELR's targets, the rows of
    :class:`TemporalProbsRecorder` by default) is indexed by these positions.
    """
    out: list[Any] = []
    for dl in _train_valid(dls):
        items = getattr(dl.dataset, "items", None)
        if items is None:
            raise InvalidInputError(
                f"the {type(dl.dataset).__name__} of these DataLoaders has no `items` (fastai "
                "Datasets, ImageDataLoaders and DataBlock have them); pass the samples "
                "explicitly (e.g. TemporalProbsRecorder(dl=...))."
            )
        out.extend(list(items))
    return out


def item_labels(dls: Any) -> np.ndarray:
    """(n_items,) int64 given labels of :func:`item_list`'s items (class positions in
    ``dls.vocab``), read through the DataLoaders' label pipeline without loading inputs."""
    labels: list[int] = []
    for dl in _train_valid(dls):
        ds = dl.dataset
        n_inp = int(getattr(ds, "n_inp", 1))
        tls = getattr(ds, "tls", None)
        if tls is not None and len(tls) > n_inp:
            tl = tls[n_inp]
            labels.extend(int(tl[i]) for i in range(len(tl)))
        else:
            labels.extend(int(ds[i][n_inp]) for i in range(len(ds)))
    return np.asarray(labels, dtype=np.int64)


def items_dl(dls: Any, *, bs: int | None = None) -> Any:
    """A DataLoader over every item of :func:`item_list`, in that order, with their labels,
    through the validation transforms (no training augmentation), unshuffled, no batch
    dropped: what :class:`TemporalProbsRecorder` predicts by default."""
    items = item_list(dls)
    return dls.test_dl(
        items, with_labels=True, bs=bs or dls.valid.bs, shuffle=False, drop_last=False
    )


def _class_names(dls: Any, k: int) -> tuple[str, ...]:
    vocab = getattr(dls, "vocab", None)
    if vocab is not None and len(vocab) == k and not isinstance(vocab[0], (list, tuple)):
        return tuple(str(c) for c in vocab)
    return tuple(str(i) for i in range(k))


@dataclass(frozen=True, eq=False)
class FastaiIssues:
    """Wrong-label suspects among the items of a fastai ``DataLoaders``.

    Attributes:
        issues: the :class:`mislabel.LabelIssues` (row i: :func:`item_list` position i).
        pred_probs: (n_items, n_classes) the detection probabilities.
        items: the items (file paths for images), training then validation items.
        classes: the class names (``dls.vocab``).
        is_valid: (n_items,) True for the validation items.
        forget_rate: the share of each batch the detection run left out (0.0: it trained on
            ``MixUp`` batches, or on every item, or the Learner did not judge).
        model: what judged the labels: ``"the Learner"``, or the model of
            :func:`mislabel.data.find_issues_in` on the image files (``detection="images"``).
    """

    issues: Any
    pred_probs: np.ndarray
    items: tuple[Any, ...]
    classes: tuple[str, ...]
    is_valid: np.ndarray
    forget_rate: float = 0.0
    model: str = "the Learner"

    @property
    def labels(self) -> np.ndarray:
        """(n_items,) the given labels (positions in :attr:`classes`)."""
        return np.asarray(self.issues.labels)

    @property
    def weights(self) -> np.ndarray:
        """(n_items,) the estimated probability that each label is right, in [0, 1]: the
        weights of the final training (:class:`SampleWeightCallback`)."""
        return np.asarray(self.issues.weights, dtype=np.float64)

    def to_frame(self) -> Any:
        """One row per flagged item, most suspect first: ``position``, ``item``, ``split``,
        ``given``, ``suggested`` (class names), ``score`` (low = suspect)."""
        import pandas as pd

        ranked = np.asarray(self.issues.ranked, dtype=np.int64)
        names = np.asarray(self.classes, dtype=object)
        return pd.DataFrame(
            {
                "position": ranked,
                "item": [self.items[i] for i in ranked],
                "split": np.where(self.is_valid[ranked], "valid", "train"),
                "given": names[self.labels[ranked]],
                "suggested": names[np.asarray(self.issues.suggested)[ranked]],
                "score": np.asarray(self.issues.scores, dtype=np.float64)[ranked],
            }
        )


def _one_run_issues(labels: np.ndarray, probs: np.ndarray, noise_rate: float | None) -> Any:
    from mislabel.train._noise_aware import one_run_issues

    return one_run_issues(labels, probs, noise_rate=noise_rate)


#: The detections of :func:`find_suspects` and :func:`fit_noise_aware`.
DETECTIONS: tuple[str, ...] = ("auto", "learner", "images")


def find_suspects(
    learn: Any,
    epochs: int,
    lr: float | None = None,
    *,
    detection: Literal["auto", "learner", "images"] = "auto",
    mixup: float = 4.0,
    neighbors: int = 30,
    noise_rate: float | None = None,
    forget_rate: float | Literal["auto"] = "auto",
    fit_method: FitMethod = "fit_one_cycle",
    random_state: int | None = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FastaiIssues:
    """Find wrong labels among a Learner's items.

    ``detection="learner"``: one training run of ``learn`` (in place) for ``epochs`` with
    fastai's ``MixUp(mixup)`` and a :class:`TemporalProbsRecorder` with ``neighbors``, which
    predicts every item of the DataLoaders (training and validation, without augmentation)
    after each epoch; the averaged probabilities are cut by
    :func:`mislabel.train.one_run_issues` (or at ``noise_rate``). On images, where that run
    finds few wrong labels (and lasts 10 epochs or more), the model is reset and trained
    again on the small-loss share of each batch (:class:`SmallLossCallback`, without
    ``MixUp``), and that run's probabilities are cut instead: the rule of
    :class:`mislabel.NoiseAwareClassifier`'s ``detect_forget_rate="auto"``.

    ``detection="images"``: the image files are judged as ``mislabel find`` judges a folder
    (:func:`mislabel.data.find_issues_in`): colour photos by the embeddings of the default
    pretrained backbone, grey images from 1,000 on by three small-CNN runs; the Learner is
    not trained. A Learner trained for a few epochs is a weaker judge than these: on 1,200
    Fashion-MNIST images with 10 % in a wrong folder, ``resnet18`` from scratch for 5 epochs
    flags with F1 0.42, the small-CNN runs 0.74; on 1,500 CIFAR-10 photos with human label
    errors, 0.19 against 0.57 for the backbones.

    ``detection="auto"`` (default): ``"images"`` where the items are image files and either
    the default backbone loads (colour photos) or there are 1,000 items or more; else
    ``"learner"``.

    Args:
        learn: a fastai ``Learner`` whose DataLoaders have an item list (``ImageDataLoaders``,
            ``DataBlock``, fastai ``Datasets``).
        epochs, lr: the training of the Learner's run (``lr`` None: the Learner's default).
        detection: ``"auto"``, ``"learner"`` or ``"images"`` (above).
        mixup: α of ``MixUp``; 0 trains without it.
        neighbors: neighbours of the label vote in the model's penultimate features.
        noise_rate: the known share of wrong labels, if known.
        forget_rate: ``"auto"`` (above), ``0`` (the ``MixUp`` run alone) or the share of each
            batch that a single small-loss run leaves out.
        fit_method: ``"fit_one_cycle"`` or ``"fit"``.
        random_state: seeds the ``"images"`` detection (the Learner's run follows fastai's
            own seeding).
        cache_dir: where the ``"images"`` detection caches embeddings and runs (None: not
            cached).

    Returns:
        :class:`FastaiIssues` (``to_frame()``: items and class names of the suspects).
    """
    import copy

    from mislabel.train._noise_aware import _forget_choice, _small_loss_share

    check_option(detection, "detection", DETECTIONS)
    check_scalar(epochs, "epochs", kind=numbers.Integral, min_val=1)
    check_scalar(mixup, "mixup", min_val=0.0)
    check_option(fit_method, "fit_method", ("fit", "fit_one_cycle"))
    fixed = _forget_choice(forget_rate, "forget_rate")
    dls = learn.dls
    items = item_list(dls)
    labels = item_labels(dls)
    n_train = len(dls.train.dataset)
    if detection != "learner":
        found = _judge_image_files(
            dls, items, labels, detection, noise_rate, random_state, cache_dir
        )
        if found is not None:
            return found
    forget = fixed or 0.0
    # on images with forget_rate="auto" the MixUp run decides, and a second run starts afresh
    start = (
        copy.deepcopy(learn.model.state_dict()) if fixed is None and _holds_images(dls) else None
    )
    run = functools.partial(_recorded_run, learn, int(epochs), lr, fit_method, neighbors)
    probs = run(mixup=float(mixup), forget=forget)
    issues = _one_run_issues(labels, probs, noise_rate)
    if start is not None:
        forget = _small_loss_share(issues, noise_rate, epochs=int(epochs))
        if forget > 0:
            learn.model.load_state_dict(start)
            learn.opt = None
            probs = run(mixup=0.0, forget=forget)
            issues = _one_run_issues(labels, probs, noise_rate)
    return FastaiIssues(
        issues=issues,
        pred_probs=probs,
        items=tuple(items),
        classes=_class_names(dls, probs.shape[1]),
        is_valid=np.arange(len(items)) >= n_train,
        forget_rate=forget,
    )


def _image_files(items: list[Any]) -> list[Path] | None:
    """The items as image file paths, or None where any is not one."""
    from mislabel.data import IMAGE_EXTENSIONS

    files = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            return None
        path = Path(item)
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return None
        files.append(path)
    return files


def _judge_image_files(
    dls: Any,
    items: list[Any],
    labels: np.ndarray,
    detection: str,
    noise_rate: float | None,
    random_state: int | None,
    cache_dir: str | os.PathLike[str] | None,
) -> FastaiIssues | None:
    """The suspects among the image files of ``items`` as :func:`mislabel.data.find_issues_in`
    finds them in a folder, or None where ``detection="auto"`` leaves the judging to the
    Learner."""
    from mislabel.data import find_issues_in, load_image_files
    from mislabel.data._embed import default_backbone_available
    from mislabel.data._find import MIN_CNN_IMAGES, wants_backbone

    files = _image_files(items)
    if files is None:
        if detection == "images":
            first = next((it for it in items if _image_files([it]) is None), None)
            raise InvalidParameterError(
                "detection='images' judges image files; the DataLoaders' items must be image "
                f"paths, but one is {first!r}. Use detection='learner'."
            )
        return None
    many = len(files) >= MIN_CNN_IMAGES
    if detection == "auto" and not many and not default_backbone_available():
        return None
    n_classes = int(getattr(dls, "c", 0) or int(labels.max()) + 1)
    # rows in the order mislabel find reads a folder (class subfolders, then files), so that
    # the same folder gets the same suspects from both
    parts = [f.resolve().parts for f in files]
    order = np.asarray(sorted(range(len(files)), key=parts.__getitem__), dtype=np.int64)
    data = load_image_files([files[i] for i in order], labels[order], _class_names(dls, n_classes))
    if detection == "auto" and not many and not wants_backbone(data):
        return None
    with _progress_bars() as progress:
        found = find_issues_in(
            data,
            noise_rate=noise_rate,
            random_state=random_state,
            cache_dir=cache_dir,
            progress=progress,
        )
    logger.info("find_suspects: the image files judged by %s", found.model)
    at = np.empty_like(order)
    at[order] = np.arange(order.size)  # item i is row at[i] of the folder order
    issues = found.issues

    def per_item(a: Any) -> np.ndarray:
        return np.asarray(a)[at]

    return FastaiIssues(
        issues=replace(
            issues,
            mask=per_item(issues.mask),
            scores=per_item(issues.scores),
            ranked=order[np.asarray(issues.ranked)],
            suggested=per_item(issues.suggested),
            suggested_prob=per_item(issues.suggested_prob),
            labels=per_item(issues.labels),
            prob_right=None if issues.prob_right is None else per_item(issues.prob_right),
        ),
        pred_probs=np.asarray(found.pred_probs, dtype=np.float64)[at],
        items=tuple(items),
        classes=found.data.classes,
        is_valid=np.arange(len(items)) >= len(dls.train.dataset),
        model=found.model,
    )


@contextmanager
def _progress_bars() -> Iterator[ProgressCallback | None]:
    """A ``progress(stage, done, total)`` callback drawing one tqdm bar per stage (the
    backbones' embedding of the files), or None without tqdm."""
    try:
        from tqdm.auto import tqdm
    except Exception:
        yield None
        return
    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            unit = "img" if stage.startswith("embedding") else "it"
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=unit)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


def _recorded_run(
    learn: Any,
    epochs: int,
    lr: float | None,
    fit_method: str,
    neighbors: int,
    *,
    mixup: float,
    forget: float,
) -> np.ndarray:
    """One training run of ``learn`` with the temporal recorder: on the small-loss share of
    each batch where ``forget`` > 0, else with ``MixUp(mixup)`` (none at 0)."""
    from fastai.callback.mixup import MixUp

    rec = TemporalProbsRecorder(neighbors=neighbors)
    cbs: list[Any] = [rec]
    if forget > 0:
        cbs.insert(0, SmallLossCallback(forget))
    elif mixup > 0:
        cbs.insert(0, MixUp(mixup))
    args = (epochs,) if lr is None else (epochs, float(lr))
    with _quiet(learn):
        getattr(learn, fit_method)(*args, cbs=cbs)
    return np.asarray(rec.probs(), dtype=np.float64)


def _holds_images(dls: Any) -> bool:
    """Whether the DataLoaders' inputs are images (a batch of (n, C, H, W))."""
    x = dls.one_batch()[0]
    return getattr(x, "ndim", 0) == 4


@contextmanager
def _quiet(learn: Any) -> Iterator[None]:
    with learn.no_bar(), learn.no_logging():
        yield


def fit_noise_aware(
    learn: Any,
    epochs: int,
    lr: float | None = None,
    *,
    detection: Literal["auto", "learner", "images"] = "auto",
    detect_epochs: int | None = None,
    mixup: float = 4.0,
    neighbors: int = 30,
    noise_rate: float | None = None,
    forget_rate: float | Literal["auto"] = "auto",
    final_loss: Literal["auto", "elr", "ce"] = "auto",
    fit_method: FitMethod = "fit_one_cycle",
    random_state: int | None = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FastaiIssues:
    """The whole recipe on a fastai ``Learner``: find the wrong labels, then train through
    them. In place of ``learn.fit_one_cycle(epochs, lr)``::

        learn = vision_learner(dls, resnet34, metrics=accuracy)
        suspects = fit_noise_aware(learn, 5)
        suspects.to_frame()          # the suspect files, given and suggested class names

    1. :func:`find_suspects`: by default, where the items are image files (colour photos
       with the default pretrained backbone loadable, or 1,000 images or more), the files
       judged as ``mislabel find`` judges a folder; otherwise one run of the Learner for
       ``detect_epochs`` with ``MixUp`` and the temporal recorder with a label vote among
       ``neighbors`` nearest items (on images with few wrong labels, a second run on the
       small-loss share of each batch);
    2. the model's weights (and the optimiser) are reset to what they were before step 1;
    3. the final training of ``epochs``: every training item weighted by the probability that
       its label is right (:class:`SampleWeightCallback`), with ELR
       (:class:`mislabel.losses.ELRLoss`) when the model can learn its training set by heart
       (:func:`mislabel.train.can_memorize`), else the Learner's own loss.

    Afterwards the Learner holds the final model with its own loss function and callbacks
    again: ``predict``, ``get_preds``, ``show_results``, ``export`` work as usual.

    Args:
        learn: a fastai ``Learner`` whose DataLoaders have an item list.
        epochs, lr: the final training (``lr`` None: the Learner's default).
        detection: ``"auto"``, ``"learner"`` or ``"images"`` (:func:`find_suspects`).
        detect_epochs: epochs of the Learner's detection run (default ``epochs``).
        mixup, neighbors, noise_rate, forget_rate, random_state, cache_dir: of the detection
            (:func:`find_suspects`).
        final_loss: ``"auto"`` (ELR when the model can memorise, else the Learner's loss),
            ``"elr"`` or ``"ce"`` (the Learner's loss).
        fit_method: ``"fit_one_cycle"`` or ``"fit"``.
    """
    import copy

    import mislabel.losses as ml
    from mislabel.train._capacity import can_memorize

    check_option(final_loss, "final_loss", ("auto", "elr", "ce"))
    if detect_epochs is not None:
        check_scalar(detect_epochs, "detect_epochs", kind=numbers.Integral, min_val=1)
    start = copy.deepcopy(learn.model.state_dict())
    suspects = find_suspects(
        learn,
        detect_epochs if detect_epochs is not None else epochs,
        lr,
        detection=detection,
        mixup=mixup,
        neighbors=neighbors,
        noise_rate=noise_rate,
        forget_rate=forget_rate,
        fit_method=fit_method,
        random_state=random_state,
        cache_dir=cache_dir,
    )
    learn.model.load_state_dict(start)
    learn.opt = None  # a fresh optimiser (frozen layers stay frozen: requires_grad is kept)
    n_train = len(learn.dls.train.dataset)
    use_elr = final_loss == "elr" or (final_loss == "auto" and can_memorize(learn.model, n_train))
    own_loss = learn.loss_func
    if use_elr:
        learn.loss_func = ml.get(
            "elr", n_samples=n_items(learn.dls), n_classes=len(suspects.classes)
        )
    args = (int(epochs),) if lr is None else (int(epochs), float(lr))
    try:
        getattr(learn, fit_method)(*args, cbs=[SampleWeightCallback(suspects.weights)])
    finally:
        learn.loss_func = own_loss
    logger.info(
        "fit_noise_aware: %d suspects of %d items (judged by %s); final training with weights%s",
        suspects.issues.n_issues,
        len(suspects.items),
        suspects.model,
        " and ELR" if use_elr else "",
    )
    return suspects


@dataclass(frozen=True, eq=False)
class DataBlockFolds:
    """The ``dls_factory`` of :func:`cross_val_pred_probs_fastai` for a fastai ``DataBlock``:
    ``folds(train_idx, valid_idx)`` builds the block's DataLoaders with those items (indices
    into :attr:`items`) as the training and validation sets, the validation set in the order
    of ``valid_idx``.

    Build it with :func:`datablock_folds`, which also reads :attr:`labels` and
    :attr:`classes`::

        folds = datablock_folds(dblock, path, bs=64)
        probs = cross_val_pred_probs_fastai(make_learner, folds, folds.labels, cv=5)
        folds.suspects(probs).to_frame()      # file paths, given and suggested class names
    """

    dblock: Any
    items: tuple[Any, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    dl_kwargs: dict[str, Any]

    def __call__(self, train_idx: Any, valid_idx: Any) -> Any:
        import copy

        block = copy.copy(self.dblock)
        tr = [int(i) for i in np.asarray(train_idx)]
        va = [int(i) for i in np.asarray(valid_idx)]
        block.splitter = lambda _items: (tr, va)
        block.get_items = None
        # the instance's `dataloaders` is bound to the original block: call the class's
        return type(block).dataloaders(block, list(self.items), **self.dl_kwargs)

    def suspects(self, pred_probs: Any, **kwargs: Any) -> FastaiIssues:
        """:func:`mislabel.find_label_issues` on out-of-fold ``pred_probs`` of :attr:`items`
        (``kwargs`` go there), as :class:`FastaiIssues` with the items and class names."""
        from mislabel.detect import find_label_issues

        probs = np.asarray(pred_probs, dtype=np.float64)
        return FastaiIssues(
            issues=find_label_issues(self.labels, probs, **kwargs),
            pred_probs=probs,
            items=self.items,
            classes=self.classes,
            is_valid=np.zeros(len(self.items), dtype=bool),
        )


def datablock_folds(dblock: Any, source: Any, **dl_kwargs: Any) -> DataBlockFolds:
    """A :class:`DataBlockFolds` for ``dblock`` on ``source`` (what
    ``dblock.dataloaders(source)`` takes): the items (``dblock.get_items(source)`` or
    ``source``), their labels and class names; ``dl_kwargs`` go to ``dataloaders``."""
    import copy

    items = list(dblock.get_items(source)) if dblock.get_items is not None else list(source)
    if not items:
        raise InvalidInputError(f"the DataBlock found no items in {source!r}.")
    block = copy.copy(dblock)
    everything = list(range(len(items)))
    block.splitter = lambda _items: (everything, [])
    block.get_items = None
    dsets = block.datasets(items)
    n_inp = int(getattr(dsets, "n_inp", 1))
    tl = dsets.train.tls[n_inp]
    labels = np.asarray([int(tl[i]) for i in range(len(tl))], dtype=np.int64)
    vocab = getattr(dsets, "vocab", None)
    classes = (
        tuple(str(c) for c in vocab)
        if vocab is not None
        else tuple(str(i) for i in range(int(labels.max()) + 1))
    )
    return DataBlockFolds(dblock, tuple(items), labels, classes, dict(dl_kwargs))
