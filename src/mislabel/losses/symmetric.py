r"""Symmetric and normalized losses: SCE, RCE, MAE, NCE and the active-passive pairs.

A loss is *symmetric* when :math:`\sum_k \ell(f(x), k)` is the same constant for every
``f``; Ghosh et al. (AAAI 2017) prove that minimising such a loss on labels flipped uniformly
at random (rate below (K-1)/K) finds the same classifier as on clean labels. MAE and RCE are
symmetric, and any loss becomes so once normalised (NCE, Ma et al., ICML 2020). Symmetric
losses alone underfit, so Wang et al. (SCE) and Ma et al. (APL) pair them with an "active"
term that fits the data.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mislabel._validation import check_scalar
from mislabel.exceptions import InvalidInputError
from mislabel.losses._base import (
    LossBase,
    Reduction,
    add_at,
    check_common,
    check_logits_target,
    dense_loss,
    finish,
    resolve_weight,
    softmax_lse,
)
from mislabel.losses._registry import register

__all__ = [
    "MAELoss",
    "NCELoss",
    "NCEMAELoss",
    "NCERCELoss",
    "RCELoss",
    "SCELoss",
    "mean_absolute_error",
    "nce_mae_loss",
    "nce_rce_loss",
    "normalized_cross_entropy",
    "reverse_cross_entropy",
    "symmetric_cross_entropy",
]

#: log(0) in the reverse cross-entropy, A in Wang et al. (2019).
DEFAULT_LOG_ZERO = -4.0


def _check_log_zero(log_zero: Any) -> float:
    return float(check_scalar(log_zero, "log_zero", max_val=0.0, include_max=False))


def _check_coef(value: Any, name: str) -> float:
    return float(check_scalar(value, name, min_val=0.0))


def _ce(x: Tensor, t: Tensor, ignore_index: int) -> Tensor:
    return F.cross_entropy(x, t, ignore_index=ignore_index, reduction="none")


def _one_minus_py(ce: Tensor) -> Tensor:
    return -torch.expm1(-ce)  # 1 - p_y, accurate when p_y is close to 1


def _apl_kernel(
    z: Tensor, t: Tensor, alpha: float, gamma: float, *, need_grad: bool, scale: float | None = None
) -> tuple[Tensor, Tensor | None, tuple[()]]:
    """alpha * NCE + gamma * (1 - p_y), NCE = a / b with a = -log p_y, b = -sum_k log p_k.

    ``b = K lse - sum_k z_k``: in float32 within ~1e-5 (relative) of float64 even for logits
    offset by 1000, like summing ``log_softmax`` itself. With da = p - e_y, db = K p - 1 and
    d(1 - p_y) = p_y (p - e_y), the gradient is
    ``p * (alpha (b - K a) / b^2 + gamma p_y) + alpha a / b^2 - e_y (alpha / b + gamma p_y)``.
    """
    p, lse, zy = softmax_lse(z, t)
    k = z.shape[1]
    a = lse - zy
    b = k * lse - z.sum(dim=1)
    p_y = torch.exp(-a)
    loss = alpha * a / b
    if gamma:
        loss = loss + gamma * (1.0 - p_y)
    if not need_grad:
        return loss, None, ()
    b2 = b * b
    sc = 1.0 if scale is None else scale
    grad = p.mul_((sc * (alpha * (b - k * a) / b2 + gamma * p_y)).unsqueeze(1))
    grad.add_((sc * alpha * a / b2).unsqueeze(1))
    add_at(grad, t, -sc * (alpha / b + gamma * p_y))
    return loss, grad, ()


# ------------------------------------------------------------------------ SCE / RCE / MAE


def symmetric_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = DEFAULT_LOG_ZERO,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Symmetric cross-entropy: CE plus a reverse-CE term, :math:`\alpha\,CE + \beta\,RCE`.

    .. math::
        \ell_i = w_{y_i}\big(-\alpha \log p_{i, y_i} - \beta A\,(1 - p_{i, y_i})\big)

    where :math:`RCE = -\sum_k p_k \log q_k` against the one-hot label with
    :math:`\log 0 := A` (``log_zero``), which is :math:`-A(1 - p_y)`. Wang et al., "Symmetric
    Cross Entropy for Robust Learning with Noisy Labels", ICCV 2019 (A = -4 in the paper). Robust
    to symmetric and asymmetric noise: RCE is symmetric (noise tolerant), CE keeps it
    fitting. The authors' code uses :math:`A = \log 10^{-4} \approx -9.21`; pass that to
    reuse their (α, β). β = 0 and α = 1 give CE.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        alpha: weight of CE, ≥ 0 (paper, CIFAR-10: 0.1).
        beta: weight of RCE, ≥ 0 (paper, CIFAR-10: 1.0).
        log_zero: A < 0, the value taken for log 0.
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> symmetric_cross_entropy(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    a, b = _check_coef(alpha, "alpha"), _check_coef(beta, "beta")
    lz = _check_log_zero(log_zero)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _sce(x, t, a, b, lz, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _sce(
    x: Tensor,
    t: Tensor,
    alpha: float,
    beta: float,
    log_zero: float,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    ce = _ce(x, t, ignore_index)
    loss = alpha * ce - beta * log_zero * _one_minus_py(ce) if beta else alpha * ce
    return finish(loss, t, weight, ignore_index, reduction, dtype)


@register("sce")
class SCELoss(LossBase):
    r"""Symmetric cross-entropy :math:`\alpha\,CE + \beta\,RCE` (Wang et al., ICCV 2019).

    .. math:: \ell_i = w_{y_i}\big(-\alpha \log p_{i, y_i} - \beta A\,(1 - p_{i, y_i})\big)

    Robust to symmetric and asymmetric noise. See :func:`symmetric_cross_entropy`.

    Args:
        alpha: weight of CE (default 0.1).
        beta: weight of RCE (default 1.0).
        log_zero: A < 0 standing for log 0 (default -4, the paper's value).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = SCELoss(alpha=0.1, beta=1.0)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def __init__(
        self,
        alpha: float = 0.1,
        beta: float = 1.0,
        log_zero: float = DEFAULT_LOG_ZERO,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.alpha = _check_coef(alpha, "alpha")
        self.beta = _check_coef(beta, "beta")
        self.log_zero = _check_log_zero(log_zero)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _sce(
            x,
            t,
            self.alpha,
            self.beta,
            self.log_zero,
            w,
            self.ignore_index,
            self.reduction,
            logits.dtype,
        )

    def _hparams(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "log_zero": self.log_zero}


def reverse_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    log_zero: float = DEFAULT_LOG_ZERO,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Reverse cross-entropy: CE with prediction and label swapped, :math:`\log 0 := A`.

    .. math::
        \ell_i = w_{y_i}\Big(-\sum_k p_{ik} \log q_{ik}\Big) = w_{y_i}\,(-A)\,(1 - p_{i, y_i})

    with :math:`q_i` the one-hot label. Wang et al., ICCV 2019. A symmetric loss (Ghosh et
    al., AAAI 2017): tolerant to symmetric noise, but slow to fit on its own; used as the
    passive term of :class:`SCELoss` and :class:`NCERCELoss`.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        log_zero: A < 0, the value taken for log 0 (default -4).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> reverse_cross_entropy(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    lz = _check_log_zero(log_zero)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _sce(x, t, 0.0, 1.0, lz, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


@register("rce")
class RCELoss(LossBase):
    r"""Reverse cross-entropy :math:`-A(1 - p_y)` (Wang et al., ICCV 2019).

    .. math:: \ell_i = w_{y_i}\,(-A)\,(1 - p_{i, y_i})

    Symmetric, hence tolerant to symmetric noise; underfits alone. See
    :func:`reverse_cross_entropy`.

    Args:
        log_zero: A < 0 standing for log 0 (default -4).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = RCELoss()
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def __init__(
        self,
        log_zero: float = DEFAULT_LOG_ZERO,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.log_zero = _check_log_zero(log_zero)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _sce(
            x, t, 0.0, 1.0, self.log_zero, w, self.ignore_index, self.reduction, logits.dtype
        )

    def _hparams(self) -> dict[str, Any]:
        return {"log_zero": self.log_zero}


def mean_absolute_error(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Mean absolute error between the one-hot label and the softmax, :math:`2(1 - p_y)`.

    .. math:: \ell_i = w_{y_i} \sum_k |e_{y_i, k} - p_{ik}| = w_{y_i}\, 2\,(1 - p_{i, y_i})

    Ghosh, Kumar & Sastry, "Robust Loss Functions under Label Noise for Deep Neural
    Networks", AAAI 2017. Symmetric: provably tolerant to symmetric noise below (K-1)/K,
    and to class-conditional noise when the clean risk is 0; slow to train. (Some code,
    e.g. the APL repository, drops the factor 2.)

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> mean_absolute_error(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _mae(x, t, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _mae(
    x: Tensor,
    t: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    loss = 2.0 * _one_minus_py(_ce(x, t, ignore_index))
    return finish(loss, t, weight, ignore_index, reduction, dtype)


@register("mae")
class MAELoss(LossBase):
    r"""Mean absolute error :math:`\|e_y - p\|_1 = 2(1 - p_y)` (Ghosh et al., AAAI 2017).

    .. math:: \ell_i = w_{y_i}\, 2\,(1 - p_{i, y_i})

    Symmetric: tolerant to symmetric noise; underfits on hard data. See
    :func:`mean_absolute_error`.

    Args:
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = MAELoss()
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _mae(x, t, w, self.ignore_index, self.reduction, logits.dtype)


# --------------------------------------------------------------------- NCE and APL pairs


def normalized_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Normalized cross-entropy: CE divided by the sum of CE over every possible label.

     .. math::
         \ell_i = w_{y_i}\,\frac{-\log p_{i, y_i}}{-\sum_{k=1}^{K} \log p_{ik}}

     Ma et al., "Normalized Loss Functions for Deep Learning with Noisy Labels", ICML 2020
    . Normalising makes any loss symmetric, hence robust to symmetric noise (and to
     asymmetric noise under the paper's conditions); on its own it underfits, see
     :class:`NCERCELoss` / :class:`NCEMAELoss`.

     Args:
         logits: unnormalised scores, shape (n, K).
         target: class indices or ``ignore_index``, shape (n,).
         weight: per-class weights (K,), applied by each sample's label.
         ignore_index: targets equal to it contribute nothing.
         reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

     Shape:
         logits (n, K), target (n,) → scalar or (n,).

     Example:
         >>> logits = torch.randn(8, 3, requires_grad=True)
         >>> normalized_cross_entropy(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _apl(x, t, 1.0, 0.0, None, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _apl(
    x: Tensor,
    t: Tensor,
    alpha: float,
    beta: float,
    passive_scale: float | None,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    """alpha * NCE + beta * passive_scale * (1 - p_y)  (RCE: scale -A; MAE: scale 2)."""
    if x.shape[1] < 2:
        raise InvalidInputError(
            "`logits` must have at least 2 class columns for the normalized losses (nce, "
            f"nce_rce, nce_mae): with one class the normaliser is 0; got shape {tuple(x.shape)}."
        )
    safe = t.masked_fill(t == ignore_index, 0)
    gamma = beta * passive_scale if passive_scale else 0.0
    return dense_loss(_apl_kernel, x, t, weight, ignore_index, reduction, dtype, safe, alpha, gamma)


@register("nce")
class NCELoss(LossBase):
    r"""Normalized cross-entropy (Ma et al., ICML 2020).

    .. math:: \ell_i = w_{y_i}\,\frac{\log p_{i, y_i}}{\sum_{k} \log p_{ik}}

    Symmetric, hence robust to symmetric noise; underfits alone. See
    :func:`normalized_cross_entropy`.

    Args:
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = NCELoss()
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _apl(x, t, 1.0, 0.0, None, w, self.ignore_index, self.reduction, logits.dtype)


def nce_rce_loss(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    log_zero: float = DEFAULT_LOG_ZERO,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Active-passive loss NCE + RCE: :math:`\alpha\,NCE + \beta\,RCE`.

    .. math::
        \ell_i = w_{y_i}\Big(\alpha\,\frac{\log p_{i, y_i}}{\sum_k \log p_{ik}}
                 - \beta A\,(1 - p_{i, y_i})\Big)

    Ma et al., "Normalized Loss Functions for Deep Learning with Noisy Labels", ICML 2020
    (APL). Both terms are robust (normalized / symmetric) and together they fit well:
    robust to symmetric and asymmetric noise. Paper: α = β = 1 on CIFAR-10, α = 10,
    β = 0.1 on CIFAR-100.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        alpha: weight of NCE, ≥ 0.
        beta: weight of RCE, ≥ 0.
        log_zero: A < 0, log 0 in RCE (default -4).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> nce_rce_loss(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    a, b = _check_coef(alpha, "alpha"), _check_coef(beta, "beta")
    lz = _check_log_zero(log_zero)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _apl(x, t, a, b, -lz, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


@register("nce_rce")
class NCERCELoss(LossBase):
    r"""Active-passive loss :math:`\alpha\,NCE + \beta\,RCE` (Ma et al., ICML 2020).

    .. math::
        \ell_i = w_{y_i}\Big(\alpha\,\frac{\log p_{i, y_i}}{\sum_k \log p_{ik}}
                 - \beta A\,(1 - p_{i, y_i})\Big)

    Robust to symmetric and asymmetric noise without underfitting. See :func:`nce_rce_loss`.

    Args:
        alpha: weight of NCE (default 1).
        beta: weight of RCE (default 1).
        log_zero: A < 0 standing for log 0 (default -4).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = NCERCELoss(alpha=1.0, beta=1.0)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        log_zero: float = DEFAULT_LOG_ZERO,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.alpha = _check_coef(alpha, "alpha")
        self.beta = _check_coef(beta, "beta")
        self.log_zero = _check_log_zero(log_zero)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _apl(
            x,
            t,
            self.alpha,
            self.beta,
            -self.log_zero,
            w,
            self.ignore_index,
            self.reduction,
            logits.dtype,
        )

    def _hparams(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "log_zero": self.log_zero}


def nce_mae_loss(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Active-passive loss NCE + MAE: :math:`\alpha\,NCE + \beta\,MAE`.

    .. math::
        \ell_i = w_{y_i}\Big(\alpha\,\frac{\log p_{i, y_i}}{\sum_k \log p_{ik}}
                 + 2\beta\,(1 - p_{i, y_i})\Big)

    Ma et al., ICML 2020 (APL). Robust to symmetric and asymmetric noise. MAE here is
    :math:`\|e_y - p\|_1 = 2(1 - p_y)` as in the paper; the authors' code uses
    :math:`1 - p_y`, so halve β to reuse their settings.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        alpha: weight of NCE, ≥ 0.
        beta: weight of MAE, ≥ 0.
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> nce_mae_loss(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    a, b = _check_coef(alpha, "alpha"), _check_coef(beta, "beta")
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _apl(x, t, a, b, 2.0, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


@register("nce_mae")
class NCEMAELoss(LossBase):
    r"""Active-passive loss :math:`\alpha\,NCE + \beta\,MAE` (Ma et al., ICML 2020).

    .. math::
        \ell_i = w_{y_i}\Big(\alpha\,\frac{\log p_{i, y_i}}{\sum_k \log p_{ik}}
                 + 2\beta\,(1 - p_{i, y_i})\Big)

    Robust to symmetric and asymmetric noise. See :func:`nce_mae_loss`.

    Args:
        alpha: weight of NCE (default 1).
        beta: weight of MAE (default 1).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = NCEMAELoss()
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.alpha = _check_coef(alpha, "alpha")
        self.beta = _check_coef(beta, "beta")

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _apl(
            x, t, self.alpha, self.beta, 2.0, w, self.ignore_index, self.reduction, logits.dtype
        )

    def _hparams(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta}
