"""``mislabel find TABLE --annotator-column``: a long annotation table, consensus, then find."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_data import CLASSES, make_image_folder
from typer.testing import CliRunner

from mislabel.cli import app
from mislabel.data import find_issues_in, load_dataset, load_find_outputs
from mislabel.exceptions import InvalidInputError

runner = CliRunner()
ANNOTATORS = ("ana", "ben", "cat")


def make_annotations(root: Path) -> tuple[Path, pd.DataFrame, set[str]]:
    """Images of make_image_folder, three votes each: ana and ben are wrong on different tenths
    of the images, cat (unreliable) on about 40 % of the others; on the misplaced images ana and
    ben both give the folder's (wrong) class, so the consensus is wrong there and find should
    flag them.

    Returns the CSV, the table with a ``truth`` column, and the paths whose consensus is wrong.
    """
    folder, wrong = make_image_folder(root / "images", n_per_class=14)
    rng = np.random.default_rng(1)
    rows = []
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    for i, rel in enumerate(paths):
        truth = CLASSES.index(rel.split("/")[1].split("_")[0])
        folder_class = CLASSES.index(rel.split("/")[0])
        other = (truth + 1 + int(rng.integers(0, 2))) % 3
        for a in ANNOTATORS:
            if rel in wrong and a != "cat":
                label = folder_class
            elif (a == "ana" and i % 10 == 3) or (a == "ben" and i % 10 == 6):
                label = other
            elif a == "cat" and i % 10 not in (3, 6) and rng.random() < 0.4:
                label = int((truth + 1 + rng.integers(0, 2)) % 3)
            else:
                label = truth
            rows.append(
                {
                    "path": f"images/{rel}",
                    "worker": a,
                    "label": CLASSES[label],
                    "truth": CLASSES[truth],
                }
            )
    frame = pd.DataFrame(rows)
    csv = root / "votes.csv"
    frame.drop(columns=["truth"]).to_csv(csv, index=False)
    return csv, frame, {f"images/{p}" for p in wrong}


@pytest.fixture
def annotated(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame, set[str]]:
    csv, frame, wrong = make_annotations(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["find", str(csv), "--annotator-column", "worker", "-o", str(out), "--cv", "3"],
    )
    assert res.exit_code == 0, res.output
    assert "consensus of 126 votes by 3 annotators" in res.output
    return csv, out, frame, wrong


def test_find_on_annotations_flags_the_wrong_consensus_and_writes_the_votes(
    annotated: tuple[Path, Path, pd.DataFrame, set[str]],
) -> None:
    _, out, frame, wrong = annotated
    issues = pd.read_csv(out / "issues.csv")
    assert len(issues) == 42  # one row per image, not per vote
    for col in ("n_annotations", "agreement", "consensus_quality", "votes"):
        assert col in issues.columns
    assert (issues["n_annotations"] == 3).all()
    flagged = set(issues.loc[issues["is_issue"], "path"])
    assert len(flagged & wrong) >= 3

    row = issues.set_index("path").loc[sorted(wrong)[0]]
    votes = json.loads(row["votes"])
    given = frame[frame["path"] == sorted(wrong)[0]].set_index("worker")["label"].to_dict()
    assert votes == given
    assert row["given_label"] == given["ana"] == given["ben"]  # the consensus of the two

    annotators = pd.read_csv(out / "annotators.csv")
    assert annotators["worker"].tolist()[-1] == "cat"  # the unreliable one ranks last
    meta = json.loads((out / "find.json").read_text())
    assert "annotators.csv" in meta["files"]
    assert meta["labels"] == "consensus" and meta["n_annotators"] == 3
    back = load_find_outputs(out)
    assert back.issues["n_annotations"].dtype.kind == "i"


def test_consensus_beats_every_single_annotator(tmp_path: Path) -> None:
    csv, frame, _ = make_annotations(tmp_path)
    data = load_dataset(csv, annotator_column="worker")
    assert data.kind == "images" and data.n_samples == 42 and data.annotations is not None
    truth = frame.drop_duplicates("path").set_index("path")["truth"]
    names = np.asarray(data.classes)
    assert data.paths is not None
    consensus_acc = np.mean(names[data.labels] == truth.loc[list(data.paths)].to_numpy())
    for a in ANNOTATORS:
        mine = frame[frame["worker"] == a]
        assert consensus_acc > np.mean(mine["label"] == mine["truth"]), a
    votes = data.annotations
    quality = dict(zip(votes.annotators, votes.consensus.annotator_quality, strict=True))
    assert quality["cat"] < min(quality["ana"], quality["ben"])


def test_find_on_annotations_of_a_table_keeps_the_item_column_out_of_the_features(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        y = i % 3
        x = rng.normal(3 * y, 0.5, 2)
        for a in ANNOTATORS:
            label = y if (a != "cat" or rng.random() < 0.5) else (y + 1) % 3
            rows.append({"item": f"s{i}", "x1": x[0], "x2": x[1], "who": a, "label": label})
    csv = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    data = load_dataset(csv, annotator_column="who")
    assert data.kind == "tabular" and list(data.X.columns) == ["x1", "x2"]
    frame = find_issues_in(data, cv=3).to_frame()
    assert json.loads(frame["votes"].iloc[0]).keys() == set(ANNOTATORS)
    assert json.loads(frame["features"].iloc[0]).keys() == {"x1", "x2"}


def test_find_without_annotations_leaves_no_stale_annotators_file(
    annotated: tuple[Path, Path, pd.DataFrame, set[str]], tmp_path: Path
) -> None:
    csv, out, _, _ = annotated
    res = runner.invoke(app, ["find", str(csv.parent / "images"), "-o", str(out), "--cv", "3"])
    assert res.exit_code == 0, res.output
    assert not (out / "annotators.csv").exists()
    assert "votes" not in pd.read_csv(out / "issues.csv").columns


def test_missing_annotator_column_names_it(tmp_path: Path) -> None:
    csv, _, _ = make_annotations(tmp_path)
    with pytest.raises(InvalidInputError, match="annotator column 'annotator' not found"):
        load_dataset(csv, annotator_column="annotator")
    res = runner.invoke(app, ["find", str(csv), "--annotator-column", "who", "-o", str(tmp_path)])
    assert res.exit_code == 2
    assert "annotator column 'who' not found" in res.output


def test_item_with_conflicting_features_is_refused(tmp_path: Path) -> None:
    rows = [{"item": i, "x": float(i), "who": a, "label": i % 2} for i in range(6) for a in "ab"]
    rows[5]["x"] = 99.0  # item 2, annotator b
    csv = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    with pytest.raises(InvalidInputError, match=r"item '2' of annotation table .*column 'x'"):
        load_dataset(csv, annotator_column="who")


def test_nan_label_is_refused_naming_the_table(tmp_path: Path) -> None:
    csv, frame, _ = make_annotations(tmp_path)
    frame = frame.drop(columns=["truth"])
    frame.loc[4, "label"] = np.nan
    frame.to_csv(csv, index=False)
    with pytest.raises(InvalidInputError, match=r"label column 'label' of '.*votes.csv' is empty"):
        load_dataset(csv, annotator_column="worker")


def test_repeated_vote_and_unknown_item_column_are_refused(tmp_path: Path) -> None:
    csv, frame, _ = make_annotations(tmp_path)
    frame = frame.drop(columns=["truth"])
    pd.concat([frame, frame.iloc[:1]]).to_csv(csv, index=False)
    with pytest.raises(InvalidInputError, match=r"at most one label per \(path, worker\)"):
        load_dataset(csv, annotator_column="worker")
    with pytest.raises(InvalidInputError, match="item column 'image_id' not found"):
        load_dataset(csv, annotator_column="worker", item_column="image_id")
    with pytest.raises(InvalidInputError, match="needs its annotator column"):
        load_dataset(csv, item_column="path")
    with pytest.raises(InvalidInputError, match="is a folder; annotations"):
        load_dataset(tmp_path / "images", annotator_column="worker")


def test_texts_are_told_apart_by_their_text(tmp_path: Path) -> None:
    from cli_data import make_text_csv

    single = pd.read_csv(make_text_csv(tmp_path / "texts.csv"))
    long = pd.concat([single.assign(who=a) for a in ANNOTATORS]).sample(frac=1, random_state=0)
    long.to_csv(tmp_path / "votes.csv", index=False)
    data = load_dataset(tmp_path / "votes.csv", annotator_column="who")
    assert data.kind == "text" and data.texts is not None
    assert data.annotations is not None and data.annotations.item_column == "text"
    assert sorted(data.texts) == sorted(single["text"].drop_duplicates())
    by_text = dict(zip(single["text"], single["label"], strict=True))
    names = np.asarray(data.classes)
    assert [by_text[t] for t in data.texts] == names[data.labels].tolist()
