"""Every code block of the guides, the getting-started page and README.md runs (see
``_blocks.py`` for the conventions), so the documentation cannot drift from the library."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.docs._blocks import blocks, script

ROOT = Path(__file__).resolve().parents[2]
#: The pages that teach; the results pages quote the benchmarks' code, which runs in benchmarks/.
PAGES = [
    p
    for p in (
        ROOT / "README.md",
        ROOT / "docs" / "index.md",
        ROOT / "docs" / "getting-started.md",
        *sorted((ROOT / "docs" / "guides").glob("*.md")),
    )
    if p.is_file()
]
RUNNABLE = [
    p for p in PAGES if any(not b.skip and b.kind != "other" for b in blocks(p.read_text()))
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else src
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["CUDA_VISIBLE_DEVICES"] = ""  # the examples say device="auto": keep them on the CPU
    return env


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _missing_modules(text: str) -> list[str]:
    """Top-level modules the page's code imports (or its commands need) that are absent."""
    code = "\n".join(b.code for b in blocks(text) if not b.skip and b.kind != "other")
    names = set(re.findall(r"^\s*(?:from|import)\s+(\w+)", code, flags=re.MULTILINE))
    if "NoiseAwareClassifier" in code or "mislabel train" in code:
        names.add("torch")
    if 'backend="dask"' in code:
        names.add("distributed")
    if "mislabel report" in code:
        names.add("matplotlib")
    if "--make-folder" in code or "mislabel find photos" in code:
        names.add("PIL")
    return sorted(n for n in names if importlib.util.find_spec(n) is None)


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page: Path, tmp_path: Path) -> None:
    missing = _missing_modules(page.read_text())
    if missing and not _on_ci():  # on CI every extra is installed: a missing one must fail
        pytest.skip(f"{page.name} needs {', '.join(missing)}")
    rel = page.relative_to(ROOT)
    (tmp_path / "page.py").write_text(script(rel, page.read_text()))
    proc = subprocess.run(
        [sys.executable, "page.py"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{rel} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"


def test_skips_are_few() -> None:
    skipped = [(p.name, b.line) for p in PAGES for b in blocks(p.read_text()) if b.skip]
    runnable = [b for p in PAGES for b in blocks(p.read_text()) if b.kind != "other"]
    assert len(skipped) <= max(8, len(runnable) // 4), skipped
