"""Act on found issues: remove the flagged samples, relabel them, reweight every sample by its
label quality, or keep everything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from mislabel._atomic import unescape_frame, write_csv_atomic
from mislabel._validation import (
    check_class_names,
    check_option,
    check_scalar,
    optional_import,
)
from mislabel.detect import LabelIssues
from mislabel.exceptions import InvalidInputError

__all__ = [
    "POLICIES",
    "CleanedInput",
    "CleanedLabels",
    "Policy",
    "apply_policy",
    "load_cleaned",
    "load_cleaned_labels",
]

Policy = Literal["remove", "relabel", "reweight", "keep"]
#: The policies :func:`apply_policy` knows.
POLICIES: tuple[str, ...] = get_args(Policy)
_FRAME_COLUMNS = ("id", "given_label", "suggested_label", "suggested_prob", "is_issue")
PathLike = str | os.PathLike[str]


@dataclass(frozen=True, eq=False)
class CleanedLabels:
    """The labels after a policy was applied.

    Attributes:
        ids: (n,) sample ids (row positions in the original data), in id order.
        given: (n,) the given labels (class names, or ints when no names were known).
        labels: (n,) the labels after the policy (relabelled where changed).
        keep: (n,) bool, False for removed samples.
        action: (n,) ``"keep"``, ``"remove"`` or ``"relabel"`` per sample.
        confidence: (n,) the estimated probability of the suggested label (NaN if unknown).
        score: (n,) the label quality score (low = suspect).
        paths: (n,) image paths or None.
        policy: the policy applied.
        min_confidence: the threshold applied.
        weight: (n,) per-sample training weights in [0, 1] with ``policy="reweight"`` (the
            estimated probability that the label is right, clipped), else None.
    """

    ids: np.ndarray
    given: np.ndarray
    labels: np.ndarray
    keep: np.ndarray
    action: np.ndarray
    confidence: np.ndarray
    score: np.ndarray
    paths: np.ndarray | None
    policy: str
    min_confidence: float
    weight: np.ndarray | None = None

    @property
    def n_removed(self) -> int:
        return int(np.count_nonzero(~self.keep))

    @property
    def n_relabelled(self) -> int:
        return int(np.count_nonzero(self.action == "relabel"))

    def labels_frame(self) -> Any:
        """The cleaned labels: one row per kept sample (``id``, ``path``, ``label``, and
        ``weight`` with the ``reweight`` policy)."""
        pd = optional_import("pandas", "pandas", "CleanedLabels.labels_frame()")
        sel = self.keep
        cols: dict[str, Any] = {
            "id": self.ids[sel],
            "path": self.paths[sel] if self.paths is not None else [""] * int(sel.sum()),
            "label": self.labels[sel],
        }
        if self.weight is not None:
            cols["weight"] = self.weight[sel]
        return pd.DataFrame(cols)

    def changes_frame(self) -> Any:
        """The change log: one row per removed or relabelled sample."""
        pd = optional_import("pandas", "pandas", "CleanedLabels.changes_frame()")
        sel = self.action != "keep"
        return pd.DataFrame(
            {
                "id": self.ids[sel],
                "path": self.paths[sel] if self.paths is not None else [""] * int(sel.sum()),
                "action": self.action[sel],
                "given_label": self.given[sel],
                "new_label": np.where(self.action[sel] == "relabel", self.labels[sel], ""),
                "confidence": self.confidence[sel],
                "score": self.score[sel],
            }
        )

    def save(
        self, labels_path: PathLike, changes_path: PathLike | None = None
    ) -> tuple[Path, Path | None]:
        """Write the cleaned labels (and the change log) as CSV, each atomically."""
        out = write_csv_atomic(labels_path, self.labels_frame())
        log = None if changes_path is None else write_csv_atomic(changes_path, self.changes_frame())
        return out, log

    def __repr__(self) -> str:
        return (
            f"CleanedLabels(policy={self.policy!r}, n={self.ids.shape[0]}, "
            f"removed={self.n_removed}, relabelled={self.n_relabelled})"
        )


def apply_policy(
    issues: Any,
    policy: Policy = "remove",
    *,
    min_confidence: float = 0.0,
    class_names: Any = None,
) -> CleanedLabels:
    """Apply a cleaning policy to found issues.

    Args:
        issues: a :class:`~mislabel.LabelIssues`, or the ``issues.csv`` table of
            ``mislabel find`` (a pandas DataFrame with at least ``id``, ``given_label``,
            ``suggested_label``, ``suggested_prob``, ``is_issue``).
        policy: ``"remove"`` drops the flagged samples, ``"relabel"`` gives them their
            suggested label, ``"reweight"`` keeps every sample and its label and gives each a
            training weight, the estimated probability that its label is right
            (:attr:`~mislabel.LabelIssues.weights`; from an issues table, its ``prob_right``
            column, or its ``score`` without one) clipped to [0, 1] (the ``weight`` column of
            :meth:`CleanedLabels.labels_frame`), ``"keep"`` changes nothing (a baseline with
            the same outputs).
        min_confidence: act only on flagged samples whose suggested label has at least this
            estimated probability (``suggested_prob``); the other flagged samples are kept
            as they are. Not used by ``"reweight"``, which weighs every sample.
        class_names: names of the classes, used when ``issues`` is a ``LabelIssues``.

    Returns:
        A frozen :class:`CleanedLabels`; :meth:`CleanedLabels.save` writes it atomically.

    Example:
        >>> cleaned = apply_policy(issues, "relabel", min_confidence=0.8)   # doctest: +SKIP
        >>> cleaned.save("labels_clean.csv", "changes.csv")                 # doctest: +SKIP
    """
    check_option(policy, "policy", POLICIES)
    check_scalar(min_confidence, "min_confidence", min_val=0.0, max_val=1.0)
    if isinstance(issues, LabelIssues):
        cols = _from_label_issues(issues, class_names)
    else:
        cols = _from_frame(issues)
    ids, given, sugg, conf, score, prob_right, flagged, paths = cols
    weight = None
    if policy == "reweight":
        if not np.all(np.isfinite(prob_right)):
            i = int(np.flatnonzero(~np.isfinite(prob_right))[0])
            raise InvalidInputError(
                "`issues` must give a finite probability that the label is right "
                "(`prob_right`, or the label quality `score`) for every sample to reweight; "
                f"sample id {int(ids[i])} has {prob_right[i]!r}. Pass the issues.csv of "
                "`mislabel find` or a LabelIssues."
            )
        weight = np.clip(prob_right, 0.0, 1.0)
    act = flagged & (np.nan_to_num(conf, nan=0.0) >= min_confidence)
    if policy == "reweight":
        act[:] = False
    if policy == "relabel":
        act &= sugg != given
    action = np.full(ids.shape[0], "keep", dtype=object)
    labels = given.copy()
    keep = np.ones(ids.shape[0], dtype=bool)
    if policy == "remove":
        action[act] = "remove"
        keep[act] = False
    elif policy == "relabel":
        action[act] = "relabel"
        labels[act] = sugg[act]
    return CleanedLabels(
        ids=ids,
        given=given,
        labels=labels,
        keep=keep,
        action=action,
        confidence=conf,
        score=score,
        paths=paths,
        policy=policy,
        min_confidence=float(min_confidence),
        weight=weight,
    )


def _from_label_issues(issues: LabelIssues, class_names: Any) -> tuple[Any, ...]:
    n = issues.labels.shape[0]
    given: np.ndarray = issues.labels
    sugg: np.ndarray = issues.suggested
    if class_names is not None:
        names = np.asarray(check_class_names(class_names, issues.n_classes), dtype=object)
        given, sugg = names[given], names[sugg]
    return (
        np.arange(n, dtype=np.int64),
        np.asarray(given, dtype=object),
        np.asarray(sugg, dtype=object),
        np.asarray(issues.suggested_prob, dtype=np.float64),
        np.asarray(issues.scores, dtype=np.float64),
        issues.weights,
        np.asarray(issues.mask, dtype=bool),
        None,
    )


def _from_frame(frame: Any) -> tuple[Any, ...]:
    pd = optional_import("pandas", "pandas", "reading an issues table")
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            "`issues` must be a LabelIssues or the issues.csv table as a pandas DataFrame; got "
            f"{type(frame).__name__}."
        )
    missing = [c for c in _FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"`issues` table lacks the columns {missing}; pass the issues.csv written by "
            "`mislabel find`."
        )
    if len(frame) == 0:
        raise InvalidInputError("`issues` table must have at least one row; got none.")
    raw = pd.to_numeric(frame["id"], errors="coerce").to_numpy(dtype=np.float64)
    # ids above 2**53 do not survive the float round trip of a table read
    bad = ~np.isfinite(raw) | (raw < 0) | (raw > 2**53) | (np.mod(np.nan_to_num(raw), 1) != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            "`issues` table's `id` column must hold non-negative integer sample ids; got "
            f"{frame['id'].iloc[i]!r} in row {i}."
        )
    order = np.argsort(raw, kind="stable")
    f = frame.iloc[order]
    ids = raw[order].astype(np.int64)
    if np.unique(ids).shape[0] != ids.shape[0]:
        raise InvalidInputError("`issues` table has repeated ids; each sample must appear once.")
    flagged = f["is_issue"].astype(str).str.strip().str.lower().isin(["true", "1"]).to_numpy()
    score = (
        pd.to_numeric(f["score"], errors="coerce").to_numpy(dtype=np.float64)
        if "score" in f.columns
        else np.full(ids.shape[0], np.nan)
    )
    prob_right = (
        pd.to_numeric(f["prob_right"], errors="coerce").to_numpy(dtype=np.float64)
        if "prob_right" in f.columns
        else score
    )
    paths = None
    if "path" in f.columns:
        p = f["path"].fillna("").astype(str).to_numpy(dtype=object)
        paths = p if any(p) else None
    return (
        ids,
        f["given_label"].astype(str).to_numpy(dtype=object),
        f["suggested_label"].astype(str).to_numpy(dtype=object),
        pd.to_numeric(f["suggested_prob"], errors="coerce").to_numpy(dtype=np.float64),
        score,
        prob_right,
        flagged,
        paths,
    )


def load_cleaned_labels(
    path: PathLike, *, classes: Any, n_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read a cleaned-labels CSV back as (labels, keep); see :func:`load_cleaned`."""
    cleaned = load_cleaned(path, classes=classes, n_samples=n_samples)
    return cleaned.labels, cleaned.keep


