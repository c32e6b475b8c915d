"""What every loss shares: input checks, the reduction, and the base ``nn.Module``.

The math of each loss lives in a function that returns the *unreduced, unweighted* loss of
every sample; :func:`reduce_loss` then applies the per-class ``weight``, ``ignore_index`` and
``reduction`` exactly as :func:`torch.nn.functional.cross_entropy` does:

* ``"none"``: ``weight[y_i] * l_i`` per sample, ``0`` where ``y_i == ignore_index``;
* ``"sum"``: the sum of those;
* ``"mean"``: ``sum_i weight[y_i] * l_i / sum_i weight[y_i]`` over the samples not ignored
  (a plain mean over them without ``weight``; ``nan`` when every sample is ignored, as in
  PyTorch).

Half and bfloat16 logits are computed in float32 and the loss is returned in the input dtype.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mislabel._validation import check_option, check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = [
    "REDUCTIONS",
    "LossBase",
    "Reduction",
    "add_at",
    "apply_dense",
    "as_buffer_dtype",
    "check_class_weight",
    "check_common",
    "check_index",
    "check_logits_target",
    "check_n_classes",
    "dense_loss",
    "finish",
    "needs_graph",
    "reduce_loss",
    "resolve_weight",
    "row_blocks",
    "row_target_kernel",
    "softmax_lse",
]

Reduction = Literal["none", "mean", "sum"]
#: The allowed values of ``reduction``.
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_logits_target(logits: Any, target: Any, *, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Check ``logits`` (n, K) and ``target`` (n,); return them as compute-ready tensors.

    ``logits`` comes back in float32 when it was half or bfloat16, ``target`` as int64. Class
    indices are range-checked for tensors on the CPU (elsewhere that check would force a device
    sync every batch; out-of-range indices then fail inside the indexing kernel).
    """
    if not isinstance(logits, Tensor):
        raise InvalidInputError(
            f"`logits` must be a torch.Tensor of shape (n_samples, n_classes); got "
            f"{type(logits).__name__}. Convert with torch.as_tensor(...)."
        )
    if not isinstance(target, Tensor):
        raise InvalidInputError(
            f"`target` must be a torch.Tensor of class indices, shape (n_samples,); got "
            f"{type(target).__name__}. Convert with torch.as_tensor(..., dtype=torch.long)."
        )
    if logits.ndim != 2:
        hint = " Flatten extra dimensions into the batch first." if logits.ndim > 2 else ""
        raise InvalidInputError(
            "`logits` must have shape (n_samples, n_classes); got shape "
            f"{tuple(logits.shape)}.{hint}"
        )
    if not logits.is_floating_point():
        raise InvalidInputError(f"`logits` must be floating point; got dtype {logits.dtype}.")
    if target.ndim != 1 or target.shape[0] != logits.shape[0]:
        hint = (
            " `target` must hold class indices, not one-hot or probability rows."
            if target.ndim == 2
            else ""
        )
        raise InvalidInputError(
            f"`target` must have shape (n_samples,) = ({logits.shape[0]},) to match `logits`; "
            f"got shape {tuple(target.shape)}.{hint}"
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise InvalidInputError(
            f"`target` must hold integer class indices; got dtype {target.dtype}. "
            "Use target.long()."
        )
    if target.dtype != torch.int64:
        target = target.long()
    if logits.dtype in _LOW_PRECISION:
        logits = logits.float()
    if target.device.type == "cpu" and target.numel():
        n_classes = logits.shape[1]
        lo_t, hi_t = torch.aminmax(target)
        lo, hi = int(lo_t), int(hi_t)
        if (lo < 0 or hi >= n_classes) and lo <= ignore_index <= hi:  # ignored ones aside
            valid = target[target != ignore_index]
            lo, hi = (int(valid.min()), int(valid.max())) if valid.numel() else (0, 0)
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise InvalidInputError(
                f"`target` must be class indices in [0, {n_classes}) or ignore_index "
                f"({ignore_index}); got {bad}. Does `logits` have a column for every class?"
            )
    return logits, target


def check_class_weight(weight: Any, n_classes: int | None = None) -> Tensor | None:
    """Check a per-class ``weight`` vector; return it as a float tensor (or None)."""
    if weight is None:
        return None
    try:
        w = torch.as_tensor(weight)
    except Exception as exc:
        raise InvalidParameterError(
            f"`weight` must be a 1-D tensor with one non-negative weight per class; got "
            f"{type(weight).__name__} that torch cannot convert ({exc})."
        ) from exc
    if w.ndim != 1 or w.numel() == 0:
        raise InvalidParameterError(
            f"`weight` must be a 1-D tensor with one weight per class; got shape {tuple(w.shape)}."
        )
    if not w.is_floating_point():
        w = w.to(torch.get_default_dtype())
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise InvalidParameterError(
            f"`weight` must hold finite, non-negative class weights; got {w.tolist()[:10]}."
        )
    if n_classes is not None and w.shape[0] != n_classes:
        raise InvalidParameterError(
            f"`weight` must have one entry per class ({n_classes}); got {w.shape[0]}."
        )
    return w


def check_n_classes(what: str, expected: int, logits: Tensor) -> None:
    """Check that a per-class setting (``weight``, a matrix) matches ``logits``' columns."""
    if logits.shape[1] != expected:
        raise InvalidInputError(
            f"`logits` must have n_classes = {expected} columns to match {what}; got shape "
            f"{tuple(logits.shape)}."
        )


def check_index(index: Any, n: int, n_samples: int, name: str = "index") -> Tensor:
    """Check per-batch dataset indices: (n,) integers in ``[0, n_samples)``; return int64."""
    if not isinstance(index, Tensor):
        try:
            index = torch.as_tensor(index)
        except Exception as exc:
            raise InvalidInputError(
                f"`{name}` must be a 1-D tensor of dataset indices; got {type(index).__name__}."
            ) from exc
    if index.ndim != 1 or index.shape[0] != n:
        raise InvalidInputError(
            f"`{name}` must have shape (n_samples,) = ({n},), one dataset index per row of "
            f"`logits`; got shape {tuple(index.shape)}."
        )
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise InvalidInputError(f"`{name}` must hold integer indices; got dtype {index.dtype}.")
    index = index.long()
    if index.device.type == "cpu" and n:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= n_samples:
            raise InvalidInputError(
                f"`{name}` must be dataset indices in [0, n_samples) = [0, {n_samples}); got "
                f"{lo if lo < 0 else hi}. Was the loss built with the training set's size?"
            )
    return index


def reduce_loss(
    loss: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    sample_weight: Tensor | None = None,
) -> Tensor:
    """Weight and reduce per-sample losses exactly as ``F.cross_entropy`` does.

    ``sample_weight`` (optional, (n,)) multiplies ``weight[y_i]`` and so also enters the
    denominator of the mean.
    """
    valid = target != ignore_index
    if weight is None and sample_weight is None and reduction != "none" and bool(valid.all()):
        return loss.sum() if reduction == "sum" else loss.mean()  # the common case, fast
    safe = target.masked_fill(~valid, 0)
    w = None if weight is None else weight.to(device=loss.device, dtype=loss.dtype).take(safe)
    if sample_weight is not None:
        sw = sample_weight.to(device=loss.device, dtype=loss.dtype)
        w = sw if w is None else w * sw
    if w is None:
        out = torch.where(valid, loss, 0.0)
        denom = valid.sum().to(loss.dtype)
    else:
        w = torch.where(valid, w, 0.0)
        out = torch.where(valid, loss * w, 0.0)
        denom = w.sum()
    if reduction == "none":
        return out
    if reduction == "sum":
        return out.sum()
    return out.sum() / denom


def finish(
    loss: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
    sample_weight: Tensor | None = None,
) -> Tensor:
    """:func:`reduce_loss`, then cast back to the dtype the logits came in."""
    out = reduce_loss(loss, target, weight, ignore_index, reduction, sample_weight)
    return out if out.dtype == dtype else out.to(dtype)


def check_common(weight: Any, ignore_index: Any, reduction: Any) -> Tensor | None:
    """Validate the three settings every loss takes; return ``weight`` as a tensor."""
    check_scalar(ignore_index, "ignore_index", kind=numbers.Integral)
    check_option(reduction, "reduction", REDUCTIONS)
    return check_class_weight(weight)


def resolve_weight(weight: Tensor | None, logits: Tensor) -> Tensor | None:
    """Check a stored class weight against ``logits``."""
    if weight is not None:
        check_n_classes(f"`weight` ({weight.shape[0]} classes)", weight.shape[0], logits)
    return weight


def as_buffer_dtype(t: Tensor, like: Tensor) -> Tensor:
    """``t`` on ``like``'s device and dtype (a no-op when they already match)."""
    if t.dtype != like.dtype or t.device != like.device:
        return t.to(device=like.device, dtype=like.dtype)
    return t


class LossBase(nn.Module):
    """Base class of every :mod:`mislabel.losses` module.

    Stores the settings every loss takes and gives the fastai hooks:

    * ``weight`` (buffer, optional): per-class weights, applied by the sample's label;
    * ``ignore_index``: targets equal to it contribute nothing;
    * ``reduction``: ``"none"``, ``"mean"`` or ``"sum"``, checked when set, including later
      (fastai's ``get_preds(with_loss=True)`` sets ``loss_func.reduction = "none"`` for a
      while);
    * :meth:`activation` (logits → probabilities) and :meth:`decodes` (probabilities →
      labels), so a fastai ``Learner`` can produce ``pred_probs``.

    Losses that need to know *which* samples are in the batch (``takes_index = True``)
    accept ``index`` in ``forward`` and also through :meth:`bind_index` (see there).
    """

    #: Whether ``forward`` uses the dataset indices of the batch.
    takes_index: ClassVar[bool] = False
    #: Targets are class indices (fastai's ``MixUp`` then mixes the two losses, not targets).
    y_int: ClassVar[bool] = True

    weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        w = check_common(weight, ignore_index, reduction)
        self.register_buffer("weight", w)
        self.ignore_index = int(ignore_index)
        self.reduction = reduction
        self._bound_index: Tensor | None = None

    @property
    def reduction(self) -> str:
        """``"none"``, ``"mean"`` or ``"sum"``; checked whenever it is set."""
        return self._reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        self._reduction = check_option(value, "reduction", REDUCTIONS)

    def activation(self, x: Tensor) -> Tensor:
        """Logits → class probabilities (softmax over the last dimension)."""
        return F.softmax(x, dim=-1)

    def decodes(self, x: Tensor) -> Tensor:
        """Probabilities (or logits) → predicted class indices."""
        return x.argmax(dim=-1)

    def bind_index(self, index: Tensor | None) -> None:
        """Give the dataset indices of the *next* batch to the next ``forward`` call.

        For trainers that call ``loss(logits, target)`` and cannot pass ``index`` (fastai's
        ``Learner`` calls ``loss_func(pred, *yb)``): a callback takes the indices out of the
        batch and binds them here before the loss runs. The binding is used once, then
        cleared. An ``index`` passed to ``forward`` wins over a bound one.
        """
        self._bound_index = index

    def _take_index(self, index: Tensor | None) -> Tensor | None:
        bound, self._bound_index = self._bound_index, None
        return index if index is not None else bound

    def extra_repr(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self._hparams().items()]
        if self.weight is not None:
            parts.append(f"weight=<{self.weight.shape[0]} classes>")
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)

    def _hparams(self) -> dict[str, Any]:
        return {}


