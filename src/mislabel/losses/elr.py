"""Early-learning regularization, ELR (Liu et al., NeurIPS 2020)."""

from __future__ import annotations

import logging
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mislabel._validation import check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError, MislabelError
from mislabel.losses import _fused
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
    row_blocks,
    softmax_lse,
)
from mislabel.losses._registry import register

__all__ = ["ELRLoss", "elr_loss"]

logger = logging.getLogger(__name__)

#: Probabilities are clamped to [CLAMP, 1 - CLAMP] in the regulariser, as in the authors' code.
CLAMP = 1e-4


def _check_lam(lam: Any) -> float:
    return float(check_scalar(lam, "lam", min_val=0.0))


def _check_beta(beta: Any) -> float:
    return float(check_scalar(beta, "beta", min_val=0.0, max_val=1.0, include_max=False))


def _check_fused(fused: Any) -> bool | None:
    if fused is not None and not isinstance(fused, bool):
        raise InvalidParameterError(
            f"`fused` must be True, False or None (automatic); got {fused!r}."
        )
    return fused


# ---------------------------------------------------------------------------- the kernels
# Two kernels compute the same numbers: `_elr_fused_kernel`, one C++ pass over each row
# (_elr_fused.cpp, built at first use: see _fused.py), and `_elr_kernel`, torch ops on blocks
# of rows, for what the fused one does not take (not the CPU, half precision buffers, no
# compiler) and for `fused=False`. `_choose_kernel` picks one per call.

_logged: set[str] = set()


def _choose_kernel(x: Tensor, ema: Tensor, fused: bool | None) -> Any:
    """The kernel for logits ``x`` and EMA / targets ``ema``: fused if possible, else eager.

    ``fused=None``: the fused kernel when it applies and builds (unless ``MISLABEL_NO_FUSED=1``),
    else the eager one, saying why once (logging); ``True``: the fused one or an error;
    ``False``: the eager one.
    """
    if fused is False or (fused is None and _fused.fused_disabled()):
        return _elr_kernel
    why = _fused_unfit(x, ema)
    if why is None:
        if _fused.elr_op() is not None:
            return _elr_fused_kernel
        if fused:
            raise MislabelError(  # a build failure: no MissingDependencyError's import message
                "ELR with fused=True: the fused C++ kernel could not be built "
                f"({_fused.elr_unavailable_reason()}). It needs a C++ compiler and ninja "
                "(pip install 'mislabel[fused]'); fused=None falls back to the eager path."
            )
        return _elr_kernel  # elr_op logged why
    if fused:
        raise InvalidInputError(f"ELR with fused=True: {why}; fused=None uses the eager path.")
    if why not in _logged:
        _logged.add(why)
        logger.info("ELR uses its eager path: %s", why)
    return _elr_kernel


def _fused_unfit(x: Tensor, ema: Tensor) -> str | None:
    """Why the fused kernel cannot take these tensors, or ``None`` when it can."""
    if x.device.type != "cpu" or ema.device.type != "cpu":
        return f"the fused kernel runs on the CPU only (logits on {x.device.type})"
    if x.dtype not in (torch.float32, torch.float64):
        return f"the fused kernel takes float32 or float64 logits, not {x.dtype}"
    if ema.dtype != x.dtype:
        return (
            f"the fused kernel needs `ema_target` in the logits' dtype ({x.dtype}); it is "
            f"{ema.dtype} (convert the loss with .to(dtype))"
        )
    if not ema.is_contiguous():
        return "the fused kernel needs a contiguous `ema_target`"
    return None


def _elr_fused_kernel(
    z: Tensor,
    t: Tensor,
    ema: Tensor,
    index: Tensor | None,
    valid: Tensor | None,
    beta: float,
    lam: float,
    *,
    need_grad: bool,
    scale: float | None = None,
) -> tuple[Tensor, Tensor | None, tuple[()]]:
    """:func:`_elr_kernel` in one C++ pass over each row (same arguments, same results)."""
    loss, grad = _fused.elr_op()(
        z.contiguous(),
        t.contiguous(),
        ema,
        None if index is None else index.contiguous(),
        None if valid is None else valid.contiguous(),
        beta,
        lam,
        need_grad,
        1.0 if scale is None else scale,
    )
    return loss, (grad if need_grad else None), ()


