"""Griffe extension for the API reference: the reStructuredText bits of the docstrings
(``:func:`x```, ``.. math::``, ``text::`` literal blocks) rewritten as Markdown.

The docstrings stay readable in ``help()`` and editors; this only changes how the docs site
renders them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`~?([^`]+)`")
_TILDE_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`~([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")


def _short(match: re.Match[str]) -> str:
    return "`" + match.group(1).rsplit(".", 1)[-1] + "`"


def _math_blocks(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _MATH_DIRECTIVE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, first = m.group(1), m.group(2).strip()
        body = [first] if first else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            if lines[i].strip():
                body.append(lines[i].strip())
            elif body:
                # a blank line after the body ends the directive unless more indented text follows
                nxt = lines[i + 1] if i + 1 < len(lines) else ""
                if not nxt.strip() or len(nxt) - len(nxt.lstrip()) <= len(indent):
                    break
            i += 1
        out += ["", f"{indent}$$", *(f"{indent}{b}" for b in body), f"{indent}$$", ""]
    return "\n".join(out)


_BORDER = re.compile(r"^(\s*)(=+)( +=+)+\s*$")


def _columns(border: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"=+", border)]


def _cells(line: str, cols: list[tuple[int, int]]) -> list[str]:
    out = []
    for i, (start, _) in enumerate(cols):
        end = cols[i + 1][0] if i + 1 < len(cols) else len(line)
        out.append(line[start:end].strip())
    return out


def _simple_tables(text: str) -> str:
    """reST simple tables (``====  ====`` borders) as Markdown tables; a row whose first cell
    is empty, or starts with "(", continues the row above."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _BORDER.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, cols = m.group(1), _columns(lines[i])
        rows: list[list[str]] = []
        borders = 1
        i += 1
        header_rows = 0
        while i < len(lines) and borders < 3:
            if _BORDER.match(lines[i]):
                borders += 1
                i += 1
                if borders == 2:
                    header_rows = len(rows)
                    if i >= len(lines) or not lines[i].strip():  # a table without a header
                        break
                continue
            cells = _cells(lines[i], cols)
            if rows and (not cells[0] or cells[0].startswith("(")):
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
            elif any(cells):
                rows.append(cells)
            i += 1
        if borders == 2 and header_rows == len(rows):  # two borders: header-less table
            header_rows = 0
        header = rows[:header_rows] or [[""] * len(cols)]
        body = rows[header_rows:]
        md = ["| " + " | ".join(header[0]) + " |", "|" + "---|" * len(cols)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
        out += ["", *(indent + row for row in md), ""]
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """The Markdown form of a docstring written with a few reStructuredText constructs."""
    text = _simple_tables(text)
    text = _TILDE_ROLE.sub(_short, text)
    text = _ROLE.sub(r"`\1`", text)
    text = _MATH_ROLE.sub(r"$\1$", text)
    text = _math_blocks(text)
    # "Example::" followed by an indented block: Markdown needs no double colon.
    return re.sub(r"(\S)::\n", r"\1:\n", text)


class RstDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
