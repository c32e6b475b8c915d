"""Cross-entropy family: class-weighted CE, per-sample weighted CE, and label smoothing."""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mislabel._validation import check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.losses._base import (
    LossBase,
    Reduction,
    add_at,
    as_buffer_dtype,
    check_common,
    check_index,
    check_logits_target,
    check_n_classes,
    dense_loss,
    finish,
    needs_graph,
    resolve_weight,
    row_target_kernel,
    softmax_lse,
)
from mislabel.losses._registry import register

__all__ = [
    "CELoss",
    "LabelSmoothingLoss",
    "WeightedCELoss",
    "cross_entropy",
    "label_smoothing_cross_entropy",
    "weighted_cross_entropy",
]

#: How far a row of a smoothing matrix may sum away from 1 before it is rejected.
ROW_SUM_ATOL = 1e-3


# ----------------------------------------------------------------------------- plain CE


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Class-weighted cross-entropy, ``F.cross_entropy`` behind mislabel's input checks.

    .. math:: \ell_i = w_{y_i} \, (-\log p_{i, y_i}), \qquad p_i = \mathrm{softmax}(z_i)

    The reference every other loss is compared with. Not robust to label noise: its gradient
    keeps growing on a sample the model disagrees with, so wrong labels are eventually
    memorised (Zhang et al., "Understanding deep learning requires rethinking generalization",
    ICLR 2017).

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices in ``[0, K)`` or ``ignore_index``, shape (n,).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing (nor to the mean's denominator).
        reduction: ``"none"`` | ``"mean"`` (weighted mean) | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar, or (n,) with ``reduction="none"``.

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> cross_entropy(logits, torch.randint(0, 3, (8,))).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _cross_entropy(x, t, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _cross_entropy(
    x: Tensor,
    t: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    w = None if weight is None else as_buffer_dtype(weight, x)
    out = F.cross_entropy(x, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    return out if out.dtype == dtype else out.to(dtype)


@register("ce")
class CELoss(LossBase):
    r"""Class-weighted cross-entropy (the baseline; not noise-robust).

    .. math:: \ell_i = w_{y_i} \, (-\log p_{i, y_i})

    Same numbers as :class:`torch.nn.CrossEntropyLoss` for (n, K) logits, plus the fastai
    hooks every mislabel loss has. See :func:`cross_entropy`.

    Args:
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = CELoss(weight=torch.tensor([1.0, 2.0, 1.0]))
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _cross_entropy(x, t, w, self.ignore_index, self.reduction, logits.dtype)


# ----------------------------------------------------------------------- per-sample weights


def _check_sample_weight(
    sample_weight: Any,
    n: int | None,
    name: str = "sample_weight",
    error: type[Exception] = InvalidInputError,
) -> Tensor:
    if not isinstance(sample_weight, Tensor):
        try:
            sample_weight = torch.as_tensor(sample_weight, dtype=torch.get_default_dtype())
        except Exception as exc:
            raise error(
                f"`{name}` must be a 1-D tensor of non-negative per-sample weights; got "
                f"{type(sample_weight).__name__} that torch cannot convert ({exc})."
            ) from exc
    if sample_weight.ndim != 1 or (n is not None and sample_weight.shape[0] != n):
        want = f"({n},)" if n is not None else "(n_samples,)"
        raise error(
            f"`{name}` must have shape {want}, one weight per sample; got shape "
            f"{tuple(sample_weight.shape)}."
        )
    if not sample_weight.is_floating_point():
        sample_weight = sample_weight.to(torch.get_default_dtype())
    if sample_weight.device.type == "cpu" and sample_weight.numel():
        finite = torch.isfinite(sample_weight)
        if not bool(finite.all()) or bool((sample_weight < 0).any()):
            i = int((~finite | (sample_weight < 0)).nonzero()[0])
            raise error(
                f"`{name}` must be finite and non-negative; got {float(sample_weight[i])} at "
                f"position {i}. Detection scores can be turned into weights with e.g. "
                "scores.clamp(0, 1)."
            )
    return sample_weight


def weighted_cross_entropy(
    logits: Tensor,
    target: Tensor,
    sample_weight: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy with a weight per *sample*, e.g. from label-issue detection scores.

    .. math:: \ell_i = s_i \, w_{y_i} \, (-\log p_{i, y_i})

    ``reduction="mean"`` is the weighted mean :math:`\sum_i \ell_i / \sum_i s_i w_{y_i}`, the
    same rule PyTorch uses for ``weight``, so halving every ``s_i`` leaves the loss unchanged.
    Importance reweighting (Liu & Tao, "Classification with Noisy Labels by Importance
    Reweighting", TPAMI 2016): robust to whatever noise the weights capture, e.g. down-weight
    samples that :func:`mislabel.find_label_issues` scores as likely wrong.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        sample_weight: finite, non-negative weight per sample, shape (n,).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,), sample_weight (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> s = torch.rand(8)
        >>> weighted_cross_entropy(logits, torch.randint(0, 3, (8,)), s).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    sw = _check_sample_weight(sample_weight, x.shape[0])
    return _weighted_ce(x, t, sw, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _weighted_ce(
    x: Tensor,
    t: Tensor,
    sample_weight: Tensor | None,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    ce = F.cross_entropy(x, t, ignore_index=ignore_index, reduction="none")
    return finish(ce, t, weight, ignore_index, reduction, dtype, sample_weight)


@register("weighted_ce")
class WeightedCELoss(LossBase):
    r"""Cross-entropy weighted per sample (importance reweighting of suspected label errors).

    .. math:: \ell_i = s_i \, w_{y_i} \, (-\log p_{i, y_i})

    Liu & Tao, TPAMI 2016. Robust to whatever noise the weights capture, e.g. ``s = 1 -
    issue_score`` from :mod:`mislabel.detect`. The mean is :math:`\sum_i \ell_i / \sum_i s_i
    w_{y_i}`. See :func:`weighted_cross_entropy`.

    How the weights reach the loss, first match wins:

    1. ``loss(logits, target, sample_weight=s)``: weights of this batch;
    2. ``loss(logits, target, index=idx)``, or ``loss.bind_index(idx)`` before the call (the
       fastai path): looks the batch up in ``sample_weights``, the weights of the whole
       training set given at construction (a buffer);
    3. neither: under ``torch.no_grad()`` (validation, ``get_preds``) plain cross-entropy;
       while building a graph it raises, since silently training unweighted is a bug.

    Args:
        sample_weights: optional (n_samples,) weights of the whole training set, a buffer.
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> loss = WeightedCELoss(sample_weights=torch.rand(100))
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,)), index=torch.arange(8)).backward()
    """

    takes_index = True
    sample_weights: Tensor | None

    def __init__(
        self,
        sample_weights: Tensor | None = None,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        sw = None
        if sample_weights is not None:
            sw = _check_sample_weight(
                sample_weights, None, "sample_weights", error=InvalidParameterError
            )
        self.register_buffer("sample_weights", sw)

    def forward(
        self,
        logits: Tensor,
        target: Tensor,
        index: Tensor | None = None,
        *,
        sample_weight: Tensor | None = None,
    ) -> Tensor:
        index = self._take_index(index)
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        if sample_weight is not None:
            sw: Tensor | None = _check_sample_weight(sample_weight, x.shape[0])
        elif index is not None:
            if self.sample_weights is None:
                raise InvalidInputError(
                    "`index` was given but this WeightedCELoss holds no `sample_weights`; "
                    "build it with WeightedCELoss(sample_weights=...) or pass sample_weight=."
                )
            idx = check_index(index, x.shape[0], self.sample_weights.shape[0])
            sw = self.sample_weights.take(idx.to(self.sample_weights.device))
        elif needs_graph(logits):
            raise InvalidInputError(
                "WeightedCELoss needs per-sample weights for a training step: pass "
                "sample_weight=, or index= (or bind_index) with sample_weights stored at "
                "construction."
            )
        else:
            sw = None
        return _weighted_ce(x, t, sw, w, self.ignore_index, self.reduction, logits.dtype)


# ---------------------------------------------------------------------------- smoothing


def _check_smoothing(smoothing: Any) -> float | Tensor:
    """Return a float ε, a (K,) vector of ε_c, or a row-normalised (K, K) matrix."""
    if isinstance(smoothing, numbers.Real) and not isinstance(smoothing, bool):
        return float(check_scalar(smoothing, "smoothing", min_val=0.0, max_val=1.0))
    try:
        s = torch.as_tensor(smoothing)
    except Exception as exc:
        raise InvalidParameterError(
            "`smoothing` must be a float in [0, 1], a (K,) vector of per-class amounts or a "
            f"(K, K) row-stochastic matrix; got {type(smoothing).__name__} ({exc})."
        ) from exc
    if s.ndim == 0:
        return _check_smoothing(float(s))
    if not s.is_floating_point():
        s = s.to(torch.get_default_dtype())
    if not bool(torch.isfinite(s).all()):
        raise InvalidParameterError("`smoothing` must be finite; got nan or inf entries.")
    if s.ndim == 1:
        if s.numel() == 0 or bool((s < 0).any()) or bool((s > 1).any()):
            raise InvalidParameterError(
                "`smoothing` as a vector must hold one amount in [0, 1] per class; got "
                f"{s.tolist()[:10]}."
            )
        return s
    if s.ndim == 2:
        if s.shape[0] != s.shape[1] or s.shape[0] == 0:
            raise InvalidParameterError(
                f"`smoothing` as a matrix must be square (K, K); got shape {tuple(s.shape)}."
            )
        if bool((s < 0).any()):
            raise InvalidParameterError(
                "`smoothing` as a matrix must be non-negative; got a minimum of "
                f"{float(s.min()):.4g}."
            )
        sums = s.sum(dim=1, dtype=torch.float64)
        off = (sums - 1).abs() > ROW_SUM_ATOL
        if bool(off.any()):
            i = int(off.nonzero()[0])
            raise InvalidParameterError(
                f"`smoothing` as a matrix must have rows summing to 1 (within {ROW_SUM_ATOL}): "
                f"row y is the target distribution for label y; row {i} sums to "
                f"{float(sums[i]):.4g}."
            )
        return (s.double() / sums.unsqueeze(1)).to(s.dtype).contiguous()
    raise InvalidParameterError(
        "`smoothing` must be a float, a (K,) vector or a (K, K) matrix; got shape "
        f"{tuple(s.shape)}."
    )


def label_smoothing_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    smoothing: float | Tensor = 0.1,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy against a smoothed target: uniform, per class, or any (K, K) matrix.

    .. math::
        \ell_i = w_{y_i} \, \Big(-\sum_k q_{y_i k} \log p_{ik}\Big), \qquad
        q_{y} = \begin{cases}
            (1-\varepsilon)\,e_y + \varepsilon/K & \text{float } \varepsilon \\
            (1-\varepsilon_y)\,e_y + \varepsilon_y/K & \text{vector } \varepsilon \in [0,1]^K\\
            M_{y,:} & \text{matrix } M \ (K \times K)
        \end{cases}

    With a matrix, row ``y`` is the target distribution for a sample *labelled* ``y`` (rows
    are renormalised to sum to exactly 1), so ``M[yellow] = 0.8 e_yellow + 0.2 e_green`` moves
    mass from "yellow" toward "green" and not the reverse. A float ε gives the same numbers
    as ``F.cross_entropy(label_smoothing=ε)`` without ``weight``; with ``weight``, mislabel
    weights a sample by its label (``w_y · ℓ``) while PyTorch weights each class term.

    Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016; on noise: Lukasik et
    al., "Does label smoothing mitigate label noise?", ICML 2020 — helps against symmetric
    noise at moderate rates; a matrix encodes known confusions (class-conditional noise).

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        smoothing: float ε in [0, 1], (K,) per-class ε, or (K, K) row-stochastic matrix.
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> M = torch.tensor([[0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> label_smoothing_cross_entropy(logits, torch.randint(0, 3, (8,)), smoothing=M).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    s = _check_smoothing(smoothing)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    return _label_smoothing(x, t, s, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


def _label_smoothing(
    x: Tensor,
    t: Tensor,
    smoothing: float | Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    safe = t.masked_fill(t == ignore_index, 0)
    args: tuple[Any, ...] = (_uniform_smoothing_kernel, safe, smoothing)
    if isinstance(smoothing, Tensor):
        check_n_classes(f"`smoothing` ({smoothing.shape[0]} classes)", smoothing.shape[0], x)
        s = as_buffer_dtype(smoothing, x)
        if s.ndim == 2:
            args = (row_target_kernel, safe, s)
        else:
            args = (_uniform_smoothing_kernel, safe, s.take(safe))
    kernel, *rest = args
    return dense_loss(kernel, x, t, weight, ignore_index, reduction, dtype, *rest)


def _uniform_smoothing_kernel(
    z: Tensor, t: Tensor, eps: Tensor | float, *, need_grad: bool, scale: float | None = None
) -> tuple[Tensor, Tensor | None, tuple[()]]:
    # -sum_k q_k log p_k = lse - (1-eps) z_y - eps mean(z);  grad = p - q
    p, lse, zy = softmax_lse(z, t)
    loss = lse - (1 - eps) * zy - eps * z.mean(dim=1)
    if not need_grad:
        return loss, None, ()
    k = z.shape[1]
    sc = 1.0 if scale is None else scale
    if isinstance(eps, Tensor):
        shift: Tensor | float = (eps * (sc / k)).unsqueeze(1)
    else:
        shift = eps * sc / k
    if sc != 1.0:
        p.mul_(sc)
    if isinstance(shift, Tensor) or shift:
        p.sub_(shift)
    add_at(p, t, -sc * (1 - eps) if isinstance(eps, Tensor) else -sc * (1.0 - eps))
    return loss, p, ()


@register("label_smoothing")
class LabelSmoothingLoss(LossBase):
    r"""Label smoothing, uniform, per class, or toward chosen classes with a (K, K) matrix.

    .. math:: \ell_i = w_{y_i} \Big(-\sum_k q_{y_i k} \log p_{ik}\Big)

    with :math:`q_y = (1-\varepsilon_y) e_y + \varepsilon_y / K` for a float or (K,) vector
    ε, or :math:`q_y = M_{y,:}` for a (K, K) row-stochastic matrix (row = observed label), so
    "yellow" can be smoothed toward "green" and not the reverse. Szegedy et al. 2016; Lukasik
    et al., ICML 2020: mitigates symmetric noise; a matrix targets known class confusions.
    See :func:`label_smoothing_cross_entropy`.

    Args:
        smoothing: float ε in [0, 1], (K,) per-class ε, or (K, K) matrix (a buffer when a
            tensor; matrix rows are renormalised to sum to 1).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> eps = torch.tensor([0.0, 0.2, 0.1])
        >>> loss = LabelSmoothingLoss(smoothing=eps)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    smoothing_tensor: Tensor | None

    def __init__(
        self,
        smoothing: float | Tensor = 0.1,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        s = _check_smoothing(smoothing)
        if isinstance(s, Tensor):
            self.smoothing: float | None = None
            self.register_buffer("smoothing_tensor", s.to(torch.get_default_dtype()))
        else:
            self.smoothing = s
            self.register_buffer("smoothing_tensor", None)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        s: float | Tensor = (
            self.smoothing_tensor
            if self.smoothing_tensor is not None
            else float(self.smoothing or 0)
        )
        w = resolve_weight(self.weight, x)
        return _label_smoothing(x, t, s, w, self.ignore_index, self.reduction, logits.dtype)

    def _hparams(self) -> dict[str, Any]:
        if self.smoothing_tensor is not None:
            kind = "matrix" if self.smoothing_tensor.ndim == 2 else "vector"
            return {"smoothing": f"<{kind} over {self.smoothing_tensor.shape[0]} classes>"}
        return {"smoothing": self.smoothing}
