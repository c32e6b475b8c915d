"""Load a labelled dataset from disk, whatever its kind.

:func:`load_dataset` looks at the path and returns a frozen :class:`LabeledData`:

==========================================  ===============================================
folder with one subfolder per class         ``"images"``: pixels as uint8 ``(n, H, W)`` or
(fastai / ImageNet layout)                  ``(n, H, W, 3)``, read with Pillow
CSV / TSV with an image-path column         ``"images"`` (paths relative to the CSV)
CSV / TSV / Parquet with a text column      ``"text"``: the raw strings
any other CSV / TSV / Parquet               ``"tabular"``: the other columns are features
==========================================  ===============================================

:func:`load_predictions` wraps ready-made out-of-fold ``pred_probs`` and ``labels`` files.
Every problem (a missing label column, an unreadable image, images of different sizes, a path
that does not exist) raises :class:`~mislabel.exceptions.InvalidInputError` naming the file.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mislabel._validation import check_option, check_pred_probs, check_scalar, optional_import
from mislabel.data._outputs import decode_class_names
from mislabel.exceptions import InvalidInputError, InvalidParameterError, MissingDependencyError

if TYPE_CHECKING:
    from mislabel.data._annotations import AnnotatorVotes

__all__ = [
    "IMAGE_EXTENSIONS",
    "KINDS",
    "UNLABELLED",
    "DataKind",
    "LabeledData",
    "ProgressCallback",
    "load_dataset",
    "load_predictions",
    "parse_image_size",
]

DataKind = Literal["images", "tabular", "text", "pred_probs"]
#: The kinds :func:`load_dataset` can be asked for (``"auto"`` detects).
KINDS: tuple[str, ...] = ("auto", "images", "tabular", "text")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
_TEXT_COLUMNS = ("text", "sentence", "message", "review", "content", "document", "body")
_PATH_COLUMNS = ("path", "image", "image_path", "file", "filename", "filepath", "img")
_SPLIT_NAMES = {"train", "valid", "validation", "val", "test"}
#: The classes of data loaded without labels (``load_dataset(require_labels=False)``).
UNLABELLED: tuple[str, ...] = ("",)

#: ``progress(stage, done, total)``: called as work advances (``stage`` e.g. ``"images"``).
ProgressCallback = Callable[[str, int, int], None]
PathLike = str | os.PathLike[str]


@dataclass(frozen=True, eq=False)
class LabeledData:
    """A labelled dataset as loaded from disk.

    Attributes:
        kind: ``"images"``, ``"tabular"``, ``"text"`` or ``"pred_probs"``.
        labels: (n,) int64 given labels in ``[0, n_classes)``.
        classes: class names; ``classes[k]`` names label ``k``.
        X: the features: uint8 pixels ``(n, H, W)`` / ``(n, H, W, 3)`` for images, a pandas
            DataFrame (the raw non-label columns) for tabular data, None otherwise.
        paths: image paths relative to ``image_root`` (images only).
        texts: the raw texts (text only).
        image_root: the folder the ``paths`` are relative to.
        source: the file or folder the data came from.
        pred_probs: (n, n_classes) out-of-fold probabilities (kind ``"pred_probs"`` only).
        annotations: the votes behind ``labels`` when they are the consensus of several
            annotators (a long annotation table), else None.
    """

    kind: DataKind
    labels: np.ndarray
    classes: tuple[str, ...]
    X: Any = None
    paths: tuple[str, ...] | None = None
    texts: tuple[str, ...] | None = None
    image_root: Path | None = None
    source: Path | None = None
    pred_probs: np.ndarray | None = None
    annotations: AnnotatorVotes | None = None

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def with_pred_probs(self, pred_probs: Any) -> LabeledData:
        """A copy carrying ready-made out-of-fold ``pred_probs``, so that
        :func:`~mislabel.data.find_issues_in` skips training.

        ``pred_probs`` is one of:

        * a table (``.csv`` / ``.tsv`` / ``.parquet``) with a path column (``path``,
          ``image``, ``file``, ...) and one column per class, named by the class names (any
          order) or, without such names, the class columns in the data's class order: each
          row is matched to its image by path (relative to the image folder, absolute, or a
          unique file name), so probabilities written in another tool's order (fastai's
          ``get_image_files``, a shuffled test loader) line up;
        * an array or ``.npy`` file in the data's row order (for an image folder: the sorted
          paths of ``issues.csv``). Rows in another order would silently flag the wrong
          samples, so the order is checked: when the probabilities' most likely classes agree
          with the given labels no more than the same two columns shuffled against each
          other would, an error says so.
        """
        if isinstance(pred_probs, (str, os.PathLike)) and Path(pred_probs).suffix.lower() in (
            _TABLE_SUFFIXES
        ):
            probs = check_pred_probs(_probs_by_path(Path(pred_probs), self))
        else:
            probs = check_pred_probs(
                _load_array(pred_probs, "pred_probs"), n_samples=self.n_samples
            )
        if probs.shape[1] != self.n_classes:
            raise InvalidInputError(
                f"`pred_probs` must have one column per class of the data ({self.n_classes}: "
                f"{', '.join(self.classes[:5])}...); got shape {probs.shape}."
            )
        if not isinstance(pred_probs, (str, os.PathLike)) or Path(pred_probs).suffix.lower() in (
            ".npy",
        ):
            _check_row_order(probs, self.labels, self.kind)
        return replace(self, pred_probs=probs)

    def __repr__(self) -> str:
        shape = getattr(self.X, "shape", None)
        return (
            f"LabeledData(kind={self.kind!r}, n_samples={self.n_samples}, "
            f"n_classes={self.n_classes}, X.shape={shape}, source={self.source})"
        )


# --------------------------------------------------------------------------- public API


def parse_image_size(value: Any) -> tuple[int, int] | None:
    """``32`` / ``"32"`` → (32, 32); ``"48x32"`` / ``(48, 32)`` → (width 48, height 32)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        size: tuple[int, int] = (int(value), int(value))
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*(?:[xX×,]\s*(\d+)\s*)?", value)
        if m is None:
            raise InvalidParameterError(
                f"`image_size` must be a size in pixels such as 32 or 48x32 (width x height); "
                f"got {value!r}."
            )
        w = int(m.group(1))
        size = (w, int(m.group(2)) if m.group(2) else w)
    elif isinstance(value, Sequence) and len(value) == 2:
        size = (int(value[0]), int(value[1]))
    else:
        raise InvalidParameterError(
            f"`image_size` must be an int or a (width, height) pair; got {value!r}."
        )
    if min(size) < 1 or max(size) > 4096:
        raise InvalidParameterError(
            f"`image_size` must be between 1 and 4096 pixels per side; got {size}."
        )
    return size


