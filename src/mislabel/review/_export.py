"""Corrected labels as CSV: ``id,path,given_label,final_label,action``.

``action`` is one of :data:`EXPORT_ACTIONS`. Removed rows have an empty ``final_label``;
unreviewed (and skipped) rows keep the given label. Every row of the issues file is
exported, by id (dataset order).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mislabel.exceptions import InvalidInputError
from mislabel.review._data import IssuesTable
from mislabel.review._db import State

__all__ = ["EXPORT_ACTIONS", "EXPORT_COLUMNS", "ExportSummary", "export_csv_text", "write_export"]

EXPORT_COLUMNS: tuple[str, ...] = ("id", "path", "given_label", "final_label", "action")
EXPORT_ACTIONS: tuple[str, ...] = ("accepted", "kept", "relabeled", "removed", "unreviewed")


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`mislabel.review.export` wrote.

    Attributes:
        path: the CSV written.
        n_rows: rows written (every sample of the issues file).
        counts: rows per action, every action of :data:`EXPORT_ACTIONS` present.
    """

    path: Path
    n_rows: int
    counts: Mapping[str, int]


def export_rows(table: IssuesTable, states: Mapping[int, State]) -> Iterator[tuple[str, ...]]:
    """One export row per sample, by id."""
    for s in sorted(table.samples, key=lambda s: s.id):
        st = states.get(s.id)
        if st is None or st.action == "skipped":
            final, action = s.given_label, "unreviewed"
        elif st.action == "removed":
            final, action = "", "removed"
        else:
            final, action = st.label or "", st.action
        yield (str(s.id), s.path, s.given_label, final, action)


def export_csv_text(table: IssuesTable, states: Mapping[int, State]) -> str:
    """The export as one string (for the page's download)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(export_rows(table, states))
    return buf.getvalue()


def write_export(
    table: IssuesTable, states: Mapping[int, State], out_csv: Path, *, protect: tuple[Path, ...]
) -> ExportSummary:
    """Write the export atomically: a temporary file in the target folder, then
    :func:`os.replace`. ``protect`` lists files that must not be overwritten (the issues file,
    the database)."""
    out_csv = Path(out_csv)
    if not out_csv.parent.is_dir():
        raise InvalidInputError(
            f"The export's folder {str(out_csv.parent)!r} does not exist; create it first."
        )
    target = out_csv.resolve()
    for p in protect:
        if Path(p).exists() and Path(p).resolve() == target:
            raise InvalidInputError(
                f"Refusing to write the export over {str(p)!r}, an input of the review. Pick "
                "another file name."
            )
    counts: Counter[str] = Counter({a: 0 for a in EXPORT_ACTIONS})
    fd, tmp = tempfile.mkstemp(prefix=f".{out_csv.name}.", suffix=".tmp", dir=out_csv.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
            n = 0
            for row in export_rows(table, states):
                writer.writerow(row)
                counts[row[4]] += 1
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode an ordinary file would get.
        mode = out_csv.stat().st_mode & 0o777 if out_csv.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, out_csv)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return ExportSummary(path=out_csv, n_rows=n, counts=dict(counts))
