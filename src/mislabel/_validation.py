"""Input checks shared by every public function.

Validate once at the public boundary, then call private code that trusts its inputs. Each
check raises :class:`~mislabel.exceptions.InvalidInputError` (data) or
:class:`~mislabel.exceptions.InvalidParameterError` (settings) with a message that names the
input, what was expected and what came.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = [
    "MAX_CLASSES",
    "ROW_SUM_TOLERANCE",
    "DaskRows",
    "as_rng",
    "as_seed",
    "check_class_names",
    "check_labels",
    "check_noise_matrix",
    "check_option",
    "check_pred_probs",
    "check_prob_chunk",
    "check_scalar",
    "chunk_rows_for",
    "iter_row_chunks",
    "optional_import",
]

#: How far a row of ``pred_probs`` may sum away from 1 (float16 rounding included).
ROW_SUM_TOLERANCE = 1e-2
#: The most classes a label vector or a probability matrix may imply: detection builds
#: (n_classes, n_classes) float64 matrices, 134 MB each at this size.
MAX_CLASSES = 4096
#: Bytes per row block when scanning large arrays: small enough that the several passes
#: made over one block (checks, gathers, argmax) read it from cache, not from memory.
_CHUNK_BYTES = 1 << 22
#: Rows per block when the row size is unknown.
_CHUNK_ROWS = 1 << 14


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__}"


def check_labels(
    labels: Any,
    *,
    n_classes: int | None = None,
    n_samples: int | None = None,
    name: str = "labels",
) -> np.ndarray:
    """Return ``labels`` as a 1-D integer array after checking it.

    Args:
        labels: class indices in ``[0, n_classes)``; any integer dtype, or floats holding
            whole numbers (a common result of pandas round trips).
        n_classes: if given, every label must be below it.
        n_samples: if given, the length must match.
        name: how the input is called in error messages.
    """
    if n_classes is not None:
        check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=1, max_val=MAX_CLASSES)
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(
            f"`{name}` must be a 1-D array of integer class indices; got {_describe(labels)} "
            f"that numpy cannot convert ({exc})."
        ) from exc
    if arr.ndim != 1:
        hint = (
            " Pass a 1-D vector, e.g. labels.ravel()." if arr.ndim == 2 and 1 in arr.shape else ""
        )
        raise InvalidInputError(
            f"`{name}` must be a 1-D array of integer class indices; got shape {arr.shape}.{hint}"
        )
    if arr.size == 0:
        raise InvalidInputError(f"`{name}` must not be empty; got 0 labels.")
    if arr.dtype.kind == "i":
        out = arr
    elif arr.dtype.kind == "u":  # np.bincount and friends want signed indices
        if arr.dtype.itemsize >= np.dtype(np.intp).itemsize and int(arr.max()) > MAX_CLASSES:
            out = arr  # refused below; converting could wrap around
        else:
            out = arr.astype(np.intp)
    elif arr.dtype.kind == "b":
        out = arr.astype(np.intp)
    elif arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
            bad = arr[~(np.isfinite(arr) & (np.mod(np.nan_to_num(arr), 1) == 0))][:3]
            raise InvalidInputError(
                f"`{name}` must hold integer class indices; got float values such as "
                f"{bad.tolist()}. Map class names to indices 0..n_classes-1 first."
            )
        out = arr.astype(np.intp)
    else:
        sample = arr[:3].tolist()
        raise InvalidInputError(
            f"`{name}` must hold integer class indices; got dtype {arr.dtype} "
            f"(first values {sample}). Encode class names first, e.g. with "
            "sklearn.preprocessing.LabelEncoder."
        )
    if n_samples is not None and out.shape[0] != n_samples:
        raise InvalidInputError(
            f"`{name}` must have one entry per sample ({n_samples}); got {out.shape[0]}."
        )
    lo, hi = int(out.min()), int(out.max())
    if lo < 0:
        raise InvalidInputError(
            f"`{name}` must be class indices in [0, n_classes); got a negative value {lo}."
        )
    if n_classes is not None and hi >= n_classes:
        raise InvalidInputError(
            f"`{name}` must be class indices in [0, {n_classes}); got {hi}. "
            f"Does `pred_probs` have a column for every class?"
        )
    if hi >= MAX_CLASSES:
        raise InvalidInputError(
            f"`{name}` must be class indices 0..n_classes-1 with at most {MAX_CLASSES} "
            f"classes; got the label {hi}. Map class names or ids to consecutive indices "
            "first, e.g. with sklearn.preprocessing.LabelEncoder."
        )
    return out


def check_features(features: Any, name: str = "features") -> np.ndarray:
    """``features`` as a finite float64 (n_samples, n_features) array, or a clear error."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInputError(
            f"`{name}` must have shape (n_samples, n_features); got shape {x.shape}. "
            f"Flatten each sample's features first, e.g. {name}.reshape(len({name}), -1)."
        )
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"`{name}` must be finite; got NaN or infinite values.")
    return x


