"""The networks and the one training loop that the benchmark runner gives every method.

Private to :mod:`mislabel.bench`: a deliberately small, deterministic trainer, so that every
method of a benchmark table trains the *same* network with the *same* optimiser, batch size,
epochs and seed, and differs only in what it is given (labels, per-sample weights, a loss).
torch is imported when a function here is called, never at import time of the package.

Models (``model`` in a benchmark config):

- ``"mlp"``: flatten → 256 → ReLU → 256 → ReLU → K;
- ``"cnn"``: two 3×3 conv blocks (16, 32 channels, BatchNorm, ReLU, 2×2 max-pool) → 128 → K,
  for (C, H, W) images; trained in channels-last memory format (faster on CPU);
- ``"logreg"``: one linear layer (multinomial logistic regression) on embeddings.

Optimiser: Adam, constant learning rate, no augmentation. The model of the *last* epoch is
returned, or, with a noisy validation split, the epoch whose accuracy on the *noisy* validation
labels is highest (the user has no clean labels to select on).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from mislabel._validation import optional_import
from mislabel.exceptions import InvalidParameterError

logger = logging.getLogger(__name__)

Model = Literal["mlp", "cnn", "logreg"]
MODELS: tuple[str, ...] = get_args(Model)

#: Running-average factor of the refined targets (``fit(refine=...)``): ELR's β.
REFINE_BETA = 0.7
#: Sharpening temperature of the refined targets (DivideMix's T).
REFINE_T = 0.5


def _torch() -> Any:
    return optional_import("torch", "torch", "the benchmark models")


@dataclass(frozen=True)
class TrainSpec:
    """How a benchmark network is trained (the same for every method of a table row).

    Attributes:
        model: one of :data:`MODELS`.
        epochs: training epochs.
        batch_size: mini-batch size.
        lr: Adam learning rate (constant).
        weight_decay: Adam weight decay (L2).
    """

    model: str = "mlp"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0


def prepare_features(X: np.ndarray, model: str) -> np.ndarray:
    """Raw features as float32 network input.

    Images (uint8, (n, H, W) or (n, H, W, C)) are scaled to [0, 1] and centred per channel with
    fixed constants (0.5, no statistics of the data are used, so train and test match); for
    ``"cnn"`` they become (n, C, H, W), for ``"mlp"`` they are flattened. Embeddings and other
    float features pass through as float32 (flattened to (n, d)).
    """
    arr = np.asarray(X)
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0 - 0.5
        if model == "cnn":
            x = x[:, None, :, :] if x.ndim == 3 else np.moveaxis(x, -1, 1)
            return np.ascontiguousarray(x)
        return x.reshape(x.shape[0], -1)
    x = arr.astype(np.float32, copy=False)
    if model == "cnn" and x.ndim == 4:
        return np.ascontiguousarray(x)
    return x.reshape(x.shape[0], -1)


def build_network(model: str, input_shape: tuple[int, ...], n_classes: int) -> Any:
    """A freshly initialised network for inputs of ``input_shape`` (without the batch axis)."""
    torch = _torch()
    nn = torch.nn
    if model == "mlp":
        d = int(np.prod(input_shape))
        return nn.Sequential(
            nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_classes)
        )
    if model == "logreg":
        return nn.Linear(int(np.prod(input_shape)), n_classes)
    if model == "cnn":
        if len(input_shape) != 3:
            raise InvalidParameterError(
                f"model 'cnn' needs image input of shape (C, H, W); got {input_shape}. Use "
                "model 'mlp' or 'logreg' for flat features."
            )
        c, h, w = input_shape
        flat = 32 * (h // 4) * (w // 4)
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(flat, 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )
    raise InvalidParameterError(f"`model` must be one of {', '.join(MODELS)}; got {model!r}.")


def _predict_logits(net: Any, x: Any, channels_last: bool, batch_size: int = 1024) -> Any:
    torch = _torch()
    net.eval()
    outs = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            outs.append(net(xb).float())
    return torch.cat(outs)


def _refined_target(
    net: Any, xb: Any, idx: Any, avg: Any, clean: Any, onehot: Any, channels_last: bool
) -> Any:
    """The batch's refined soft targets (``fit(refine=...)``); updates the running average."""
    torch = _torch()
    with torch.no_grad():
        xin = xb.contiguous(memory_format=torch.channels_last) if channels_last else xb
        p = torch.softmax(net(xin).float(), dim=1)
        m = REFINE_BETA * avg[idx] + (1.0 - REFINE_BETA) * p
        avg[idx] = m
        guess = m ** (1.0 / REFINE_T)
        guess = guess / guess.sum(dim=1, keepdim=True)
        return clean[idx] * onehot[idx] + (1.0 - clean[idx]) * guess


