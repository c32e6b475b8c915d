"""The documentation's figures draw from the committed results and the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from benchmarks import plots  # noqa: E402


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("plot", [plots.plot_gap_closed, plots.plot_losses])
def test_plots_from_committed_results(plot, tmp_path: Path) -> None:
    assert _is_png(plot(plt, tmp_path))


@pytest.mark.shared_data
@pytest.mark.parametrize("plot", [plots.plot_detection, plots.plot_noise_matrix])
def test_plots_from_shared_data(plot, tmp_path: Path, shared_data: Path, monkeypatch) -> None:
    pytest.importorskip("cleanlab")
    monkeypatch.setenv("MISLABEL_DATA", str(shared_data))
    assert _is_png(plot(plt, tmp_path))
