"""Helpers shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data() -> Path:
    """../shared/data beside the checkout, or $MISLABEL_DATA."""
    env = os.environ.get("MISLABEL_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    raise SystemExit("shared/data not found beside the checkout; set MISLABEL_DATA")