def needs_graph(logits: Tensor) -> bool:
    """Whether this forward builds a graph that will be backpropagated (training)."""
    return torch.is_grad_enabled() and logits.requires_grad


# --------------------------------------------------------------------------- dense kernels
# Losses that need the whole probability row (smoothing toward other classes, corrections,
# bootstrapping, ELR) compute their exact gradient in the forward pass with in-place ops and
# hand it to autograd through `_PrecomputedGrad`, or `_ReducedGrad` for a plain mean or sum
# (the common training case). On the CPU every pass over an (n, K) tensor counts, fresh
# buffers most: row dot products and row gathers from a (K, K) matrix go through sparse
# products that write no (n, K) temporary. See benchmarks/loss_overhead.py.


def softmax_lse(z: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``softmax(z)``, ``logsumexp(z)`` and ``z[i, t_i]`` per row, from one softmax pass.

    ``lse = z_t - log p_t`` is exact to rounding while ``p_t`` is a normal number; rows where
    it is tiny (a confident wrong prediction) are recomputed with ``torch.logsumexp``.
    """
    p = torch.softmax(z, dim=1)
    col = t.unsqueeze(1)
    zt = z.gather(1, col).view(-1)
    pt = p.gather(1, col).view(-1)
    lse = zt - pt.log()
    fi = torch.finfo(z.dtype)
    tiny = fi.tiny / fi.eps
    if pt.numel() and not bool(pt.amin() > tiny):  # some p_t below tiny/eps, or nan
        rows = (~(pt > tiny)).nonzero().squeeze(1)
        lse[rows] = torch.logsumexp(z[rows], dim=1)
    return p, lse, zt


_csr_warned = False


def _one_per_row(cols: Tensor, values: Tensor, n_cols: int) -> Tensor:
    """The sparse (n, n_cols) matrix with ``values[i]`` at ``[i, cols[i]]`` (CSR)."""
    global _csr_warned
    crow = torch.arange(cols.shape[0] + 1, device=cols.device)
    size = (cols.shape[0], n_cols)
    if _csr_warned:
        return torch.sparse_csr_tensor(crow, cols, values, size=size, check_invariants=False)
    with warnings.catch_warnings():  # "sparse CSR support is in beta state", once a process
        warnings.simplefilter("ignore", UserWarning)
        out = torch.sparse_csr_tensor(crow, cols, values, size=size, check_invariants=False)
    _csr_warned = True
    return out


def _sparse_ok(x: Tensor) -> bool:
    # The sparse products below are fused kernels on the CPU; elsewhere the dense ops.
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def row_dot(a: Tensor, b: Tensor) -> Tensor:
    """``<a_i, b_i>`` for every row of two (n, K) tensors.

    On the CPU as the diagonal of ``a @ b.T`` sampled by a sparse product, which reads both
    once and writes no (n, K) temporary (``torch.linalg.vecdot`` writes ``a * b`` first).
    """
    if not _sparse_ok(a):
        return torch.linalg.vecdot(a, b)
    n = a.shape[0]
    diag = _one_per_row(torch.arange(n, device=a.device), a.new_zeros(n), n)
    # clone: an (n,) copy rather than a view of a sparse tensor, which torch.compile's tracing
    # of a caller trips over
    return torch.sparse.sampled_addmm(diag, a, b.t(), beta=0.0).values().clone()


def row_dot_gathered(a: Tensor, m: Tensor, t: Tensor) -> Tensor:
    """``<a_i, m[t_i]>`` for every row of ``a`` (n, K), without gathering the rows of ``m``."""
    if not _sparse_ok(a):
        return torch.linalg.vecdot(a, m.index_select(0, t))
    picks = _one_per_row(t, a.new_zeros(t.shape[0]), m.shape[0])
    return torch.sparse.sampled_addmm(picks, a, m.t(), beta=0.0).values().clone()  # see row_dot


def sub_gathered_(out: Tensor, m: Tensor, t: Tensor, scale: float = 1.0) -> Tensor:
    """``out <- scale * (out - m[t])`` in place, ``m[t]`` never written out on the CPU."""
    if not _sparse_ok(out):
        out.sub_(m.index_select(0, t))
        return out.mul_(scale) if scale != 1.0 else out
    picks = _one_per_row(t, out.new_ones(t.shape[0]), m.shape[0])
    return torch.addmm(out, picks, m, beta=scale, alpha=-scale, out=out)


def row_blocks(x: Tensor, nbytes: int) -> list[slice]:
    """Slices of the rows of ``x`` (n, K), each of about ``nbytes`` (one row at least).

    For a chain of elementwise passes that would otherwise stream several (n, K) tensors
    through memory: done block by block, a block's tensors stay in the CPU's cache.
    """
    n = x.shape[0]
    rows = max(1, nbytes // max(1, x.shape[1] * x.element_size()))
    return [slice(i, min(n, i + rows)) for i in range(0, n, rows)] or [slice(0, 0)]


def add_at(grad: Tensor, target: Tensor, value: Tensor | float) -> None:
    """``grad[i, target[i]] += value[i]`` in place."""
    if not isinstance(value, Tensor):
        value = torch.full((grad.shape[0],), float(value), dtype=grad.dtype, device=grad.device)
    grad.scatter_add_(1, target.unsqueeze(1), value.to(grad.dtype).unsqueeze(1))


class _PrecomputedGrad(torch.autograd.Function):
    """Autograd node for a per-sample loss whose gradient w.r.t. ``logits`` comes precomputed.

    ``kernel(logits, *args, need_grad=bool)`` returns ``(loss (n,), grad (n, K) | None,
    extras)``; ``extras`` are returned after the loss and are not differentiable. Given
    ``scale=`` (a float, only with ``need_grad=True``: see :class:`_ReducedGrad`) a kernel
    returns its gradient multiplied by ``scale``.
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, kernel: Any, need_grad: bool, *args: Any) -> Any:
        loss, grad, extras = kernel(logits, *args, need_grad=need_grad)
        ctx.n_args = len(args)
        if grad is not None:
            ctx.save_for_backward(grad)
        ctx.has_grad = grad is not None
        if extras:
            ctx.mark_non_differentiable(*extras)
            return (loss, *extras)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_loss: Tensor, *_: Any) -> Any:
        rest = (None,) * (2 + ctx.n_args)
        if not ctx.has_grad:  # pragma: no cover - autograd only calls us when a grad is needed
            return (None, *rest)
        (grad,) = ctx.saved_tensors
        return (grad * grad_loss.unsqueeze(1), *rest)


