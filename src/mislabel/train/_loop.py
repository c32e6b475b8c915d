"""The plain-PyTorch training loop behind every trainer of :mod:`mislabel.train` and behind
:class:`mislabel.integrations.torch.TorchClassifier`.

One loop, so that the scikit-learn wrapper, the small-loss trainer and the reweighting trainer
share seeding, validation, per-sample weights, index plumbing and progress reporting.

How a batch becomes a loss: the loss (a :mod:`mislabel.losses` name or module) is run with
``reduction="none"``, with ``index=`` (the positions of the batch in ``X``) for the losses that
use per-sample state (``takes_index``: ELR, truncated GCE, weighted CE). The per-sample losses
are then (optionally) restricted to the small-loss share of the batch and reduced with the
per-sample weights ``s`` and the loss's per-class ``weight`` ``w`` exactly as
``F.cross_entropy`` reduces: ``sum_i s_i l_i / sum_i s_i w_{y_i}`` (``l_i`` already carries
``w_{y_i}``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import math
import numbers
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor, nn

from mislabel._validation import as_seed, check_labels, check_option, check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError, NotFittedError
from mislabel.train._dynamics import TrainingDynamics
from mislabel.train._schedule import n_keep

__all__ = [
    "OPTIMIZERS",
    "EpochLog",
    "Objective",
    "Optimizer",
    "TrainResult",
    "TrainSettings",
    "as_features",
    "build_loss",
    "check_module_arg",
    "check_output",
    "check_sample_weight",
    "fit_module",
    "instantiate",
    "predict_logits",
    "resolve_device",
    "seeded",
]

logger = logging.getLogger(__name__)

Optimizer = Literal["adam", "adamw", "sgd"]
#: The optimizers the trainers know by name (``sgd`` uses momentum 0.9).
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
LRSchedule = Literal["constant", "cosine"]
#: How the learning rate moves over the epochs: ``"constant"``; ``"cosine"``, from ``lr``
#: down along half a cosine, epoch by epoch (Loshchilov & Hutter, ICLR 2017, without restarts).
LR_SCHEDULES: tuple[str, ...] = get_args(LRSchedule)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class EpochLog:
    """What happened in one epoch.

    Attributes:
        epoch: 0-based epoch.
        loss: mean training loss of the samples that were trained on (network 1 for
            co-teaching).
        keep_rate: the share of each batch kept, ``R(t)`` (1.0 without small-loss selection).
        n_seen: samples in the epoch's batches.
        n_kept: samples that contributed to the loss (per network).
        seconds: wall time of the epoch.
        lr: the learning rate of the epoch.
    """

    epoch: int
    loss: float
    keep_rate: float
    n_seen: int
    n_kept: int
    seconds: float
    lr: float


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A trained network with its history.

    Attributes:
        model: the trained ``nn.Module`` in eval mode (network 1 for co-teaching).
        history: one :class:`EpochLog` per epoch.
        n_classes: number of classes (columns of :meth:`predict_proba`).
        forget_rate: τ used by small-loss selection (None for trainers without it).
        dynamics: the :class:`TrainingDynamics` recorded with ``record_dynamics=True``.
        models: every trained network (both for co-teaching).
    """

    model: nn.Module
    history: tuple[EpochLog, ...]
    n_classes: int
    forget_rate: float | None = None
    dynamics: TrainingDynamics | None = None
    models: tuple[nn.Module, ...] = ()
    device: str = "cpu"
    channels_last: bool = False

    def predict_proba(self, X: Any, *, batch_size: int = 1024) -> np.ndarray:
        """(n, n_classes) float32 softmax probabilities of ``model``."""
        x = as_features(X)
        logits = predict_logits(self.model, x, batch_size, self.device, self.channels_last)
        return torch.softmax(logits.float(), dim=1).numpy()

    def predict(self, X: Any, *, batch_size: int = 1024) -> np.ndarray:
        """(n,) predicted class indices."""
        return self.predict_proba(X, batch_size=batch_size).argmax(axis=1)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TrainSettings:
    """The settings every trainer shares, validated once."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    weight_decay: float
    device: str
    seed: int | None
    progress: bool
    channels_last: bool
    lr_schedule: str = "constant"

    @classmethod
    def check(
        cls,
        *,
        epochs: Any,
        batch_size: Any,
        lr: Any,
        optimizer: Any,
        weight_decay: Any,
        device: Any,
        random_state: Any,
        progress: Any,
        channels_last: Any,
        lr_schedule: Any = "constant",
    ) -> TrainSettings:
        check_scalar(epochs, "epochs", kind=numbers.Integral, min_val=1)
        check_option(lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_scalar(batch_size, "batch_size", kind=numbers.Integral, min_val=1)
        check_scalar(lr, "lr", min_val=0.0, include_min=False)
        check_option(optimizer, "optimizer", OPTIMIZERS)
        check_scalar(weight_decay, "weight_decay", min_val=0.0)
        device = resolve_device(device)
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidParameterError(
                f"`device` must be 'auto' or a torch device such as 'cpu', 'cuda' or 'cuda:1'; got "
                f"{device!r}."
            ) from exc
        return cls(
            epochs=int(epochs),
            batch_size=int(batch_size),
            lr=float(lr),
            optimizer=str(optimizer),
            weight_decay=float(weight_decay),
            device=str(dev),
            seed=as_seed(random_state),
            progress=bool(progress),
            channels_last=bool(channels_last),
            lr_schedule=str(lr_schedule),
        )

    def epoch_lr(self, epoch: int) -> float:
        """The learning rate of 0-based ``epoch``."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        return self.lr

    def make_optimizer(self, params: Any) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)

    def generator(self) -> torch.Generator:
        g = torch.Generator()
        if self.seed is None:
            g.seed()
        else:
            g.manual_seed(self.seed)
        return g


