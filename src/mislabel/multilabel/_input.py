"""Multi-label inputs: tag sets as a binary indicator matrix, probabilities per tag."""

from __future__ import annotations

from typing import Any

import numpy as np

from mislabel.exceptions import InvalidInputError


def _is_dataframe(x: Any) -> bool:
    return type(x).__name__ == "DataFrame" and hasattr(x, "columns")


def check_multilabel_probs(pred_probs: Any, *, name: str = "pred_probs") -> np.ndarray:
    """(n, K) float64 probabilities, each in [0, 1] (rows need not sum to 1)."""
    try:
        arr = np.asarray(
            pred_probs.to_numpy() if _is_dataframe(pred_probs) else pred_probs, dtype=np.float64
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"`{name}` must be an (n_samples, n_classes) array of per-class probabilities; numpy "
            f"cannot convert a {type(pred_probs).__name__} ({exc})."
        ) from exc
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise InvalidInputError(
            f"`{name}` must have shape (n_samples, n_classes) with n_classes >= 2, one "
            f"independent probability per class; got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidInputError(
            f"`{name}` must be finite probabilities; got {arr[r, c]} at row {r}, column {c}."
        )
    if arr.min() < 0 or arr.max() > 1:
        r, c = np.argwhere((arr < 0) | (arr > 1))[0]
        raise InvalidInputError(
            f"`{name}` must be probabilities in [0, 1]; got {arr[r, c]:.4g} at row {r}, column "
            f"{c}. Apply a sigmoid to logits (one per class, not a softmax over classes)."
        )
    return arr


def check_multilabel_labels(
    labels: Any, *, n_classes: int | None = None, n_samples: int | None = None
) -> np.ndarray:
    """(n, K) int8 0/1 indicator from an indicator matrix or from a list of tag lists."""
    if _is_dataframe(labels):
        labels = labels.to_numpy()
    arr: np.ndarray | None = None
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        arr = labels
    elif (
        isinstance(labels, list | tuple)
        and labels
        and all(isinstance(r, list | tuple | set | frozenset | np.ndarray) for r in labels)
    ):
        rows = [
            np.asarray(sorted(r) if isinstance(r, set | frozenset) else r).ravel() for r in labels
        ]
        lengths = {r.shape[0] for r in rows}
        looks_binary = (
            len(lengths) == 1
            and n_classes is not None
            and lengths == {n_classes}
            and all(np.isin(r, (0, 1)).all() for r in rows)
            and n_classes > 1
        )
        arr = np.stack(rows) if looks_binary else _from_lists(rows, n_classes)
    if arr is None:
        shape = getattr(np.asarray(labels, dtype=object), "shape", None)
        raise InvalidInputError(
            "`labels` must be an (n_samples, n_classes) 0/1 indicator matrix or a list of tag "
            f"lists such as [[0, 2], [], [1]]; got {type(labels).__name__} of shape {shape}. "
            "For single-label data use mislabel.find_label_issues."
        )
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidInputError(
            f"`labels` must have shape (n_samples, n_classes); got shape {arr.shape}."
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int8)
    if not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))][:3].tolist()
        raise InvalidInputError(
            f"`labels` as an indicator matrix must hold only 0 and 1; got {bad}. Pass tag lists "
            "(e.g. [[0, 2], [1]]) to give class indices."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InvalidInputError(
            f"`labels` must have one row per row of `pred_probs` ({n_samples}); got {arr.shape[0]}."
        )
    if n_classes is not None and arr.shape[1] != n_classes:
        raise InvalidInputError(
            f"`labels` must have shape (n_samples, n_classes) = ({arr.shape[0]}, {n_classes}); "
            f"got {arr.shape}. Does `pred_probs` have a column for every class?"
        )
    return arr.astype(np.int8)


def _from_lists(rows: list[np.ndarray], n_classes: int | None) -> np.ndarray:
    flat = np.concatenate(rows) if rows else np.empty(0)
    if flat.size and flat.dtype.kind not in "iu":
        if flat.dtype.kind == "f" and np.all(np.mod(flat, 1) == 0):
            flat = flat.astype(np.intp)
        else:
            raise InvalidInputError(
                f"`labels` tag lists must hold integer class indices; got values such as "
                f"{flat[:3].tolist()}. Encode tag names first, e.g. with "
                "sklearn.preprocessing.MultiLabelBinarizer."
            )
    if flat.size and flat.min() < 0:
        raise InvalidInputError(
            f"`labels` tag lists must hold indices >= 0; got {int(flat.min())}."
        )
    k = int(n_classes) if n_classes is not None else (int(flat.max()) + 1 if flat.size else 0)
    if flat.size and int(flat.max()) >= k:
        raise InvalidInputError(
            f"`labels` must be class indices in [0, {k}); got {int(flat.max())}. Does "
            "`pred_probs` have a column for every class?"
        )
    out = np.zeros((len(rows), max(k, 1)), dtype=np.int8)
    for i, r in enumerate(rows):
        out[i, r.astype(np.intp)] = 1
    return out


def to_lists(indicator: np.ndarray) -> list[list[int]]:
    """Tag lists from an indicator matrix."""
    return [np.flatnonzero(row).tolist() for row in indicator]
