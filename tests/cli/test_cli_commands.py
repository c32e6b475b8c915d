"""Every command's success path, on tiny synthetic data (CliRunner, in-process)."""

from __future__ import annotations

import json
import re
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_data import make_image_folder
from typer.testing import CliRunner

import mislabel.demo
from mislabel.cli import app
from mislabel.data import FIND_FILES, ISSUES_COLUMNS
from mislabel.data._embed import default_backbone_available

runner = CliRunner()


def read(path: Path) -> pd.DataFrame:
    """A CSV as written: strings stay strings (is_issue stays 'true' / 'false')."""
    return pd.read_csv(path, keep_default_na=False, dtype=str).apply(
        lambda c: pd.to_numeric(c) if c.name in NUMERIC else c
    )


NUMERIC = {"id", "suggested_prob", "score", "top1_prob", "top2_prob", "top3_prob", "confidence"}


def run(*args: str | Path) -> object:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """An image folder with 4 misplaced images and the output of `mislabel find` on it."""
    tmp = tmp_path_factory.mktemp("found")
    folder, wrong = make_image_folder(tmp / "images")
    out = tmp / "out"
    run("find", folder, "-o", out, "--cv", "3")
    return folder, out, wrong


def test_help_teaches_every_command() -> None:
    from importlib.util import find_spec

    result = run("--help")
    elsewhere = {"review": "mislabel.cli.review_cmd"}
    optional = [n for n, m in elsewhere.items() if find_spec(m) is not None]
    for name in ("find", "clean", "train", "predict", "report", "demo", *optional):
        assert re.search(rf"\b{name}\b", result.stdout)  # type: ignore[attr-defined]
    assert "--debug" in result.stdout  # type: ignore[attr-defined]


def test_version() -> None:
    assert mislabel.__version__ in run("--version").stdout  # type: ignore[attr-defined]


def test_find_image_folder_writes_issues_csv(found: tuple[Path, Path, dict[str, str]]) -> None:
    _, out, wrong = found
    for name in FIND_FILES:
        assert (out / name).is_file()
    frame = read(out / "issues.csv")
    assert tuple(frame.columns) == ISSUES_COLUMNS
    assert len(frame) == 42 and sorted(frame["id"]) == list(range(42))
    flags = frame["is_issue"].astype(str).tolist()
    assert set(flags) <= {"true", "false"}
    n_flagged = flags.count("true")
    assert flags[:n_flagged] == ["true"] * n_flagged  # flagged first, most suspect first
    rest = frame["score"].to_numpy()[n_flagged:]
    assert np.all(np.diff(rest) >= 0)
    flagged_paths = set(frame["path"][:n_flagged])
    assert len(flagged_paths & set(wrong)) >= 3
    row = frame.set_index("path").loc[next(iter(wrong))]
    assert row["given_label"] == next(iter(wrong)).split("/")[0]
    assert (frame["top1_prob"] >= frame["top2_prob"]).all()
    assert np.load(out / "pred_probs.npy").shape == (42, 3)
    assert (out / "classes.txt").read_text().split() == ["circle", "cross", "square"]
    meta = json.loads((out / "find.json").read_text())
    assert meta["kind"] == "images" and meta["detection"] == "k-fold" and meta["cv"] == 3
    if default_backbone_available():  # colour images: the pretrained backbone's embeddings
        pair = "timm:efficientnet_lite0+timm:efficientnet_lite2"  # the default backbones
        assert meta["model"].startswith(f"{pair} → logistic regression")
        assert meta["features"].startswith(f"{pair} embeddings")
    else:  # below 1,000 images without a backbone: the k-fold linear model
        assert "LogisticRegression" in meta["model"]


