"""MkDocs hook: ``<!-- mislabel-help: CMD -->`` in a page becomes the ``--help`` text of
``mislabel CMD`` (``<!-- mislabel-help -->`` alone: of ``mislabel``), rendered at build time so
the command-line reference cannot drift from the code. A page that uses the markers must name
every command; a missing one is a warning (an error under ``mkdocs build --strict``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("mkdocs.plugins.mislabel_cli_help")
_MARKER = re.compile(r"<!-- mislabel-help(?::\s*([\w-]+))?\s*-->")


def _help(args: list[str]) -> str:
    from typer.testing import CliRunner

    from mislabel.cli import app

    result = CliRunner().invoke(
        app, [*args, "--help"], env={"COLUMNS": "84", "NO_COLOR": "1", "TERM": "dumb"}
    )
    if result.exit_code != 0:
        raise RuntimeError(f"mislabel {' '.join(args)} --help failed: {result.output}")
    return "\n".join(_unbox(line) for line in result.output.strip("\n").splitlines()).strip()


def _unbox(line: str) -> str:
    """The panels of rich's help without their frame: "╭─ Options ─╮" becomes "Options:"."""
    stripped = line.strip()
    if stripped.startswith("╭─"):
        return stripped.strip("╭╮─ ") + ":"
    if stripped.startswith("╰"):
        return ""
    if stripped.startswith("│"):
        return " " + stripped[1:].rstrip("│").rstrip()
    return line.rstrip()


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if not _MARKER.search(markdown):
        return markdown
    import typer

    from mislabel.cli import app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    named = {m.group(1) for m in _MARKER.finditer(markdown) if m.group(1)}
    for missing in sorted(commands - named):
        log.warning("%s: no <!-- mislabel-help: %s --> for `mislabel %s`", page.file.src_path,
                    missing, missing)

    def render(m: re.Match[str]) -> str:
        args = [m.group(1)] if m.group(1) else []
        return "```text\n" + _help(args) + "\n```"

    return _MARKER.sub(render, markdown)
