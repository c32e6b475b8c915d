"""Single-network noise-aware training: per-sample weights and small-loss selection."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from torch import nn

from mislabel.train._dynamics import TrainingDynamics
from mislabel.train._loop import (
    Objective,
    TrainResult,
    TrainSettings,
    build_loss,
    check_mixup,
    fit_module,
    prepare,
)
from mislabel.train._schedule import check_schedule, keep_rate, resolve_forget_rate

__all__ = ["small_loss", "train_weighted"]


def _oof_pred_probs(
    model: Any,
    X: Any,
    labels: np.ndarray,
    settings: TrainSettings,
    loss: Any,
    loss_kwargs: Any,
    n_classes: int,
    cv: int = 5,
) -> np.ndarray:
    """Out-of-fold probabilities of the same network and settings (for noise estimation)."""
    from mislabel.detect import cross_val_pred_probs
    from mislabel.integrations.torch import TorchClassifier

    est = TorchClassifier(
        model,
        loss=loss,
        loss_kwargs=loss_kwargs,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        optimizer=settings.optimizer,
        weight_decay=settings.weight_decay,
        device=settings.device,
        progress=False,
        channels_last=settings.channels_last,
        n_classes=n_classes,
    )
    return cross_val_pred_probs(est, X, labels, cv=cv, random_state=settings.seed)


def small_loss(
    model_factory: Any,
    X: Any,
    labels: Any,
    *,
    noise_rate: float | None = None,
    forget_rate: float | None = None,
    pred_probs: Any = None,
    t_k: int = 10,
    warmup_epochs: int = 0,
    loss: str | nn.Module = "ce",
    loss_kwargs: dict[str, Any] | None = None,
    sample_weight: Any = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    device: str = "cpu",
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
    channels_last: bool = False,
    record_dynamics: bool = False,
    n_classes: int | None = None,
) -> TrainResult:
    """Train one network on the small-loss share of each batch (self-paced, as in co-teaching).

    At epoch ``t`` the ``R(t) = 1 - τ·min((t - warmup_epochs) / t_k, 1)`` share of each batch
    with the smallest loss is kept and the rest dropped: networks learn clean patterns before
    they memorise wrong labels, so the large-loss samples are mostly the mislabelled ones
    (Han et al., NeurIPS 2018; Jiang et al., MentorNet, ICML 2018). This is co-teaching's
    selection without the second network; :func:`coteaching` is usually better at high noise.

    Args:
        model_factory: a callable returning a fresh ``nn.Module`` (called once, seeded), or a
            module (deep-copied: trained from its weights as given).
        X: (n, ...) features (numpy array or tensor, converted to float32).
        labels: (n,) given labels in ``[0, n_classes)``.
        noise_rate: a known fraction of wrong labels ("10 % are wrong" → 0.1): the forget rate.
        forget_rate: τ directly (wins over ``noise_rate``).
        pred_probs: out-of-fold probabilities to estimate the noise rate from (with
            :func:`mislabel.estimate_noise`) when neither rate is given; without them, 5-fold
            out-of-fold probabilities of the same network are computed first (about 4
            trainings more).
        t_k: epochs of the ramp from keeping all to keeping ``1 - τ``.
        warmup_epochs: epochs before the ramp starts.
        loss: a :mod:`mislabel.losses` name or loss module, run per sample.
        loss_kwargs: arguments of the named loss (``n_samples`` / ``n_classes`` are filled in).
        sample_weight: optional (n,) non-negative weights, combined with the selection.
        epochs, batch_size, lr, optimizer, weight_decay: the optimisation (``"adam"``,
            ``"adamw"`` or ``"sgd"`` with momentum 0.9).
        device: torch device for the network and the batches.
        random_state: seeds the network's initialisation (factory call), the batch order and
            dropout; the caller's torch RNG is left untouched. Same seed, same result.
        progress: a tqdm bar over epochs (if tqdm is installed; epochs are logged either way).
        channels_last: channels-last memory format for 4-D inputs (faster CNNs on CPU).
        record_dynamics: record per-sample loss and margin per epoch
            (``result.dynamics``: area under the margin).
        n_classes: expected number of classes (default: the network's output width).

    Returns:
        A :class:`TrainResult` with ``forget_rate`` set.

    Example:
        >>> res = small_loss(make_cnn, X, labels, noise_rate=0.4, epochs=20)   # doctest: +SKIP
        >>> res.predict_proba(X_test)                                          # doctest: +SKIP
    """
    settings = TrainSettings.check(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        device=device,
        random_state=random_state,
        progress=progress,
        channels_last=channels_last,
    )
    check_schedule(forget_rate, t_k, warmup_epochs)
    prep, module = prepare(
        model_factory,
        X,
        labels,
        sample_weight=sample_weight,
        loss=loss,
        loss_kwargs=loss_kwargs,
        settings=settings,
        n_classes=n_classes,
    )
    tau = resolve_forget_rate(
        prep.y,
        forget_rate=forget_rate,
        noise_rate=noise_rate,
        pred_probs=pred_probs,
        estimate_pred_probs=functools.partial(
            _oof_pred_probs,
            model_factory,
            prep.x,
            prep.y,
            settings,
            loss,
            loss_kwargs,
            prep.n_classes,
        ),
    )
    n = prep.y.shape[0]
    objective = Objective(
        build_loss(loss, loss_kwargs, n_samples=n, n_classes=prep.n_classes),
        prep.sample_weight,
        settings.epochs,
    )
    dyn = TrainingDynamics(n, prep.n_classes) if record_dynamics else None
    history = fit_module(
        module,
        prep.x,
        prep.y_t,
        objective=objective,
        settings=settings,
        keep_schedule=functools.partial(
            _keep, forget_rate=tau, t_k=int(t_k), warmup_epochs=int(warmup_epochs)
        ),
        dynamics=dyn,
        desc="small-loss",
    )
    return TrainResult(
        model=module,
        history=tuple(history),
        n_classes=prep.n_classes,
        forget_rate=tau,
        dynamics=dyn,
        models=(module,),
        device=settings.device,
        channels_last=settings.channels_last,
    )


def _keep(epoch: int, *, forget_rate: float, t_k: int, warmup_epochs: int) -> float:
    return keep_rate(epoch, forget_rate, t_k, warmup_epochs)


def train_weighted(
    model_factory: Any,
    X: Any,
    labels: Any,
    sample_weight: Any,
    *,
    loss: str | nn.Module = "ce",
    loss_kwargs: dict[str, Any] | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    device: str = "cpu",
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
    channels_last: bool = False,
    record_dynamics: bool = False,
    n_classes: int | None = None,
    mixup: float = 0.0,
) -> TrainResult:
    """Train one network with a weight per sample, e.g. from label-issue detection.

    The batch loss is ``sum_i s_i l_i / sum_i s_i w_{y_i}`` (``w``: the loss's per-class
    weight, if any), the weighted mean of ``F.cross_entropy``; importance reweighting (Liu &
    Tao, TPAMI 2016). ``issues.weights`` of :func:`mislabel.find_label_issues` (the
    probability that each label is right) are valid weights as they are; ``~issues.mask`` as
    weights removes the flagged samples.

    Args:
        model_factory: a callable returning a fresh ``nn.Module``, or a module (deep-copied).
        X: (n, ...) features.
        labels: (n,) given labels.
        sample_weight: (n,) finite, non-negative weights, not all zero.
        loss, loss_kwargs, epochs, batch_size, lr, optimizer: as in :func:`small_loss`.
        weight_decay, device, random_state, progress: as in :func:`small_loss`.
        channels_last, record_dynamics, n_classes: as in :func:`small_loss`.
        mixup: α > 0 trains on mixup batches (Zhang et al., ICLR 2018): each batch mixed with
            a shuffled copy of itself, ``x = λ x_i + (1 - λ) x_j``, λ ~ Beta(α, α), loss
            ``λ l(x, y_i) + (1 - λ) l(x, y_j)`` with the weights mixed alike. It keeps the
            network from learning the wrong labels that detection missed by heart; α = 1 is
            a good start. Not with losses that keep per-sample state (``elr``,
            ``truncated_gce``, ``weighted_ce``) nor with ``record_dynamics``.

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> issues = mislabel.find_label_issues(labels, pred_probs)  # doctest: +SKIP
        >>> res = train_weighted(make_cnn, X, labels, issues.weights)  # doctest: +SKIP
        >>> w = issues.weights  # doctest: +SKIP
        >>> res = train_weighted(make_cnn, X, labels, w, loss="gce", mixup=1.0)  # doctest: +SKIP
    """
    settings = TrainSettings.check(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        device=device,
        random_state=random_state,
        progress=progress,
        channels_last=channels_last,
    )
    from mislabel.exceptions import InvalidInputError

    if sample_weight is None:
        raise InvalidInputError(
            "`sample_weight` must be an (n,) array of per-sample weights; got None. Use "
            "issues.weights from mislabel.find_label_issues."
        )
    prep, module = prepare(
        model_factory,
        X,
        labels,
        sample_weight=sample_weight,
        loss=loss,
        loss_kwargs=loss_kwargs,
        settings=settings,
        n_classes=n_classes,
    )
    n = prep.y.shape[0]
    objective = Objective(
        build_loss(loss, loss_kwargs, n_samples=n, n_classes=prep.n_classes),
        prep.sample_weight,
        settings.epochs,
    )
    dyn = TrainingDynamics(n, prep.n_classes) if record_dynamics else None
    alpha = check_mixup(mixup, objective, dyn)
    history = fit_module(
        module,
        prep.x,
        prep.y_t,
        objective=objective,
        settings=settings,
        dynamics=dyn,
        desc="weighted",
        mixup=alpha,
    )
    return TrainResult(
        model=module,
        history=tuple(history),
        n_classes=prep.n_classes,
        dynamics=dyn,
        models=(module,),
        device=settings.device,
        channels_last=settings.channels_last,
    )