def test_find_says_which_model_ran_on_colour_images_without_a_backbone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colour photos go to the pretrained backbone only when its weights load offline;
    otherwise the models for images of their number, and find.json says which ran."""
    import mislabel.data._embed as embed

    monkeypatch.setattr(embed, "default_backbone_available", lambda: False)
    folder, _ = make_image_folder(tmp_path / "images", n_per_class=8)
    run("find", folder, "-o", tmp_path / "out", "--cv", "2")
    meta = json.loads((tmp_path / "out" / "find.json").read_text())
    assert "LogisticRegression" in meta["model"] and "timm" not in meta["features"]


def test_find_cnn_model_on_images_trains_one_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder, _ = make_image_folder(tmp_path / "images")
    out = tmp_path / "out"
    text = run("find", folder, "-o", out, "--model", "cnn", "--epochs", "5").stdout  # type: ignore[attr-defined]
    meta = json.loads((out / "find.json").read_text())
    assert meta["detection"] == "one-run" and meta["cv"] is None
    assert "CNN" in meta["model"] and "5 epochs" in text and meta["seconds"] > 0
    frame = read(out / "issues.csv")
    assert len(frame) == 42 and np.load(out / "pred_probs.npy").shape == (42, 3)


def test_find_prints_summary_and_rerun_uses_fold_cache(tmp_path: Path) -> None:
    folder, _ = make_image_folder(tmp_path / "images", n_per_class=8)
    linear = ("--model", "linear", "--cv", "2")
    first = run("find", folder, "-o", tmp_path / "out", *linear, "--top", "3")
    text = first.stdout  # type: ignore[attr-defined]
    assert "likely label issues in 24 images (3 classes)" in text
    assert "Top" in text and "issues.csv" in text
    again = run("find", folder, "-o", tmp_path / "out", *linear)
    assert "2 from cache" in again.stdout  # type: ignore[attr-defined]
    if find_spec("torch") is not None:
        cnn = ("find", folder, "-o", tmp_path / "cnn", "--model", "cnn", "--epochs", "2")
        run(*cnn)
        assert "(from cache)" in " ".join(run(*cnn).stdout.split())  # type: ignore[attr-defined]


def test_find_image_csv(tmp_path: Path) -> None:
    folder, _ = make_image_folder(tmp_path / "images", n_per_class=8)
    rows = [
        {"file": p.relative_to(tmp_path).as_posix(), "label": p.parent.name}
        for p in sorted(folder.rglob("*.png"))
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "images.csv", index=False)
    run("find", tmp_path / "images.csv", "-o", tmp_path / "out", "--cv", "2")
    frame = pd.read_csv(tmp_path / "out" / "issues.csv")
    assert set(frame["path"]) == {r["file"] for r in rows}


def test_find_table_with_known_noise_rate(table_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("find", table_csv, "-o", out, "--cv", "3", "--noise-rate", "0.1")
    frame = read(out / "issues.csv")
    assert tuple(frame.columns) == (*ISSUES_COLUMNS, "features")
    assert (frame["is_issue"] == "true").sum() == 9  # 10 % of 90
    assert set(json.loads(frame["features"][0])) == {"f1", "f2", "f3", "colour"}
    assert (frame["path"] == "").all()


def test_find_text_csv(text_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("find", text_csv, "-o", out, "--cv", "3", "--text-embedding", "tfidf")
    assert "60 texts" in result.stdout  # type: ignore[attr-defined]
    frame = read(out / "issues.csv")
    assert tuple(frame.columns) == (*ISSUES_COLUMNS, "text")
    flagged = frame[frame["is_issue"] == "true"]
    assert len(flagged) >= 3
    assert flagged["text"].str.len().gt(0).all()


def test_find_from_pred_probs(found: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    _, out, _ = found
    run(
        "find",
        "--pred-probs",
        out / "pred_probs.npy",
        "--labels",
        out / "labels.npy",
        "--classes",
        out / "classes.txt",
        "-o",
        tmp_path / "again",
    )
    a = read(out / "issues.csv")
    b = read(tmp_path / "again" / "issues.csv")
    assert a["id"].tolist() == b["id"].tolist()
    assert a["is_issue"].tolist() == b["is_issue"].tolist()


@pytest.mark.parametrize(
    ("policy", "removed", "relabelled"), [("remove", 4, 0), ("relabel", 0, 4), ("keep", 0, 0)]
)
def test_clean_policies(
    found: tuple[Path, Path, dict[str, str]],
    tmp_path: Path,
    policy: str,
    removed: int,
    relabelled: int,
) -> None:
    _, out, _ = found
    issues = read(out / "issues.csv")
    n_flagged = int((issues["is_issue"] == "true").sum())
    result = run("clean", out / "issues.csv", "--policy", policy, "-o", tmp_path)
    assert f"policy {policy}" in result.stdout  # type: ignore[attr-defined]
    labels = read(tmp_path / "labels_clean.csv")
    changes = read(tmp_path / "changes.csv")
    assert list(labels.columns) == ["id", "path", "label"]
    n_removed = (changes["action"] == "remove").sum()
    n_relabelled = (changes["action"] == "relabel").sum()
    assert len(labels) == 42 - n_removed
    if policy == "remove":
        assert n_removed == n_flagged and n_relabelled == 0
    elif policy == "relabel":
        assert n_relabelled == n_flagged and n_removed == 0
        merged = labels.merge(issues, on="id")
        relabelled_rows = merged[merged["id"].isin(changes["id"])]
        assert (relabelled_rows["label"] == relabelled_rows["suggested_label"]).all()
    else:
        assert len(changes) == 0


def test_clean_min_confidence_one_keeps_uncertain(
    found: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    _, out, _ = found
    run("clean", out, "--policy", "remove", "--min-confidence", "1.0", "-o", tmp_path)
    issues = read(out / "issues.csv")
    sure = ((issues["is_issue"] == "true") & (issues["suggested_prob"] >= 1.0)).sum()
    assert len(pd.read_csv(tmp_path / "changes.csv")) == sure


def test_train_with_robust_loss_on_cleaned_labels(
    found: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from mislabel.train import default_network

    folder, out, _ = found
    run("clean", out, "--policy", "relabel", "-o", tmp_path)
    result = run(
        "train",
        folder,
        "--recipe",
        "plain",
        "--labels",
        tmp_path / "labels_clean.csv",
        "--loss",
        "gce",
        "--loss-arg",
        "q=0.7",
        "--epochs",
        "15",
        "--test",
        folder,
        "-o",
        tmp_path / "model",
    )
    assert "test accuracy" in result.stdout  # type: ignore[attr-defined]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["loss"] == "gce" and metrics["loss_kwargs"] == {"q": 0.7}
    assert metrics["n_relabelled"] >= 3
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["train_accuracy"] >= 0.8
    model = default_network(
        tuple(metrics["network"]["input_shape"]), metrics["network"]["n_classes"]
    )
    model.load_state_dict(torch.load(tmp_path / "model" / "model.pt", weights_only=True))


def test_train_robust_recipe_is_the_default(
    found: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    folder, _, _ = found
    result = run("train", folder, "--epochs", "10", "--test", folder, "-o", tmp_path / "m")
    assert "robust recipe" in result.stdout  # type: ignore[attr-defined]
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["recipe"] == "robust" and metrics["n_flagged"] >= 1
    # on backbone embeddings the robust recipe's final loss is smoothed CE; on pixels ELR or CE
    assert metrics["loss"] in (("label_smoothing",) if metrics["backbone"] else ("elr", "ce"))
    assert metrics["test_accuracy"] >= 0.8


def test_predict_reads_the_trained_model_back(
    found: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from PIL import Image

    folder, _, _ = found
    run("train", folder, "--epochs", "10", "-o", tmp_path / "m")
    result = run("predict", tmp_path / "m", folder, "-o", tmp_path / "p.csv")
    pred = pd.read_csv(tmp_path / "p.csv")
    names = sorted(p.name for p in folder.iterdir())
    assert list(pred.columns) == [
        "id", "path", "label", "predicted", "probability", *(f"p_{c}" for c in names)
    ]  # fmt: skip
    assert len(pred) == sum(1 for _ in folder.rglob("*.png"))
    assert set(pred["predicted"]) <= set(names)
    np.testing.assert_allclose(pred[[f"p_{c}" for c in names]].sum(axis=1), 1.0, atol=1e-5)
    accuracy = float((pred["predicted"] == pred["label"]).mean())
    assert f"accuracy on their labels {accuracy:.1%}" in result.stdout  # type: ignore[attr-defined]
    assert accuracy >= 0.8
    # new images without labels, straight in a folder: no accuracy
    new = tmp_path / "new"
    new.mkdir()
    for p in sorted(folder.rglob("*.png"))[:5]:
        Image.open(p).save(new / p.name)
    result = run("predict", tmp_path / "m", tmp_path / "new")
    assert "accuracy" not in result.stdout  # type: ignore[attr-defined]
    unlabelled = pd.read_csv(tmp_path / "m" / "predictions.csv")
    assert len(unlabelled) == 5 and "label" not in unlabelled.columns
    by_name = dict(zip(pred["path"].str.split("/").str[-1], pred["predicted"], strict=True))
    assert [by_name[p] for p in unlabelled["path"]] == list(unlabelled["predicted"])


def test_predict_a_table_with_or_without_its_label_column(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from cli_data import make_table

    table = make_table(tmp_path / "t.csv")
    run("train", table, "--recipe", "plain", "--epochs", "30", "-o", tmp_path / "m")
    result = run("predict", tmp_path / "m", table, "-o", tmp_path / "labelled.csv")
    assert "accuracy on their labels" in result.stdout  # type: ignore[attr-defined]
    labelled = pd.read_csv(tmp_path / "labelled.csv")
    features = pd.read_csv(table).drop(columns="label")
    features.to_csv(tmp_path / "new.csv", index=False)
    result = run("predict", tmp_path / "m", tmp_path / "new.csv", "-o", tmp_path / "new_p.csv")
    assert "accuracy" not in result.stdout  # type: ignore[attr-defined]
    unlabelled = pd.read_csv(tmp_path / "new_p.csv")
    assert "label" not in unlabelled.columns
    assert list(unlabelled["predicted"]) == list(labelled["predicted"])
    assert (labelled["predicted"] == labelled["label"]).mean() >= 0.8


def test_reweight_policy_weights_reach_training_with_any_loss(
    found: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    folder, out, _ = found
    run("clean", out, "--policy", "reweight", "-o", tmp_path)
    labels = tmp_path / "labels_clean.csv"
    for loss in ("ce", "gce", "sce"):
        run(
            "train",
            folder,
            "--recipe",
            "plain",
            "--loss",
            loss,
            "--labels",
            labels,
            "--epochs",
            "3",
            "-o",
            tmp_path / loss,
        )
        metrics = json.loads((tmp_path / loss / "metrics.json").read_text())
        assert metrics["weighted"] is True and metrics["n_removed"] == 0
    refused = CliRunner().invoke(app, ["train", str(folder), "--labels", str(labels)])
    assert refused.exit_code == 2 and "--recipe plain" in refused.output


def test_train_table_with_correction_loss_and_removed_rows(table_csv: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    run("find", table_csv, "-o", tmp_path / "f", "--cv", "3")
    run("clean", tmp_path / "f", "--policy", "remove")
    run(
        "train",
        table_csv,
        "--recipe",
        "plain",
        "--labels",
        tmp_path / "f" / "labels_clean.csv",
        "--loss",
        "forward_correction",
        "--noise-rate",
        "0.1",
        "--epochs",
        "5",
        "-o",
        tmp_path / "m",
    )
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["n_removed"] > 0 and metrics["n_train"] == 90 - metrics["n_removed"]


def test_report_is_self_contained(found: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    _, out, wrong = found
    target = tmp_path / "r.html"
    result = run("report", out, "-o", target, "--top", "10")
    assert "r.html" in result.stdout  # type: ignore[attr-defined]
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") >= 3 + 4  # 3 figures + thumbnails
    assert "noise matrix" in page.lower()
    assert any(p in page for p in wrong)


def test_demo_runs_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake(argv: list[str] | None = None) -> int:
        seen.append(list(argv or []))
        return 0

    monkeypatch.setattr(mislabel.demo, "main", fake)
    run("demo", "--noise-rate", "0.2", "--seed", "3")
    assert seen == [["--noise-rate", "0.2", "--seed", "3"]]


def test_review_is_registered_when_present() -> None:
    from importlib.util import find_spec

    if find_spec("mislabel.cli.review_cmd") is None:
        pytest.skip("mislabel.cli.review_cmd is not there yet")
    assert "Usage" in run("review", "--help").stdout  # type: ignore[attr-defined]


def test_find_and_train_with_a_timm_backbone_and_local_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mislabel find --model timm:NAME` judges the embeddings of the photos as given;
    `mislabel train` on colour photos trains on the embeddings of the same backbone of the
    photos as given (cached once for both) and mirrored, names it in metrics.json, and embeds
    the test images with it; `--model cnn` keeps the pixels."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    folder, _ = make_image_folder(tmp_path / "images")
    weights = tmp_path / "net.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), weights)
    out = tmp_path / "out"
    common = ("--model", "timm:resnet18", "--backbone-weights", weights)
    run("find", folder, "-o", out, "--cv", "3", *common)
    meta = json.loads((out / "find.json").read_text())
    assert meta["detection"] == "k-fold" and "timm:resnet18" in meta["model"]
    assert meta["features"] == (
        "timm:resnet18 embeddings (last 3 stages + pooled output, 1408)"  # 896 + 512
    )
    assert np.load(out / "pred_probs.npy").shape == (42, 3)
    pooled = tmp_path / "pooled"
    run("find", folder, "-o", pooled, "--cv", "3", *common, "--detect-layers", "pooled")
    meta = json.loads((pooled / "find.json").read_text())
    assert meta["features"] == "timm:resnet18 embeddings (pooled output, 512)"
    unknown = CliRunner().invoke(app, ["find", str(folder), "-o", str(pooled), *map(str, common),
                                       "--detect-layers", "head"])  # fmt: skip
    assert unknown.exit_code == 2 and "`detect_layers` must be one of" in unknown.output
    bad = CliRunner().invoke(app, ["find", str(folder), "--model", "timm:resnet18",
                                   "--backbone-weights", str(tmp_path / "none.pth")])  # fmt: skip
    assert bad.exit_code == 2
    cached = set((out / ".mislabel-cache" / "embeddings").rglob("*.npy"))
    assert len(cached) == 2 * 42  # one view: its stages and its pooled output
    result = run("train", folder, "-o", out, "--epochs", "5", "--test", folder, *common)
    assert "on timm:resnet18 embeddings" in result.stdout  # type: ignore[attr-defined]
    views = set((out / ".mislabel-cache" / "embeddings").rglob("*.npy"))
    assert cached < views and len(views) == 2 * 2 * 42  # reused, and the mirrored views added
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backbone"] == "timm:resnet18" and metrics["policy"] == "remove"
    kept = 42 - metrics["n_flagged"]  # the suspects removed are not counted as trained on
    assert f"trained on {kept} of 42 samples" in result.stdout  # type: ignore[attr-defined]
    assert metrics["views"] == ["identity", "hflip"]
    plain = run("train", folder, "-o", tmp_path / "plain", "--epochs", "2", "--recipe", "plain",
                "--test", folder, "--cache-dir", out / ".mislabel-cache", *common)  # fmt: skip
    assert "on timm:resnet18 embeddings" in plain.stdout  # type: ignore[attr-defined]
    plain_metrics = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert plain_metrics["network"]["input_shape"] == [128 + 256 + 512]  # layer2 to layer4
    assert "test_accuracy" in plain_metrics
    assert metrics["network"]["input_shape"] == [896] and "test_accuracy" in metrics
    assert metrics["layers"] == "stages" and metrics["detect_layers"] == "stages+pooled"
    pixels = run("train", folder, "-o", tmp_path / "cnn", "--epochs", "2", "--model", "cnn")
    assert "embeddings" not in pixels.stdout  # type: ignore[attr-defined]
    cnn = json.loads((tmp_path / "cnn" / "metrics.json").read_text())
    assert cnn["backbone"] is None and len(cnn["network"]["input_shape"]) == 3
    monkeypatch.setattr(mislabel.data._embed, "default_backbone_available", lambda: False)
    auto = run("train", folder, "-o", tmp_path / "auto", "--epochs", "2")
    assert "embeddings" not in auto.stdout  # type: ignore[attr-defined]


def test_train_refuses_a_backbone_where_it_cannot_apply(table_csv: Path, tmp_path: Path) -> None:
    bad = CliRunner().invoke(app, ["train", str(table_csv), "--model", "timm:resnet18"])
    assert bad.exit_code == 2 and "is for images" in bad.output
    bad = CliRunner().invoke(app, ["train", str(table_csv), "--model", "resnet"])
    assert bad.exit_code == 2 and "timm:NAME" in bad.output
