"""Corrected labels as CSV: ``id,path,given_label,final_label,action``.

``action`` is one of :data:`EXPORT_ACTIONS`. Removed rows have an empty ``final_label``;
unreviewed (and skipped) rows keep the given label. Every row of the issues file is
exported, by id (dataset order).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mislabel._atomic import atomic_write, escape_cell
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
        yield (
            str(s.id),
            escape_cell(s.path),
            escape_cell(s.given_label),
            escape_cell(final),
            action,
        )


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
    """Write the export atomically (:func:`mislabel._atomic.atomic_write`). ``protect``
    lists files that must not be overwritten (the issues file,
    the database)."""
    out_csv = Path(os.fspath(out_csv))
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
    n = 0

    def write(fh: IO[bytes]) -> None:
        nonlocal n
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in export_rows(table, states):
            writer.writerow(row)
            counts[row[4]] += 1
            n += 1
        text.flush()
        text.detach()  # leave ``fh`` open for atomic_write's fsync

    atomic_write(out_csv, write)
    return ExportSummary(path=out_csv, n_rows=n, counts=dict(counts))
