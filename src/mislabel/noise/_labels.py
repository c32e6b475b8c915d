"""Label-noise generators and the :class:`NoisyLabels` they return.

Convention: ``noise_matrix[i, j] = P(observed label = j | true class = i)`` — rows = true class,
columns = observed label, every row sums to 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from mislabel._validation import MAX_CLASSES, as_rng, check_labels, check_option, check_scalar
from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.noise._matrix import _check_noise_matrix

__all__ = [
    "PAIR_MAPPINGS",
    "NoisyLabels",
    "apply_noise_matrix",
    "flip_pairs",
    "flip_symmetric",
    "instance_dependent",
    "resample_symmetric",
]

RandomState = int | np.random.Generator | None

#: Standard pair (asymmetric) noise maps, true class -> observed label, for 10-class sets.
#: ``mnist`` and ``cifar10`` are those of Patrini et al. (CVPR 2017, "Making deep neural networks
#: robust to label noise: a loss correction approach"), used since by most papers.
#: ``fashion_mnist`` has no single standard in the literature; this one is ours and pairs
#: garments that look alike: T-shirt/top → Shirt, Pullover → Coat, Sandal ↔ Sneaker,
#: Ankle boot → Sneaker.
PAIR_MAPPINGS: Mapping[str, Mapping[int, int]] = MappingProxyType(
    {
        # 7 → 1, 2 → 7, 5 ↔ 6, 3 → 8
        "mnist": MappingProxyType({7: 1, 2: 7, 5: 6, 6: 5, 3: 8}),
        # truck → automobile, bird → airplane, deer → horse, cat ↔ dog
        "cifar10": MappingProxyType({9: 1, 2: 0, 4: 7, 3: 5, 5: 3}),
        # T-shirt/top → Shirt, Pullover → Coat, Sandal ↔ Sneaker, Ankle boot → Sneaker
        "fashion_mnist": MappingProxyType({0: 6, 2: 4, 5: 7, 7: 5, 9: 7}),
    }
)
_PAIR_OPTIONS = (*PAIR_MAPPINGS, "pairflip")


@dataclass(frozen=True, eq=False)
class NoisyLabels:
    """Labels after noise injection, with the noise that was actually applied.

    Attributes:
        labels: (n_samples,) int64, the observed (noisy) labels.
        true_labels: (n_samples,) int64, the clean labels that were given.
        noise_matrix: (n_classes, n_classes) float64, the *realized* noise matrix:
            ``noise_matrix[i, j]`` is the fraction of the samples of true class ``i`` that now
            carry label ``j`` (rows = true class, columns = observed label; each row sums to 1).
            A class absent from ``true_labels`` gets an identity row.
        expected_noise_matrix: (n_classes, n_classes) float64, the matrix the generator drew
            from, same orientation (rows = true class, columns = observed label). For
            :func:`instance_dependent`, the mean of the per-sample transition rows of each class.
        is_noisy: (n_samples,) bool, ``labels != true_labels``.
        method: the name of the generator that made these labels.
    """

    labels: np.ndarray
    true_labels: np.ndarray
    noise_matrix: np.ndarray
    expected_noise_matrix: np.ndarray
    is_noisy: np.ndarray
    method: str

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.noise_matrix.shape[0])

    @property
    def n_noisy(self) -> int:
        """How many labels differ from the true ones."""
        return int(self.is_noisy.sum())

    @property
    def noise_rate(self) -> float:
        """Realized fraction of wrong labels."""
        return self.n_noisy / self.n_samples

    def __repr__(self) -> str:
        return (
            f"NoisyLabels(method={self.method!r}, n_samples={self.n_samples}, "
            f"n_classes={self.n_classes}, n_noisy={self.n_noisy}, "
            f"noise_rate={self.noise_rate:.4f})"
        )


# --------------------------------------------------------------------------- shared helpers


def _result(
    true_labels: np.ndarray,
    noisy: np.ndarray,
    n_classes: int,
    expected: np.ndarray,
    method: str,
) -> NoisyLabels:
    k = n_classes
    counts = np.bincount(true_labels * k + noisy, minlength=k * k).reshape(k, k)
    per_class = counts.sum(axis=1)
    realized = np.eye(k)
    present = per_class > 0
    realized[present] = counts[present] / per_class[present, None]
    return NoisyLabels(
        labels=noisy,
        true_labels=true_labels,
        noise_matrix=realized,
        expected_noise_matrix=expected,
        is_noisy=noisy != true_labels,
        method=method,
    )


def _apportion(target: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integers that sum to ``total``, each the floor or ceiling of ``target`` (largest
    remainders get the ceilings; ties are broken at random)."""
    base = np.floor(target).astype(np.int64)
    short = int(total - base.sum())
    tie_break = rng.random(target.shape[0])
    if short > 0:
        order = np.lexsort((tie_break, -(target - base)))
        base[order[:short]] += 1
    return base


