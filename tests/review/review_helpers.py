"""Helpers for the review tests: a tiny image dataset with its issues file, and a real uvicorn
subprocess running ``mislabel.review.serve``. (A uniquely named module: the test folders have
no ``__init__.py``, so module names must not clash across folders.)"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CLASSES = ("cat", "dog", "bird", "fish")
COLUMNS = (
    "id",
    "path",
    "given_label",
    "suggested_label",
    "suggested_prob",
    "score",
    "is_issue",
    "top1_label",
    "top1_prob",
    "top2_label",
    "top2_prob",
    "top3_label",
    "top3_prob",
)
_COLOURS = {
    "cat": (230, 126, 34),
    "dog": (52, 152, 219),
    "bird": (46, 204, 113),
    "fish": (155, 89, 182),
}


def issue_row(
    i: int,
    *,
    path: str = "",
    given: str,
    suggested: str,
    score: float,
    is_issue: bool,
    **extra: Any,
) -> dict[str, Any]:
    """One issues-file row with a plausible top-3."""
    others = [c for c in CLASSES if c not in (suggested, given)]
    p1 = round(0.55 + 0.2 * (1 - score), 3)
    p2 = round((1 - p1) * 0.7, 3)
    p3 = round(1 - p1 - p2, 3)
    second, third = (given, others[0]) if given != suggested else (others[0], others[1])
    row = {
        "id": i,
        "path": path,
        "given_label": given,
        "suggested_label": suggested,
        "suggested_prob": p1,
        "score": round(score, 4),
        "is_issue": "true" if is_issue else "false",
        "top1_label": suggested,
        "top1_prob": p1,
        "top2_label": second,
        "top2_prob": p2,
        "top3_label": third,
        "top3_prob": p3,
    }
    row.update(extra)
    return row


def write_issues(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] = COLUMNS
) -> Path:
    """Write rows as an issues CSV (extra keys become extra columns)."""
    cols = list(columns) + sorted({k for r in rows for k in r} - set(columns))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    return path


def draw_png(path: Path, label: str, i: int) -> None:
    """A 64x64 PNG: class colour, a white bar whose height encodes the sample."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 64), _COLOURS[label])
    draw = ImageDraw.Draw(img)
    draw.rectangle((8, 56 - (i % 40), 20, 56), fill=(255, 255, 255))
    draw.ellipse((30, 14, 56, 40), outline=(20, 20, 20), width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


@dataclass(frozen=True)
class Dataset:
    issues: Path
    root: Path
    rows: list[dict[str, Any]]

    @property
    def flagged_order(self) -> list[int]:
        """Flagged ids, most suspect first (the default review order)."""
        flagged = [r for r in self.rows if r["is_issue"] == "true"]
        return [r["id"] for r in sorted(flagged, key=lambda r: (float(r["score"]), r["id"]))]

    def row(self, i: int) -> dict[str, Any]:
        return next(r for r in self.rows if r["id"] == i)


def make_dataset(base: Path, n: int = 36, n_issues: int = 26) -> Dataset:
    """``n`` images under ``base/data/<class>/``; the first ``n_issues`` ids are flagged with
    scores in a shuffled (but deterministic) order."""
    root = base / "data"
    rows = []
    for i in range(n):
        given = CLASSES[i % len(CLASSES)]
        flagged = i < n_issues
        suggested = CLASSES[(i + 1 + i // 7) % len(CLASSES)] if flagged else given
        if suggested == given:
            suggested = CLASSES[(i + 2) % len(CLASSES)] if flagged else given
        score = ((i * 37) % n_issues) / (n_issues * 2) if flagged else 0.6 + (i % 10) / 30
        rel = f"{given}/img_{i:03d}.png"
        draw_png(root / rel, suggested if flagged else given, i)
        rows.append(
            issue_row(i, path=rel, given=given, suggested=suggested, score=score, is_issue=flagged)
        )
    issues = write_issues(base / "issues.csv", rows)
    return Dataset(issues=issues, root=root, rows=rows)


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


# ----------------------------------------------------------------------------- real server

_SERVE = """
import sys
from mislabel.review import serve
serve(sys.argv[1], sys.argv[2], port=0, on_ready=lambda url: print(url, flush=True))
"""


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str

    def csrf_token(self) -> str:
        page = httpx.get(self.url, timeout=10).text
        match = re.search(r'name="mislabel-token" content="([^"]+)"', page)
        assert match, page[:500]
        return match.group(1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_server(issues: Path, root: Path, *, timeout: float = 30.0) -> Server:
    """Run ``serve()`` in a subprocess on a free loopback port; return once it answers."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(issues), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"server did not start: {url!r} {err[-2000:]}")
    server = Server(proc, url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "api/meta", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            server.stop()
            raise RuntimeError("server did not answer /api/meta")
        time.sleep(0.05)


# ----------------------------------------------------------------------------- annotated data

ANNOTATORS = ("ana", "ben", "cat")


def make_annotated_find(base: Path) -> Path:
    """``mislabel find`` on a long annotation table (three annotators per row of a small
    table, ``cat`` often wrong, ``ana`` and ``ben`` both wrong on three rows, which find flags);
    returns the ``issues.csv`` it wrote (with a ``votes`` column)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mislabel.data import find_issues_in, load_dataset

    rng = np.random.default_rng(0)
    rows = []
    for i in range(45):
        y = i % 3
        x = rng.normal(3 * y, 0.6, 2)
        for a in ANNOTATORS:
            label = y if (a != "cat" or rng.random() < 0.5) else (y + 1) % 3
            if i % 15 == 7 and a != "cat":  # a wrong consensus for find to flag
                label = (y + 1) % 3
            rows.append({"item": f"s{i:02d}", "x1": x[0], "x2": x[1], "who": a, "label": label})
    base.mkdir(parents=True, exist_ok=True)
    table = base / "votes.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    data = load_dataset(table, annotator_column="who")
    result = find_issues_in(data, cv=3, model=LogisticRegression())
    return result.save(base / "found")["issues.csv"]