def split_views(features: Any, name: str = "features") -> tuple[np.ndarray, np.ndarray | None]:
    """``(features, None)`` for (n, d) features; for (n, v, d) ones, the ``v`` views of every
    sample (e.g. ``embed_images(views=("identity", "hflip"))``): ``(their mean over the views,
    the views)``. A 3-D array of integers is refused: it looks like images, not embeddings."""
    x = np.asarray(features)
    if x.ndim != 3:
        return x, None
    if not np.issubdtype(x.dtype, np.floating):
        raise InvalidInputError(
            f"`{name}` of shape {x.shape} is read as (n_samples, n_views, n_features), several "
            f"embeddings of every sample, which are floats; got {x.dtype}. Images? Embed them "
            "first: mislabel.data.embed_images, or NoiseAwareClassifier(backbone='timm:NAME')."
        )
    return x.mean(axis=1), x


def check_class_names(class_names: Any, n_classes: int, *, name: str = "class_names") -> list[Any]:
    """Return ``class_names`` as a list of one name per class (``n_classes`` of them)."""
    if isinstance(class_names, str | bytes) or not hasattr(class_names, "__iter__"):
        raise InvalidInputError(
            f"`{name}` must be a sequence of {n_classes} class names, one per class (column of "
            f"`pred_probs`); got {type(class_names).__name__}."
        )
    names = list(class_names)
    if len(names) != n_classes:
        raise InvalidInputError(
            f"`{name}` must name all {n_classes} classes, one per column of `pred_probs`; got "
            f"{len(names)} names."
        )
    return names