def load_dataset(
    path: PathLike,
    *,
    label_column: str = "label",
    text_column: str | None = None,
    path_column: str | None = None,
    image_size: Any = None,
    kind: str = "auto",
    progress: ProgressCallback | None = None,
    annotator_column: str | None = None,
    item_column: str | None = None,
    require_labels: bool = True,
) -> LabeledData:
    """Read a labelled dataset and detect its kind.

    Args:
        path: a folder of images with one subfolder per class (the subfolder names are the
            class names), or a CSV / TSV / Parquet table with a label column.
        label_column: the table column holding the given labels.
        text_column: the table column holding texts (makes the data ``"text"``); detected
            when a column is called ``text``, ``sentence``, ``message``, ...
        path_column: the table column holding image paths, relative to the table's folder;
            detected when a column's values end in an image extension.
        image_size: resize every image to this (width, height) (an int for a square); without
            it, all images must have the same size.
        kind: ``"auto"`` (default) or force ``"images"``, ``"tabular"`` or ``"text"``.
        progress: optional ``progress(stage, done, total)`` callback.
        annotator_column: makes the table a long annotation table, one row per (item,
            annotator, label) with the item's features repeated on each of its rows: the
            rows are collapsed to one per item, labelled with the consensus of the votes
            (:func:`mislabel.multiannotator.consensus`), which
            :attr:`LabeledData.annotations` keeps.
        item_column: the column naming each item of a long annotation table (default: a
            column called ``item``, else the image-path or text column).
        require_labels: with False, data without labels loads too (new data to predict): a
            table without the label column, or a folder holding its images directly; every
            sample is then labelled ``""``, the one class (:data:`UNLABELLED`).

    Returns:
        A frozen :class:`LabeledData`.

    Raises:
        InvalidInputError: the path does not exist, the label column is missing, an image
            cannot be read, images differ in size, ...
    """
    check_option(kind, "kind", KINDS)
    size = parse_image_size(image_size)
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(
            f"data path '{p}' does not exist. Give a folder of class subfolders of images, "
            "or a CSV / Parquet file."
        )
    if p.is_dir():
        if annotator_column is not None or item_column is not None:
            raise InvalidInputError(
                f"data path '{p}' is a folder; annotations of several annotators come as a "
                "CSV / Parquet table with one row per (item, annotator, label)."
            )
        if kind not in ("auto", "images"):
            raise InvalidInputError(
                f"data path '{p}' is a folder, which can only hold images (kind='images'); "
                f"got kind={kind!r}. Give a CSV / Parquet file for {kind} data."
            )
        return _load_image_folder(p, size, progress, require_labels)
    if p.suffix.lower() not in _TABLE_SUFFIXES:
        raise InvalidInputError(
            f"data file '{p}' must be a .csv, .tsv or .parquet table, or a folder of images; "
            f"got a '{p.suffix}' file."
        )
    frame = _read_table(p)
    if annotator_column is not None or item_column is not None:
        from mislabel.data._annotations import load_annotated

        return load_annotated(
            p,
            frame,
            annotator_column=annotator_column,
            item_column=item_column,
            label_column=label_column,
            text_column=text_column,
            path_column=path_column,
            kind=kind,
            image_size=size,
            progress=progress,
        )
    if label_column not in frame.columns and not require_labels:
        unlabelled = np.zeros(len(frame), dtype=np.int64)
        return frame_to_data(
            p, frame, unlabelled, UNLABELLED, label_column, text_column, path_column, kind, size,
            progress,
        )  # fmt: skip
    if label_column not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInputError(
            f"label column '{label_column}' not found in '{p}'; its columns are: {cols}. "
            "Name the label column with --label-column (label_column=...)."
        )
    labels, classes = _encode_labels(frame[label_column], label_column, p)
    rest = frame.drop(columns=[label_column])
    return frame_to_data(
        p, rest, labels, classes, label_column, text_column, path_column, kind, size, progress
    )


