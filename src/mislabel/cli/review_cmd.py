"""``mislabel review``: the review web page, or ``--export`` of the corrected labels.

Registered by :mod:`mislabel.cli` as ``app.command("review")(review_command)``. Library
errors propagate; the CLI layer turns them into one red line and exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["review_command"]


def _find_defaults(
    issues: Path, data: Path | None, classes: Path | None
) -> tuple[Path, Path | None, Path | None]:
    """Fill in what the output folder of ``mislabel find`` already says: ``issues.csv`` in a
    folder, ``classes.txt`` (class order) and ``find.json``'s ``image_root`` (data root)."""
    if issues.is_dir():
        issues = issues / "issues.csv"
    folder = issues.parent
    if classes is None and (folder / "classes.txt").is_file():
        classes = folder / "classes.txt"
    if data is None:
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            root = json.loads((folder / "find.json").read_text(encoding="utf-8")).get("image_root")
            if isinstance(root, str) and Path(root).is_dir():
                data = Path(root)
    return issues, data, classes


def review_command(
    issues: Annotated[
        Path,
        typer.Argument(
            help="The issues.csv written by `mislabel find`, or its folder.", show_default=False
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder the `path` column is relative to (default: the image root recorded in "
            "find.json beside the issues file, else the issues file's folder).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but loopback warns and requires an "
            "access token (--token, or a random one shown in the printed URL).",
        ),
    ] = "127.0.0.1",
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write the corrected labels (id,path,given_label,final_label,action) to this "
            "CSV and exit without serving.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Access token the page requires (default: none on loopback, random otherwise).",
            show_default=False,
        ),
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option(
            "--classes",
            help="Class names, one a line, in display order (default: classes.txt beside the "
            "issues file, when there is one).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="Decisions database (default: beside the issues file, issues.csv → "
            "issues.review.sqlite).",
            show_default=False,
        ),
    ] = None,
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser/--browser", help="Do not open / open a web browser."),
    ] = True,
) -> None:
    """Review flagged samples in a local web page: accept, keep, relabel or remove."""
    from mislabel.review import export as export_labels
    from mislabel.review import serve

    issues, data, classes = _find_defaults(issues, data, classes)
    if export is not None:
        summary = export_labels(issues, export, db_path=db, classes=classes)
        counts = ", ".join(f"{n} {action}" for action, n in summary.counts.items() if n)
        typer.echo(f"Wrote {summary.n_rows} rows to {summary.path} ({counts}).")
        return

    def ready(url: str) -> None:
        typer.echo(f"mislabel review: {url}  (Ctrl+C to stop; decisions are saved as you go)")
        if not no_browser:
            threading.Timer(0.5, webbrowser.open_new_tab, args=(url,)).start()

    serve(
        issues,
        data,
        host=host,
        port=port,
        token=token,
        db_path=db,
        classes=classes,
        on_ready=ready,
    )