def check_noise_matrix(
    noise_matrix: Any,
    *,
    n_classes: int | None = None,
    name: str = "noise_matrix",
    atol: float = 1e-3,
    error: type[InvalidInputError] | type[InvalidParameterError] = InvalidInputError,
) -> np.ndarray:
    """Return ``noise_matrix`` as a float64 (K, K) array whose rows sum exactly to 1.

    ``noise_matrix[i, j] = P(observed label = j | true class = i)``: rows = true class,
    columns = observed label. Accepts an array-like, a tensor, or anything with a
    ``noise_matrix`` attribute (the ``NoiseEstimate`` of :func:`mislabel.estimate_noise`).
    Entries must be finite and non-negative and each row must sum to 1 within ``atol``; the
    rows are then renormalised. ``error`` is the class raised (a matrix given as data is an
    :class:`InvalidInputError`, one given as a loss setting an :class:`InvalidParameterError`).
    """
    if hasattr(noise_matrix, "noise_matrix") and not hasattr(noise_matrix, "shape"):
        noise_matrix = noise_matrix.noise_matrix
    if hasattr(noise_matrix, "detach") and hasattr(noise_matrix, "cpu"):  # a torch tensor
        noise_matrix = noise_matrix.detach().cpu().double().numpy()
    try:
        arr = np.asarray(noise_matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise error(
            f"`{name}` must be a (n_classes, n_classes) matrix of probabilities (rows = true "
            f"class, columns = observed label); got {_describe(noise_matrix)} that numpy "
            f"cannot convert to numbers."
        ) from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise error(
            f"`{name}` must be square, shape (n_classes, n_classes) (rows = true class, "
            f"columns = observed label); got shape {arr.shape}."
        )
    if n_classes is not None and arr.shape[0] != n_classes:
        raise error(
            f"`{name}` must have shape (n_classes, n_classes) = ({n_classes}, {n_classes}), "
            f"one row per class; got {arr.shape}."
        )
    if arr.shape[0] < 2:
        raise error(f"`{name}` must cover at least 2 classes; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise error(f"`{name}` must hold finite probabilities; got NaN or inf entries.")
    if arr.min() < 0:
        i, j = (int(v) for v in np.argwhere(arr < 0)[0])
        raise error(
            f"`{name}` must hold non-negative probabilities (>= 0); got {arr[i, j]:.4g} at "
            f"row {i}, column {j}."
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > atol
    if off.any():
        i = int(np.argmax(off))
        hint = ""
        if np.all(np.abs(arr.sum(axis=0) - 1.0) <= atol):
            hint = (
                " Its columns sum to 1: did you pass the transpose (cleanlab's convention, "
                "columns = true class)? Then pass its transpose."
            )
        raise error(
            f"`{name}` rows (true class) must each sum to 1 (P(observed label | true class)); "
            f"row {i} sums to {sums[i]:.6g}.{hint}"
        )
    return arr / sums[:, None]


class DaskRows:
    """Row access to a Dask array: each slice or row selection is computed to numpy.

    Detection code only reads ``pred_probs`` by row blocks and by sorted row indices, so a
    Dask array larger than memory is processed block by block, never loaded whole.
    """

    def __init__(self, arr: Any) -> None:
        self._arr = arr
        self.shape: tuple[int, ...] = tuple(int(d) for d in arr.shape)
        self.ndim = arr.ndim
        self.dtype = np.dtype(arr.dtype)
        self.chunk_rows = int(max(arr.chunks[0])) if arr.ndim else _CHUNK_ROWS

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._arr[key].compute())

    def __len__(self) -> int:
        return self.shape[0]


def _is_dask_array(x: Any) -> bool:
    return type(x).__module__.startswith("dask.array") and hasattr(x, "chunks")


def chunk_rows_for(a: Any) -> int:
    """Rows per block of ``a``: about :data:`_CHUNK_BYTES`, within [256, 65536] rows."""
    if getattr(a, "ndim", 0) != 2:
        return _CHUNK_ROWS
    row_bytes = max(1, int(a.shape[1]) * np.dtype(a.dtype).itemsize)
    return int(min(max(_CHUNK_BYTES // row_bytes, 256), 1 << 16))


def iter_row_chunks(a: Any, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, a[start:start+chunk_rows])`` over the rows of ``a``.

    For a :class:`numpy.memmap`, the pages of each chunk are released after use so that a
    file larger than memory is scanned with bounded resident memory. A :class:`DaskRows`
    is read one Dask block at a time.
    """
    if isinstance(a, DaskRows):
        chunk_rows = a.chunk_rows
    elif chunk_rows is None:
        chunk_rows = chunk_rows_for(a)
    n = a.shape[0]
    raw = _mmap_of(a)
    for start in range(0, n, chunk_rows):
        yield start, a[start : start + chunk_rows]
        if raw is not None:
            _release(raw, a, start, min(start + chunk_rows, n))


def _mmap_of(a: np.ndarray) -> mmap.mmap | None:
    base: Any = a
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None) if not isinstance(base, mmap.mmap) else None
    return None


def _release(raw: mmap.mmap, a: np.ndarray, start: int, stop: int) -> None:
    if not hasattr(mmap, "MADV_DONTNEED") or not a.flags.c_contiguous:
        return
    offset = getattr(a, "offset", 0) or 0
    row_bytes = a.strides[0]
    page = mmap.PAGESIZE
    lo = (offset + start * row_bytes) // page * page
    hi = offset + stop * row_bytes
    with contextlib.suppress(ValueError, OSError):  # platform dependent
        raw.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


def check_pred_probs(
    pred_probs: Any,
    *,
    n_samples: int | None = None,
    n_classes: int | None = None,
    name: str = "pred_probs",
    check_rows: bool = True,
) -> np.ndarray:
    """Return ``pred_probs`` as a 2-D float array after checking it.

    float16, float32 and float64 are accepted as they are (no copy); other numeric dtypes
    are converted to float64. Values must be finite, non-negative, and each row must sum to 1
    within :data:`ROW_SUM_TOLERANCE`. Memory maps are scanned chunk by chunk.
    """
    arr: Any
    if isinstance(pred_probs, np.ndarray | DaskRows):
        arr = pred_probs
    elif _is_dask_array(pred_probs):
        if pred_probs.dtype.kind != "f":
            pred_probs = pred_probs.astype(np.float64)
        arr = DaskRows(pred_probs)
    else:
        try:
            arr = np.asarray(pred_probs)
        except Exception as exc:
            raise InvalidInputError(
                f"`{name}` must be a 2-D array of shape (n_samples, n_classes); got "
                f"{_describe(pred_probs)} that numpy cannot convert ({exc})."
            ) from exc
    if arr.ndim != 2:
        raise InvalidInputError(
            f"`{name}` must have shape (n_samples, n_classes); got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise InvalidInputError(f"`{name}` must not be empty; got shape {arr.shape}.")
    if arr.dtype.kind not in "f":
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)
        else:
            raise InvalidInputError(
                f"`{name}` must hold floating point probabilities; got dtype {arr.dtype}."
            )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InvalidInputError(
            f"`{name}` must have one row per label: shape (n_samples, n_classes) with "
            f"n_samples = {n_samples}; got {arr.shape[0]} rows."
        )
    if n_classes is not None and arr.shape[1] < n_classes:
        raise InvalidInputError(
            f"`{name}` must have shape (n_samples, n_classes) = ({arr.shape[0]}, {n_classes}); "
            f"got {arr.shape}. Did you drop a class column?"
        )
    if arr.shape[1] > MAX_CLASSES:
        raise InvalidInputError(
            f"`{name}` must have at most {MAX_CLASSES} class columns; got shape {arr.shape}."
        )
    if arr.shape[1] < 2:
        raise InvalidInputError(
            f"`{name}` must have at least 2 class columns; got shape {arr.shape}. "
            "Label-error detection needs two or more classes."
        )
    if check_rows:
        _check_prob_values(arr, name)
    return arr


def _check_prob_values(arr: np.ndarray, name: str) -> None:
    for start, chunk in iter_row_chunks(arr):
        check_prob_chunk(chunk, start, name)


def check_prob_chunk(chunk: np.ndarray, start: int, name: str = "pred_probs") -> None:
    """Check one row block of probabilities (finite, non-negative, rows sum to 1).

    Two reductions: a NaN or inf makes its row sum non-finite, so no max() pass. Functions
    that scan ``pred_probs`` anyway call this on each block instead of a separate pass. The
    row sums of float32/float64 blocks come from ``einsum`` (2-3x faster than ``sum(axis=1)``
    over short rows, single-threaded, unlike a BLAS product; NaN and inf still propagate).
    """
    if chunk.dtype == np.float16:
        sums = chunk.sum(axis=1, dtype=np.float32)
    else:
        sums = np.einsum("ij->i", chunk)
    if not np.all(np.isfinite(sums)):
        bad = np.argwhere(~np.isfinite(chunk))[0]
        raise InvalidInputError(
            f"`{name}` must be finite probabilities; got {chunk[bad[0], bad[1]]} at row "
            f"{start + int(bad[0])}, column {int(bad[1])}."
        )
    if chunk.min() < 0:
        bad = np.argwhere(chunk < 0)[0]
        raise InvalidInputError(
            f"`{name}` must be non-negative probabilities; got {chunk[bad[0], bad[1]]} at "
            f"row {start + int(bad[0])}, column {int(bad[1])}. "
            "Pass softmax outputs, not logits."
        )
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise InvalidInputError(
            f"`{name}` rows must sum to 1 (within {ROW_SUM_TOLERANCE}); row {start + i} sums "
            f"to {sums[i]:.4g}. Apply a softmax to logits, or normalise each row."
        )


def check_option(value: Any, name: str, options: Sequence[Any]) -> Any:
    """Check that ``value`` is one of ``options``."""
    if value not in options:
        raise InvalidParameterError(
            f"`{name}` must be one of {', '.join(repr(o) for o in options)}; got {value!r}."
        )
    return value


def check_scalar(
    value: Any,
    name: str,
    *,
    kind: type | tuple[type, ...] = numbers.Real,
    min_val: float | None = None,
    max_val: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
    allow_inf: bool = False,
) -> Any:
    """Check a scalar's type and range, sklearn-style.

    NaN is always refused, and so is an infinite value unless ``allow_inf`` (comparisons
    with NaN are all false, so a range check alone lets it through).
    """
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise InvalidParameterError(
            f"`{name}` must be {expected}; got {value!r} of type {type(value).__name__}."
        )
    value_: Any = value
    if not isinstance(value, numbers.Integral):
        try:
            as_float = float(value_)
        except (TypeError, ValueError, OverflowError):
            as_float = 0.0
        if math.isnan(as_float) or (math.isinf(as_float) and not allow_inf):
            bounds = _describe_range(min_val, max_val, include_min, include_max)
            raise InvalidParameterError(f"`{name}` must be a finite number{bounds}; got {value!r}.")
    if min_val is not None and (value_ < min_val or (not include_min and value == min_val)):
        op = ">=" if include_min else ">"
        raise InvalidParameterError(f"`{name}` must be {op} {min_val}; got {value!r}.")
    if max_val is not None and (value_ > max_val or (not include_max and value == max_val)):
        op = "<=" if include_max else "<"
        raise InvalidParameterError(f"`{name}` must be {op} {max_val}; got {value!r}.")
    return value


def _describe_range(
    min_val: float | None, max_val: float | None, include_min: bool, include_max: bool
) -> str:
    parts = []
    if min_val is not None:
        parts.append(f"{'>=' if include_min else '>'} {min_val}")
    if max_val is not None:
        parts.append(f"{'<=' if include_max else '<'} {max_val}")
    return f" {' and '.join(parts)}" if parts else ""


def as_rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    ``None`` gives fresh entropy, an int a seeded generator, a Generator is used as is.
    """
    if random_state is None or isinstance(random_state, numbers.Integral):
        if random_state is not None and int(random_state) < 0:
            raise InvalidParameterError(
                f"`random_state` must be a non-negative int, a numpy Generator or None; got "
                f"{random_state!r}."
            )
        return np.random.default_rng(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise InvalidParameterError(
        "`random_state` must be an int, a numpy.random.Generator or None; got "
        f"{random_state!r} of type {type(random_state).__name__}."
    )


def as_seed(random_state: int | np.random.Generator | None) -> int | None:
    """An int seed for APIs (scikit-learn, torch) that want one; None stays None."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = int(random_state)
        if 0 <= seed < _MAX_SEED:
            return seed
        # scikit-learn takes seeds below 2**32, and per-fold seeds add the fold number
        return int(as_rng(random_state).integers(0, _MAX_SEED))
    return int(as_rng(random_state).integers(0, 2**31 - 1))


#: Seeds handed on as they are; larger ones are mapped (deterministically) below this.
_MAX_SEED = 2**31 - 1


def optional_import(module: str, extra: str, purpose: str = "") -> Any:
    """Import an optional dependency or raise MissingDependencyError naming the extra.

    Catches every exception, not only ImportError: some broken installs (torchvision next to
    a mismatched torch) raise RuntimeError at import time.
    """
    import importlib

    from mislabel.exceptions import MissingDependencyError

    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc
