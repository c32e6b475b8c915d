"""Taylor cross-entropy: CE's Taylor series in (1 - p_y), cut at order t (Feng et al. 2020)."""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mislabel._validation import check_scalar
from mislabel.losses._base import (
    LossBase,
    Reduction,
    check_common,
    check_logits_target,
    finish,
    resolve_weight,
)
from mislabel.losses._registry import register

__all__ = ["TaylorCELoss", "taylor_cross_entropy"]


def _check_order(order: Any) -> int:
    return int(check_scalar(order, "order", kind=numbers.Integral, min_val=1))


def taylor_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    order: int = 2,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Taylor cross-entropy: the first ``order`` terms of :math:`-\log p_y` around :math:`p_y = 1`.

    .. math:: \ell_i = w_{y_i} \sum_{j=1}^{t} \frac{(1 - p_{i, y_i})^j}{j}

    Feng et al., "Can Cross Entropy Loss Be Robust to Label Noise?", IJCAI 2020.
    Order 1 is MAE / 2, and t → ∞ gives CE: t trades CE's fitting power for MAE's robustness.
    Bounded for finite t, hence robust to symmetric and asymmetric (pair) noise; the paper
    uses t = 2 on CIFAR-10.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        order: t, an int ≥ 1.
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> taylor_cross_entropy(logits, torch.randint(0, 3, (8,)), order=2).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    t_order = _check_order(order)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _taylor(x, t, t_order, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _taylor(
    x: Tensor,
    t: Tensor,
    order: int,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    ce = F.cross_entropy(x, t, ignore_index=ignore_index, reduction="none")
    u = -torch.expm1(-ce)  # 1 - p_y
    # Horner: sum_{j=1}^t u^j / j = u * (1 + u * (1/2 + u * (1/3 + ... )))
    acc = torch.full_like(u, 1.0 / order)
    for j in range(order - 1, 0, -1):
        acc = torch.addcmul(torch.full_like(u, 1.0 / j), acc, u)
    return finish(acc * u, t, weight, ignore_index, reduction, dtype)


@register("taylor_ce")
class TaylorCELoss(LossBase):
    r"""Taylor cross-entropy of order t (Feng et al., IJCAI 2020).

    .. math:: \ell_i = w_{y_i} \sum_{j=1}^{t} \frac{(1 - p_{i, y_i})^j}{j}

    Between MAE (t = 1, up to a factor 2) and CE (t → ∞); bounded, robust to symmetric and
    asymmetric noise. See :func:`taylor_cross_entropy`.

    Args:
        order: t ≥ 1 (default 2, the paper's CIFAR-10 value).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = TaylorCELoss(order=2)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def __init__(
        self,
        order: int = 2,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.order = _check_order(order)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _taylor(x, t, self.order, w, self.ignore_index, self.reduction, logits.dtype)

    def _hparams(self) -> dict[str, Any]:
        return {"order": self.order}
