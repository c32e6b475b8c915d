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


def rst_to_markdown(text: str) -> str:
    """The Markdown form of a docstring written with a few reStructuredText constructs."""
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