# --------------------------------------------------------------------------- inputs


def resolve_device(device: Any) -> Any:
    """``"auto"`` → ``"cuda"`` when a GPU is present, else ``"cpu"``; anything else as given."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def as_features(X: Any, name: str = "X") -> Tensor:
    """``X`` as a float tensor of shape (n_samples, ...) on the CPU (no copy when possible)."""
    if isinstance(X, Tensor):
        x = X.detach()
    else:
        try:
            arr = np.asarray(X)
        except Exception as exc:
            raise InvalidInputError(
                f"`{name}` must be a numeric array of shape (n_samples, ...); got "
                f"{type(X).__name__} that numpy cannot convert ({exc})."
            ) from exc
        if arr.dtype.kind not in "fiub":
            raise InvalidInputError(
                f"`{name}` must hold numbers; got dtype {arr.dtype}. Encode text or categories "
                "as numbers first."
            )
        x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.ndim < 2:
        raise InvalidInputError(
            f"`{name}` must have shape (n_samples, n_features, ...); got shape {tuple(x.shape)}. "
            "Reshape your data, e.g. X.reshape(-1, 1) for a single feature."
        )
    if x.shape[0] == 0:
        raise InvalidInputError(f"`{name}` must not be empty; got shape {tuple(x.shape)}.")
    if x.dtype != torch.float32 and x.dtype not in (torch.float16, torch.bfloat16):
        x = x.float()
    return x


def check_module_arg(module: Any, name: str = "module") -> None:
    """A torch ``nn.Module`` or a callable returning one; raise before any training."""
    if isinstance(module, nn.Module) or callable(module):
        return
    raise InvalidParameterError(
        f"`{name}` must be a torch.nn.Module or a callable (factory) returning a fresh one; "
        f"got {type(module).__name__}."
    )


def instantiate(module: Any, name: str = "module") -> nn.Module:
    """A fresh network: a deep copy of a module (its initial weights as given), or the
    factory's result. Call inside :func:`seeded` so that a factory's initialisation is seeded."""
    check_module_arg(module, name)
    if isinstance(module, nn.Module):
        return copy.deepcopy(module)
    out = module()
    if not isinstance(out, nn.Module):
        raise InvalidParameterError(
            f"`{name}` was called as a factory and must return a torch.nn.Module; it returned "
            f"{type(out).__name__}."
        )
    return out


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with torch's CPU RNG seeded by ``seed``; the caller's RNG state is restored
    afterwards (no global side effect). ``None`` leaves the RNG as it is."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _to_device(x: Tensor, device: str, channels_last: bool) -> Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def check_output(
    module: nn.Module,
    x: Tensor,
    labels: np.ndarray,
    *,
    n_classes: int | None,
    device: str,
    channels_last: bool,
    name: str = "module",
) -> int:
    """One forward pass on 2 samples (eval mode, no grad): the output must be (2, n_classes)
    logits and every label a column of it. Returns the number of output columns."""
    was_training = module.training
    module.to(device)
    module.eval()
    try:
        with torch.no_grad():
            out = module(_to_device(x[:2], device, channels_last))
    except Exception as exc:
        raise InvalidInputError(
            f"`{name}` failed on a batch of 2 samples of `X` with shape "
            f"{tuple(x[:2].shape)}: {type(exc).__name__}: {exc}. Check that the network's "
            "input layer matches the features."
        ) from exc
    finally:
        module.train(was_training)
    b = min(2, x.shape[0])
    k_labels = int(labels.max()) + 1
    want = f"({b}, {n_classes if n_classes is not None else 'n_classes'})"
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != b:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise InvalidInputError(
            f"`{name}` must output logits of shape (n_samples, n_classes) = {want} for a batch "
            f"of {b}; got {got}. End the network with nn.Linear(..., n_classes) (and flatten "
            "extra dimensions)."
        )
    k = int(out.shape[1])
    if n_classes is not None and k != n_classes:
        raise InvalidInputError(
            f"`{name}` must output logits of shape (n_samples, n_classes) = ({b}, {n_classes}); "
            f"got {tuple(out.shape)}. Its last layer must have n_classes = {n_classes} outputs."
        )
    if k < 2:
        raise InvalidInputError(
            f"`{name}` must output one logit per class (at least 2 columns); got shape "
            f"{tuple(out.shape)}."
        )
    if k_labels > k:
        raise InvalidInputError(
            f"`labels` must be class indices in [0, {k}) for a network with {k} outputs; got "
            f"{k_labels - 1}. Widen the last layer to the number of classes."
        )
    return k


def check_sample_weight(sample_weight: Any, n: int) -> Tensor | None:
    """(n,) finite non-negative weights with a positive sum, as a float32 tensor."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(
            sample_weight.detach().cpu() if isinstance(sample_weight, Tensor) else sample_weight,
            dtype=np.float64,
        )
    except Exception as exc:
        raise InvalidInputError(
            f"`sample_weight` must be a 1-D array of non-negative weights; got "
            f"{type(sample_weight).__name__} ({exc})."
        ) from exc
    if w.ndim != 1 or w.shape[0] != n:
        raise InvalidInputError(
            f"`sample_weight` must have shape (n_samples,) = ({n},); got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        i = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise InvalidInputError(
            f"`sample_weight` must be finite and non-negative; got {w[i]} at position {i}. "
            "Detection weights (issues.weights) are valid weights as they are."
        )
    if w.sum() <= 0:
        raise InvalidInputError("`sample_weight` must not be all zero.")
    return torch.from_numpy(w.astype(np.float32))


