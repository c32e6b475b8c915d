"""`import mislabel` stays light: no torch, no optional extras."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_heavy_dependencies() -> None:
    code = (
        "import sys, mislabel\n"
        "heavy = [m for m in ('torch', 'fastai', 'fastapi', 'matplotlib', 'dask', 'cleanlab')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import mislabel imported {out.stdout.strip()}"


def test_public_api_is_explicit() -> None:
    import mislabel

    assert set(mislabel.__all__) >= {
        "cross_val_pred_probs",
        "label_quality_scores",
        "estimate_noise",
        "find_label_issues",
        "health_summary",
        "LabelIssues",
        "metrics",
        "InvalidInputError",
    }
    for name in mislabel.__all__:
        assert hasattr(mislabel, name), name