def _class_indices(labels: np.ndarray, n_classes: int) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    bounds = np.cumsum(np.bincount(labels, minlength=n_classes))[:-1]
    return np.split(order, bounds)


def _prepare_labels(labels: Any, n_classes: int | None) -> tuple[np.ndarray, int]:
    """Check ``labels`` and resolve ``n_classes`` (default: largest label + 1)."""
    y = check_labels(labels).astype(np.int64)
    top = int(y.max())
    if n_classes is None:
        k = top + 1
        if k < 2:
            raise InvalidInputError(
                f"`labels` must span at least 2 classes to inject noise; got only class {top}. "
                "Pass n_classes if some classes are absent from this sample."
            )
        return y, k
    check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2, max_val=MAX_CLASSES)
    if top >= n_classes:
        raise InvalidInputError(
            f"`labels` must be class indices in [0, n_classes) = [0, {n_classes}); got {top}."
        )
    return y, int(n_classes)


def _check_rate(noise_rate: Any) -> float:
    check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0)
    return float(noise_rate)


def _draw_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of the row-stochastic ``probs`` (inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(int(probs.shape[0]))
    return (u[:, None] >= cdf).sum(axis=1).astype(np.int64)


def _apply(y: np.ndarray, nm: np.ndarray, *, exact: bool, rng: np.random.Generator) -> np.ndarray:
    k = nm.shape[0]
    noisy = y.copy()
    if exact:
        for i, idx in enumerate(_class_indices(y, k)):
            if idx.size == 0:
                continue
            counts = _apportion(nm[i] * idx.size, idx.size, rng)
            noisy[rng.permutation(idx)] = np.repeat(np.arange(k), counts)
    else:
        noisy = _draw_rows(nm[y], rng)
    return noisy


# --------------------------------------------------------------------------- generators


def flip_symmetric(
    labels: Any,
    noise_rate: float,
    *,
    n_classes: int | None = None,
    stratify: bool = True,
    random_state: RandomState = None,
) -> NoisyLabels:
    """Flip exactly ``round(noise_rate * n_samples)`` labels, each to a *different* class.

    The realized noise rate equals ``noise_rate`` up to rounding (this is the "symmetric" noise
    of Han et al. 2018, co-teaching: off-diagonal ``noise_rate / (n_classes - 1)``). For the
    variant that redraws over all classes, see :func:`resample_symmetric`.

    With ``stratify=True`` (default) every class ``c`` loses the floor or the ceiling of
    ``noise_rate * n_c`` labels (largest remainders get the ceilings, so the total is exact),
    and the flipped labels of a class are spread evenly over the other classes (floor or
    ceiling of ``flipped_c / (n_classes - 1)`` each). With ``stratify=False`` the flipped
    samples are drawn uniformly from all samples and each gets a uniform other class.

    Args:
        labels: (n_samples,) true class indices in ``[0, n_classes)``.
        noise_rate: fraction of labels to flip, in [0, 1].
        n_classes: number of classes; default ``labels.max() + 1``.
        stratify: flip the same fraction in every class (see above).
        random_state: int, ``numpy.random.Generator`` or None.

    Returns:
        :class:`NoisyLabels`; its ``noise_matrix`` is the realized one (rows = true class,
        columns = observed label) and ``expected_noise_matrix`` has ``1 - noise_rate`` on the
        diagonal and ``noise_rate / (n_classes - 1)`` elsewhere.

    Example:
        >>> out = flip_symmetric(np.repeat(np.arange(4), 25), 0.2, random_state=0)
        >>> out.n_noisy
        20
    """
    y, k = _prepare_labels(labels, n_classes)
    rate = _check_rate(noise_rate)
    rng = as_rng(random_state)
    n = y.shape[0]
    n_flip = math.floor(rate * n + 0.5)
    noisy = y.copy()
    if stratify:
        groups = _class_indices(y, k)
        per_class = _apportion(rate * np.array([g.size for g in groups], float), n_flip, rng)
        for c, (idx, m) in enumerate(zip(groups, per_class, strict=True)):
            if m == 0:
                continue
            chosen = rng.choice(idx, size=int(m), replace=False)
            spread = _apportion(np.full(k - 1, m / (k - 1)), int(m), rng)
            noisy[chosen] = np.repeat(np.delete(np.arange(k), c), spread)
    else:
        chosen = rng.choice(n, size=n_flip, replace=False)
        shift = rng.integers(0, k - 1, size=n_flip)
        noisy[chosen] = shift + (shift >= y[chosen])
    expected = np.full((k, k), rate / (k - 1))
    np.fill_diagonal(expected, 1.0 - rate)
    return _result(y, noisy, k, expected, "flip_symmetric")


def resample_symmetric(
    labels: Any,
    noise_rate: float,
    *,
    n_classes: int | None = None,
    random_state: RandomState = None,
) -> NoisyLabels:
    """Replace each label, with probability ``noise_rate``, by a uniform draw over *all* classes.

    A redrawn label can land on its true class, so the realized noise rate is about
    ``noise_rate * (n_classes - 1) / n_classes`` (e.g. 0.45 for ``noise_rate=0.5`` and 10
    classes), and it is random. This is the "sym" noise of DivideMix / ELR; for exactly
    ``noise_rate`` wrong labels use :func:`flip_symmetric`.

    Args:
        labels: (n_samples,) true class indices in ``[0, n_classes)``.
        noise_rate: probability that a label is redrawn, in [0, 1].
        n_classes: number of classes; default ``labels.max() + 1``.
        random_state: int, ``numpy.random.Generator`` or None.

    Returns:
        :class:`NoisyLabels`; ``noise_matrix`` is the realized one (rows = true class,
        columns = observed label) and ``expected_noise_matrix`` is
        ``(1 - noise_rate) * I + noise_rate / n_classes``.
    """
    y, k = _prepare_labels(labels, n_classes)
    rate = _check_rate(noise_rate)
    rng = as_rng(random_state)
    redraw = rng.random(int(y.shape[0])) < rate
    noisy = y.copy()
    noisy[redraw] = rng.integers(0, k, size=int(redraw.sum()))
    expected = (1.0 - rate) * np.eye(k) + rate / k
    return _result(y, noisy, k, expected, "resample_symmetric")


def _pair_mapping(
    mapping: Any, labels: np.ndarray, n_classes: int | None
) -> tuple[dict[int, int], int]:
    if isinstance(mapping, str):
        check_option(mapping, "mapping", _PAIR_OPTIONS)
        if mapping == "pairflip":
            _, k = _prepare_labels(labels, n_classes)
            return {c: (c + 1) % k for c in range(k)}, k
        if n_classes is not None and n_classes != 10:
            raise InvalidParameterError(
                f"`mapping={mapping!r}` is a 10-class map; got n_classes={n_classes!r}. Pass "
                "a dict {true_class: observed_label} for other class counts."
            )
        _, k = _prepare_labels(labels, 10)
        return dict(PAIR_MAPPINGS[mapping]), k
    if not isinstance(mapping, Mapping):
        raise InvalidParameterError(
            f"`mapping` must be one of {', '.join(repr(o) for o in _PAIR_OPTIONS)} or a dict "
            f"{{true_class: observed_label}}; got {type(mapping).__name__}."
        )
    if not mapping:
        raise InvalidParameterError("`mapping` must not be empty; got {}.")
    _, k = _prepare_labels(labels, n_classes)
    out: dict[int, int] = {}
    for src, dst in mapping.items():
        ok = all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= int(v) < k
            for v in (src, dst)
        )
        if not ok:
            raise InvalidParameterError(
                f"`mapping` must map class indices in [0, {k}) to class indices in [0, {k}); "
                f"got {src!r}: {dst!r}. Pass n_classes if the labels do not show every class."
            )
        if src == dst:
            raise InvalidParameterError(
                f"`mapping` must send each class to a different class; got {src!r}: {dst!r}."
            )
        out[int(src)] = int(dst)
    return out, k