def check_xy(X: Any, labels: Any, n_classes: int | None) -> tuple[Tensor, np.ndarray]:
    """Features and labels, one label per row, labels in ``[0, n_classes)``."""
    x = as_features(X)
    y = check_labels(labels, n_classes=n_classes)
    if y.shape[0] != x.shape[0]:
        raise InvalidInputError(
            f"`X` must have one row per label ({y.shape[0]}); got {x.shape[0]} rows."
        )
    return x, y


# --------------------------------------------------------------------------- losses


def build_loss(loss: Any, loss_kwargs: Any, *, n_samples: int, n_classes: int) -> nn.Module:
    """The loss module, with ``reduction="none"``.

    A name goes through :func:`mislabel.losses.get` with ``loss_kwargs``; ``n_samples`` and
    ``n_classes`` are filled in for the losses that take them (ELR, truncated GCE). A module is
    deep-copied (its per-sample state must then match the training set).
    """
    from mislabel import losses as ml

    if isinstance(loss, str):
        cls = ml.get_class(loss)
        kwargs = dict(loss_kwargs or {})
        params = inspect.signature(cls).parameters
        if "n_samples" in params and "n_samples" not in kwargs:
            kwargs["n_samples"] = n_samples
        if "n_classes" in params and "n_classes" not in kwargs:
            kwargs["n_classes"] = n_classes
        fn: nn.Module = ml.get(loss, **kwargs)
    elif isinstance(loss, nn.Module):
        if loss_kwargs:
            raise InvalidParameterError(
                "`loss_kwargs` applies to a loss given by name; got a loss module too. Build "
                "the module with its arguments instead."
            )
        fn = copy.deepcopy(loss)
    else:
        raise InvalidParameterError(
            f"`loss` must be a registered loss name (mislabel.losses.available()) or a loss "
            f"nn.Module with a `reduction` attribute; got {type(loss).__name__}."
        )
    if not hasattr(fn, "reduction"):
        raise InvalidParameterError(
            f"`loss` must have a `reduction` attribute to give per-sample losses; "
            f"{type(fn).__name__} has none."
        )
    setattr(fn, "reduction", "none")  # noqa: B010  (nn.Module attribute typing)
    return fn


