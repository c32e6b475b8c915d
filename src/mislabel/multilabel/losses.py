"""Noise-robust binary cross-entropy for multi-label training (needs torch).

Multi-label targets are (batch, K) 0/1 (or soft) tags, not class indices, so these losses live
here rather than in the :mod:`mislabel.losses` registry, whose losses take integer targets.

- :func:`forward_corrected_bce` / :class:`ForwardCorrectedBCELoss`: forward loss correction
  (Patrini et al., CVPR 2017) applied to each tag as its own binary task with class-dependent
  flip rates (Natarajan et al., NeurIPS 2013): the network's clean probability of each tag is
  pushed through that tag's 2×2 noise matrix before the BCE, so the loss is minimised by the
  clean probability, not the noisy one.
- Per-(sample, tag) weights and soft targets (``MultiLabelIssues.entry_scores`` /
  ``.posterior``) go to :func:`torch.nn.functional.binary_cross_entropy_with_logits`
  directly (its ``weight`` and float ``target``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mislabel._validation import check_option
from mislabel.exceptions import InvalidInputError

__all__ = ["ForwardCorrectedBCELoss", "forward_corrected_bce"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_noise(noise_matrices: Any, k: int) -> Tensor:
    t = torch.as_tensor(noise_matrices)
    if t.shape != (k, 2, 2):
        raise InvalidInputError(
            f"`noise_matrices` must have shape (n_classes, 2, 2) = ({k}, 2, 2), one P(given | "
            f"true) per tag with rows = true (absent, present); got {tuple(t.shape)}."
        )
    if not torch.isfinite(t).all() or (t < 0).any():
        raise InvalidInputError("`noise_matrices` must hold finite, non-negative probabilities.")
    sums = t.sum(dim=2)
    if ((sums - 1).abs() > 1e-3).any():
        raise InvalidInputError(
            "`noise_matrices` rows (true absent / present) must each sum to 1; got row sums "
            f"{sums.flatten()[:4].tolist()}. Did you pass the transpose?"
        )
    return t


def forward_corrected_bce(
    logits: Tensor,
    target: Tensor,
    noise_matrices: Any,
    *,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy of the noisy tags under the network's clean tag probabilities.

    Unreduced, for sample i and tag k with :math:`p_{ik} = \sigma(z_{ik})` the network's
    probability that the tag is truly present and :math:`T^{(k)}` = ``noise_matrices[k]``
    (rows = true absent / present, columns = given):

    .. math::
        q_{ik} = p_{ik} T^{(k)}_{11} + (1 - p_{ik}) T^{(k)}_{01}, \qquad
        \ell_{ik} = -w_{ik} \big(y_{ik} \log q_{ik} + (1 - y_{ik}) \log(1 - q_{ik})\big)

    computed in log space: :math:`q_{ik}` is the probability that the tag is *given*, so the
    loss is minimised by the clean probability. Forward correction (Patrini et al., "Making
    Deep Neural Networks Robust to Label Noise: a Loss Correction Approach", CVPR 2017) per
    tag, with class-dependent flip rates (Natarajan et al., "Learning with Noisy Labels",
    NeurIPS 2013). With identity matrices it equals
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` (same ``weight`` and
    ``reduction`` semantics: ``"mean"`` averages the weighted entries).

    Args:
        logits: (batch, K) raw scores, one per tag.
        target: (batch, K) given tags, 0/1 or soft in [0, 1].
        noise_matrices: (K, 2, 2) P(given | true) per tag, **rows = true** (e.g.
            ``MultiLabelIssues.noise_matrices``).
        weight: optional (batch, K) or (K,) weights, multiplied into each entry.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Shape:
        logits, target: (N, K); output: scalar, or (N, K) with ``reduction="none"``.

    Example:
        >>> logits = torch.randn(8, 3, requires_grad=True)
        >>> target = torch.randint(0, 2, (8, 3)).float()
        >>> t = torch.tensor([[0.95, 0.05], [0.2, 0.8]]).expand(3, 2, 2)
        >>> forward_corrected_bce(logits, target, t).backward()
    """
    check_option(reduction, "reduction", _REDUCTIONS)
    if logits.ndim != 2 or target.shape != logits.shape:
        raise InvalidInputError(
            f"`logits` and `target` must both have shape (batch, n_classes); got "
            f"{tuple(logits.shape)} and {tuple(target.shape)}."
        )
    t = _check_noise(noise_matrices, logits.shape[1]).to(device=logits.device, dtype=logits.dtype)
    log_t = torch.log(t)  # -inf where a flip never happens: logaddexp keeps it exact
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    log_given = torch.logaddexp(log_p + log_t[:, 1, 1], log_not_p + log_t[:, 0, 1])
    log_not_given = torch.logaddexp(log_p + log_t[:, 1, 0], log_not_p + log_t[:, 0, 0])
    target = target.to(logits.dtype)
    loss = -(target * log_given + (1 - target) * log_not_given)
    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class ForwardCorrectedBCELoss(nn.Module):
    r"""Forward-corrected binary cross-entropy for multi-label tags (Patrini et al., CVPR
    2017, per tag; Natarajan et al., NeurIPS 2013): the module form of
    :func:`forward_corrected_bce`.

    .. math::
        \ell_{ik} = -w_{k} \big(y_{ik} \log q_{ik} + (1 - y_{ik}) \log(1 - q_{ik})\big),
        \qquad q_{ik} = \sigma(z_{ik}) T^{(k)}_{11} + (1 - \sigma(z_{ik})) T^{(k)}_{01}

    ``noise_matrices`` and ``weight`` are buffers (they follow ``.to(device)``).

    Args:
        noise_matrices: (K, 2, 2) P(given | true) per tag, rows = true (absent, present).
        weight: optional (K,) per-tag weights.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Example:
        >>> loss_fn = ForwardCorrectedBCELoss(torch.eye(2).expand(3, 2, 2))
        >>> loss_fn(torch.randn(8, 3, requires_grad=True), torch.ones(8, 3)).backward()
    """

    noise_matrices: Tensor
    weight: Tensor | None

    def __init__(
        self, noise_matrices: Any, *, weight: Tensor | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        check_option(reduction, "reduction", _REDUCTIONS)
        t = torch.as_tensor(noise_matrices, dtype=torch.float32)
        self.register_buffer("noise_matrices", _check_noise(t, int(t.shape[0])))
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight))
        self.reduction = reduction

    def activation(self, logits: Tensor) -> Tensor:
        """Logits → per-tag probabilities (fastai's ``loss_func.activation``)."""
        return torch.sigmoid(logits)

    def decodes(self, probs: Tensor) -> Tensor:
        """Probabilities → 0/1 tags at 0.5 (fastai's ``loss_func.decodes``)."""
        return probs > 0.5

    def forward(self, logits: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        w = self.weight if weight is None else weight
        return forward_corrected_bce(
            logits, target, self.noise_matrices, weight=w, reduction=self.reduction
        )