#: ELR runs a dozen elementwise passes over the (n, K) probabilities; it does them block by
#: block of rows of about this many bytes, so that a block's temporaries stay in the CPU's
#: cache between passes (and are small enough for the allocator to recycle).
BLOCK_BYTES = 1 << 20


def _elr_kernel(
    z: Tensor,
    t: Tensor,
    ema: Tensor,
    index: Tensor | None,
    valid: Tensor | None,
    beta: float,
    lam: float,
    *,
    need_grad: bool,
    scale: float | None = None,
) -> tuple[Tensor, Tensor | None, tuple[()]]:
    """Per-sample CE + lam * log(1 - <pc, t>) with pc = clamp(p), and its gradient.

    With ``index``, ``t`` is the updated EMA: ``ema[index] <- beta * ema[index] + (1 - beta)
    * pc / sum(pc)``, written back into ``ema`` (the module's buffer) for the rows where
    ``valid``. Without, ``ema`` holds the (n, K) targets as they are. Gradient: with
    ``u = m * t * p`` (m: entries the clamp let through), ``U = sum(u)`` and ``s = <pc, t>``,
    ``d/dz = p - e_y - lam / (1 - s) * (u - p * U)``. Computed by blocks of rows.
    """
    grad = torch.empty_like(z) if need_grad else None
    hyper = (beta, lam, 1.0 if scale is None else scale)
    losses = [
        _elr_block(z, t, ema, rows, index, valid, hyper, grad)
        for rows in row_blocks(z, BLOCK_BYTES)
    ]
    return (losses[0] if len(losses) == 1 else torch.cat(losses)), grad, ()


def _elr_block(
    z: Tensor,
    t: Tensor,
    ema: Tensor,
    rows: slice,
    index: Tensor | None,
    valid: Tensor | None,
    hyper: tuple[float, float, float],
    grad: Tensor | None,
) -> Tensor:
    """:func:`_elr_kernel` on ``rows``: their loss; ``sc`` times their gradient into ``grad``."""
    beta, lam, sc = hyper
    z, t = z[rows], t[rows]
    if index is None:
        ema = ema[rows]
    else:
        index = index[rows]
        valid = None if valid is None else valid[rows]
    if grad is not None:
        grad = grad[rows]
    p, lse, zy = softmax_lse(z, t)
    pc = p.clamp(CLAMP, 1.0 - CLAMP)
    if index is None:
        new = ema
    else:
        old = ema.index_select(0, index)
        new = torch.mul(old if old.dtype == z.dtype else old.to(z.dtype), beta)
        new.addcmul_(pc, ((1.0 - beta) / pc.sum(dim=1)).unsqueeze(1))
        # ema[index] = new, written as ema[index] += new - old: index_add_ is the faster kernel
        delta = torch.sub(new.to(old.dtype), old, out=old)
        if valid is None:
            ema.index_add_(0, index, delta)
        else:
            ema.index_add_(0, index[valid], delta[valid])
    s = torch.linalg.vecdot(pc, new)  # a block: in cache, the plain op is the faster one
    loss = (lse - zy) + lam * torch.log1p(-s)
    if grad is None:
        return loss
    # m * p, m the entries the clamp lets through: pc > CLAMP (there pc = p; one fused op, no
    # bool mask; it differs from the clamp's own gradient only at p == CLAMP exactly), and not
    # the top entry of rows whose largest probability is above 1 - CLAMP (rare: a few rows).
    mp = F.threshold(pc, CLAMP, 0.0, inplace=True)  # pc is not needed any more
    top = p.amax(dim=1) > 1.0 - CLAMP
    if bool(top.any()):
        hot = top.nonzero().squeeze(1)
        mp[hot, p[hot].argmax(dim=1)] = 0.0
    u = mp.mul_(new)
    coef = lam / (1.0 - s)
    big_u = u.sum(dim=1)
    torch.mul(p, (sc * (1.0 + coef * big_u)).unsqueeze(1), out=grad)
    grad.addcmul_(u, (-sc * coef).unsqueeze(1))
    add_at(grad, t, -sc)
    return loss


