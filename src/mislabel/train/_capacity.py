"""Can a network learn the wrong labels by heart? (Decides whether ELR and weights pay off.)"""

from __future__ import annotations

import numbers
from typing import Any

from torch import nn

from mislabel._validation import check_scalar
from mislabel.exceptions import InvalidParameterError
from mislabel.train._loop import instantiate, seeded

__all__ = ["can_memorize", "n_parameters"]


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
    cross-entropy is the better final loss. Measured with logistic regression on MiniLM
    embeddings (``benchmarks/capacity_gate.py``; TREC, SMS spam, 0 to 40 % symmetric and pair
    flips, 3 seeds): ELR after the weights loses 5 to 40 points to plain CE, the weights with
    CE lose up to 3 points; on Fashion-MNIST and CIFAR-10N the networks (200,000+ parameters on
    at most 30,000 images) gain up to 30 points from them (``benchmarks/table2_final.py``).

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
