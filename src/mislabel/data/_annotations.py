"""Load a long annotation table: one row per (item, annotator, label), features repeated.

:func:`load_annotated` checks the table, labels every item with the consensus of its votes
(:func:`mislabel.multiannotator.consensus`, from the votes alone), and collapses the rows to
one per item, so that the find workflow runs on the consensus labels as on any table. The
:class:`AnnotatorVotes` it attaches to the :class:`~mislabel.data.LabeledData` keep every vote
for ``issues.csv`` (``votes``, ``n_annotations``, ``agreement``) and ``annotators.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mislabel.data._load import (
    _PATH_COLUMNS,
    _TEXT_COLUMNS,
    LabeledData,
    ProgressCallback,
    _encode_labels,
    _find_path_column,
    _find_text_column,
    _looks_like_image_paths,
    frame_to_data,
)
from mislabel.exceptions import InvalidInputError
from mislabel.multiannotator import ConsensusResult, consensus

__all__ = ["ANNOTATION_COLUMNS", "AnnotatorVotes", "load_annotated"]

#: The columns ``issues.csv`` gains when the labels are the consensus of several annotators.
ANNOTATION_COLUMNS: tuple[str, ...] = ("n_annotations", "agreement", "consensus_quality", "votes")


@dataclass(frozen=True, eq=False)
class AnnotatorVotes:
    """Every annotator's vote behind the consensus labels of an annotated dataset.

    Attributes:
        votes: (n_items, n_annotators) int, the class index each annotator gave each item,
            -1 where the annotator gave none; rows in the data's order.
        annotators: annotator names, in the column order of ``votes``.
        consensus: the :class:`~mislabel.multiannotator.ConsensusResult` (rows in the data's
            order) whose ``labels`` are the data's labels.
        item_column: the column that named the items.
        annotator_column: the column that named the annotators.
    """

    votes: np.ndarray
    annotators: tuple[str, ...]
    consensus: ConsensusResult
    item_column: str
    annotator_column: str

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)

    def votes_json(self, i: int, classes: tuple[str, ...]) -> str:
        """Item ``i``'s votes as a JSON object ``{annotator: class name}``."""
        row = self.votes[i]
        return json.dumps(
            {self.annotators[a]: classes[int(row[a])] for a in np.flatnonzero(row >= 0)},
            ensure_ascii=False,
        )

    def columns(self, order: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
        """The :data:`ANNOTATION_COLUMNS` of ``issues.csv`` for the items in ``order``."""
        c = self.consensus
        return {
            "n_annotations": c.n_annotations[order].astype(np.int64),
            "agreement": c.agreement[order],
            "consensus_quality": c.quality[order],
            "votes": [self.votes_json(int(i), classes) for i in order],
        }

    def annotators_frame(self) -> Any:
        """``annotators.csv``: one row per annotator, best first (estimated quality, number of
        labels, share of them equal to the consensus)."""
        return self.consensus.annotators_frame().rename(
            columns={"annotator": self.annotator_column}
        )


def _resolve_item_column(
    p: Path,
    frame: Any,
    item_column: str | None,
    text_column: str | None,
    path_column: str | None,
) -> str:
    if item_column is not None:
        if item_column not in frame.columns:
            cols = ", ".join(map(str, frame.columns[:20]))
            raise InvalidInputError(
                f"item column '{item_column}' not found in '{p}'; its columns are: {cols}. "
                "Name the column that identifies each item with --item-column (item_column=...)."
            )
        return item_column
    for guess in ("item", path_column, text_column):
        if guess is not None and guess in frame.columns:
            return str(guess)
    found = _find_path_column(frame) or _find_text_column(frame)
    if found is None:
        cols = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInputError(
            f"annotation table '{p}' has no column called 'item', no image-path and no text "
            f"column to tell its items apart; its columns are: {cols}. Name the column that "
            "identifies each item with --item-column (item_column=...)."
        )
    return found


def _is_content_column(
    frame: Any, column: str, text_column: str | None, path_column: str | None
) -> bool:
    """Whether the item column is also the image-path or text column (then it stays)."""
    if column in (text_column, path_column) or str(column).lower() in (
        *_PATH_COLUMNS,
        *_TEXT_COLUMNS,
    ):
        return True
    return _looks_like_image_paths(frame[column])


def _check_same_features(p: Path, rest: Any, item_codes: np.ndarray, item_names: Any) -> None:
    """Every row of an item must carry the same features."""
    if rest.shape[1] == 0:
        return
    counts = rest.groupby(item_codes, sort=False).nunique(dropna=False)
    bad = counts > 1
    if not bool(bad.to_numpy().any()):
        return
    code = int(bad.any(axis=1).to_numpy().nonzero()[0][0])
    code = int(counts.index[code])
    col = str(bad.columns[int(np.flatnonzero(bad.loc[code].to_numpy())[0])])
    values = rest.loc[item_codes == code, col].drop_duplicates().head(2).tolist()
    name = np.asarray(item_names).tolist()[code]
    raise InvalidInputError(
        f"item '{name}' of annotation table '{p}' has different values in column "
        f"'{col}' on its rows ({values[0]!r} and {values[1]!r}); every row of an item must "
        "carry the same features (only the annotator and the label change). Fix those rows, "
        "or name the column that identifies each item with --item-column."
    )


def load_annotated(
    p: Path,
    frame: Any,
    *,
    annotator_column: str | None,
    item_column: str | None,
    label_column: str,
    text_column: str | None,
    path_column: str | None,
    kind: str,
    image_size: tuple[int, int] | None,
    progress: ProgressCallback | None,
) -> LabeledData:
    """One row per item of the long annotation table ``frame`` (read from ``p``), labelled
    with the consensus of its votes; see :func:`~mislabel.data.load_dataset`."""
    import pandas as pd

    cols = ", ".join(map(str, frame.columns[:20]))
    if annotator_column is None:
        raise InvalidInputError(
            f"an annotation table needs its annotator column; got only the item column "
            f"'{item_column}' for '{p}'. Name the column that says who gave each label with "
            "--annotator-column (annotator_column=...)."
        )
    for name, col, flag in (
        ("annotator", annotator_column, "--annotator-column"),
        ("label", label_column, "--label-column"),
    ):
        if col not in frame.columns:
            raise InvalidInputError(
                f"{name} column '{col}' not found in annotation table '{p}'; its columns are: "
                f"{cols}. Name it with {flag} ({name}_column=...)."
            )
    item_col = _resolve_item_column(p, frame, item_column, text_column, path_column)
    if item_col in (annotator_column, label_column):
        raise InvalidInputError(
            f"the item column of '{p}' must differ from the annotator and label columns; got "
            f"'{item_col}' for both."
        )
    for col in (annotator_column, item_col):
        empty = np.flatnonzero(frame[col].isna().to_numpy())
        if empty.size:
            rows = ", ".join(str(int(i)) for i in empty[:5])
            raise InvalidInputError(
                f"column '{col}' of annotation table '{p}' is empty in {empty.size} rows "
                f"(first: {rows}); every row must name its item and its annotator."
            )
    labels, classes = _encode_labels(frame[label_column], label_column, p)
    votes_frame = pd.DataFrame(
        {
            "item": frame[item_col].to_numpy(),
            "annotator": frame[annotator_column].astype(str).to_numpy(),
            "label": labels,
        }
    )
    try:
        result = consensus(votes_frame)
    except InvalidInputError as exc:
        msg = str(exc).replace("`annotations`", f"annotation table '{p}'")
        msg = msg.replace("(item, annotator)", f"({item_col}, {annotator_column})")
        raise InvalidInputError(msg) from exc
    item_pos = {v: i for i, v in enumerate(result.items.tolist())}
    ann_pos = {str(v): a for a, v in enumerate(result.annotators.tolist())}
    item_codes = np.array([item_pos[v] for v in votes_frame["item"].tolist()], dtype=np.intp)
    ann_codes = np.array([ann_pos[v] for v in votes_frame["annotator"].tolist()], dtype=np.intp)
    wide = np.full((len(item_pos), len(ann_pos)), -1, dtype=np.int64)
    wide[item_codes, ann_codes] = labels

    rest = frame.drop(columns=[annotator_column, label_column])
    if not _is_content_column(frame, item_col, text_column, path_column):
        rest = rest.drop(columns=[item_col])
    _check_same_features(p, rest, item_codes, result.items)
    _, first = np.unique(item_codes, return_index=True)  # each item's first row
    per_item = rest.iloc[first].reset_index(drop=True)
    data = frame_to_data(
        p,
        per_item,
        result.labels.astype(np.int64),
        classes,
        label_column,
        text_column,
        path_column,
        kind,
        image_size,
        progress,
    )
    votes = AnnotatorVotes(
        votes=wide,
        annotators=tuple(str(a) for a in result.annotators.tolist()),
        consensus=result,
        item_column=item_col,
        annotator_column=annotator_column,
    )
    return replace(data, annotations=votes)