def load_cleaned(path: PathLike, *, classes: Any, n_samples: int) -> CleanedInput:
    """Read a cleaned-labels CSV (``id``, ``label``, optional ``weight``) back for training.

    Also reads the export of the review page (``id``, ``final_label``, ``action``): removed
    rows are dropped, the others take their final label.

    Args:
        path: the CSV written by :meth:`CleanedLabels.save` (``mislabel clean``) or by
            ``mislabel review --export``.
        classes: class names of the data; ``label`` values must be among them.
        n_samples: number of samples in the data the ids refer to.

    Returns:
        A :class:`CleanedInput`: ``labels`` (n,) int64 class indices (the given label where a
        row is absent), ``keep`` (n,) bool, False for ids absent from the file (removed
        samples), and ``weight`` from a ``weight`` column (None without one).
    """
    pd = optional_import("pandas", "pandas", "reading cleaned labels")
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"cleaned labels file '{p}' does not exist.")
    try:
        frame = pd.read_csv(p, keep_default_na=False, dtype={"label": str, "final_label": str})
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read cleaned labels file '{p}': {exc}") from exc
    unescape_frame(frame)
    if "label" not in frame.columns and {"final_label", "action"} <= set(frame.columns):
        frame = frame[frame["action"] != "removed"].rename(columns={"final_label": "label"})
    missing = [c for c in ("id", "label") if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"cleaned labels file '{p}' lacks the columns {missing}; write it with "
            "`mislabel clean`."
        )
    ids = pd.to_numeric(frame["id"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(ids) | (ids < 0) | (ids >= n_samples) | (np.mod(ids, 1) != 0)
    if bad.any():
        raise InvalidInputError(
            f"cleaned labels file '{p}' has ids outside [0, {n_samples}); was it made from "
            "this data?"
        )
    index = {str(c): i for i, c in enumerate(classes)}
    names = frame["label"].astype(str).tolist()
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise InvalidInputError(
            f"cleaned labels file '{p}' has labels that are not classes of the data: "
            f"{unknown[:5]}; classes are {list(index)[:10]}."
        )
    rows = ids.astype(np.int64)
    uniq, counts = np.unique(rows, return_counts=True)
    if (counts > 1).any():
        raise InvalidInputError(
            f"cleaned labels file '{p}' lists some ids more than once: "
            f"{uniq[counts > 1][:5].tolist()}; each sample must appear at most once."
        )
    keep = np.zeros(n_samples, dtype=bool)
    labels = np.zeros(n_samples, dtype=np.int64)
    keep[rows] = True
    labels[rows] = [index[s] for s in names]
    weight = None
    if "weight" in frame.columns:
        w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(w)) or (w < 0).any():
            i = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise InvalidInputError(
                f"cleaned labels file '{p}' must hold finite, non-negative weights in its "
                f"`weight` column; got {frame['weight'].iloc[i]!r} for id {rows[i]}."
            )
        weight = np.zeros(n_samples)
        weight[rows] = w
    return CleanedInput(labels, keep, weight)


@dataclass(frozen=True, eq=False)
class CleanedInput:
    """Cleaned labels read back for training (:func:`load_cleaned`).

    Attributes:
        labels: (n,) int64 class indices (the given label where a row is absent).
        keep: (n,) bool, False for samples absent from the file (removed).
        weight: (n,) per-sample weights from a ``weight`` column (``--policy reweight``), or
            None without one.
    """

    labels: np.ndarray
    keep: np.ndarray
    weight: np.ndarray | None
