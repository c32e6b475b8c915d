"""The HTML report: self-contained, with the figures and the top suspects."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
PIL = pytest.importorskip("PIL.Image")

from mislabel.data import find_issues_in, load_dataset, load_find_outputs, load_predictions  # noqa: E402
from mislabel.exceptions import InvalidInputError  # noqa: E402
from mislabel.report import render_report, write_report  # noqa: E402


def _probs(n: int = 120, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n) * 0.3
    probs[np.arange(n), true] += 0.7
    given = true.copy()
    given[:12] = (true[:12] + 1) % k
    return probs, given


def _no_external_urls(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"(src|href)=['\"]?//", page)


def test_report_from_pred_probs(tmp_path: Path) -> None:
    probs, given = _probs()
    data = load_predictions(probs, given, classes=["ant", "bee", "cat", "<dog>"])
    find_issues_in(data).save(tmp_path)
    path = write_report(tmp_path, top=5, title="My <report>")
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    _no_external_urls(page)
    assert page.count("data:image/png;base64,") == 3  # the three figures, no thumbnails
    for heading in ("Estimated noise matrix", "Score histograms", "Issues per class"):
        assert heading in page
    assert "My &lt;report&gt;" in page and "&lt;dog&gt;" in page  # escaped
    assert "<dog>" not in page
    assert page.count("<tr><td class='num'>") == 5
    assert "12 flagged in all" in page or "flagged in all" in page
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_shows_thumbnails_text_and_missing_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(6):
            px = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) // (1 if c == "a" else 4)
            PIL.fromarray(px).save(tmp_path / "img" / c / f"{i}.png")
    (tmp_path / "img" / "b" / "5.png").rename(tmp_path / "img" / "a" / "6.png")
    data = load_dataset(tmp_path / "img")
    find_issues_in(data, cv=2).save(tmp_path / "out")
    out = load_find_outputs(tmp_path / "out")
    page = render_report(out, top=12)
    _no_external_urls(page)
    assert page.count("data:image/png;base64,") == 3 + 12
    assert "a/6.png" in page
    # a thumbnail whose file has gone is reported, not fatal
    (tmp_path / "img" / "a" / "6.png").unlink()
    assert "image not found" in render_report(load_find_outputs(tmp_path / "out"), top=12)


def test_report_of_text_shows_the_text(tmp_path: Path) -> None:
    import pandas as pd

    words = {"x": "alpha beta gamma", "y": "delta epsilon zeta"}
    rows = [
        {"text": f"{words['x' if i % 2 else 'y']} {i}", "label": "x" if i % 2 else "y"}
        for i in range(40)
    ]
    rows[3]["label"] = "y"
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    find_issues_in(load_dataset(tmp_path / "t.csv"), cv=2, text_embedding="tfidf").save(tmp_path)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "alpha beta gamma" in page


def test_report_needs_find_outputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"lacks issues\.csv"):
        write_report(tmp_path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        write_report(tmp_path / "nope")