def frame_to_data(
    p: Path,
    rest: Any,
    labels: np.ndarray,
    classes: tuple[str, ...],
    label_column: str,
    text_column: str | None,
    path_column: str | None,
    kind: str,
    size: tuple[int, int] | None,
    progress: ProgressCallback | None,
) -> LabeledData:
    """The :class:`LabeledData` of a table's non-label columns ``rest`` (one row per sample)
    and its encoded ``labels``: images, texts or features, as ``kind`` says or detected."""
    if rest.shape[1] == 0:
        raise InvalidInputError(
            f"table '{p}' has only the label column '{label_column}'; it needs feature, text or "
            "image-path columns too."
        )
    for name, col in (("text_column", text_column), ("path_column", path_column)):
        if col is not None and col not in rest.columns:
            cols = ", ".join(map(str, rest.columns[:20]))
            raise InvalidInputError(
                f"{name.replace('_', ' ')} '{col}' not found in '{p}'; its columns are: {cols}."
            )
    detected = kind
    if kind == "auto":
        if path_column is not None:
            detected = "images"
        elif text_column is not None:
            detected = "text"
        elif _find_path_column(rest) is not None:
            detected = "images"
        elif _find_text_column(rest) is not None:
            detected = "text"
        else:
            detected = "tabular"
    if detected == "images":
        pcol = path_column or _find_path_column(rest) or _first_object_column(rest, p, "image")
        return _load_image_table(p, rest[pcol], labels, classes, size, progress)
    if detected == "text":
        tcol = text_column or _find_text_column(rest) or _first_object_column(rest, p, "text")
        texts = tuple(rest[tcol].fillna("").astype(str).tolist())
        return LabeledData("text", labels, classes, texts=texts, source=p)
    return LabeledData("tabular", labels, classes, X=rest.reset_index(drop=True), source=p)


