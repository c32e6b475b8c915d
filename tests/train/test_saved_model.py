"""A model trained by ``train_on_data`` (``mislabel train``), saved and read back with
``load_model``, predicts new data exactly as it did before it was saved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.cli.cli_data import make_image_folder, make_table, make_text_csv

from mislabel.data import load_dataset
from mislabel.exceptions import InvalidInputError, InvalidParameterError

torch = pytest.importorskip("torch")

from mislabel.train import load_model, train_on_data  # noqa: E402


def _data(kind: str, root: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    if kind == "table":
        return load_dataset(make_table(root / f"t{seed}.csv", seed=seed))
    if kind == "text":
        return load_dataset(make_text_csv(root / f"x{seed}.csv", seed=seed))
    folder, _ = make_image_folder(root / f"img{seed}", n_per_class=10, seed=seed)
    return load_dataset(folder)


CASES = [
    ("table", "plain", "auto"),
    ("table", "robust", "auto"),
    ("text", "plain", "auto"),
    ("images", "robust", "cnn"),
    ("images", "plain", "cnn"),
    ("images", "robust", "auto"),  # colour photos: the pretrained backbone's embeddings
]


@pytest.mark.parametrize(("kind", "recipe", "model"), CASES)
def test_saved_model_predicts_new_data_as_before(
    tmp_path: Path, kind: str, recipe: str, model: str
) -> None:
    train, new = _data(kind, tmp_path, 0), _data(kind, tmp_path, 1)
    calls: list[tuple[str, int, int]] = []
    result = train_on_data(
        train,
        recipe=recipe,  # type: ignore[arg-type]
        model=model,
        epochs=3,
        random_state=0,
        progress=lambda *a: calls.append(a),
    )
    if model == "auto" and kind == "images" and result.backbone is None:
        pytest.skip("the packaged EfficientNet-Lite0 weights are not installed")
    stages = {c[0] for c in calls}
    assert ("train", 1, 1) in calls
    if result.backbone is not None:  # each backbone reports its images while it embeds
        assert {"embedding (efficientnet_lite0)", "embedding (efficientnet_lite2)"} <= stages
    files = result.save(tmp_path / "model")
    assert sorted(files) == ["metrics.json", "model.pt", "preprocess.pkl"]
    back = load_model(tmp_path / "model")
    assert back.classes == result.classes
    assert back.metrics["recipe"] == recipe and back.metrics["seed"] == 0
    expected = result.predict_proba(new)
    got = back.predict_proba(new)
    assert got.shape == (new.n_samples, len(train.classes))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # a model read back saves and reads back again
    back.save(tmp_path / "again")
    again = load_model(tmp_path / "again").predict_proba(new)
    np.testing.assert_allclose(again, expected, atol=1e-5)


def test_load_model_refuses_incomplete_mixed_or_damaged_folders(tmp_path: Path) -> None:
    data = _data("table", tmp_path)
    for name, seed in (("a", 0), ("b", 1)):
        train_on_data(data, recipe="plain", epochs=2, random_state=seed).save(tmp_path / name)
    with pytest.raises(InvalidInputError, match=r"not a saved model: preprocess\.pkl missing"):
        shutil.copytree(tmp_path / "a", tmp_path / "c")
        (tmp_path / "c" / "preprocess.pkl").unlink()
        load_model(tmp_path / "c")
    # model.pt of another run: refused, naming the file and the command that rewrites the set
    shutil.copy(tmp_path / "b" / "model.pt", tmp_path / "a" / "model.pt")
    with pytest.raises(InvalidInputError, match=r"model\.pt' does not belong.*mislabel train"):
        load_model(tmp_path / "a")
    (tmp_path / "b" / "metrics.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"metrics\.json' cannot be read"):
        load_model(tmp_path / "b")
    with pytest.raises(InvalidInputError, match="not a saved model"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(InvalidParameterError, match="`device` must be"):
        load_model(tmp_path / "a", device="gpu")


def test_load_model_refuses_data_of_another_kind(tmp_path: Path) -> None:
    table = _data("table", tmp_path)
    train_on_data(table, recipe="plain", epochs=2).save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert set(manifest["files"]) == {"model.pt", "preprocess.pkl"}
    with pytest.raises(InvalidInputError, match="kind the Featurizer was fitted on"):
        load_model(tmp_path / "m").predict_proba(_data("text", tmp_path))