def elr_loss(
    logits: Tensor,
    target: Tensor,
    ema_target: Tensor,
    *,
    lam: float = 3.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    fused: bool | None = None,
) -> Tensor:
    r"""Cross-entropy plus the early-learning regulariser, for given target estimates.

    .. math::
        \ell_i = w_{y_i}\Big(-\log p_{i, y_i} + \lambda \log\big(1 - \langle \bar p_i,
        t_i \rangle\big)\Big), \qquad \bar p_i = \mathrm{clamp}(p_i, 10^{-4}, 1 - 10^{-4})

    ``t_i`` (``ema_target``, (n, K)) is the running average of the model's past predictions
    for sample ``i``; :class:`ELRLoss` keeps and updates it. Liu et al., "Early-Learning
    Regularization Prevents Memorization of Noisy Labels", NeurIPS 2020. The
    regulariser keeps the model close to what it predicted early in training, before it
    memorised wrong labels: robust to symmetric and asymmetric noise at high rates.
    ``lam = 0`` gives CE.

    Args:
        logits: unnormalised scores, shape (n, K).
        target: class indices or ``ignore_index``, shape (n,).
        ema_target: target estimates :math:`t_i` (n, K), treated as constants.
        lam: λ ≥ 0 (paper: 3 on CIFAR-10, 7 on CIFAR-100).
        weight: per-class weights (K,), applied by each sample's label.
        ignore_index: targets equal to it contribute nothing.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        fused: ``None`` (default): on the CPU in float32 or float64, one fused C++ pass per
            row, built at first use (needs a C++ compiler and ninja: extra ``fused``), else
            the eager torch ops, which give the same numbers; ``MISLABEL_NO_FUSED=1`` makes
            the default eager. ``True``: the fused kernel or an error. ``False``: eager.

    Shape:
        logits (n, K), target (n,), ema_target (n, K) → scalar or (n,).

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> t = torch.softmax(torch.randn(8, 3), dim=1)
        >>> elr_loss(logits, torch.randint(0, 3, (8,)), t, lam=3.0).backward()
    """
    w = check_common(weight, ignore_index, reduction)
    lm = _check_lam(lam)
    fz = _check_fused(fused)
    x, t = check_logits_target(logits, target, ignore_index=ignore_index)
    if not isinstance(ema_target, Tensor) or ema_target.shape != x.shape:
        got = (
            tuple(ema_target.shape) if isinstance(ema_target, Tensor) else type(ema_target).__name__
        )
        raise InvalidInputError(
            f"`ema_target` must be a tensor shaped like `logits`, {tuple(x.shape)}; got {got}."
        )
    safe = t.masked_fill(t == ignore_index, 0)
    ema = as_buffer_dtype(ema_target.detach(), x).contiguous()  # read only: a copy is safe
    return dense_loss(
        _choose_kernel(x, ema, fz), x, t, resolve_weight(w, x), ignore_index, reduction,
        logits.dtype, safe, ema, None, None, 0.0, lm,
    )  # fmt: skip


