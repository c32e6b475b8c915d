"""--pred-probs from another tool: matched to the images by path, or their row order checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mislabel.data import load_dataset
from mislabel.exceptions import InvalidInputError

CLASSES = ("ant", "bee", "cat")
PER_CLASS = 30


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in CLASSES:
        (tmp_path / c).mkdir()
        for i in range(PER_CLASS):
            px = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
            Image.fromarray(px).save(tmp_path / c / f"{c}{i}.png")
    return tmp_path


def _probs_for(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Probabilities that mostly agree with the labels (as a trained model's would)."""
    p = rng.dirichlet(np.ones(3), size=labels.shape[0])
    p[np.arange(labels.shape[0]), labels] += 2.0
    return p / p.sum(axis=1, keepdims=True)


def test_a_table_is_matched_by_path_in_any_order(folder: Path, tmp_path_factory) -> None:
    data = load_dataset(folder)
    rng = np.random.default_rng(1)
    probs = _probs_for(data.labels, rng)
    shuffled = rng.permutation(data.n_samples)
    out = tmp_path_factory.mktemp("out")
    # another tool's order, absolute paths, class columns in another order
    frame = pd.DataFrame(
        {
            "path": [str((folder / data.paths[i]).resolve()) for i in shuffled],
            "cat": probs[shuffled, 2],
            "ant": probs[shuffled, 0],
            "bee": probs[shuffled, 1],
        }
    )
    frame.to_csv(out / "probs.csv", index=False)
    np.testing.assert_allclose(data.with_pred_probs(out / "probs.csv").pred_probs, probs)
    # relative paths with a folder in front, unnamed class columns in the data's order
    frame = pd.DataFrame(probs[shuffled], columns=["p0", "p1", "p2"])
    frame.insert(0, "image", [f"photos/{data.paths[i]}" for i in shuffled])
    frame.to_csv(out / "probs2.csv", index=False)
    np.testing.assert_allclose(data.with_pred_probs(out / "probs2.csv").pred_probs, probs)


def test_a_table_with_missing_or_unknown_rows_is_refused(folder: Path, tmp_path) -> None:
    data = load_dataset(folder)
    probs = _probs_for(data.labels, np.random.default_rng(1))
    frame = pd.DataFrame(probs, columns=list(CLASSES))
    frame.insert(0, "path", list(data.paths))
    frame.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"exactly one row per image .* no row for"):
        data.with_pred_probs(tmp_path / "short.csv")
    frame.assign(path=["elsewhere/x.png", *data.paths[1:]]).to_csv(
        tmp_path / "odd.csv", index=False
    )
    with pytest.raises(InvalidInputError, match="name no image of the data"):
        data.with_pred_probs(tmp_path / "odd.csv")
    frame.drop(columns=["path"]).to_csv(tmp_path / "nopath.csv", index=False)
    with pytest.raises(InvalidInputError, match="needs a path column"):
        data.with_pred_probs(tmp_path / "nopath.csv")


def test_an_array_in_another_order_is_refused(folder: Path, tmp_path) -> None:
    data = load_dataset(folder)
    rng = np.random.default_rng(1)
    probs = _probs_for(data.labels, rng)
    np.save(tmp_path / "aligned.npy", probs)
    np.testing.assert_allclose(data.with_pred_probs(tmp_path / "aligned.npy").pred_probs, probs)
    np.save(tmp_path / "shuffled.npy", probs[rng.permutation(data.n_samples)])
    with pytest.raises(InvalidInputError, match="do not seem to follow the data's order"):
        data.with_pred_probs(tmp_path / "shuffled.npy")