def load_image_files(
    files: Sequence[PathLike],
    labels: Any,
    classes: Sequence[str],
    *,
    max_side: int = 32,
    progress: ProgressCallback | None = None,
) -> LabeledData:
    """Image files with their labels as a :class:`LabeledData`, ready for
    :func:`~mislabel.data.find_issues_in` (whose backbone reads the files themselves).

    The pixels (``X``) are read at most ``max_side`` pixels a side: at their own size where
    every file has the same one within that bound, else all resized to the shape of the
    largest file's aspect ratio scaled to fit ``max_side`` (what the small-CNN recipe
    trains on; a pretrained backbone embeds the files at its own input size).

    Args:
        files: the image files (any order; row i of the result is ``files[i]``).
        labels: (n,) int labels, positions in ``classes``.
        classes: the class names.
        max_side: the longest side of the pixels kept in ``X``.
        progress: optional ``progress("images", done, total)`` callback.

    Raises:
        InvalidInputError: a file is missing or unreadable, or the labels do not fit.
    """
    from mislabel._validation import check_labels

    check_scalar(max_side, "max_side", kind=numbers.Integral, min_val=1)
    paths = [Path(f).resolve() for f in files]
    if not paths:
        raise InvalidInputError("`files` must name at least one image; got none.")
    names = tuple(str(c) for c in classes)
    y = check_labels(labels, n_classes=len(names), n_samples=len(paths)).astype(np.int64)
    missing = next((f for f in paths if not f.is_file()), None)
    if missing is not None:
        raise InvalidInputError(f"image file '{missing}' does not exist.")
    root = Path(os.path.commonpath([f.parent for f in paths]))
    rel = [f.relative_to(root).as_posix() for f in paths]
    pixels = _read_images(paths, rel, _common_size(paths, rel, int(max_side)), progress)
    return LabeledData("images", y, names, X=pixels, paths=tuple(rel), image_root=root, source=root)


def _common_size(files: list[Path], rel: list[str], max_side: int) -> tuple[int, int] | None:
    """None where every file has one size within ``max_side``; else (W, H) within it, in the
    aspect ratio of the largest file. Reads only the files' headers."""
    image_mod = _pil()
    sizes: set[tuple[int, int]] = set()
    for f, name in zip(files, rel, strict=True):
        try:
            with image_mod.open(f) as im:
                sizes.add(tuple(im.size))
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            raise InvalidInputError(
                f"cannot read image '{name}': {reason}. Replace or remove the file."
            ) from exc
    if len(sizes) == 1 and max(next(iter(sizes))) <= max_side:
        return None
    w, h = max(sizes, key=lambda s: s[0] * s[1])
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def load_predictions(
    pred_probs: Any,
    labels: Any,
    *,
    classes: Any = None,
) -> LabeledData:
    """Wrap ready-made out-of-fold probabilities and labels (arrays or ``.npy`` files).

    Args:
        pred_probs: (n, n_classes) array or the path of a ``.npy`` file.
        labels: (n,) integer labels, or class names, or the path of a ``.npy`` / ``.txt`` file.
        classes: class names (a sequence or a text file with one name a line); default
            ``"0"``, ``"1"``, ...
    """
    probs = check_pred_probs(_load_array(pred_probs, "pred_probs"))
    n, k = probs.shape
    raw = np.asarray(_load_array(labels, "labels"))
    names: tuple[str, ...] | None = None
    if classes is not None:
        if isinstance(classes, (str, os.PathLike)):
            cpath = Path(classes)
            if not cpath.exists():
                raise InvalidInputError(f"classes file '{cpath}' does not exist.")
            names = decode_class_names(_read_utf8(cpath, "classes file"))
        else:
            names = tuple(str(c) for c in classes)
        if len(names) != k:
            raise InvalidInputError(
                f"`classes` must name every column of `pred_probs` ({k}); got {len(names)} names."
            )
    if raw.dtype.kind in "USO":
        if names is None:
            raise InvalidInputError(
                "`labels` holds class names; pass `classes` (a classes.txt, one name a line, "
                "in the column order of `pred_probs`) to map them to columns."
            )
        index = {c: i for i, c in enumerate(names)}
        unknown = sorted({str(v) for v in raw.tolist()} - set(index))
        if unknown:
            raise InvalidInputError(
                f"`labels` has class names not in `classes`: {unknown[:5]}; classes are "
                f"{list(names)[:10]}."
            )
        raw = np.array([index[str(v)] for v in raw.tolist()], dtype=np.int64)
    from mislabel._validation import check_labels

    y = check_labels(raw, n_classes=k, n_samples=n).astype(np.int64)
    return LabeledData(
        "pred_probs",
        y,
        names if names is not None else tuple(str(i) for i in range(k)),
        pred_probs=probs,
        source=Path(pred_probs) if isinstance(pred_probs, (str, os.PathLike)) else None,
    )


