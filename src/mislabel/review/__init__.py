"""The review page: look at each flagged sample and accept, keep, relabel or remove it.

Needs the ``ui`` extra (``pip install 'mislabel[ui]'``) to serve; :func:`export` needs only
the standard library. Decisions go to an append-only SQLite database (WAL) beside the issues
file, committed before the page is told they are saved; restarting resumes where you left.

Example:
    >>> from mislabel.review import serve, export                     # doctest: +SKIP
    >>> serve("issues.csv", "data/")                                   # doctest: +SKIP
    >>> export("issues.csv", "corrected.csv").counts                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mislabel._validation import optional_import
from mislabel.exceptions import InvalidInputError
from mislabel.review._data import IssuesTable, load_issues, read_classes_file
from mislabel.review._db import Store, default_db_path, read_states
from mislabel.review._export import EXPORT_ACTIONS, EXPORT_COLUMNS, ExportSummary, write_export
from mislabel.review._server import is_loopback, serve

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "EXPORT_ACTIONS",
    "EXPORT_COLUMNS",
    "ExportSummary",
    "create_app",
    "default_db_path",
    "export",
    "is_loopback",
    "load_issues",
    "serve",
]


def _load(issues_csv: Path, classes: Path | Sequence[str] | None) -> IssuesTable:
    if classes is None:
        names = None
    elif isinstance(classes, (str, os.PathLike)):
        names = read_classes_file(Path(classes))
    else:
        names = tuple(str(c) for c in classes)
    return load_issues(Path(issues_csv), classes=names)


def create_app(
    issues_csv: Path,
    data_root: Path | None = None,
    *,
    token: str | None = None,
    db_path: Path | None = None,
    classes: Path | Sequence[str] | None = None,
) -> FastAPI:
    """The review web app (a FastAPI instance), ready for uvicorn or a test client.

    Args:
        issues_csv: the issues file written by ``mislabel find``.
        data_root: the folder the ``path`` column is relative to (default: the issues
            file's folder).
        token: access token; when given, every request must carry it (``?token=`` on the
            first load, then a cookie), and any Host header is accepted. Without it only
            loopback Host headers are.
        db_path: decisions database (default: ``<issues stem>.review.sqlite`` beside the
            issues file); created when absent.
        classes: class names in display order, or a file with one a line.

    The open :class:`Store` is ``app.state.store``; close it when done.
    """
    optional_import("fastapi", "ui", "mislabel review")
    from mislabel.review._app import build_app

    table = _load(issues_csv, classes)
    root = Path(data_root) if data_root is not None else table.path.parent
    if not root.is_dir():
        raise InvalidInputError(
            f"The data root {str(root)!r} is not a folder; pass the folder the issues file's "
            "`path` column is relative to with --data."
        )
    if token is not None and len(token) < 8:
        raise InvalidInputError("The access token must be at least 8 characters long.")
    store = Store(
        Path(db_path) if db_path is not None else default_db_path(table.path),
        fingerprint=table.fingerprint,
    )
    return build_app(table, root, store, csrf_token=secrets.token_urlsafe(32), access_token=token)


def export(
    issues_csv: Path,
    out_csv: Path,
    *,
    db_path: Path | None = None,
    classes: Path | Sequence[str] | None = None,
) -> ExportSummary:
    """Write the corrected labels as CSV (``id,path,given_label,final_label,action``).

    ``action`` is accepted, kept, relabeled, removed or unreviewed; removed rows have an
    empty ``final_label``, unreviewed and skipped rows keep the given label. The file is
    written atomically (temporary file, then :func:`os.replace`). A missing database means
    nothing was reviewed yet; it is not created.
    """
    table = _load(issues_csv, classes)
    db = Path(db_path) if db_path is not None else default_db_path(table.path)
    states = read_states(db, fingerprint=table.fingerprint)
    return write_export(table, states, Path(out_csv), protect=(table.path, db))