def epoch_probs(
    spec: TrainSpec,
    X: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    seed: int,
    sample_weight: np.ndarray | None = None,
    mixup: float = 0.0,
    neighbors: int = 0,
) -> np.ndarray:
    """(n, K) the training set's softmax averaged over the end of every epoch of one run of
    :func:`fit` on all of ``X`` (a temporal ensemble; in-sample, so a label the network has
    memorised pulls its own row; with ``mixup`` it memorises few).

    ``neighbors`` > 0: the mean of that and the given labels' distribution among each sample's
    ``neighbors`` nearest others (:func:`mislabel.neighbor_label_probs`) in the network's
    penultimate features (the input for ``"logreg"``), averaged over the second half of the
    epochs."""
    from mislabel.detect._knn import TemporalVote
    from mislabel.train._loop import recording_penultimate

    torch = _torch()
    x = torch.from_numpy(np.ascontiguousarray(X))
    channels_last = spec.model == "cnn"
    vote = TemporalVote(neighbors)

    def record(epoch: int, net: Any) -> None:
        if not vote.votes_at(epoch, spec.epochs):
            vote.add(torch.softmax(_predict_logits(net, x, channels_last), 1).numpy())
            return
        feats: list[Any] = []  # the input of the last nn.Linear, from the same forward pass
        with recording_penultimate(net, feats):
            probs = torch.softmax(_predict_logits(net, x, channels_last), 1).numpy()
        vote.add(probs, torch.cat(feats).numpy(), labels)

    fit(
        spec,
        X,
        labels,
        n_classes,
        seed=seed,
        sample_weight=sample_weight,
        mixup=mixup,
        on_epoch=record,
    )
    return vote.mean()