def _check_row_order(probs: np.ndarray, labels: np.ndarray, kind: str) -> None:
    """Refuse probabilities whose rows do not follow the labels' order.

    Aligned rows agree with the given labels (argmax = label) far more often than the same
    columns shuffled against each other, whose expected agreement is
    ``sum_k share_pred(k) · share_label(k)``; misaligned rows agree about that often. The
    test flags agreement within 3 standard errors of the shuffled expectation (only with at
    least 50 rows).
    """
    n, k = probs.shape
    if n < 50:
        return
    pred = probs.argmax(axis=1)
    agree = float(np.mean(pred == labels))
    chance = float(np.dot(np.bincount(pred, minlength=k) / n, np.bincount(labels, minlength=k) / n))
    se = float(np.sqrt(max(chance * (1 - chance), 1e-12) / n))
    if agree <= chance + 3 * se:
        where = (
            "the data's order (for an image folder: the sorted paths, as in issues.csv)"
            if kind == "images"
            else "the data's row order"
        )
        raise InvalidInputError(
            f"the rows of `pred_probs` do not seem to follow {where}: their most likely class "
            f"matches the given label for {agree:.1%} of the rows, as often as chance "
            f"({chance:.1%}). Save them as a CSV or Parquet table with a path column and one "
            "column per class name, so that each row is matched to its file."
        )


def _probs_by_path(table: Path, data: LabeledData) -> np.ndarray:
    if not table.exists():
        raise InvalidInputError(f"`pred_probs` file '{table}' does not exist.")
    if data.paths is None:
        raise InvalidInputError(
            f"'{table}' can be matched by path only to image data; for {data.kind} data give "
            "the probabilities as a .npy array in the data's row order."
        )
    frame = _read_table(table)
    pcol = _find_path_column(frame)
    if pcol is None:
        raise InvalidInputError(
            f"'{table}' needs a path column (one of {', '.join(_PATH_COLUMNS)}) to match its "
            f"rows to the images; columns are {list(frame.columns)[:8]}."
        )
    rest = frame.drop(columns=[pcol])
    names = [str(c) for c in rest.columns]
    if set(data.classes) <= set(names):
        values = rest[[rest.columns[names.index(c)] for c in data.classes]]
    else:
        values = rest.select_dtypes("number")
        if values.shape[1] != data.n_classes:
            raise InvalidInputError(
                f"'{table}' must have one column per class, named {list(data.classes)[:5]}..., "
                f"or exactly {data.n_classes} numeric columns in that order; got columns "
                f"{names[:8]}."
            )
    probs = values.to_numpy(dtype=np.float64)
    index = _path_index(data)
    order = np.full(len(frame), -1, dtype=np.int64)
    unknown = []
    for r, raw in enumerate(frame[pcol].astype(str).tolist()):
        i = _match_path(raw, index)
        if i is None:
            unknown.append(raw)
        else:
            order[r] = i
    if unknown:
        raise InvalidInputError(
            f"{len(unknown)} rows of '{table}' name no image of the data, e.g. "
            f"{unknown[:3]}; paths are matched relative to {data.image_root} (with or "
            "without folders in front), absolute, or by a unique file name."
        )
    counts = np.bincount(order, minlength=data.n_samples)
    if np.any(counts != 1):
        missing = [data.paths[i] for i in np.flatnonzero(counts == 0)[:3]]
        twice = [data.paths[i] for i in np.flatnonzero(counts > 1)[:3]]
        raise InvalidInputError(
            f"'{table}' must have exactly one row per image ({data.n_samples}); "
            + (f"no row for {missing}" if missing else "")
            + ("; " if missing and twice else "")
            + (f"several rows for {twice}" if twice else "")
            + "."
        )
    out = np.empty_like(probs)
    out[order] = probs
    return out


def _path_index(data: LabeledData) -> dict[str, Any]:
    paths = data.paths or ()
    rel = {Path(p).as_posix(): i for i, p in enumerate(paths)}
    root = data.image_root
    absolute = (
        {os.path.normpath(str((root / p).resolve())): i for i, p in enumerate(paths)}
        if root is not None
        else {}
    )
    by_name: dict[str, int] = {}
    seen: set[str] = set()
    for i, p in enumerate(paths):
        name = Path(p).name
        if name in seen:
            by_name.pop(name, None)
        else:
            by_name[name] = i
            seen.add(name)
    return {"rel": rel, "abs": absolute, "name": by_name}