@register("elr")
class ELRLoss(LossBase):
    r"""Early-learning regularization (Liu et al., NeurIPS 2020), index-aware.

    .. math::
        t_i &\leftarrow \beta\, t_i + (1-\beta)\, \frac{\bar p_i}{\sum_k \bar p_{ik}}
        \quad\text{(detached)},\qquad \bar p_i = \mathrm{clamp}(p_i, 10^{-4}, 1 - 10^{-4})\\
        \ell_i &= w_{y_i}\Big(-\log p_{i, y_i} + \lambda \log\big(1 - \langle \bar p_i, t_i
        \rangle\big)\Big)

    Keeps ``ema_target`` (a buffer, (n_samples, K), zeros at start): one running average of
    the predictions per training sample. Robust to symmetric and asymmetric noise at high
    rates. See :func:`elr_loss`.

    How the sample indices reach the loss: ``loss(logits, target, index=idx)`` with the
    dataset indices of the batch's rows (distinct within a batch), or ``loss.bind_index(idx)``
    before the call (the fastai path: a callback takes the indices out of the batch). Every
    forward that gets indices updates those rows of ``ema_target``. Without indices:
    under ``torch.no_grad()`` (validation, ``get_preds``) the loss is plain CE; while
    building a graph it raises, since training without the regulariser is a bug.

    Args:
        n_samples: size of the training set.
        n_classes: K.
        beta: EMA momentum in [0, 1) (paper: 0.7 on CIFAR-10, 0.9 on CIFAR-100).
        lam: λ ≥ 0, the regulariser's weight (paper: 3 on CIFAR-10, 7 on CIFAR-100).
        weight: per-class weights (K,), a buffer.
        ignore_index: targets equal to it are skipped (their targets are not updated).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        fused: ``None`` (default): the fused C++ kernel when it applies (CPU, float32 or
            float64, buffer in the logits' dtype) and builds, else the eager path (same
            numbers; ``MISLABEL_NO_FUSED=1`` makes it the default). ``True``: fused or an
            error. ``False``: eager. See :func:`elr_loss`.

    Example:
        >>> loss = ELRLoss(n_samples=100, n_classes=3)
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> loss(logits, torch.randint(0, 3, (8,)), index=torch.arange(8)).backward()
    """

    takes_index = True
    ema_target: Tensor

    def __init__(
        self,
        n_samples: int,
        n_classes: int,
        beta: float = 0.7,
        lam: float = 3.0,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        fused: bool | None = None,
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.n_samples = int(check_scalar(n_samples, "n_samples", kind=numbers.Integral, min_val=1))
        self.n_classes = int(check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2))
        self.beta = _check_beta(beta)
        self.lam = _check_lam(lam)
        self.fused = _check_fused(fused)
        self.register_buffer("ema_target", torch.zeros(self.n_samples, self.n_classes))

    def forward(self, logits: Tensor, target: Tensor, index: Tensor | None = None) -> Tensor:
        index = self._take_index(index)
        x, t = check_logits_target(logits, target, ignore_index=self.ignore_index)
        check_n_classes(f"n_classes = {self.n_classes}", self.n_classes, x)
        w = resolve_weight(self.weight, x)
        if index is None:
            if needs_graph(logits):
                raise InvalidInputError(
                    "ELRLoss needs the dataset indices of the batch to train: call "
                    "loss(logits, target, index=idx), or loss.bind_index(idx) first (fastai)."
                )
            ce = F.cross_entropy(x, t, ignore_index=self.ignore_index, reduction="none")
            return finish(ce, t, w, self.ignore_index, self.reduction, logits.dtype)
        idx = check_index(index, x.shape[0], self.n_samples).to(self.ema_target.device)
        valid = t != self.ignore_index
        safe = t.masked_fill(~valid, 0)
        keep = None if bool(valid.all()) else valid.to(idx.device)
        # the kernel updates rows `idx` of the buffer in place (never part of the graph)
        kernel = _choose_kernel(x, self.ema_target, self.fused)
        return dense_loss(
            kernel, x, t, w, self.ignore_index, self.reduction, logits.dtype,
            safe, self.ema_target, idx, keep, self.beta, self.lam,
        )  # fmt: skip

    def _hparams(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "beta": self.beta,
            "lam": self.lam,
            **({} if self.fused is None else {"fused": self.fused}),
        }
