"""The small-loss schedule shared by co-teaching, small-loss training and the fastai callback.

Han et al., "Co-teaching: Robust Training of Deep Neural Networks with Extremely Noisy Labels",
NeurIPS 2018: at epoch ``t`` each network keeps the ``R(t)`` share of each batch with the
smallest loss,

.. math:: R(t) = 1 - \\tau \\cdot \\min(t / T_k, 1)

so it trains on everything while it still learns the easy (mostly clean) patterns, then drops
a growing share, up to the forget rate τ, before it starts memorising the wrong labels. The
paper sets τ to the noise rate ε (known or estimated).
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any

import numpy as np

from mislabel._validation import check_scalar

__all__ = ["keep_rate", "n_keep", "resolve_forget_rate"]

logger = logging.getLogger(__name__)


def keep_rate(epoch: int, forget_rate: float, t_k: int, warmup_epochs: int = 0) -> float:
    """``R(t) = 1 - forget_rate * min(t / t_k, 1)`` with ``t = epoch - warmup_epochs``.

    Args:
        epoch: 0-based epoch.
        forget_rate: τ in [0, 1), the share dropped once the ramp is over.
        t_k: epochs the ramp takes (``T_k``); 0 drops τ right away.
        warmup_epochs: epochs before the ramp starts, during which nothing is dropped.
            ``R(0) = 1``, so the first epoch after the warm-up still keeps everything, as in
            Han et al.'s schedule.

    Returns:
        The share of each batch to keep, in (0, 1].
    """
    t = epoch - warmup_epochs
    if t <= 0 or forget_rate <= 0:
        return 1.0
    ramp = 1.0 if t_k <= 0 else min(t / t_k, 1.0)
    return 1.0 - forget_rate * ramp


def n_keep(rate: float, batch: int) -> int:
    """How many of ``batch`` samples a keep rate ``rate`` keeps (rounded, at least 1)."""
    return max(1, min(batch, math.floor(rate * batch + 0.5)))


def check_schedule(forget_rate: Any, t_k: Any, warmup_epochs: Any) -> None:
    """Validate the schedule's settings."""
    if forget_rate is not None:
        check_scalar(forget_rate, "forget_rate", min_val=0.0, max_val=1.0, include_max=False)
    check_scalar(t_k, "t_k", kind=numbers.Integral, min_val=0)
    check_scalar(warmup_epochs, "warmup_epochs", kind=numbers.Integral, min_val=0)


def resolve_forget_rate(
    labels: np.ndarray,
    *,
    forget_rate: float | None,
    noise_rate: float | None,
    pred_probs: Any,
    estimate_pred_probs: Any,
) -> float:
    """τ from, first match wins: ``forget_rate``; a known ``noise_rate``; the confident-joint
    estimate of the noise rate from ``pred_probs``; from ``estimate_pred_probs()`` (a callable
    computing out-of-fold probabilities, the expensive fallback)."""
    if forget_rate is not None:
        return float(forget_rate)
    if noise_rate is not None:
        check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
        return float(noise_rate)
    from mislabel.detect import estimate_noise

    if pred_probs is None:
        logger.info(
            "no noise_rate or pred_probs given: estimating the noise rate from out-of-fold "
            "probabilities (pass noise_rate= when you know it, or pred_probs= to skip this)"
        )
        pred_probs = estimate_pred_probs()
    rate = float(estimate_noise(labels, pred_probs).noise_rate)
    logger.info("estimated noise rate %.3f used as forget rate", rate)
    return min(rate, 0.99)