def flip_pairs(
    labels: Any,
    noise_rate: float,
    *,
    mapping: Literal["mnist", "cifar10", "fashion_mnist", "pairflip"] | Mapping[int, int],
    n_classes: int | None = None,
    exact: bool = True,
    random_state: RandomState = None,
) -> NoisyLabels:
    """Pair (asymmetric) noise: a fraction ``noise_rate`` of each source class gets its pair label.

    Maps (true class → observed label), see :data:`PAIR_MAPPINGS`:

    - ``"mnist"``: 7 → 1, 2 → 7, 5 ↔ 6, 3 → 8 (Patrini et al. 2017);
    - ``"cifar10"``: truck → automobile, bird → airplane, deer → horse, cat ↔ dog
      (Patrini et al. 2017);
    - ``"fashion_mnist"``: T-shirt/top → Shirt, Pullover → Coat, Sandal ↔ Sneaker,
      Ankle boot → Sneaker (ours; there is no single standard);
    - ``"pairflip"``: every class ``c`` → ``(c + 1) % n_classes`` (Han et al. 2018, co-teaching);
    - a dict ``{true_class: observed_label}``.

    Classes that are not a source keep their labels, so the overall realized rate is
    ``noise_rate`` times the share of samples in source classes.

    Args:
        labels: (n_samples,) true class indices in ``[0, n_classes)``.
        noise_rate: fraction of each source class to flip, in [0, 1].
        mapping: a named map or a dict, as above. Named maps other than ``"pairflip"`` need
            10 classes.
        n_classes: number of classes; default ``labels.max() + 1`` (10 for the named maps).
        exact: flip the floor or the ceiling of ``noise_rate * n_c`` labels of each source
            class; if False, flip each label independently with probability ``noise_rate``.
        random_state: int, ``numpy.random.Generator`` or None.

    Returns:
        :class:`NoisyLabels`; ``noise_matrix`` is the realized one (rows = true class,
        columns = observed label).

    Example:
        >>> y = np.repeat(np.arange(10), 100)
        >>> out = flip_pairs(y, 0.4, mapping="cifar10", random_state=0)
        >>> int(out.noise_matrix[9, 1] * 100)  # 40 % of trucks are now automobiles
        40
    """
    rate = _check_rate(noise_rate)
    y = check_labels(labels)
    pairs, k = _pair_mapping(mapping, y, n_classes)
    y, k = _prepare_labels(y, k)
    nm = np.eye(k)
    for src, dst in pairs.items():
        nm[src, src] = 1.0 - rate
        nm[src, dst] = rate
    rng = as_rng(random_state)
    noisy = _apply(y, nm, exact=exact, rng=rng)
    name = mapping if isinstance(mapping, str) else "dict"
    return _result(y, noisy, k, nm, f"flip_pairs[{name}]")


