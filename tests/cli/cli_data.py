"""Helpers: tiny synthetic datasets in tmp_path: an image folder, an image CSV, a table, a text CSV.

Each has three easy classes and about 10 % of its labels flipped, so a find run has something
to find; all are small enough that a 3-fold run takes well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("circle", "cross", "square")


def _pattern(c: int, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    mid = (size - 1) / 2
    if c == 0:
        return ((yy - mid) ** 2 + (xx - mid) ** 2 <= (size / 3) ** 2).astype(float)
    if c == 1:
        return ((np.abs(yy - mid) < 1) | (np.abs(xx - mid) < 1)).astype(float)
    return ((np.abs(yy - mid) <= size / 3) & (np.abs(xx - mid) <= size / 3)).astype(float)


def make_image_folder(
    root: Path, *, n_per_class: int = 14, size: int = 12, flip_every: int = 10, seed: int = 0
) -> tuple[Path, dict[str, str]]:
    """Class subfolders of PNGs; every ``flip_every``-th image sits in the wrong folder.

    Returns the folder and {relative path: true class} of the misplaced ones.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    wrong: dict[str, str] = {}
    i = 0
    for c, name in enumerate(CLASSES):
        for j in range(n_per_class):
            img = _pattern(c, size) * 200 + rng.normal(0, 25, (size, size)) + 25
            rgb = np.clip(np.stack([img, img * 0.8, img * 0.6], axis=-1), 0, 255).astype(np.uint8)
            folder = name
            if i % flip_every == flip_every - 1:
                folder = CLASSES[(c + 1) % len(CLASSES)]
            (root / folder).mkdir(exist_ok=True)
            rel = f"{folder}/{name}_{j:02d}.png"
            Image.fromarray(rgb).save(root / rel)
            if folder != name:
                wrong[rel] = name
            i += 1
    return root, wrong


def make_table(path: Path, *, n: int = 90, seed: int = 0) -> Path:
    """A CSV with numeric and categorical features and a 'label' column (10 % flipped)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(0, 1, (n, 3)) + np.eye(3)[y] * 3
    given = y.copy()
    flip = rng.choice(n, n // 10, replace=False)
    given[flip] = (y[flip] + 1) % 3
    frame = pd.DataFrame(
        {
            "f1": x[:, 0],
            "f2": x[:, 1],
            "f3": x[:, 2],
            "colour": np.array(["red", "green", "blue"])[rng.integers(0, 3, n)],
            "label": np.array(CLASSES)[given],
        }
    )
    frame.to_csv(path, index=False)
    return path


_WORDS = {
    "circle": ["round", "ball", "ring", "orbit", "wheel", "loop"],
    "cross": ["plus", "intersect", "junction", "x", "crossing", "mark"],
    "square": ["box", "grid", "tile", "block", "cube", "frame"],
}


def make_text_csv(path: Path, *, n: int = 60, seed: int = 0) -> Path:
    """A CSV with 'text' and 'label' columns (10 % of labels flipped)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        c = i % 3
        words = [*rng.choice(_WORDS[CLASSES[c]], 4).tolist(), "the", "a", "shape"]
        rng.shuffle(words)
        given = CLASSES[(c + 1) % 3] if i % 10 == 9 else CLASSES[c]
        rows.append({"text": " ".join(words), "label": given})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
