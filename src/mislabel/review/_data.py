"""Read the issues file written by ``mislabel find`` and resolve sample files safely.

The issues file has one row per sample (flagged or not) with the columns
:data:`REQUIRED_COLUMNS`, and optionally ``text`` (text data), ``features`` (a JSON object,
tabular data) and, when the labels are the consensus of several annotators, ``votes`` (a JSON
object, annotator → label) with ``agreement`` (share of the votes equal to the consensus).
Everything here is standard library only, so that ``export`` works without the ``ui`` extra.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mislabel._atomic import unescape_cell
from mislabel.exceptions import InvalidInputError

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "IssuesTable",
    "Sample",
    "load_issues",
    "read_classes_file",
    "resolve_under",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "path",
    "given_label",
    "suggested_label",
    "suggested_prob",
    "score",
    "is_issue",
    "top1_label",
    "top1_prob",
    "top2_label",
    "top2_prob",
    "top3_label",
    "top3_prob",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("text", "features", "votes", "agreement")

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_PATH_CHARS = 4096
# csv's default field limit (128 KiB) is too small for long texts.
_FIELD_LIMIT = 1 << 26


@dataclass(frozen=True)
class Sample:
    """One row of the issues file."""

    id: int
    path: str
    given_label: str
    suggested_label: str
    suggested_prob: float
    score: float
    is_issue: bool
    top: tuple[tuple[str, float], ...]
    text: str | None = None
    features: Mapping[str, Any] | None = None
    votes: Mapping[str, str] | None = None
    agreement: float | None = None


@dataclass(frozen=True)
class IssuesTable:
    """The issues file, validated.

    Attributes:
        path: the issues file.
        samples: rows in file order.
        by_id: the same rows keyed by ``id``.
        classes: class names, in display order (``--classes`` order, else natural sort).
        review_order: every id, most suspect (lowest score) first, ties by id.
        fingerprint: sha256 of the (id, given_label) pairs; binds a decisions database to
            the dataset it was made for.
        file_paths: the non-empty ``path`` values, the only files the page may serve.
    """

    path: Path
    samples: tuple[Sample, ...]
    by_id: Mapping[int, Sample] = field(repr=False)
    classes: tuple[str, ...]
    review_order: tuple[int, ...] = field(repr=False)
    fingerprint: str
    file_paths: frozenset[str] = field(repr=False)

    @property
    def n_issues(self) -> int:
        """Number of flagged rows."""
        return sum(1 for s in self.samples if s.is_issue)


def _natural_key(name: str) -> tuple[int, int, str]:
    stripped = name.strip()
    if re.fullmatch(r"-?\d+", stripped):
        return (0, int(stripped), name)
    return (1, 0, name)


def read_classes_file(path: Path) -> tuple[str, ...]:
    """Class names, one a line (blank lines ignored; ``\\n`` in a name is a newline, as
    ``mislabel find`` writes ``classes.txt``), in the file's order."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"`--classes` must be a text file with one class name a line; {str(path)!r} does "
            "not exist."
        )
    from mislabel.data._outputs import decode_class_names

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"`--classes` file {str(path)!r} must be UTF-8 text; {exc.reason} at byte {exc.start}."
        ) from None
    names = [n.strip() for n in decode_class_names(text)]
    names = [n for n in names if n]
    if not names:
        raise InvalidInputError(f"`--classes` file {str(path)!r} holds no class names.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(
            f"`--classes` file {str(path)!r} names some classes twice: {dupes[:5]}."
        )
    return tuple(names)


def _float(value: str, column: str, line: int, source: Path) -> float:
    try:
        out = float(value)
    except ValueError:
        raise InvalidInputError(
            f"`{column}` in {source.name} line {line} must be a number; got {value!r}."
        ) from None
    if not math.isfinite(out):
        raise InvalidInputError(
            f"`{column}` in {source.name} line {line} must be finite; got {value!r}."
        )
    return out


def _bool(value: str, line: int, source: Path) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InvalidInputError(
        f"`is_issue` in {source.name} line {line} must be true or false; got {value!r}."
    )