def _match_path(raw: str, index: dict[str, Any]) -> int | None:
    p = Path(raw)
    hit = index["rel"].get(p.as_posix())
    if hit is None and p.is_absolute():
        hit = index["abs"].get(os.path.normpath(str(p.resolve())))
    parts = p.parts
    for k in range(len(parts) - 1, 1, -1):  # a path with more folders in front
        if hit is not None:
            break
        hit = index["rel"].get("/".join(parts[-k:]))
    if hit is None:
        hit = index["name"].get(p.name)
    return hit


# --------------------------------------------------------------------------- helpers


def _load_array(value: Any, name: str) -> Any:
    if not isinstance(value, (str, os.PathLike)):
        return value
    p = Path(value)
    if not p.exists():
        raise InvalidInputError(f"`{name}` file '{p}' does not exist.")
    try:
        if p.suffix.lower() == ".npy":
            return np.load(p, allow_pickle=False)
        if p.suffix.lower() in (".txt", ".csv"):
            return np.array(
                [ln.strip() for ln in _read_utf8(p, "labels file").splitlines() if ln.strip()]
            )
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read `{name}` file '{p}': {exc}") from exc
    raise InvalidInputError(f"`{name}` file '{p}' must be a .npy file; got '{p.suffix}'.")


def _read_table(p: Path) -> Any:
    pd = optional_import("pandas", "pandas", "reading tables")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            try:
                return pd.read_parquet(p)
            except ImportError as exc:
                err = MissingDependencyError("pyarrow", "parquet", "reading Parquet files")
                err.msg = (  # there is no mislabel[parquet] extra: name the package itself
                    "`pyarrow` is required for reading Parquet files but could not be imported. "
                    "Install it with: pip install pyarrow"
                )
                raise err from exc
        if suffix == ".txt":  # delimiter sniffed
            return pd.read_csv(p, sep=None, engine="python")
        return pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
    except MissingDependencyError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"table '{p}' is empty.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot parse table '{p}': {first}") from exc


def _encode_labels(column: Any, name: str, where: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        rows = ", ".join(str(int(i)) for i in missing[:5])
        raise InvalidInputError(
            f"label column '{name}' of '{where}' is empty in {missing.size} rows (first: {rows}). "
            "Fill or drop those rows."
        )
    values = column.to_numpy()
    if column.dtype.kind in "iuf" and np.all(np.mod(values.astype(float), 1) == 0):
        uniq = np.unique(values.astype(np.int64))
        codes = np.searchsorted(uniq, values.astype(np.int64))
        return codes.astype(np.int64), tuple(str(int(u)) for u in uniq)
    as_str = column.astype(str).to_numpy()
    uniq_s, codes = np.unique(as_str, return_inverse=True)
    return codes.astype(np.int64).ravel(), tuple(str(u) for u in uniq_s)


def _looks_like_image_paths(col: Any) -> bool:
    if col.dtype.kind != "O":
        return False
    sample = col.dropna().astype(str).head(20)
    return bool(len(sample)) and all(s.lower().endswith(IMAGE_EXTENSIONS) for s in sample)


def _find_path_column(frame: Any) -> str | None:
    named = [c for c in frame.columns if str(c).lower() in _PATH_COLUMNS]
    for c in [*named, *frame.columns]:
        if _looks_like_image_paths(frame[c]):
            return str(c)
    return None


def _find_text_column(frame: Any) -> str | None:
    for c in frame.columns:
        if str(c).lower() in _TEXT_COLUMNS and frame[c].dtype.kind == "O":
            return str(c)
    objs = [c for c in frame.columns if frame[c].dtype.kind == "O"]
    if len(objs) == 1 and frame.shape[1] == 1:
        lengths = frame[objs[0]].dropna().astype(str).str.len()
        if len(lengths) and float(lengths.mean()) >= 20:
            return str(objs[0])
    return None


def _first_object_column(frame: Any, where: Path, what: str) -> str:
    for c in frame.columns:
        if frame[c].dtype.kind == "O":
            return str(c)
    raise InvalidInputError(
        f"table '{where}' has no {what} column (strings); name it with --{what}-column."
    )


def _pil() -> Any:
    return optional_import("PIL.Image", "report", "reading images")


def _load_image_folder(
    root: Path,
    size: tuple[int, int] | None,
    progress: ProgressCallback | None,
    require_labels: bool = True,
) -> LabeledData:
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    direct = sorted(
        f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
    )
    if direct and not subdirs and not require_labels:  # new images to predict
        classes, files, labels = list(UNLABELLED), direct, [0] * len(direct)
    else:
        classes, files, labels = _class_subfolders(root, subdirs)
    rel = [f.relative_to(root).as_posix() for f in files]
    pixels = _read_images(files, rel, size, progress)
    return LabeledData(
        "images",
        np.asarray(labels, dtype=np.int64),
        tuple(classes),
        X=pixels,
        paths=tuple(rel),
        image_root=root,
        source=root,
    )


def _class_subfolders(root: Path, subdirs: list[Path]) -> tuple[list[str], list[Path], list[int]]:
    """(class names, image files, their labels) of a folder of class subfolders."""
    if not subdirs:
        raise InvalidInputError(
            f"image folder '{root}' must hold one subfolder per class (e.g. {root}/cat/1.png); "
            "it has no subfolders."
        )
    names = {d.name.lower() for d in subdirs}
    if names <= _SPLIT_NAMES and any(any(x.is_dir() for x in d.iterdir()) for d in subdirs):
        first = next(d for d in subdirs if any(x.is_dir() for x in d.iterdir()))
        raise InvalidInputError(
            f"image folder '{root}' looks split into {sorted(d.name for d in subdirs)}; point the "
            f"data path at one split, e.g. '{first}'."
        )
    classes: list[str] = []
    files: list[Path] = []
    labels: list[int] = []
    for d in subdirs:
        found = sorted(
            f
            for f in d.rglob("*")
            if f.is_file()
            and f.suffix.lower() in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in f.relative_to(d).parts)
        )
        if not found:
            continue
        classes.append(d.name)
        files.extend(found)
        labels.extend([len(classes) - 1] * len(found))
    if not files:
        raise InvalidInputError(
            f"image folder '{root}' has no images ({', '.join(IMAGE_EXTENSIONS)}) in its class "
            "subfolders."
        )
    return classes, files, labels


