"""Turn the shapes annotations come in into one sparse list of votes.

A wide table (n_items × n_annotators; NaN or -1 = not labelled) and a long table (one row per
vote: item, annotator, label) both become :class:`Votes`: three aligned arrays (item index,
annotator index, label) plus the item and annotator names, so that the estimation code never
sees a missing value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel.exceptions import InvalidInputError

#: The value that marks "not labelled" in an integer wide table.
MISSING = -1


@dataclass(frozen=True)
class Votes:
    """Every observed annotation once: ``label[v]`` given by annotator ``annotator[v]`` to
    item ``item[v]`` (all three are integer positions)."""

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    n_items: int
    n_classes: int
    item_names: np.ndarray
    annotator_names: np.ndarray

    @property
    def n_annotators(self) -> int:
        return int(self.annotator_names.shape[0])

    def wide(self) -> np.ndarray:
        """(n_items, n_annotators) int array, -1 where an annotator gave no label."""
        out = np.full((self.n_items, self.n_annotators), MISSING, dtype=np.intp)
        out[self.item, self.annotator] = self.label
        return out

    def counts(self) -> np.ndarray:
        """(n_items, n_classes) number of votes for each class."""
        out = np.zeros((self.n_items, self.n_classes), dtype=np.float64)
        np.add.at(out, (self.item, self.label), 1.0)
        return out


def _is_dataframe(x: Any) -> bool:
    return type(x).__name__ == "DataFrame" and hasattr(x, "columns")


def _as_label_values(values: np.ndarray, name: str) -> np.ndarray:
    """Float array with NaN for missing, after checking that the rest are whole numbers."""
    if values.dtype.kind in "iub":
        out = values.astype(np.float64)
        out[values.astype(np.int64) == MISSING] = np.nan
    elif values.dtype.kind == "f":
        out = values.astype(np.float64, copy=True)
        out[out == MISSING] = np.nan
    else:
        try:
            out = values.astype(np.float64)
        except (TypeError, ValueError):
            sample = [v for v in values.ravel()[:20].tolist() if v == v][:3]
            raise InvalidInputError(
                f"`{name}` must hold integer class indices (NaN or -1 = not labelled); got "
                f"values such as {sample}. Encode class names first, e.g. with "
                "sklearn.preprocessing.LabelEncoder."
            ) from None
        out[out == MISSING] = np.nan
    seen = out[np.isfinite(out)]
    if np.isinf(out).any() or not np.all(np.mod(seen, 1) == 0):
        bad = out[np.isinf(out) | (np.isfinite(out) & (np.mod(np.nan_to_num(out), 1) != 0))]
        raise InvalidInputError(
            f"`{name}` must hold integer class indices (NaN or -1 = not labelled); got "
            f"{bad[:3].tolist()}."
        )
    if seen.size and seen.min() < 0:
        raise InvalidInputError(
            f"`{name}` must hold class indices >= 0 (-1 or NaN = not labelled); got "
            f"{int(seen.min())}."
        )
    return out


def _long_table(
    frame: Any, item_column: str, annotator_column: str, label_column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    items = frame[item_column] if item_column in frame.columns else pd.Series(frame.index)
    labels = _as_label_values(frame[label_column].to_numpy(), "annotations")
    keep = np.isfinite(labels)
    item_codes, item_names = pd.factorize(items.to_numpy(), sort=True)
    ann_codes, ann_names = pd.factorize(frame[annotator_column].to_numpy(), sort=True)
    if (item_codes < 0).any() or (ann_codes < 0).any():
        which = item_column if (item_codes < 0).any() else annotator_column
        raise InvalidInputError(
            f"`annotations` column {which!r} must name every row's {which}; got missing values."
        )
    pair = item_codes[keep].astype(np.int64) * max(len(ann_names), 1) + ann_codes[keep]
    _, first, count = np.unique(pair, return_index=True, return_counts=True)
    if (count > 1).any():
        dup = int(np.flatnonzero(keep)[first[np.argmax(count > 1)]])
        raise InvalidInputError(
            f"`annotations` must hold at most one label per ({item_column}, {annotator_column}) "
            f"pair; {annotator_column} {frame[annotator_column].iloc[dup]!r} labelled "
            f"{item_column} {items.iloc[dup]!r} {int(count.max())} times. Drop the repeats "
            "(e.g. frame.drop_duplicates([item, annotator], keep='last'))."
        )
    return (
        item_codes[keep].astype(np.intp),
        ann_codes[keep].astype(np.intp),
        labels[keep].astype(np.intp),
        np.asarray(item_names),
        np.asarray(ann_names),
    )


def parse_annotations(
    annotations: Any,
    *,
    n_classes: int | None = None,
    item_column: str = "item",
    annotator_column: str = "annotator",
    label_column: str = "label",
) -> Votes:
    """Check ``annotations`` and return its :class:`Votes`.

    A DataFrame that has both ``annotator_column`` and ``label_column`` is a long table (items
    from ``item_column``, or the index when that column is absent); any other DataFrame or
    array is a wide table, one row per item and one column per annotator.
    """
    if _is_dataframe(annotations) and {annotator_column, label_column} <= set(annotations.columns):
        if len(annotations) == 0:
            raise InvalidInputError("`annotations` must not be empty; got a table with 0 rows.")
        item, ann, lab, item_names, ann_names = _long_table(
            annotations, item_column, annotator_column, label_column
        )
        n_items = int(item_names.shape[0])
    else:
        if _is_dataframe(annotations):
            ann_names = np.asarray(annotations.columns)
            item_names = np.asarray(annotations.index)
            try:
                values = annotations.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                values = annotations.to_numpy()
        else:
            try:
                values = np.asarray(annotations)
            except Exception as exc:
                raise InvalidInputError(
                    "`annotations` must be an (n_items, n_annotators) array-like or a DataFrame; "
                    f"numpy cannot convert a {type(annotations).__name__} ({exc})."
                ) from exc
            if values.ndim == 2:
                ann_names = np.arange(values.shape[1])
                item_names = np.arange(values.shape[0])
        if values.ndim != 2:
            hint = (
                " For a single annotator pass a column, labels.reshape(-1, 1)."
                if values.ndim == 1
                else ""
            )
            raise InvalidInputError(
                "`annotations` must be 2-D, (n_items, n_annotators) with NaN or -1 where an "
                f"annotator gave no label; got shape {values.shape}.{hint} A long table needs "
                f"the columns {annotator_column!r} and {label_column!r}."
            )
        if values.shape[0] == 0 or values.shape[1] == 0:
            raise InvalidInputError(
                f"`annotations` must have at least one item and one annotator; got shape "
                f"{values.shape}."
            )
        floats = _as_label_values(values, "annotations")
        item, ann = np.nonzero(np.isfinite(floats))
        lab = floats[item, ann].astype(np.intp)
        n_items = int(values.shape[0])
    if lab.size == 0:
        raise InvalidInputError("`annotations` must hold at least one label; all are missing.")
    k = int(lab.max()) + 1
    if n_classes is not None:
        if k > n_classes:
            raise InvalidInputError(
                f"`annotations` must be class indices in [0, {n_classes}); got {k - 1}. Does "
                "`pred_probs` have a column for every class?"
            )
        k = int(n_classes)
    return Votes(
        item=item.astype(np.intp),
        annotator=ann.astype(np.intp),
        label=lab,
        n_items=n_items,
        n_classes=max(k, 2),
        item_names=item_names,
        annotator_names=ann_names,
    )