def check_loss_arg(loss: Any, loss_kwargs: Any) -> None:
    """Fail early (before any training) on an unknown loss name or bad kwargs type."""
    if loss_kwargs is not None and not isinstance(loss_kwargs, dict):
        raise InvalidParameterError(
            f"`loss_kwargs` must be a dict of keyword arguments or None; got "
            f"{type(loss_kwargs).__name__}."
        )
    if isinstance(loss, str):
        from mislabel import losses as ml

        ml.get_class(loss)
    elif not isinstance(loss, nn.Module):
        raise InvalidParameterError(
            f"`loss` must be a registered loss name (mislabel.losses.available()) or a loss "
            f"nn.Module; got {type(loss).__name__}."
        )


class Objective:
    """Per-sample losses of a batch, then the weighted (and optionally selected) mean.

    Args:
        loss_fn: a loss module with ``reduction="none"`` (see :func:`build_loss`).
        sample_weight: optional (n_samples,) weights of the training set.
        epochs: total epochs (for the truncated-GCE refresh schedule).
    """

    def __init__(self, loss_fn: nn.Module, sample_weight: Tensor | None, epochs: int) -> None:
        from mislabel.losses import WeightedCELoss

        self.loss_fn = loss_fn
        self.sample_weight = sample_weight
        self.takes_index = bool(getattr(loss_fn, "takes_index", False))
        self.is_wce = isinstance(loss_fn, WeightedCELoss)
        self.stored_wce = None
        if self.is_wce and sample_weight is None:
            stored = getattr(loss_fn, "sample_weights", None)
            if stored is None:
                raise InvalidParameterError(
                    "loss 'weighted_ce' needs per-sample weights: pass sample_weight= to fit "
                    "(or build WeightedCELoss(sample_weights=...) for the whole training set)."
                )
            self.stored_wce = stored
        cw = getattr(loss_fn, "weight", None)
        self.class_weight = cw if isinstance(cw, Tensor) else None
        # truncated GCE: refresh the pruning weights from the training forward pass, from a third
        # of the training on (the paper prunes from epoch 40 of 120).
        self.refresh_from = max(1, epochs // 3) if hasattr(loss_fn, "update_weights") else None

    def to(self, device: str) -> Objective:
        self.loss_fn.to(device)
        if self.sample_weight is not None:
            self.sample_weight = self.sample_weight.to(device)
        return self

    def per_sample(
        self, logits: Tensor, y: Tensor, idx: Tensor
    ) -> tuple[Tensor, Tensor | None, bool]:
        """``(losses (b,), weights (b,) or None, whether the loss applied the weights)``."""
        sw = None if self.sample_weight is None else self.sample_weight[idx]
        if self.is_wce:
            if sw is not None:
                return self.loss_fn(logits, y, sample_weight=sw), sw, True
            stored = self.stored_wce
            if stored is None:  # pragma: no cover - __init__ guarantees it
                raise InvalidParameterError("weighted_ce has no per-sample weights.")
            return self.loss_fn(logits, y, index=idx), stored[idx.to(stored.device)], True
        if self.takes_index:
            return self.loss_fn(logits, y, index=idx), sw, False
        return self.loss_fn(logits, y), sw, False

    def reduce(
        self,
        per: Tensor,
        y: Tensor,
        sw: Tensor | None,
        applied: bool,
        keep: Tensor | None = None,
    ) -> Tensor:
        """The F.cross_entropy-style weighted mean over the kept rows."""
        if keep is not None:
            per, y = per[keep], y[keep]
            sw = None if sw is None else sw[keep]
        cw = self.class_weight
        if sw is None and cw is None:
            return per.mean()
        num = per if (sw is None or applied) else per * sw.to(per.dtype)
        den = torch.ones_like(per) if sw is None else sw.to(per.dtype)
        if cw is not None:
            den = den * cw.to(device=per.device, dtype=per.dtype).take(y)
        return num.sum() / den.sum().clamp_min(1e-12)

    def after_batch(self, logits: Tensor, y: Tensor, idx: Tensor, epoch: int) -> None:
        if self.refresh_from is not None and epoch >= self.refresh_from:
            self.loss_fn.update_weights(logits.detach(), y, idx)  # type: ignore[operator]


# --------------------------------------------------------------------------- the loop


def _progress(epochs: int, enabled: bool, desc: str) -> Any:
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(range(epochs), desc=desc, leave=False)
        except Exception:  # tqdm is optional: fall back to logging
            logger.debug("tqdm unavailable; logging epochs instead of a progress bar")
    return range(epochs)


def _report(bar: Any, log: EpochLog, desc: str) -> None:
    if hasattr(bar, "set_postfix"):
        bar.set_postfix(loss=f"{log.loss:.4f}", keep=f"{log.keep_rate:.2f}")
    logger.info(
        "%s epoch %d: loss %.4f, kept %d/%d (R=%.3f), %.1fs",
        desc,
        log.epoch,
        log.loss,
        log.n_kept,
        log.n_seen,
        log.keep_rate,
        log.seconds,
    )


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled index batches; a trailing batch of one sample is skipped (BatchNorm cannot train
    on it; the sample is in another position next epoch)."""
    perm = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        if idx.numel() == 1 and n > 1:
            continue
        yield idx


def fit_module(
    module: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    objective: Objective,
    settings: TrainSettings,
    keep_schedule: Callable[[int], float] | None = None,
    dynamics: TrainingDynamics | None = None,
    desc: str = "train",
    mixup: float = 0.0,
    on_epoch: Callable[[int, nn.Module], None] | None = None,
) -> list[EpochLog]:
    """Train ``module`` in place on (x, y); return one :class:`EpochLog` per epoch.

    ``on_epoch(epoch, module)`` is called after each epoch (the module is put back in train
    mode afterwards, so the callback may predict in eval mode).

    In-training randomness (dropout, mixup's λ) draws from torch's RNG seeded with
    ``settings.seed + 1`` inside the call, and the batch order (and mixup's partners) from a
    generator seeded with ``settings.seed``; the caller's RNG state is restored afterwards.
    ``mixup`` > 0 (see :func:`check_mixup`) trains on mixup batches.
    """
    with seeded(None if settings.seed is None else settings.seed + 1):
        return _fit_module(
            module,
            x,
            y,
            objective=objective,
            settings=settings,
            keep_schedule=keep_schedule,
            dynamics=dynamics,
            desc=desc,
            mixup=mixup,
            on_epoch=on_epoch,
        )


def check_mixup(mixup: Any, objective: Objective, dynamics: TrainingDynamics | None) -> float:
    """``mixup`` as α ≥ 0, or a clear error where it cannot apply."""
    alpha = float(check_scalar(mixup, "mixup", min_val=0.0))
    if alpha == 0.0:
        return alpha
    name = type(objective.loss_fn).__name__
    if objective.takes_index or objective.refresh_from is not None or objective.is_wce:
        raise InvalidParameterError(
            f"`mixup` = {alpha} does not combine with the loss {name}: it keeps per-sample "
            "state that a mixed input does not belong to. Use mixup=0, or a loss without "
            "sample indices (e.g. 'gce', 'ce' with sample_weight)."
        )
    if dynamics is not None:
        raise InvalidParameterError(
            f"`mixup` = {alpha} does not combine with record_dynamics=True: the per-sample "
            "margins would be those of mixed inputs. Use one or the other."
        )
    return alpha


def _fit_module(
    module: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    objective: Objective,
    settings: TrainSettings,
    keep_schedule: Callable[[int], float] | None,
    dynamics: TrainingDynamics | None,
    desc: str,
    mixup: float = 0.0,
    on_epoch: Callable[[int, nn.Module], None] | None = None,
) -> list[EpochLog]:
    from mislabel.train._capacity import warn_if_elr_cannot_help

    warn_if_elr_cannot_help(module, int(x.shape[0]), objective.loss_fn)
    device, cl = settings.device, settings.channels_last
    beta = torch.distributions.Beta(mixup, mixup) if mixup > 0 else None
    module.to(device)
    if cl:
        module.to(memory_format=torch.channels_last)
    objective.to(device)
    opt = settings.make_optimizer(module.parameters())
    gen = settings.generator()
    history: list[EpochLog] = []
    n = x.shape[0]
    bar = _progress(settings.epochs, settings.progress, desc)
    module.train()
    for epoch in bar:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = settings.epoch_lr(epoch)
        rate = keep_schedule(epoch) if keep_schedule is not None else 1.0
        total, seen, kept = 0.0, 0, 0
        for idx in batches(n, settings.batch_size, gen):
            xb = _to_device(x[idx], device, cl)
            yb = y[idx].to(device)
            ib = idx.to(device)
            b = int(idx.numel())
            k = b
            if beta is not None:
                # mixup (Zhang et al., ICLR 2018): the batch mixed with a shuffled copy of
                # itself, and the two labels' (weighted) losses mixed alike
                lam = float(beta.sample())
                mate = torch.randperm(b, generator=gen).to(device)
                logits = module(lam * xb + (1.0 - lam) * xb[mate])
                per, sw, applied = objective.per_sample(logits, yb, ib)
                per2, sw2, _ = objective.per_sample(logits, yb[mate], ib[mate])
                loss = lam * objective.reduce(per, yb, sw, applied) + (
                    1.0 - lam
                ) * objective.reduce(per2, yb[mate], sw2, applied)
            else:
                logits = module(xb)
                if dynamics is not None:
                    dynamics.update(idx, logits, yb)
                per, sw, applied = objective.per_sample(logits, yb, ib)
                keep = None
                if rate < 1.0:
                    k = n_keep(rate, b)
                    keep = torch.argsort(per.detach(), stable=True)[:k]
                loss = objective.reduce(per, yb, sw, applied, keep)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            objective.after_batch(logits, yb, ib, epoch)
            total += float(loss.detach()) * k
            seen += b
            kept += k
        if dynamics is not None:
            dynamics.end_epoch()
        if on_epoch is not None:
            on_epoch(epoch, module)
            module.train()
        secs = time.perf_counter() - t0
        log = EpochLog(
            epoch, total / max(kept, 1), rate, seen, kept, secs, settings.epoch_lr(epoch)
        )
        history.append(log)
        _report(bar, log, desc)
    module.eval()
    return history


@contextlib.contextmanager
def recording_penultimate(module: nn.Module, sink: list[Tensor]) -> Iterator[None]:
    """While inside, every forward pass of ``module`` appends the input of its last
    ``nn.Linear`` (its penultimate features, flattened per sample, on the CPU) to ``sink``.

    Raises:
        InvalidParameterError: ``module`` has no ``nn.Linear``.
    """
    linear = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise InvalidParameterError(
            "`neighbors` needs the network's penultimate features: the input of its last "
            f"nn.Linear layer; {type(module).__name__} has no nn.Linear. Pass neighbors=0, or "
            "compute features yourself and call mislabel.neighbor_label_probs."
        )

    def grab(_: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        sink.append(inputs[0].detach().float().flatten(1).cpu())

    handle = linear[-1].register_forward_pre_hook(grab)
    try:
        yield
    finally:
        handle.remove()


def predict_logits(
    module: nn.Module, x: Tensor, batch_size: int, device: str, channels_last: bool
) -> Tensor:
    """Logits of ``module`` (eval mode, no grad) over ``x`` in batches, on the CPU."""
    if module is None:
        raise NotFittedError("no trained network; call fit first.")
    module.eval()
    outs = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            outs.append(
                module(_to_device(x[start : start + batch_size], device, channels_last))
                .float()
                .cpu()
            )
    return torch.cat(outs)


# --------------------------------------------------------------------------- preparation


@dataclass
class Prepared:
    """Validated inputs of one training run (everything checked before any training)."""

    x: Tensor
    y: np.ndarray
    y_t: Tensor
    n_classes: int
    sample_weight: Tensor | None


def prepare(
    model: Any,
    X: Any,
    labels: Any,
    *,
    sample_weight: Any,
    loss: Any,
    loss_kwargs: Any,
    settings: TrainSettings,
    n_classes: int | None,
    require_all_classes: bool = False,
    name: str = "model_factory",
) -> tuple[Prepared, nn.Module]:
    """Check everything, then build the first network (seeded) and check its output shape.

    Raises before any training: a model argument that is neither a module nor callable, an
    unknown loss, features and labels of different lengths, labels outside the classes, a
    network whose output is not (n, n_classes), bad sample weights, and (with
    ``require_all_classes``) a class of ``[0, n_classes)`` without any training sample.
    """
    check_module_arg(model, name)
    check_loss_arg(loss, loss_kwargs)
    if n_classes is not None:
        check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2)
    x, y = check_xy(X, labels, n_classes)
    sw = check_sample_weight(sample_weight, y.shape[0])
    with seeded(settings.seed):
        module = instantiate(model, name)
    if not any(p.requires_grad for p in module.parameters()):
        raise InvalidParameterError(
            f"`{name}` has no trainable parameters (none with requires_grad); nothing to train."
        )
    k = check_output(
        module,
        x,
        y,
        n_classes=n_classes,
        device=settings.device,
        channels_last=settings.channels_last,
        name=name,
    )
    counts = np.bincount(y, minlength=k)
    absent = np.flatnonzero(counts == 0)
    if absent.size and require_all_classes:
        raise InvalidInputError(
            f"`labels` has no sample of classes {absent[:10].tolist()} of the network's {k}; "
            "a model trained without them cannot predict them. In k-fold training this means a "
            "class has fewer samples than folds: use fewer folds or merge / drop the class."
        )
    if absent.size:
        logger.warning(
            "classes %s have no training sample; the network will rarely predict them",
            absent[:10].tolist(),
        )
    return Prepared(x, y, torch.from_numpy(y.astype(np.int64)), k, sw), module
