"""Loss correction with a known noise matrix: forward and backward (Patrini et al., CVPR 2017).

The noise matrix ``T`` has **rows = true class, columns = observed label**:
``T[i, j] = P(observed label = j | true class = i)``, each row summing to 1 — the
``noise_matrix`` of :func:`mislabel.estimate_noise`, which can be passed directly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mislabel._validation import check_noise_matrix
from mislabel.exceptions import InvalidParameterError
from mislabel.losses._base import (
    LossBase,
    Reduction,
    as_buffer_dtype,
    check_common,
    check_logits_target,
    check_n_classes,
    dense_loss,
    resolve_weight,
    row_blocks,
    row_dot_gathered,
    row_target_kernel,
)
from mislabel.losses._registry import register

__all__ = [
    "MAX_CONDITION_NUMBER",
    "BackwardCorrectionLoss",
    "ForwardCorrectionLoss",
    "backward_corrected_cross_entropy",
    "forward_corrected_cross_entropy",
]

#: How far a row of the noise matrix may sum away from 1 before it is rejected.
ROW_SUM_ATOL = 1e-3
#: Backward correction multiplies losses by T^{-1}; above this condition number it refuses.
MAX_CONDITION_NUMBER = 1e6
#: Forward correction forms its gradient by blocks of rows of about this many bytes, so
#: that a block's (rows, K) tensors stay in the CPU's cache between passes.
BLOCK_BYTES = 1 << 22


def noise_matrix_tensor(noise_matrix: Any, *, invertible: bool) -> Tensor:
    """Return ``noise_matrix`` as a float64 (K, K) tensor with rows renormalised to sum to 1.

    Checked by :func:`mislabel._validation.check_noise_matrix` (a tensor, an array, or the
    ``NoiseEstimate`` from :func:`mislabel.estimate_noise`); ``invertible`` also requires a
    condition number below :data:`MAX_CONDITION_NUMBER`.
    """
    arr = check_noise_matrix(noise_matrix, atol=ROW_SUM_ATOL, error=InvalidParameterError)
    T = torch.from_numpy(arr).contiguous()
    if invertible:
        cond = float(torch.linalg.cond(T))
        if not cond < MAX_CONDITION_NUMBER:  # also catches inf / nan
            raise InvalidParameterError(
                "`noise_matrix` must be invertible for backward correction, with condition "
                f"number below {MAX_CONDITION_NUMBER:.0e}; got a condition number of "
                f"{cond:.3g}. Use forward correction, or mix in the identity: "
                "T = (1 - a) * T + a * torch.eye(K)."
            )
    return T


# ------------------------------------------------------------------------------ forward


def _forward_kernel(
    z: Tensor,
    cols_t: Tensor,
    t: Tensor,
    valid: Tensor,
    *,
    need_grad: bool,
    scale: float | None = None,
) -> tuple[Tensor, Tensor | None, tuple[()]]:
    # s = sum_j p_j T[j, y] = <p, T^T[y]>;  loss = -log s;  grad = p - p * T^T[y] / s
    # (p minus the posterior of the true class given the observed label).
    p = torch.softmax(z, dim=1)
    sc = 1.0 if scale is None else scale
    if need_grad:
        # sc * (p - p * T^T[y] / s) in place of p, block by block of rows (BLOCK_BYTES);
        # rows where s underflows come out inf or nan here, and are redone below
        s = torch.empty_like(p[:, 0])
        for blk in row_blocks(p, BLOCK_BYTES):
            pb = p[blk]
            pc = cols_t.index_select(0, t[blk]).mul_(pb)
            sb = torch.sum(pc, dim=1, out=s[blk])
            (pb.mul_(sc) if sc != 1.0 else pb).addcmul_(pc, (-sc / sb).unsqueeze(1))
    else:
        s = row_dot_gathered(p, cols_t, t)
    loss = -s.log()
    # Where s underflows (a confident wrong prediction with few non-zero T entries), redo
    # those rows in log space: -logsumexp(log_softmax(z) + log T^T[y]).
    fi = torch.finfo(z.dtype)
    low = (s < fi.tiny / fi.eps) & valid
    rows = low.nonzero().squeeze(1) if bool(low.any()) else None
    post = None
    if rows is not None:
        a = F.log_softmax(z[rows], dim=1) + cols_t.index_select(0, t[rows]).log()
        loss[rows] = -torch.logsumexp(a, dim=1)
        post = torch.softmax(a, dim=1)
    if not need_grad:
        return loss, None, ()
    grad = p
    if rows is not None and post is not None:
        grad[rows] = (torch.softmax(z[rows], dim=1) - post).mul_(sc)
    if not bool(valid.all()):
        grad.masked_fill_(~valid.unsqueeze(1), 0.0)
    return loss, grad, ()


def _forward(
    x: Tensor,
    t: Tensor,
    cols_t: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    check_n_classes(f"`noise_matrix` ({cols_t.shape[0]} classes)", cols_t.shape[0], x)
    valid = t != ignore_index
    safe = t.masked_fill(~valid, 0)
    cols = as_buffer_dtype(cols_t, x)
    return dense_loss(
        _forward_kernel, x, t, weight, ignore_index, reduction, dtype, cols, safe, valid
    )


def forward_corrected_cross_entropy(
    logits: Tensor,
    target: Tensor,
    noise_matrix: Any,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Forward-corrected cross-entropy: CE of the *noisy* label under the noise model.

    .. math::
        \ell_i = w_{\tilde y_i}\Big(-\log \sum_j p_{ij}\, T_{j, \tilde y_i}\Big)
               = w_{\tilde y_i}\big(-\log (p_i^\top T)_{\tilde y_i}\big)

    ``T`` has rows = true class, columns = observed label: ``T[j, k] = P(observed k | true
    j)``, rows summing to 1 (renormalised here). The model's ``softmax`` then estimates the
    clean posterior. Patrini et al., "Making Deep Neural Networks Robust to Label Noise: a
    Loss Correction Approach", CVPR 2017 (forward correction). Robust to
    class-conditional (asymmetric) noise described by ``T``; ``T = I`` gives CE. Every
    observed label needs a non-zero column in ``T``.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: observed class indices or ``ignore_index``, shape (n,).
        noise_matrix: ``T`` (K, K), or the result of :func:`mislabel.estimate_noise`.
        weight: per-class weights (K,), applied by each sample's observed label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,), noise_matrix (K, K) → scalar or (n,).

    Example:
        >>> T = torch.tensor([[0.8, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> forward_corrected_cross_entropy(logits, torch.randint(0, 3, (8,)), T).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    T = noise_matrix_tensor(noise_matrix, invertible=False)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    cols_t = T.t().contiguous().to(device=x.device, dtype=x.dtype)
    return _forward(x, t, cols_t, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


@register("forward_correction")
class ForwardCorrectionLoss(LossBase):
    r"""Forward loss correction with a noise matrix (Patrini et al., CVPR 2017).

    .. math:: \ell_i = w_{\tilde y_i}\big(-\log (p_i^\top T)_{\tilde y_i}\big)

    ``T[j, k] = P(observed k | true j)``: rows = true class, columns = observed label, rows
    summing to 1. Robust to class-conditional noise described by ``T``; ``T = I`` gives CE.
    See :func:`forward_corrected_cross_entropy`.

    Args:
        noise_matrix: ``T`` (K, K), given or from :func:`mislabel.estimate_noise` (its
            result can be passed as is). Stored as the buffer ``noise_matrix``.
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> T = torch.tensor([[0.8, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> loss = ForwardCorrectionLoss(T)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    noise_matrix: Tensor
    noise_matrix_t: Tensor

    def __init__(
        self,
        noise_matrix: Any,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        T = noise_matrix_tensor(noise_matrix, invertible=False)
        dt = torch.get_default_dtype()
        self.register_buffer("noise_matrix", T.to(dt))
        self.register_buffer("noise_matrix_t", T.t().contiguous().to(dt))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _forward(
            x, t, self.noise_matrix_t, w, self.ignore_index, self.reduction, logits.dtype
        )

    def _hparams(self) -> dict[str, Any]:
        return {"noise_matrix": f"<{self.noise_matrix.shape[0]} classes>"}


# ----------------------------------------------------------------------------- backward


def _inverse(T: Tensor) -> Tensor:
    # LAPACK hands back a column-major result; rows are read per sample, so make them
    # contiguous (a strided row gather is ~10x slower).
    return torch.linalg.inv(T).contiguous()


def _backward(
    x: Tensor,
    t: Tensor,
    t_inv: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
) -> Tensor:
    check_n_classes(f"`noise_matrix` ({t_inv.shape[0]} classes)", t_inv.shape[0], x)
    safe = t.masked_fill(t == ignore_index, 0)
    m = as_buffer_dtype(t_inv, x)
    return dense_loss(row_target_kernel, x, t, weight, ignore_index, reduction, dtype, safe, m)


def backward_corrected_cross_entropy(
    logits: Tensor,
    target: Tensor,
    noise_matrix: Any,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Backward-corrected cross-entropy: an unbiased estimate of the clean-label loss.

    .. math::
        \ell_i = w_{\tilde y_i} \sum_j (T^{-1})_{\tilde y_i, j}\,\big(-\log p_{ij}\big)

    i.e. entry :math:`\tilde y_i` of :math:`T^{-1}` times the vector of CE losses for every
    possible label. ``T`` has rows = true class, columns = observed label (``T[j, k] =
    P(observed k | true j)``), rows summing to 1, and must be invertible (condition number
    below :data:`MAX_CONDITION_NUMBER`). Patrini et al., CVPR 2017 (backward correction):
    its expectation over the noise equals the clean loss, so it is robust to
    class-conditional noise described by ``T``. It can be negative and has high variance
    when ``T`` is ill-conditioned; ``T = I`` gives CE.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: observed class indices or ``ignore_index``, shape (n,).
        noise_matrix: ``T`` (K, K), or the result of :func:`mislabel.estimate_noise`.
        weight: per-class weights (K,), applied by each sample's observed label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shape:
        logits (n, K), target (n,), noise_matrix (K, K) → scalar or (n,).

    Example:
        >>> T = torch.tensor([[0.8, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> backward_corrected_cross_entropy(logits, torch.randint(0, 3, (8,)), T).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    T = noise_matrix_tensor(noise_matrix, invertible=True)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    t_inv = _inverse(T).to(device=x.device, dtype=x.dtype)
    return _backward(x, t, t_inv, resolve_weight(w, x), ignore_index, reduction, logits.dtype)


@register("backward_correction")
class BackwardCorrectionLoss(LossBase):
    r"""Backward loss correction with an invertible noise matrix (Patrini et al., CVPR 2017).

    .. math:: \ell_i = w_{\tilde y_i} \sum_j (T^{-1})_{\tilde y_i, j}\,\big(-\log p_{ij}\big)

    ``T[j, k] = P(observed k | true j)``: rows = true class, columns = observed label, rows
    summing to 1. Unbiased for the clean loss under class-conditional noise; ``T = I`` gives
    CE. See :func:`backward_corrected_cross_entropy`.

    Args:
        noise_matrix: ``T`` (K, K), given or from :func:`mislabel.estimate_noise`; must be
            invertible. Buffers: ``noise_matrix`` and its matrix inverse
            ``noise_matrix_inv`` (not the ``inverse_noise_matrix`` P(true | observed) of
            :func:`mislabel.estimate_noise`).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> T = torch.tensor([[0.8, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> loss = BackwardCorrectionLoss(T)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,))).backward()
    """

    noise_matrix: Tensor
    noise_matrix_inv: Tensor

    def __init__(
        self,
        noise_matrix: Any,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        T = noise_matrix_tensor(noise_matrix, invertible=True)
        dt = torch.get_default_dtype()
        self.register_buffer("noise_matrix", T.to(dt))
        self.register_buffer("noise_matrix_inv", _inverse(T).to(dt))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        w = resolve_weight(self.weight, x)
        return _backward(
            x, t, self.noise_matrix_inv, w, self.ignore_index, self.reduction, logits.dtype
        )

    def _hparams(self) -> dict[str, Any]:
        return {"noise_matrix": f"<{self.noise_matrix.shape[0]} classes>"}