def _load_image_table(
    table: Path,
    column: Any,
    labels: np.ndarray,
    classes: tuple[str, ...],
    size: tuple[int, int] | None,
    progress: ProgressCallback | None,
) -> LabeledData:
    root = table.parent
    rel: list[str] = []
    files: list[Path] = []
    for i, value in enumerate(column.tolist()):
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(
                f"image path column '{column.name}' of '{table}' is empty in row {i}."
            )
        f = Path(value) if os.path.isabs(value) else root / value
        if not f.is_file():
            raise InvalidInputError(
                f"image '{value}' listed in row {i} of '{table}' does not exist (paths are "
                f"relative to {root})."
            )
        rel.append(value)
        files.append(f)
    pixels = _read_images(files, rel, size, progress)
    return LabeledData(
        "images",
        labels,
        classes,
        X=pixels,
        paths=tuple(rel),
        image_root=root,
        source=table,
    )


_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _read_images(
    files: list[Path],
    rel: list[str],
    size: tuple[int, int] | None,
    progress: ProgressCallback | None,
) -> np.ndarray:
    image_mod = _pil()
    arrays: list[np.ndarray] = []
    first: tuple[str, tuple[int, int]] | None = None
    n = len(files)
    for i, (f, name) in enumerate(zip(files, rel, strict=True)):
        try:
            with image_mod.open(f) as im:
                im.load()
                mode = "L" if im.mode in _GRAY_MODES else "RGB"
                conv = im.convert(mode)
                got = conv.size
                if size is not None and got != size:
                    conv = conv.resize(size, image_mod.Resampling.BILINEAR)
                arr = np.asarray(conv, dtype=np.uint8)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            raise InvalidInputError(
                f"cannot read image '{name}': {reason}. Replace or remove the file."
            ) from exc
        if size is None:
            if first is None:
                first = (name, got)
            elif got != first[1]:
                raise InvalidInputError(
                    f"images must all have the same size; '{first[0]}' is "
                    f"{first[1][0]}x{first[1][1]} but '{name}' is {got[0]}x{got[1]} (width x "
                    "height). Resize them all with image_size=(W, H) (--image-size WxH)."
                )
        arrays.append(arr)
        if progress is not None:
            progress("images", i + 1, n)
    if any(a.ndim == 3 for a in arrays):
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
    return np.stack(arrays)


def _read_utf8(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{what} '{path}' must be UTF-8 text, one entry a line; {exc.reason} at byte "
            f"{exc.start}."
        ) from None