def _parse_row(row: Mapping[str, str | None], line: int, source: Path) -> Sample:
    def get(col: str) -> str:
        value = row.get(col)
        return "" if value is None else value

    raw_id = get("id").strip()
    try:
        sample_id = int(raw_id)
    except ValueError:
        raise InvalidInputError(
            f"`id` in {source.name} line {line} must be an integer row index; got {raw_id!r}."
        ) from None
    given = get("given_label")
    if given == "":
        raise InvalidInputError(f"`given_label` in {source.name} line {line} is empty.")
    suggested = get("suggested_label") or given
    score = _float(get("score"), "score", line, source)
    if not -1e-9 <= score <= 1 + 1e-9:
        raise InvalidInputError(
            f"`score` in {source.name} line {line} must be in [0, 1] (low = suspect); got {score}."
        )
    top: list[tuple[str, float]] = []
    for k in (1, 2, 3):
        label = get(f"top{k}_label")
        if label == "":
            continue  # fewer than three classes
        top.append((label, _float(get(f"top{k}_prob"), f"top{k}_prob", line, source)))
    text = row.get("text")
    features_raw = (row.get("features") or "").strip()
    features: dict[str, Any] | None = None
    if features_raw:
        try:
            parsed = json.loads(features_raw)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"`features` in {source.name} line {line} must be a JSON object; got invalid "
                f"JSON ({exc.msg})."
            ) from None
        if not isinstance(parsed, dict):
            raise InvalidInputError(
                f"`features` in {source.name} line {line} must be a JSON object; got "
                f"{type(parsed).__name__}."
            )
        features = parsed
    votes = _votes(get("votes").strip(), line, source)
    agreement_raw = get("agreement").strip()
    agreement = (
        _float(agreement_raw, "agreement", line, source)
        if agreement_raw and agreement_raw.lower() != "nan"
        else None
    )
    return Sample(
        id=sample_id,
        path=get("path"),
        given_label=given,
        suggested_label=suggested,
        suggested_prob=_float(get("suggested_prob"), "suggested_prob", line, source),
        score=min(max(score, 0.0), 1.0),
        is_issue=_bool(get("is_issue"), line, source),
        top=tuple(top),
        text=text if text else None,
        features=features,
        votes=votes,
        agreement=agreement,
    )


def _votes(raw: str, line: int, source: Path) -> dict[str, str] | None:
    """The ``votes`` cell: a JSON object annotator → label, or None when empty."""
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"`votes` in {source.name} line {line} must be a JSON object (annotator → label); "
            f"got invalid JSON ({exc.msg})."
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidInputError(
            f"`votes` in {source.name} line {line} must be a JSON object (annotator → label); "
            f"got {type(parsed).__name__}."
        )
    return {str(k): str(v) for k, v in parsed.items()}


def load_issues(path: Path, *, classes: tuple[str, ...] | None = None) -> IssuesTable:
    """Read and validate an issues file.

    Args:
        path: the CSV written by ``mislabel find``.
        classes: the class names in display order (from ``--classes``); every label in the
            file must be one of them. Defaults to the union of the labels in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"The issues file {str(path)!r} does not exist. Create it with `mislabel find`."
        )
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    samples: list[Sample] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InvalidInputError(
                    f"The issues file {path.name} must have the columns "
                    f"{', '.join(REQUIRED_COLUMNS)}; it lacks {', '.join(missing)} (found: "
                    f"{', '.join(header) or 'no header'}). Was it written by `mislabel find`?"
                )
            for row in reader:
                cells = {k: unescape_cell(v) for k, v in row.items()}
                samples.append(_parse_row(cells, reader.line_num, path))
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"The issues file {path.name} must be UTF-8 text; {exc.reason} at byte {exc.start}."
        ) from None
    except csv.Error as exc:
        raise InvalidInputError(f"The issues file {path.name} is not valid CSV: {exc}.") from None
    if not samples:
        raise InvalidInputError(f"The issues file {path.name} has a header but no rows.")

    by_id: dict[int, Sample] = {}
    for s in samples:
        if s.id in by_id:
            raise InvalidInputError(
                f"`id` must be unique in {path.name}; id {s.id} appears more than once."
            )
        by_id[s.id] = s

    seen = {s.given_label for s in samples} | {s.suggested_label for s in samples}
    seen |= {label for s in samples for label, _ in s.top}
    if classes is None:
        class_names = tuple(sorted(seen, key=_natural_key))
    else:
        unknown = sorted(seen - set(classes), key=_natural_key)
        if unknown:
            raise InvalidInputError(
                f"The issues file {path.name} uses labels that the `--classes` file does not "
                f"list: {unknown[:5]}. Add them to the classes file or drop `--classes`."
            )
        class_names = tuple(classes)

    order = tuple(s.id for s in sorted(samples, key=lambda s: (s.score, s.id)))
    digest = hashlib.sha256()
    for s in samples:
        digest.update(f"{s.id}\t{s.given_label}\n".encode())
    return IssuesTable(
        path=path,
        samples=tuple(samples),
        by_id=by_id,
        classes=class_names,
        review_order=order,
        fingerprint=digest.hexdigest(),
        file_paths=frozenset(s.path for s in samples if s.path),
    )


def resolve_under(root: Path, relpath: str) -> Path | None:
    """The regular file that ``relpath`` names inside ``root``, or None.

    ``relpath`` must be a plain relative POSIX path: no absolute path, drive letter, ``~``,
    backslash, NUL, empty, ``.`` or ``..`` segment. After resolving symlinks the file must
    still lie inside ``root`` (itself resolved). Anything else returns None; callers answer
    404 and never say why, so a probe learns nothing about the file system.
    """
    if not relpath or len(relpath) > _MAX_PATH_CHARS:
        return None
    if "\x00" in relpath or "\\" in relpath or relpath.startswith(("/", "~")):
        return None
    if _DRIVE.match(relpath) or any(ord(ch) < 32 for ch in relpath):
        return None
    if any(part in ("", ".", "..") for part in relpath.split("/")):
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / relpath).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, loop, permission
        return None
    if not target.is_relative_to(base) or target == base:
        return None
    return target if target.is_file() else None