def apply_dense(kernel: Any, logits: Tensor, *args: Any) -> Any:
    """Run ``kernel`` through :class:`_PrecomputedGrad` (or directly when no graph is needed)."""
    if needs_graph(logits):
        return _PrecomputedGrad.apply(logits, kernel, True, *args)
    with torch.no_grad():
        loss, _, extras = kernel(logits, *args, need_grad=False)
    return (loss, *extras) if extras else loss


class _ReducedGrad(torch.autograd.Function):
    """Like :class:`_PrecomputedGrad`, with the plain ``"mean"`` or ``"sum"`` folded in.

    The gradient is scaled for the reduction in the forward, in place, so that the backward of
    ``loss.backward()`` (incoming gradient exactly 1) has nothing left to compute and hands the
    saved tensor itself to autograd: ``logits.grad`` then takes it over instead of a fresh
    ``(n, K)`` product being written (on the CPU that write is a large part of the backward).
    With ``retain_graph=True`` autograd copies it into ``.grad`` as usual; a result of
    ``torch.autograd.grad(..., retain_graph=True)`` may share it, and modifying that in place
    makes the next backward through this node raise (autograd's version check).
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, kernel: Any, mean: bool, *args: Any) -> Tensor:
        n = logits.shape[0]
        loss, grad, _ = kernel(logits, *args, need_grad=True, scale=1.0 / n if mean else 1.0)
        ctx.n_args = len(args)
        ctx.save_for_backward(grad)
        return loss.sum() / n if mean else loss.sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> Any:
        (grad,) = ctx.saved_tensors
        rest = (None,) * (2 + ctx.n_args)
        if grad_out.device.type == "cpu" and grad_out.item() == 1.0:  # no sync elsewhere
            return (grad, *rest)
        return (grad * grad_out, *rest)


def dense_loss(
    kernel: Any,
    x: Tensor,
    t: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    dtype: torch.dtype,
    *args: Any,
) -> Tensor:
    """``finish(apply_dense(kernel, x, *args), t, ...)``: ``kernel``'s loss, weighted and reduced.

    A plain mean or sum (no ``weight``, no ignored target) that builds a graph goes through
    :class:`_ReducedGrad`, which saves the backward a pass over the ``(n, K)`` gradient.
    """
    if (
        reduction != "none"
        and weight is None
        and x.shape[0]
        and needs_graph(x)
        and bool((t != ignore_index).all())
    ):
        out = _ReducedGrad.apply(x, kernel, reduction == "mean", *args)
        return out if out.dtype == dtype else out.to(dtype)
    return finish(apply_dense(kernel, x, *args), t, weight, ignore_index, reduction, dtype)


def row_target_kernel(
    z: Tensor, t: Tensor, m: Tensor, *, need_grad: bool, scale: float | None = None
) -> tuple[Tensor, Tensor | None, tuple[()]]:
    """``-sum_k m[t_i, k] log p_ik`` for (K, K) ``m`` with rows summing to 1; grad ``p - m[t]``.

    ``-sum_k r_k log p_k = lse * sum(r) - <r, z>``, and ``sum(r) = 1``. ``m`` may have
    negative entries (an inverse noise matrix does). ``t`` (the labels) also serves the lse.
    The rows ``m[t]`` are never gathered into an (n, K) tensor on the CPU.
    """
    p, lse, _ = softmax_lse(z, t)
    loss = lse - row_dot_gathered(z, m, t)
    if not need_grad:
        return loss, None, ()
    return loss, sub_gathered_(p, m, t, 1.0 if scale is None else scale), ()
