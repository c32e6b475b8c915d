"""Can a network learn the wrong labels by heart? (Decides whether ELR and weights pay off.)"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from torch import nn

from mislabel._validation import check_scalar
from mislabel.exceptions import InvalidParameterError
from mislabel.train._loop import instantiate, seeded

__all__ = ["can_memorize", "n_parameters", "warn_if_elr_cannot_help"]


def n_parameters(model: Any) -> int:
    """The number of trainable parameters of a module, or of a fresh one from a factory.

    Raises:
        InvalidParameterError: ``model`` is neither a module nor a factory of one, or it has
            lazy (not yet initialised) parameters, whose size is unknown before a forward pass.
    """
    net = model if isinstance(model, nn.Module) else _fresh(model)
    lazy = [name for name, p in net.named_parameters() if nn.parameter.is_lazy(p)]
    if lazy:
        raise InvalidParameterError(
            f"`model` has lazy parameters ({', '.join(lazy[:3])}) whose size is unknown until a "
            "first forward pass; run one batch through it first, or give concrete layer sizes."
        )
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


def _fresh(factory: Any) -> nn.Module:
    with seeded(0):
        return instantiate(factory, "model")


def can_memorize(model: Any, n_samples: int) -> bool:
    """Whether ``model`` has at least as many trainable parameters as there are training
    samples: the over-parameterised regime in which a network fits the clean labels first and
    then learns the wrong ones by heart (Arpit et al., ICML 2017; Zhang et al., ICLR 2017).

    That memorisation is what the cures of the "train through" step counter: ELR pulls each
    prediction towards the network's own early-learning guess (Liu et al., NeurIPS 2020, whose
    analysis is of this regime), and per-sample weights keep the suspects from being fitted.
    A model with fewer parameters than samples (a linear head on fixed embeddings, a small
    tabular model on many rows) cannot memorise them; there ELR only sharpens the model
    towards its own mistakes and the weights throw away hard, correct samples, so plain
    cross-entropy is the better final loss. The measurements behind this rule (linear models
    and MLPs on text embeddings, image networks on Fashion-MNIST and CIFAR-10N) are in the
    results page of the documentation (``docs/results.md``).

    Args:
        model: a torch ``nn.Module``, or a callable returning a fresh one (called once).
        n_samples: the number of training samples (≥ 1).

    Returns:
        ``True`` when ``n_parameters(model) >= n_samples``.

    Example:
        >>> from torch import nn
        >>> can_memorize(nn.Linear(384, 2), n_samples=7_000)  # a linear head: plain CE
        False
        >>> net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        >>> can_memorize(net, n_samples=30_000)  # 203,530 parameters: weights and ELR
        True
    """
    n = int(check_scalar(n_samples, "n_samples", kind=numbers.Integral, min_val=1))
    return n_parameters(model) >= n


def warn_if_elr_cannot_help(module: nn.Module, n_samples: int, loss_fn: nn.Module) -> None:
    """A ``UserWarning`` when ``loss_fn`` is ELR and ``module`` cannot memorise ``n_samples``
    (see :func:`can_memorize`); silent for other losses and for lazy modules."""
    from mislabel.losses import ELRLoss

    if not isinstance(loss_fn, ELRLoss):
        return
    try:
        if can_memorize(module, n_samples):
            return
    except InvalidParameterError:  # lazy parameters: their size is unknown before a batch
        return
    p = n_parameters(module)
    warnings.warn(
        f"ELR counters the memorisation of wrong labels, but this model has {p:,} trainable "
        f"parameters for {n_samples:,} training samples and cannot memorise them; there ELR "
        "tends to cost accuracy against plain CE. Consider loss='ce' (see "
        "mislabel.train.can_memorize).",
        UserWarning,
        stacklevel=5,
    )