def apply_noise_matrix(
    labels: Any,
    noise_matrix: Any,
    *,
    exact: bool = True,
    random_state: RandomState = None,
) -> NoisyLabels:
    """Class-conditional noise: draw each observed label from its true class's row.

    Args:
        labels: (n_samples,) true class indices in ``[0, n_classes)``.
        noise_matrix: (n_classes, n_classes), ``noise_matrix[i, j] = P(observed = j | true = i)``
            (rows = true class, columns = observed label; rows sum to 1). cleanlab's matrices
            are the transpose. See :func:`random_noise_matrix`.
        exact: give each class ``i`` exactly the floor or the ceiling of
            ``noise_matrix[i, j] * n_i`` labels ``j`` (largest remainders get the ceilings), so
            the realized matrix is within ``1 / n_i`` of the given one. If False, draw every
            label independently.
        random_state: int, ``numpy.random.Generator`` or None.

    Returns:
        :class:`NoisyLabels`; ``noise_matrix`` is the realized one, ``expected_noise_matrix``
        the one given (both rows = true class, columns = observed label).

    Example:
        >>> nm = [[0.8, 0.2], [0.1, 0.9]]
        >>> out = apply_noise_matrix(np.repeat([0, 1], 50), nm, random_state=0)
        >>> out.noise_matrix.round(2).tolist()
        [[0.8, 0.2], [0.1, 0.9]]
    """
    nm = _check_noise_matrix(noise_matrix)
    k = nm.shape[0]
    y = check_labels(labels).astype(np.int64)
    if int(y.max()) >= k:
        raise InvalidInputError(
            f"`labels` must be class indices in [0, {k}) to match `noise_matrix` of shape "
            f"{nm.shape}; got {int(y.max())}."
        )
    rng = as_rng(random_state)
    noisy = _apply(y, nm, exact=exact, rng=rng)
    return _result(y, noisy, k, nm, "apply_noise_matrix")