@dataclass(frozen=True, eq=False)
class Fitted:
    """A trained benchmark network.

    Attributes:
        net: the trained ``nn.Module`` (eval mode).
        channels_last: whether inputs go in channels-last format.
        epoch: the 0-based epoch whose weights ``net`` holds.
    """

    net: Any
    channels_last: bool
    epoch: int

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, K) float32 softmax probabilities for prepared features ``X``."""
        torch = _torch()
        logits = _predict_logits(
            self.net, torch.from_numpy(np.ascontiguousarray(X)), self.channels_last
        )
        return torch.softmax(logits, dim=1).numpy()


def fit(
    spec: TrainSpec,
    X: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    seed: int,
    loss: Any = None,
    sample_weight: np.ndarray | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    soft_targets: np.ndarray | None = None,
    mixup: float = 0.0,
    forget_rate: float = 0.0,
    refine: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch: Callable[[int, Any], None] | None = None,
) -> Fitted:
    """Train ``spec.model`` on prepared features ``X`` and ``labels``.

    Args:
        spec: network and schedule.
        X: prepared float32 features (:func:`prepare_features`).
        labels: (n,) int labels to train on.
        n_classes: number of output classes.
        seed: seeds initialisation and batch order (torch's RNG is forked, no global effect).
        loss: a loss module taking ``(logits, target)`` with ``reduction="none"`` support
            (a :mod:`mislabel.losses` module); default cross-entropy. A loss with a per-sample
            state (``takes_index``: :class:`mislabel.losses.ELRLoss`) is called with
            ``index=`` the batch's row numbers in ``X``.
        sample_weight: optional (n,) non-negative weights; the batch loss is
            ``sum w_i l_i / sum w_i``.
        val: optional ``(X_val, y_val)`` with *noisy* labels: keep the epoch of highest
            accuracy on them instead of the last one.
        soft_targets: optional (n, n_classes) target distributions that replace ``labels`` in
            the loss (cross-entropy with probability targets; ``loss`` must then be None).
        mixup: α > 0 trains on mixup batches (Zhang et al., ICLR 2018): each batch is mixed
            with a shuffled copy of itself, ``x = λ x_i + (1 - λ) x_j``, λ ~ Beta(α, α) per
            batch, and the loss is ``λ w_i l(x, y_i) + (1 - λ) w_j l(x, y_j)`` (weights mixed
            alike). It keeps a network from fitting single wrong labels late in training.
        forget_rate: τ > 0 trains each batch on its small-loss share only, ``R(t) = 1 - τ
            min(t / T_k, 1)`` with ``T_k`` a quarter of the epochs (self-paced selection as in
            co-teaching, one network; :func:`mislabel.train.keep_rate`). Not with ``mixup``.
        refine: ``(w, p0)``: semi-supervised label refinement (the label co-refinement and
            co-guessing of DivideMix, Li et al. ICLR 2020, with one network and the detection's
            scores in place of its loss mixture model). ``w`` (n,) is each label's probability
            of being right, ``p0`` (n, K) out-of-fold probabilities that start a per-sample
            running average of the network's own predictions (``m ← β m + (1 − β) p`` each
            time a sample is drawn, β = :data:`REFINE_BETA`, p from a no-gradient pass on the
            unmixed batch). Each sample trains on the soft target ``w·onehot(label) + (1 − w)
            · sharpen(m)`` (temperature :data:`REFINE_T`): a wrong label is not dropped but
            replaced by the network's own guess, so its image still teaches. With ``mixup``
            the targets are mixed like the inputs, λ ← max(λ, 1 − λ). Not with ``loss``,
            ``sample_weight``, ``soft_targets`` or ``forget_rate``.
        on_epoch: called as ``on_epoch(epoch, net)`` after each epoch; it may leave the
            network in eval mode (every epoch starts with ``net.train()``).
    """
    torch = _torch()
    nn = torch.nn
    x = torch.from_numpy(np.ascontiguousarray(X))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    if soft_targets is not None:
        if loss is not None:
            raise ValueError("soft_targets train with cross-entropy: pass loss=None")
        y = torch.from_numpy(np.ascontiguousarray(soft_targets, dtype=np.float32))
    w = None if sample_weight is None else torch.from_numpy(np.asarray(sample_weight, np.float32))
    own_loss = loss is not None
    if loss is None:
        loss = nn.CrossEntropyLoss(reduction="none")
    else:
        loss.reduction = "none"
    channels_last = spec.model == "cnn"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_network(spec.model, tuple(x.shape[1:]), n_classes)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        n = x.shape[0]
        best: tuple[float, int, Any] | None = None
        x_val = None if val is None else torch.from_numpy(np.ascontiguousarray(val[0]))
        lam_rng = np.random.default_rng(seed)
        if forget_rate > 0 and mixup > 0:
            raise ValueError("forget_rate and mixup do not combine")
        # a loss with a per-sample state (ELR's target EMA) is given the batch's dataset indices
        per_sample_state = bool(getattr(loss, "takes_index", False))
        if per_sample_state and mixup > 0:
            raise ValueError("a loss with a per-sample state (ELR) does not combine with mixup")
        if refine is not None:
            if own_loss or soft_targets is not None or w is not None or forget_rate > 0:
                raise ValueError(
                    "refine trains on its own soft targets: no loss, soft_targets, "
                    "sample_weight or forget_rate"
                )
            clean = torch.from_numpy(np.asarray(refine[0], np.float32))[:, None]
            avg = torch.from_numpy(np.array(refine[1], dtype=np.float32))
            onehot = nn.functional.one_hot(y, n_classes).float()
        from mislabel.train._schedule import keep_rate, n_keep

        t_k = max(1, spec.epochs // 4)
        for epoch in range(spec.epochs):
            net.train()
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, spec.batch_size):
                idx = perm[start : start + spec.batch_size]
                if idx.numel() < 2:  # BatchNorm cannot train on one sample
                    continue
                xb = x[idx]
                wb = None if w is None else w[idx]
                target = None
                if refine is not None:
                    target = _refined_target(net, xb, idx, avg, clean, onehot, channels_last)
                if mixup > 0:
                    lam = float(lam_rng.beta(mixup, mixup))
                    mate = torch.randperm(idx.numel(), generator=gen)
                    if target is not None:
                        lam = max(lam, 1.0 - lam)
                        target = lam * target + (1.0 - lam) * target[mate]
                    xb = lam * xb + (1.0 - lam) * xb[mate]
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                out = net(xb)
                if target is not None:
                    obj = -(target * torch.log_softmax(out, dim=1)).sum(dim=1).mean()
                elif mixup > 0:  # no per-sample state here (checked above)
                    per, per_mate = loss(out, y[idx]), loss(out, y[idx][mate])
                    if wb is None:
                        obj = (lam * per + (1.0 - lam) * per_mate).mean()
                    else:
                        num = lam * per * wb + (1.0 - lam) * per_mate * wb[mate]
                        obj = num.sum() / wb.sum().clamp_min(1e-12)
                else:
                    per = loss(out, y[idx], index=idx) if per_sample_state else loss(out, y[idx])
                    if forget_rate > 0:
                        rate = keep_rate(epoch, forget_rate, t_k)
                        if rate < 1.0:
                            keep = torch.argsort(per.detach(), stable=True)
                            keep = keep[: n_keep(rate, per.shape[0])]
                            per = per[keep]
                            wb = None if wb is None else wb[keep]
                    obj = per.mean() if wb is None else (per * wb).sum() / wb.sum().clamp_min(1e-12)
                opt.zero_grad(set_to_none=True)
                obj.backward()
                opt.step()
            if on_epoch is not None:
                on_epoch(epoch, net)
            if val is not None and x_val is not None:
                pred = _predict_logits(net, x_val, channels_last).argmax(1).numpy()
                acc = float(np.mean(pred == val[1]))
                if best is None or acc > best[0]:
                    best = (acc, epoch, copy.deepcopy(net.state_dict()))
        epoch_kept = spec.epochs - 1
        if best is not None:
            net.load_state_dict(best[2])
            epoch_kept = best[1]
    net.eval()
    return Fitted(net=net, channels_last=channels_last, epoch=epoch_kept)


class BenchEstimator:
    """A scikit-learn-style classifier around :func:`fit`, for
    :func:`mislabel.cross_val_pred_probs` (out-of-fold probabilities with the same network).

    Parameters are exactly the ``__init__`` arguments; ``fit`` sets ``classes_`` and ``fitted_``.
    """

    def __init__(
        self,
        model: str = "mlp",
        epochs: int = 5,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        n_classes: int = 2,
        random_state: int | None = None,
        mixup: float = 0.0,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_classes = n_classes
        self.random_state = random_state
        self.mixup = mixup

    _PARAMS = (
        "model",
        "epochs",
        "batch_size",
        "lr",
        "weight_decay",
        "n_classes",
        "random_state",
        "mixup",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._PARAMS}

    def set_params(self, **params: Any) -> BenchEstimator:
        for key, value in params.items():
            if key not in self._PARAMS:
                raise InvalidParameterError(f"BenchEstimator has no parameter {key!r}.")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._PARAMS)
        return f"BenchEstimator({args})"

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> BenchEstimator:
        spec = TrainSpec(self.model, self.epochs, self.batch_size, self.lr, self.weight_decay)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.fitted_ = fit(
            spec, X, y, self.n_classes, seed=seed, sample_weight=sample_weight, mixup=self.mixup
        )
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.fitted_.predict_proba(X).astype(np.float64)
