"""mislabel.data: loading each kind of data, the find workflow, its files, and its errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mislabel.data import (
    ISSUES_COLUMNS,
    Featurizer,
    find_issues_in,
    load_dataset,
    load_find_outputs,
    load_image_files,
    load_predictions,
    parse_image_size,
)
from mislabel.exceptions import InvalidInputError, InvalidParameterError

Image = pytest.importorskip("PIL.Image")


def _images(root: Path, sizes: dict[str, list[tuple[int, int]]], mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    for cls, dims in sizes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(dims):
            shape = (h, w, 3) if mode == "RGB" else (h, w)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(
                root / cls / f"{i}.png"
            )
    return root


def test_parse_image_size() -> None:
    assert parse_image_size(None) is None
    assert parse_image_size(32) == (32, 32)
    assert parse_image_size("48x32") == (48, 32)
    assert parse_image_size((10, 20)) == (10, 20)
    with pytest.raises(InvalidParameterError, match="`image_size` must be a size in pixels"):
        parse_image_size("big")
    with pytest.raises(InvalidParameterError, match="between 1 and 4096"):
        parse_image_size(0)


def test_image_folder_classes_paths_and_modes(tmp_path: Path) -> None:
    root = _images(tmp_path / "img", {"b": [(6, 4)] * 3, "a": [(6, 4)] * 2})
    _images(tmp_path / "img", {"c": [(6, 4)] * 2}, mode="L")  # grayscale joins as RGB
    (tmp_path / "img" / "empty").mkdir()
    (tmp_path / "img" / "notes.txt").write_text("ignored")
    data = load_dataset(root)
    assert data.kind == "images" and data.classes == ("a", "b", "c")
    assert data.X.shape == (7, 4, 6, 3) and data.X.dtype == np.uint8
    assert data.paths is not None and data.paths[0] == "a/0.png"
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1, 1, 2, 2])


def test_image_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    with pytest.raises(InvalidInputError, match="must hold one subfolder per class"):
        load_dataset(tmp_path / "flat")
    _images(tmp_path / "split" / "train", {"a": [(4, 4)]})
    (tmp_path / "split" / "valid").mkdir()
    with pytest.raises(InvalidInputError, match="looks split into"):
        load_dataset(tmp_path / "split")
    root = _images(tmp_path / "mixed", {"a": [(4, 4), (4, 4)], "b": [(5, 4)]})
    with pytest.raises(InvalidInputError, match=r"'a/0.png' is 4x4 but 'b/0.png' is 5x4"):
        load_dataset(root)
    assert load_dataset(root, image_size="3x2").X.shape == (3, 2, 3, 3)
    (root / "a" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(InvalidInputError, match=r"cannot read image 'a/bad\.png'"):
        load_dataset(root, image_size=4)
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(InvalidInputError, match="is a folder, which can only hold images"):
        load_dataset(root, kind="tabular")


def test_image_files_load_in_the_given_order_and_match_the_folder(tmp_path: Path) -> None:
    """A list of files (fastai's item order) loads row by row as given: the same pixels and
    paths as the folder, whatever the order."""
    root = _images(tmp_path / "photos", {"cat": [(16, 16)] * 3, "dog": [(16, 16)] * 2})
    folder = load_dataset(root)
    order = [4, 0, 3, 1, 2]
    files = [root / folder.paths[i] for i in order]
    data = load_image_files(files, folder.labels[order], folder.classes)
    assert data.kind == "images" and data.image_root == root.resolve()
    assert list(data.paths) == [folder.paths[i] for i in order]
    np.testing.assert_array_equal(data.X, folder.X[order])
    np.testing.assert_array_equal(data.labels, folder.labels[order])


def test_image_files_of_mixed_sizes_are_read_within_max_side(tmp_path: Path) -> None:
    root = _images(tmp_path / "photos", {"a": [(64, 48), (40, 40)], "b": [(20, 30)]}, "L")
    files = sorted(root.rglob("*.png"))
    data = load_image_files(files, [0, 0, 1], ["a", "b"], max_side=32)
    assert data.X.shape == (3, 24, 32)  # the largest file's 4:3, within 32 px
    small = load_image_files(files[2:], [1], ["a", "b"], max_side=32)
    assert small.X.shape == (1, 30, 20)  # one size within the bound: as it is


def test_image_files_errors(tmp_path: Path) -> None:
    root = _images(tmp_path / "photos", {"a": [(8, 8)], "b": [(8, 8)]})
    files = sorted(root.rglob("*.png"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_image_files([*files, root / "a" / "gone.png"], [0, 1, 1], ["a", "b"])
    with pytest.raises(InvalidInputError, match="labels"):
        load_image_files(files, [0, 2], ["a", "b"])
    with pytest.raises(InvalidInputError, match="labels"):
        load_image_files(files, [0], ["a", "b"])
    (root / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match=r"cannot read image 'a/broken\.png'"):
        load_image_files([*files, root / "a" / "broken.png"], [0, 1, 0], ["a", "b"])
    with pytest.raises(InvalidInputError, match="at least one image"):
        load_image_files([], [], ["a", "b"])


def test_tables_detect_their_kind(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2, 3], "c": ["u", "v", "u"], "y": [2, 0, 2]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    tab = load_dataset(tmp_path / "t.csv", label_column="y")
    assert tab.kind == "tabular" and tab.classes == ("0", "2")
    np.testing.assert_array_equal(tab.labels, [1, 0, 1])
    assert list(tab.X.columns) == ["x", "c"]
    pd.DataFrame({"message": ["hi there", "bye now"], "label": ["a", "b"]}).to_csv(
        tmp_path / "m.tsv", sep="\t", index=False
    )
    txt = load_dataset(tmp_path / "m.tsv")
    assert txt.kind == "text" and txt.texts == ("hi there", "bye now")
    forced = load_dataset(tmp_path / "t.csv", label_column="y", text_column="c")
    assert forced.kind == "text"


def test_table_errors(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2], "target": ["a", "b"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"label column 'label' not found.*x, target"):
        load_dataset(tmp_path / "t.csv")
    pd.DataFrame({"x": [1, 2], "label": ["a", None]}).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(InvalidInputError, match="is empty in 1 rows"):
        load_dataset(tmp_path / "n.csv")
    pd.DataFrame({"file": ["gone.png"], "label": ["a"]}).to_csv(tmp_path / "i.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"image 'gone\.png' listed in row 0"):
        load_dataset(tmp_path / "i.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InvalidInputError, match="is empty"):
        load_dataset(tmp_path / "e.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInputError, match=r"must be a \.csv, \.tsv or \.parquet"):
        load_dataset(tmp_path / "x.json")
    with pytest.raises(InvalidParameterError, match="`kind` must be one of"):
        load_dataset(tmp_path / "t.csv", kind="audio")


def test_find_lowers_cv_for_small_classes_and_names_single_sample_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(14, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": ["p"] * 11 + ["q"] * 3})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.warns(UserWarning, match="using cv=3 folds instead of 5"):
        result = find_issues_in(load_dataset(tmp_path / "t.csv"), cv=5)
    assert result.cv == 3
    frame.loc[13, "label"] = "r"
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"class 'r' has only 1 sample \(row 13\)"):
        find_issues_in(load_dataset(tmp_path / "t.csv"))


def test_issues_frame_with_two_classes_and_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], 50)
    labels = (probs[:, 1] > 0.5).astype(int)
    labels[:5] = 1 - labels[:5]
    result = find_issues_in(load_predictions(probs, labels, classes=["no", "yes"]))
    frame = result.to_frame()
    assert tuple(frame.columns) == ISSUES_COLUMNS
    assert (frame["top3_label"] == "").all() and frame["top3_prob"].isna().all()
    result.save(tmp_path)
    back = load_find_outputs(tmp_path / "issues.csv")
    np.testing.assert_allclose(back.pred_probs, probs)
    assert back.classes == ("no", "yes") and back.issues["is_issue"].dtype == bool
    assert back.issues["is_issue"].sum() == result.issues.n_issues
    scores = back.scores_by_id()
    np.testing.assert_allclose(scores, result.issues.scores)
    # training weights are P(label right), not the ranking score
    np.testing.assert_allclose(back.weights_by_id(), result.issues.weights)
    assert not np.allclose(back.weights_by_id(), scores)
    # a table written without prob_right still loads; its weights come from the score
    legacy = back.issues.drop(columns="prob_right")
    legacy.to_csv(tmp_path / "issues.csv", index=False)
    manifest = json.loads((tmp_path / "find.json").read_text())
    del manifest["files"]  # as an older version wrote it
    (tmp_path / "find.json").write_text(json.dumps(manifest))
    old = load_find_outputs(tmp_path)
    np.testing.assert_allclose(old.weights_by_id(), np.clip(scores, 0.0, 1.0))


def test_load_predictions_checks(tmp_path: Path) -> None:
    probs = np.full((4, 2), 0.5)
    with pytest.raises(InvalidInputError, match="must name every column"):
        load_predictions(probs, [0, 1, 0, 1], classes=["a"])
    with pytest.raises(InvalidInputError, match="holds class names; pass `classes`"):
        load_predictions(probs, np.array(["a", "b", "a", "b"]))
    data = load_predictions(probs, np.array(["a", "b", "a", "b"]), classes=["a", "b"])
    np.testing.assert_array_equal(data.labels, [0, 1, 0, 1])
    with pytest.raises(InvalidInputError, match=r"file '.*nope\.npy' does not exist"):
        load_predictions(tmp_path / "nope.npy", [0])


def test_fold_cache_is_keyed_by_the_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=30), "label": ["p", "q", "r"] * 10})
    frame.to_csv(tmp_path / "t.csv", index=False)
    first = find_issues_in(load_dataset(tmp_path / "t.csv"), cv=2, cache_dir=tmp_path / "c")
    again = find_issues_in(load_dataset(tmp_path / "t.csv"), cv=2, cache_dir=tmp_path / "c")
    assert first.folds_cached == 0 and again.folds_cached == 2
    np.testing.assert_array_equal(first.pred_probs, again.pred_probs)
    frame["a"] += 1.0  # same labels, different features: no stale cache
    frame.to_csv(tmp_path / "t.csv", index=False)
    changed = find_issues_in(load_dataset(tmp_path / "t.csv"), cv=2, cache_dir=tmp_path / "c")
    assert changed.folds_cached == 0


def test_featurizer_applies_the_training_transform(tmp_path: Path) -> None:
    pd.DataFrame(
        {"x": [1.0, 2.0, None, 4.0], "c": ["u", "v", "u", "w"], "label": ["a", "b", "a", "b"]}
    ).to_csv(tmp_path / "t.csv", index=False)
    data = load_dataset(tmp_path / "t.csv")
    feat = Featurizer().fit(data)
    x = feat.transform(data)
    assert x.dtype == np.float32 and x.shape == (4, 4) and np.isfinite(x).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert feat.transform(data).shape == (4, 4)


def test_data_without_labels_loads_only_when_labels_are_not_required(tmp_path: Path) -> None:
    from PIL import Image

    from mislabel.data._load import UNLABELLED

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["u", "v", "u"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InvalidInputError, match="label column 'label' not found"):
        load_dataset(tmp_path / "t.csv")
    table = load_dataset(tmp_path / "t.csv", require_labels=False)
    assert table.kind == "tabular" and table.classes == UNLABELLED
    assert list(table.X.columns) == ["x", "c"] and table.labels.tolist() == [0, 0, 0]
    new = tmp_path / "new"
    new.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(new / f"{i}.png")
    with pytest.raises(InvalidInputError, match="one subfolder per class"):
        load_dataset(new)
    images = load_dataset(new, require_labels=False)
    assert images.paths == ("0.png", "1.png", "2.png") and images.classes == UNLABELLED
    assert images.X.shape == (3, 8, 8, 3) and int(images.X[2].max()) == 80
    # a folder of class subfolders loads with its labels either way
    (new / "a").mkdir()
    (new / "0.png").rename(new / "a" / "0.png")
    assert load_dataset(new, require_labels=False).classes == ("a",)


def test_pickled_featurizer_loads_its_sentence_encoder_again_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from mislabel.data import _features

    class Encoder:  # a stand-in for the sentence-transformers model: 2 numbers per text
        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)

    loads: list[str] = []

    def load(name: str, *, required: bool) -> Encoder:
        loads.append(name)
        return Encoder()

    monkeypatch.setattr(_features, "_load_encoder", load)
    pd.DataFrame({"text": ["a cat", "banana", "a dog", "kiwi"], "label": list("abab")}).to_csv(
        tmp_path / "t.csv", index=False
    )
    data = load_dataset(tmp_path / "t.csv")
    feat = Featurizer(text_embedding="sentence-transformers").fit(data)
    blob = pickle.dumps(feat)
    assert b"Encoder" not in blob  # the model itself is not in the pickle
    back = pickle.loads(blob)
    assert loads == [_features.DEFAULT_EMBEDDING_MODEL] * 2
    np.testing.assert_array_equal(back.transform(data), feat.transform(data))


def test_atomic_writes_leave_normal_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from mislabel.data import write_text_atomic

    path = write_text_atomic(tmp_path / "a.txt", "hi")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text() == "hi" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_images_without_torch_fall_back_to_the_linear_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from mislabel.data import _find

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(1000, 8, 8), dtype=np.uint8)
    labels = np.repeat([0, 1], 500)
    pixels[labels == 1, :4] = 255
    data = _find.LabeledData(kind="images", labels=labels, classes=("a", "b"), X=pixels)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        _find.importlib.util, "find_spec", lambda n, *a: None if n == "torch" else real(n, *a)
    )
    with pytest.warns(UserWarning, match="torch is not installed"):
        result = find_issues_in(data, cv=2)
    assert result.detection == "k-fold" and "LogisticRegression" in result.model
