"""Generalized cross-entropy (L_q) and its truncated form (Zhang & Sabuncu, NeurIPS 2018)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mislabel._validation import check_scalar
from mislabel.exceptions import InvalidInputError
from mislabel.losses._base import (
    LossBase,
    Reduction,
    check_common,
    check_index,
    check_logits_target,
    finish,
    resolve_weight,
)
from mislabel.losses._registry import register

__all__ = [
    "GCELoss",
    "TruncatedGCELoss",
    "generalized_cross_entropy",
    "truncated_gce_loss",
]

_PAPER = (
    'Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with '
    'Noisy Labels", NeurIPS 2018'
)


def _check_q(q: Any) -> float:
    return float(check_scalar(q, "q", min_val=0.0, max_val=1.0, include_min=False))


def _check_k(k: Any) -> float:
    return float(
        check_scalar(k, "k", min_val=0.0, max_val=1.0, include_min=False, include_max=False)
    )


def _lq_from_ce(ce: Tensor, q: float) -> Tensor:
    # (1 - p^q) / q with p = exp(-ce), accurate for small q (q -> 0 gives ce).
    return -torch.expm1(-q * ce) / q


def generalized_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    q: float = 0.7,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized cross-entropy :math:`\mathcal{L}_q`, between CE (q → 0) and MAE (q = 1).

    .. math:: \ell_i = w_{y_i} \, \frac{1 - p_{i, y_i}^{\,q}}{q}, \qquad q \in (0, 1]

    Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
    Noisy Labels", NeurIPS 2018. Robust to symmetric and class-conditional noise:
    the loss is bounded by 1/q, so a wrong label cannot pull as hard as under CE, and it
    keeps most of CE's fast convergence. q → 0 gives CE; q = 1 gives 1 − p_y (MAE / 2).

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        q: in (0, 1]; the paper uses 0.7.
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> generalized_cross_entropy(logits, torch.randint(0, 3, (8,)), q=0.7).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    qq = _check_q(q)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _gce(x, t, qq, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _gce(
    x: Tensor,
    t: Tensor,
    q: float,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    ce = F.cross_entropy(x, t, ignore_index=ignore_index, reduction="none")
    return finish(_lq_from_ce(ce, q), t, weight, ignore_index, reduction, dtype)


@register("gce")
class GCELoss(LossBase):
    r"""Generalized cross-entropy :math:`\mathcal{L}_q` (Zhang & Sabuncu, NeurIPS 2018).

    .. math:: \ell_i = w_{y_i} \, \frac{1 - p_{i, y_i}^{\,q}}{q}

    Robust to symmetric and class-conditional noise (bounded by 1/q); q → 0 is CE, q = 1 is
    MAE up to a factor 2. See :func:`generalized_cross_entropy`.

    Args:
        q: in (0, 1], default 0.7 as in the paper.
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = GCELoss(q=0.7)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def __init__(
        self,
        q: float = 0.7,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.q = _check_q(q)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _gce(x, t, self.q, w, self.ignore_index, self.reduction, logits.dtype)

    def _hparams(self) -> dict[str, Any]:
        return {"q": self.q}


# ------------------------------------------------------------------------------ truncated


def truncated_gce_loss(
    logits: Tensor,
    target: Tensor,
    *,
    q: float = 0.7,
    k: float = 0.5,
    pruning_weight: Tensor | None = None,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Truncated :math:`\mathcal{L}_q` loss: samples with :math:`p_y \le k` are pruned.

    .. math::
        \ell_i = w_{y_i} \, v_i \,\big(\mathcal{L}_q(p_{i, y_i}) - \mathcal{L}_q(k)\big),
        \qquad \mathcal{L}_q(p) = \frac{1 - p^q}{q}

    the paper's objective :math:`\sum_i v_i \mathcal{L}_q(p_i) - \mathcal{L}_q(k) \sum_i v_i`
    (Zhang & Sabuncu, NeurIPS 2018), with pruning weights :math:`v_i \in \{0, 1\}`.
    Without ``pruning_weight`` they are taken from the current predictions,
    :math:`v_i = [p_{i, y_i} > k]`, which is the truncated loss
    :math:`\min(\mathcal{L}_q(p), \mathcal{L}_q(k)) - \mathcal{L}_q(k) \le 0`. The mean
    divides by the (weighted) number of samples, pruned ones included, as in the authors'
    code. Tighter noise bound than GCE for symmetric and class-conditional noise.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        q: in (0, 1], default 0.7.
        k: truncation threshold in (0, 1), default 0.5.
        pruning_weight: optional (n,) weights :math:`v_i` (0 or 1 in the paper).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> truncated_gce_loss(logits, torch.randint(0, 3, (8,)), q=0.7, k=0.5).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    qq, kk = _check_q(q), _check_k(k)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    v = None
    if pruning_weight is not None:
        if not isinstance(pruning_weight, Tensor) or pruning_weight.shape != (x.shape[0],):
            got = (
                tuple(pruning_weight.shape)
                if isinstance(pruning_weight, Tensor)
                else type(pruning_weight).__name__
            )
            raise InvalidInputError(
                f"`pruning_weight` must be a tensor of shape ({x.shape[0]},), one weight per "
                f"sample; got {got}."
            )
        v = pruning_weight
    return _truncated(x, t, qq, kk, v, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _truncated(
    x: Tensor,
    t: Tensor,
    q: float,
    k: float,
    v: Tensor | None,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    ce = F.cross_entropy(x, t, ignore_index=ignore_index, reduction="none")
    # L_q(p) - L_q(k) = (k^q - p^q) / q, written with expm1 for accuracy at small q.
    loss = (math.expm1(q * math.log(k)) - torch.expm1(-q * ce)) / q
    if v is None:
        v = (ce.detach() < -math.log(k)).to(loss.dtype)  # p_y > k
    loss = loss * v.to(device=loss.device, dtype=loss.dtype)
    return finish(loss, t, weight, ignore_index, reduction, dtype)


@register("truncated_gce")
class TruncatedGCELoss(LossBase):
    r"""Truncated :math:`\mathcal{L}_q` with per-sample pruning weights (Zhang & Sabuncu 2018).

    .. math::
        \ell_i = w_{y_i} \, v_i \,\big(\mathcal{L}_q(p_{i, y_i}) - \mathcal{L}_q(k)\big),
        \qquad \mathcal{L}_q(p) = \frac{1 - p^q}{q}

    Keeps ``pruning_weights`` :math:`v \in \{0, 1\}^{n}` (a buffer, one per training sample,
    all 1 at start). The paper alternates: train on the weighted loss, and every few epochs
    (every 10 after epoch 40 in the paper) call :meth:`update_weights` over the training set,
    which sets :math:`v_i = [p_{i, y_i} > k]`. Tighter noise bound than :class:`GCELoss` for
    symmetric and class-conditional noise. See :func:`truncated_gce_loss`.

    How the sample indices reach the loss: ``loss(logits, target, index=idx)``, or
    ``loss.bind_index(idx)`` before the call (fastai). Without indices the weights are taken
    from the current predictions (the truncated loss itself).

    Args:
        n_samples: size of the training set (length of ``pruning_weights``).
        q: in (0, 1], default 0.7.
        k: threshold in (0, 1), default 0.5.
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = TruncatedGCELoss(n_samples=100)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> y, idx = torch.randint(0, 3, (8,)), torch.arange(8)
        >>> loss.update_weights(logits.detach(), y, idx)
        >>> loss(logits, y, index=idx).backward()
    """

    takes_index = True
    pruning_weights: Tensor

    def __init__(
        self,
        n_samples: int,
        q: float = 0.7,
        k: float = 0.5,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.n_samples = int(check_scalar(n_samples, "n_samples", kind=numbers.Integral, min_val=1))
        self.q = _check_q(q)
        self.k = _check_k(k)
        self.register_buffer("pruning_weights", torch.ones(self.n_samples))

    def forward(self, logits: Tensor, target: Tensor, index: Tensor | None = None) -> Tensor:
        index = self._take_index(index)
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        v = None
        if index is not None:
            idx = check_index(index, x.shape[0], self.n_samples)
            v = self.pruning_weights.take(idx.to(self.pruning_weights.device))
        return _truncated(
            x, t, self.q, self.k, v, w, self.ignore_index, self.reduction, logits.dtype
        )

    @torch.no_grad()
    def update_weights(self, logits: Tensor, target: Tensor, index: Tensor) -> None:
        """Set ``pruning_weights[index] = [p_y > k]`` from (detached) ``logits``."""
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        idx = check_index(index, x.shape[0], self.n_samples)
        ce = F.cross_entropy(x, t, ignore_index=self.ignore_index, reduction="none")
        keep = (ce < -math.log(self.k)).to(self.pruning_weights.dtype)
        valid = t != self.ignore_index
        dev = self.pruning_weights.device
        self.pruning_weights[idx[valid].to(dev)] = keep[valid].to(dev)

    def _hparams(self) -> dict[str, Any]:
        return {"n_samples": self.n_samples, "q": self.q, "k": self.k}