def _truncated_normal(mean: float, std: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Normal(mean, std) truncated to [0, 1]: by rejection, then (for the draws still outside
    after :data:`_REJECTION_ROUNDS` rounds, which only a very wide ``std`` leaves) by the
    inverse CDF restricted to [0, 1]."""
    out = rng.normal(mean, std, size)
    bad = (out < 0) | (out > 1)
    for _ in range(_REJECTION_ROUNDS):
        if not bad.any():
            return out
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < 0) | (out > 1)
    if bad.any():
        from scipy.special import ndtr, ndtri

        lo, hi = ndtr((0.0 - mean) / std), ndtr((1.0 - mean) / std)
        u = lo + (hi - lo) * rng.random(int(bad.sum()))
        with np.errstate(over="ignore", invalid="ignore"):
            draw = mean + std * ndtri(u)
        out[bad] = np.clip(np.nan_to_num(draw, nan=mean), 0.0, 1.0)
    return out


#: Rejection rounds of :func:`_truncated_normal` before it switches to the inverse CDF.
_REJECTION_ROUNDS = 64


def instance_dependent(
    features: Any,
    labels: Any,
    noise_rate: float,
    *,
    n_classes: int | None = None,
    norm_std: float = 0.1,
    random_state: RandomState = None,
) -> NoisyLabels:
    """Instance-dependent noise: how likely and to which class a label flips depends on x.

    The generator of Xia et al. (NeurIPS 2020, "Part-dependent label noise"; the "IDN" of many
    later papers). Each sample draws a flip rate ``q ~ N(noise_rate, norm_std²)`` truncated to
    [0, 1]; each class ``c`` draws a projection ``W_c ~ N(0, 1)`` of shape
    (n_features, n_classes); a sample ``x`` of class ``c`` keeps its label with probability
    ``1 - q`` and otherwise moves to class ``j != c`` with probability
    ``softmax(x @ W_c without column c)[j]``. The realized rate is random, close to
    ``noise_rate``.

    Features are used as given. Xia et al. feed standardized pixels (zero mean, unit variance
    per channel); with many features the softmax is sharp, so most flips of a sample go to one
    class.

    Args:
        features: (n_samples, ...) numeric; flattened to (n_samples, n_features).
        labels: (n_samples,) true class indices in ``[0, n_classes)``.
        noise_rate: mean flip probability, in [0, 1].
        n_classes: number of classes; default ``labels.max() + 1``.
        norm_std: spread of the per-sample flip rates, > 0 (Xia et al. use 0.1).
        random_state: int, ``numpy.random.Generator`` or None.

    Returns:
        :class:`NoisyLabels`; ``noise_matrix`` is the realized one and
        ``expected_noise_matrix`` the mean per-sample transition row of each class (rows =
        true class, columns = observed label).
    """
    y, k = _prepare_labels(labels, n_classes)
    rate = _check_rate(noise_rate)
    check_scalar(norm_std, "norm_std", min_val=0.0, include_min=False)
    try:
        x = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"`features` must be a numeric array of shape (n_samples, n_features); got "
            f"{type(features).__name__} that numpy cannot convert ({exc})."
        ) from exc
    if x.ndim < 2 or x.shape[0] != y.shape[0]:
        raise InvalidInputError(
            f"`features` must have shape (n_samples, n_features) with n_samples = {y.shape[0]} "
            f"(one row per label); got shape {x.shape}."
            + (" Reshape a single feature with features.reshape(-1, 1)." if x.ndim == 1 else "")
        )
    x = x.reshape(x.shape[0], -1)
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("`features` must be finite; got NaN or inf.")
    rng = as_rng(random_state)
    q = _truncated_normal(rate, float(norm_std), y.shape[0], rng)
    noisy = y.copy()
    expected = np.eye(k)
    for c, idx in enumerate(_class_indices(y, k)):
        w = rng.standard_normal((x.shape[1], k))
        if idx.size == 0:
            continue
        logits = x[idx] @ w
        logits[:, c] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs *= q[idx, None]
        probs[:, c] = 1.0 - q[idx]
        noisy[idx] = _draw_rows(probs, rng)
        expected[c] = probs.mean(axis=0)
    return _result(y, noisy, k, expected, "instance_dependent")
