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
    cross-entropy is the better final loss. Measured on MiniLM embeddings of TREC and SMS
    spam (``benchmarks/capacity_gate.py``: none to 40 % symmetric and pair flips, 3 seeds):
    with logistic regression (770 / 2,310 parameters, ~3,400 / ~3,800 samples) the weights +
    ELR lose 15.4 / 7.1 points to plain CE on average (up to 20), the weights with CE 1.0 /
    2.5; with an MLP on the same embeddings (~165,000 parameters) the same recipe gains 11.1
    / 5.8 points over CE. ELR is what hurts a linear model most: alone it costs 12.1 / 8.4
    points there and 2.2 on Fashion-MNIST pixels (7,850 parameters, 10,000 images). The
    weights are not as clear-cut: on those pixels they help the linear model (+3.4 points with
    CE), and over all 14 linear settings the weights with CE and plain CE are within 0.2
    points (plain CE ahead in 7). On Fashion-MNIST and CIFAR-10N (networks of 200,000+
    parameters, at most 30,000 images) the weights + ELR gain up to 35 points over CE
    (``benchmarks/table2_final.py``).

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
        f"parameters for {n_samples:,} training samples and cannot memorise them: on the "
        "linear models of benchmarks/capacity_gate.py ELR cost 2 to 12 points of accuracy "
        "against plain CE. Consider loss='ce' (see mislabel.train.can_memorize).",
        UserWarning,
        stacklevel=5,
    )
