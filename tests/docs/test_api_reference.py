"""Every public module has its page in the API reference (docs/api/), rendered from its
docstrings by mkdocstrings (``make test`` builds the site with ``--strict``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "mislabel"


def _public_modules() -> set[str]:
    mods = {"mislabel", "mislabel.metrics", "mislabel.exceptions"}
    for init in SRC.glob("*/__init__.py"):
        if not init.parent.name.startswith("_"):
            mods.add(f"mislabel.{init.parent.name}")
    for path in (SRC / "integrations").glob("*.py"):
        if not path.name.startswith("_"):
            mods.add(f"mislabel.integrations.{path.stem}")
    mods.discard("mislabel.integrations")  # an index of its two submodules
    mods.discard("mislabel.cli")  # docs/api/cli.md: the --help texts, rendered at build time
    return mods


def test_every_public_module_has_a_reference_page() -> None:
    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)", text, flags=re.MULTILINE))
    assert _public_modules() <= documented, sorted(_public_modules() - documented)


def test_every_reference_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    missing = [p for p in pages if not p.startswith("_") and p not in nav]
    assert not missing, missing
