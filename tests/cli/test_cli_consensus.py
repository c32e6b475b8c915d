"""``mislabel consensus``: a long annotation table in, the library's consensus out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from mislabel.cli import app
from mislabel.multiannotator import consensus

runner = CliRunner()
CLASSES = ["cat", "dog", "owl"]


def _votes(tmp: Path) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        t = int(rng.integers(0, 3))
        for a in rng.choice(5, 3, replace=False):
            lab = t if rng.random() < 0.8 else int(rng.integers(0, 3))
            rows.append((f"img{i:02d}", f"ann{a}", CLASSES[lab]))
    frame = pd.DataFrame(rows, columns=["file", "who", "tag"])
    frame.to_csv(tmp / "votes.csv", index=False)
    return tmp / "votes.csv", frame


def test_consensus_command_writes_the_library_result(tmp_path: Path) -> None:
    path, frame = _votes(tmp_path)
    out = tmp_path / "out"
    args = ["consensus", str(path), "--annotator-column", "who", "--item-column", "file"]
    res = runner.invoke(app, [*args, "--label-column", "tag", "-o", str(out), "--top", "3"])
    assert res.exit_code == 0, res.output
    assert "60 items, 5 annotators, 3 classes" in res.output
    written = pd.read_csv(out / "consensus.csv")
    lib = consensus(
        frame.assign(tag=frame["tag"].map(CLASSES.index)),
        item_column="file",
        annotator_column="who",
        label_column="tag",
    )
    assert written["file"].tolist() == list(lib.items)
    assert written["consensus_label"].tolist() == [CLASSES[k] for k in lib.labels]
    np.testing.assert_allclose(written["quality"], lib.quality)
    annotators = pd.read_csv(out / "annotators.csv")
    assert set(annotators["who"]) == {f"ann{a}" for a in range(5)}


def test_consensus_command_errors(tmp_path: Path) -> None:
    path, _ = _votes(tmp_path)
    res = runner.invoke(app, ["consensus", str(path)])
    assert res.exit_code == 2
    assert "'annotator' not found in votes.csv" in res.output
    np.save(tmp_path / "p.npy", np.full((60, 2), 0.5))
    columns = ["--annotator-column", "who", "--item-column", "file", "--label-column", "tag"]
    res = runner.invoke(app, ["consensus", str(path), *columns, "--probs", str(tmp_path / "p.npy")])
    assert res.exit_code == 2
    assert "`--probs` must have one column per class (3" in res.output
