"""Co-teaching (Han et al., NeurIPS 2018): two networks teach each other with small-loss samples."""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from mislabel.exceptions import InvalidParameterError
from mislabel.train._dynamics import TrainingDynamics
from mislabel.train._loop import (
    EpochLog,
    Objective,
    TrainResult,
    TrainSettings,
    _progress,
    _report,
    _to_device,
    batches,
    build_loss,
    instantiate,
    prepare,
    seeded,
)
from mislabel.train._schedule import check_schedule, keep_rate, n_keep, resolve_forget_rate
from mislabel.train._single import _oof_pred_probs

__all__ = ["coteaching"]


def _second_network(model: Any, first: nn.Module) -> nn.Module:
    """Network 2: a second factory call, or a re-initialised copy of a given module."""
    second = instantiate(model)
    if isinstance(model, nn.Module):
        for m in second.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
    same = all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )
    if same and any(True for _ in first.parameters()):
        raise InvalidParameterError(
            "co-teaching needs two differently initialised networks, but both came out "
            "identical. Pass a factory (e.g. `lambda: MyNet()`) that draws a fresh random "
            "initialisation on each call."
        )
    return second


def coteaching(
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
    """Co-teaching: two networks, each trained on the other's small-loss samples.

    Both networks see the same batches. At epoch ``t`` each ranks the batch by its own
    per-sample loss and keeps the ``R(t) = 1 - τ·min((t - warmup_epochs) / t_k, 1)`` share
    with the smallest loss; network 1 then updates on network 2's selection and vice versa.
    Two differently initialised networks make different mistakes, so exchanging selections
    stops a network from confirming its own errors (Han et al., "Co-teaching: Robust Training
    of Deep Neural Networks with Extremely Noisy Labels", NeurIPS 2018). τ is the noise rate:
    known (``noise_rate``) or estimated with the confident joint from out-of-fold
    probabilities.

    Args:
        model_factory: a callable returning a fresh ``nn.Module``, called twice (seeded). A
            module is accepted too: network 1 starts from its weights as given, network 2
            from a re-initialised copy (``reset_parameters`` of each submodule).
        X: (n, ...) features.
        labels: (n,) given labels in ``[0, n_classes)``.
        noise_rate: a known fraction of wrong labels ("10 % are wrong" → 0.1), used as τ.
        forget_rate: τ directly (wins over ``noise_rate``).
        pred_probs: out-of-fold probabilities for the noise estimate when neither rate is given
            (otherwise 5-fold out-of-fold probabilities of one network are computed first).
        t_k: epochs of the ramp (``T_k``; the paper uses 10).
        warmup_epochs: epochs before the ramp starts.
        loss: a :mod:`mislabel.losses` name or module (one copy per network), run per sample
            for both the ranking and the update. Co-teaching uses ``"ce"``.
        loss_kwargs: arguments of the named loss.
        sample_weight: optional (n,) non-negative weights applied to the selected samples.
        epochs, batch_size, lr, optimizer: as in :func:`small_loss`.
        weight_decay, device, random_state, progress: as in :func:`small_loss`.
        channels_last, record_dynamics, n_classes: as in :func:`small_loss` (dynamics are
            recorded for network 1).

    Returns:
        A :class:`TrainResult`: ``model`` is network 1 (what the paper evaluates),
        ``models`` both; ``history`` reports network 1's loss.

    Example:
        >>> res = coteaching(make_cnn, X, labels, noise_rate=0.4, epochs=30)    # doctest: +SKIP
        >>> (res.predict(X_test) == y_test).mean()                              # doctest: +SKIP
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
    prep, net1 = prepare(
        model_factory,
        X,
        labels,
        sample_weight=sample_weight,
        loss=loss,
        loss_kwargs=loss_kwargs,
        settings=settings,
        n_classes=n_classes,
    )
    with seeded(None if settings.seed is None else settings.seed + 2):
        net2 = _second_network(model_factory, net1)
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
    objectives = tuple(
        Objective(
            build_loss(loss, loss_kwargs, n_samples=n, n_classes=prep.n_classes),
            prep.sample_weight,
            settings.epochs,
        ).to(settings.device)
        for _ in range(2)
    )
    dyn = TrainingDynamics(n, prep.n_classes) if record_dynamics else None
    with seeded(None if settings.seed is None else settings.seed + 1):
        history = _fit_pair(
            (net1, net2),
            prep.x,
            prep.y_t,
            objectives=objectives,
            settings=settings,
            tau=tau,
            t_k=int(t_k),
            warmup_epochs=int(warmup_epochs),
            dynamics=dyn,
        )
    return TrainResult(
        model=net1,
        history=tuple(history),
        n_classes=prep.n_classes,
        forget_rate=tau,
        dynamics=dyn,
        models=(net1, net2),
        device=settings.device,
        channels_last=settings.channels_last,
    )


def _fit_pair(
    nets: tuple[nn.Module, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    objectives: tuple[Objective, ...],
    settings: TrainSettings,
    tau: float,
    t_k: int,
    warmup_epochs: int,
    dynamics: TrainingDynamics | None,
) -> list[EpochLog]:
    device, cl = settings.device, settings.channels_last
    for net in nets:
        net.to(device)
        if cl:
            net.to(memory_format=torch.channels_last)
        net.train()
    opts = [settings.make_optimizer(net.parameters()) for net in nets]
    gen = settings.generator()
    history: list[EpochLog] = []
    bar = _progress(settings.epochs, settings.progress, "co-teaching")
    o1, o2 = objectives
    for epoch in bar:
        t0 = time.perf_counter()
        rate = keep_rate(epoch, tau, t_k, warmup_epochs)
        total, seen, kept = 0.0, 0, 0
        for idx in batches(x.shape[0], settings.batch_size, gen):
            xb = _to_device(x[idx], device, cl)
            yb = y[idx].to(device)
            ib = idx.to(device)
            z1, z2 = nets[0](xb), nets[1](xb)
            if dynamics is not None:
                dynamics.update(idx, z1, yb)
            per1, sw1, a1 = o1.per_sample(z1, yb, ib)
            per2, sw2, a2 = o2.per_sample(z2, yb, ib)
            b = int(idx.numel())
            k = n_keep(rate, b)
            small1 = torch.argsort(per1.detach(), stable=True)[:k]  # network 1's picks
            small2 = torch.argsort(per2.detach(), stable=True)[:k]
            loss1 = o1.reduce(per1, yb, sw1, a1, small2)  # network 1 learns from 2's picks
            loss2 = o2.reduce(per2, yb, sw2, a2, small1)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            (loss1 + loss2).backward()
            for opt in opts:
                opt.step()
            o1.after_batch(z1, yb, ib, epoch)
            o2.after_batch(z2, yb, ib, epoch)
            total += float(loss1.detach()) * k
            seen += b
            kept += k
        if dynamics is not None:
            dynamics.end_epoch()
        secs = time.perf_counter() - t0
        log = EpochLog(
            epoch, total / max(kept, 1), rate, seen, kept, secs, settings.epoch_lr(epoch)
        )
        history.append(log)
        _report(bar, log, "co-teaching")
    for net in nets:
        net.eval()
    return history
