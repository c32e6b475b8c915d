"""Noise matrices: checks, the learnability condition, and random matrices with a given trace.

Convention, everywhere in :mod:`mislabel.noise`: ``noise_matrix[i, j] = P(observed label = j |
true class = i)``, so rows = true class, columns = observed label, and every row sums to 1.
cleanlab uses the transpose (columns = true class); pass ``noise_matrix.T`` to its functions.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from mislabel._validation import MAX_CLASSES, as_rng, check_noise_matrix, check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = ["is_valid_noise_matrix", "random_noise_matrix"]

#: How far a row of a noise matrix (or a prior) may sum away from 1 before it is refused.
_SUM_TOLERANCE = 1e-6


def _check_noise_matrix(
    noise_matrix: Any, *, n_classes: int | None = None, name: str = "noise_matrix"
) -> np.ndarray:
    """Return ``noise_matrix`` as a float64 (K, K) row-stochastic array, rows renormalised."""
    return check_noise_matrix(noise_matrix, n_classes=n_classes, name=name, atol=_SUM_TOLERANCE)


def _check_prior(py: Any, n_classes: int, *, name: str = "py") -> np.ndarray:
    """Return the class prior ``py`` as a float64 (K,) array of positive values summing to 1."""
    try:
        arr = np.asarray(py, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"`{name}` must be a 1-D array of class priors P(true class = k); got "
            f"{type(py).__name__} that numpy cannot convert ({exc})."
        ) from exc
    if arr.shape != (n_classes,):
        raise InvalidInputError(
            f"`{name}` must have shape (n_classes,) = ({n_classes},); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or arr.min() <= 0:
        raise InvalidInputError(
            f"`{name}` must hold strictly positive class priors; got {arr.tolist()}. A class "
            "with prior 0 can never satisfy the learnability condition."
        )
    total = float(arr.sum())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise InvalidInputError(
            f"`{name}` must sum to 1; got {total:.6g}. Pass np.bincount(labels) / len(labels)."
        )
    return arr / total


def _is_valid(noise_matrix: np.ndarray, py: np.ndarray) -> bool:
    # P(observed = k) < P(observed = k | true = k) for every k, i.e. py[k] * P(observed = k)
    # < P(observed = k, true = k): cleanlab's noise_matrix_is_valid in our orientation.
    observed_prior = py @ noise_matrix
    return bool(np.all(observed_prior < np.diag(noise_matrix)))


def is_valid_noise_matrix(noise_matrix: Any, *, py: Any = None) -> bool:
    """Whether a noise matrix is learnable: every label says more than the prior alone.

    The condition of Northcutt et al. (confident learning, JAIR 2021; cleanlab's
    ``noise_matrix_is_valid``): for every class ``k``,
    ``py[k] * P(observed = k) < P(observed = k, true = k)``, which is the same as
    ``P(observed = k) < noise_matrix[k, k]``. It implies ``trace(noise_matrix) > 1``.

    Args:
        noise_matrix: (n_classes, n_classes), ``noise_matrix[i, j] = P(observed = j | true = i)``
            (rows = true class, columns = observed label; cleanlab's matrix is the transpose).
        py: (n_classes,) prior of the true classes, strictly positive; uniform if None.

    Returns:
        True when the condition holds for every class.
    """
    nm = _check_noise_matrix(noise_matrix)
    k = nm.shape[0]
    prior = np.full(k, 1.0 / k) if py is None else _check_prior(py, k)
    return _is_valid(nm, prior)


def _random_fixed_sum(n: int, total: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` random values in [0, 1] that sum to ``total`` (0 <= total <= n).

    Starts from the even split and mixes it with random pairwise transfers (a hit-and-run walk
    on the polytope), so no value is pinned at a bound, whatever ``total`` is.
    """
    x = np.full(n, total / n)
    steps = 20 * n + 100
    pairs = rng.integers(0, n, size=(steps, 2))
    u = rng.random(steps)
    for (i, j), r in zip(pairs, u, strict=True):
        if i == j:
            continue
        # Move t from x[j] to x[i]; both must stay in [0, 1].
        up = min(1.0 - x[i], x[j])
        down = min(x[i], 1.0 - x[j])
        t = -down + r * (up + down)
        x[i] += t
        x[j] -= t
    np.clip(x, 0.0, 1.0, out=x)
    return x


def _draw_noise_matrix(k: int, trace: float, n_zero: int, rng: np.random.Generator) -> np.ndarray:
    diag = _random_fixed_sum(k, trace, rng)
    nm = np.diag(diag)
    # Spread the zero off-diagonal entries over the rows: each row keeps at least one non-zero
    # off-diagonal entry to carry its noise, so it has k - 2 slots that may be zero.
    zeros_per_row = np.zeros(k, dtype=np.int64)
    if n_zero and k > 2:
        slots = rng.choice(k * (k - 2), size=n_zero, replace=False)
        zeros_per_row = np.bincount(slots // (k - 2), minlength=k)
    for i in range(k):
        noise = 1.0 - diag[i]
        others = np.delete(np.arange(k), i)
        n_nonzero = k - 1 - int(zeros_per_row[i])
        cols = rng.choice(others, size=n_nonzero, replace=False)
        nm[i, cols] = rng.dirichlet(np.ones(n_nonzero)) * noise
    return nm


def random_noise_matrix(
    n_classes: int,
    *,
    trace: float,
    sparsity: float = 0.0,
    py: Any = None,
    valid: bool = True,
    random_state: int | np.random.Generator | None = None,
    max_iter: int = 10_000,
) -> np.ndarray:
    """A random noise matrix with a given trace and fraction of zero off-diagonal entries.

    Same semantics as cleanlab's ``generate_noise_matrix_from_trace`` (Northcutt et al.,
    confident learning), in this library's orientation: the diagonal is random in [0, 1] and sums
    to ``trace``; ``floor(sparsity * n_classes * (n_classes - 1))`` off-diagonal entries are
    exactly 0; each row's remaining mass ``1 - noise_matrix[i, i]`` is split at random over its
    other entries. With ``valid=True`` draws repeat until :func:`is_valid_noise_matrix` holds
    for the prior ``py``.

    The average noise rate of labels drawn from the result is ``1 - trace / n_classes`` when the
    classes are balanced.

    Args:
        n_classes: number of classes, at least 2.
        trace: sum of the diagonal, in (0, n_classes]; ``trace > 1`` when ``valid``.
        sparsity: fraction of the off-diagonal entries that are 0, in
            [0, (n_classes - 2) / (n_classes - 1)] (each noisy row needs one non-zero entry).
        py: (n_classes,) prior of the true classes, used by the validity check; uniform if
            None (cleanlab requires it).
        valid: redraw until the matrix is learnable (see :func:`is_valid_noise_matrix`).
        random_state: int, ``numpy.random.Generator`` or None.
        max_iter: how many draws to try before giving up when ``valid``.

    Returns:
        (n_classes, n_classes) float64 array, ``[i, j] = P(observed = j | true = i)`` (rows =
        true class, columns = observed label; rows sum to 1).

    Raises:
        InvalidParameterError: a setting is out of range, or no valid matrix was found in
            ``max_iter`` draws.

    Example:
        >>> nm = random_noise_matrix(10, trace=6.0, sparsity=0.2, random_state=0)
        >>> round(float(np.trace(nm)), 6)
        6.0
    """
    check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2, max_val=MAX_CLASSES)
    k = int(n_classes)
    check_scalar(trace, "trace", min_val=0, max_val=k, include_min=False)
    check_scalar(sparsity, "sparsity", min_val=0.0, max_val=1.0)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, min_val=1)
    if valid and trace <= 1:
        raise InvalidParameterError(
            f"`trace` must be > 1 for a valid (learnable) noise matrix; got {trace!r}. Raise "
            "`trace` or pass valid=False."
        )
    n_zero = math.floor(sparsity * k * (k - 1) + 1e-9)
    if n_zero > k * (k - 2):
        raise InvalidParameterError(
            f"`sparsity` must be <= (n_classes - 2) / (n_classes - 1) = {(k - 2) / (k - 1):.4g} "
            f"for {k} classes; got {sparsity!r}. Every noisy row needs one non-zero "
            "off-diagonal entry."
        )
    prior = np.full(k, 1.0 / k) if py is None else _check_prior(py, k)
    rng = as_rng(random_state)
    for _ in range(int(max_iter)):
        nm = _draw_noise_matrix(k, float(trace), n_zero, rng)
        if not valid or _is_valid(nm, prior):
            return nm
    raise InvalidParameterError(
        f"no valid noise matrix with trace={trace!r}, sparsity={sparsity!r} was found in "
        f"max_iter={max_iter} draws. Raise `trace`, lower `sparsity`, raise `max_iter`, or pass "
        "valid=False."
    )
