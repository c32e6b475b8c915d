"""The fastai vision workflow on a real image folder: Fashion-MNIST PNGs, 3 classes, a few
files in the wrong class folder; ImageDataLoaders, DataBlock and vision_learner
(``pretrained=False``: nothing is downloaded), one or two epochs.

Detection, weights, robust losses and MixUp, then fastai's everyday calls (predict, test_dl,
get_preds, show_results, ClassificationInterpretation, export / load_learner, lr_find) after
each way of training.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fastai.vision.all")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from fastai.callback.mixup import MixUp  # noqa: E402
from fastai.vision.all import (  # noqa: E402
    CategoryBlock,
    ClassificationInterpretation,
    DataBlock,
    ImageBlock,
    ImageDataLoaders,
    Learner,
    RandomSplitter,
    Resize,
    accuracy,
    get_image_files,
    load_learner,
    parent_label,
    resnet18,
    vision_learner,
)
from torch import nn  # noqa: E402

import mislabel.losses as ml  # noqa: E402
from mislabel.exceptions import InvalidParameterError  # noqa: E402
from mislabel.integrations.fastai import (  # noqa: E402
    SampleWeightCallback,
    TemporalProbsRecorder,
    cross_val_pred_probs_fastai,
    datablock_folds,
    find_suspects,
    fit_noise_aware,
    item_labels,
    item_list,
    items_dl,
    n_items,
)

CLASSES = {0: "tshirt", 1: "trouser", 7: "sneaker"}
PER_CLASS = 50
N_WRONG = 12  # files put in another class's folder


def _fashion(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    base = folder / "fashion-mnist"
    with gzip.open(base / "t10k-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(base / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return X, y


@pytest.fixture(scope="module")
def folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set]:
    """root/<class>/<i>.png, 150 images; returns the root and the names of the wrong files."""
    from PIL import Image

    X, y = _fashion(shared_data)
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    names = list(CLASSES.values())
    wrong: set[str] = set()
    picks = [(c, i) for c in CLASSES for i in np.flatnonzero(y == c)[:PER_CLASS]]
    flip = set(rng.choice(len(picks), N_WRONG, replace=False).tolist())
    for j, (c, i) in enumerate(picks):
        name = CLASSES[c]
        if j in flip:
            name = names[(names.index(name) + 1 + int(rng.integers(2))) % 3]
            wrong.add(f"{i}.png")
        (root / name).mkdir(exist_ok=True)
        Image.fromarray(X[i]).convert("RGB").save(root / name / f"{i}.png")
    return root, wrong


@pytest.fixture(scope="module")
def dls(folder):
    root, _ = folder
    torch.manual_seed(0)
    return ImageDataLoaders.from_folder(
        root, valid_pct=0.2, seed=0, item_tfms=Resize(32), bs=32, num_workers=0
    )


def _tiny_cnn(k: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, k),
    )


def _quiet_fit(learn, epochs, lr=1e-3, cbs=None):
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr, cbs=cbs)
    return learn


def test_item_list_labels_and_the_recorders_loader(dls, folder) -> None:
    items = item_list(dls)
    labels = item_labels(dls)
    assert len(items) == n_items(dls) == 3 * PER_CLASS
    assert items[: len(dls.train.dataset)] == list(dls.train.items)
    # the label of each position is its folder's class
    assert [dls.vocab[i] for i in labels] == [Path(p).parent.name for p in items]
    # the recorder's loader: every item, training then validation, no augmentation
    dl = items_dl(dls)
    first = torch.cat([b[0] for b in dl])
    again = torch.cat([b[0] for b in dl])
    assert first.shape[0] == len(items)
    assert torch.equal(first, again)
    assert torch.equal(torch.cat([b[1] for b in dl]).cpu(), torch.as_tensor(labels))


def test_augmentation_does_not_reach_the_recorder(folder) -> None:
    from fastai.vision.all import Flip

    root, _ = folder
    aug = ImageDataLoaders.from_folder(
        root, valid_pct=0.2, seed=0, item_tfms=Resize(32), batch_tfms=Flip(p=1.0), bs=32
    )
    plain = torch.cat([b[0] for b in items_dl(aug)])
    trained_on = torch.cat([b[0] for b in aug.train.new(shuffle=False, drop_last=False)])
    n_train = len(aug.train.dataset)
    assert not torch.equal(plain[:n_train], trained_on)  # the training loader flips
    assert torch.equal(plain[:n_train].flip(-1), trained_on)


def test_one_run_suspects_come_back_with_paths_and_class_names(dls, folder) -> None:
    _, wrong = folder
    torch.manual_seed(0)
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    suspects = find_suspects(learn, 4, 3e-3, detection="learner", neighbors=5)
    frame = suspects.to_frame()
    assert list(frame.columns) == ["position", "item", "split", "given", "suggested", "score"]
    assert len(frame) == suspects.issues.n_issues > 0
    assert all(Path(p).is_file() for p in frame["item"])
    assert set(frame["given"]) | set(frame["suggested"]) <= set(CLASSES.values())
    assert (frame["given"] != frame["suggested"]).all()
    assert all(Path(p).parent.name == g for p, g in zip(frame["item"], frame["given"], strict=True))
    hits = sum(Path(p).name in wrong for p in frame["item"])
    precision, recall = hits / len(frame), hits / N_WRONG
    assert precision > 0.3 and recall > 0.3, (precision, recall)  # chance: 0.08


def test_a_small_loss_detection_run_on_images(dls, folder) -> None:
    """``forget_rate``: the detection run trains on the small-loss share of each batch (a
    number), or chooses it from the MixUp run ("auto", the default); either way the
    suspects are the misplaced files."""
    _, wrong = folder
    torch.manual_seed(0)
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    suspects = find_suspects(learn, 4, 3e-3, detection="learner", neighbors=5, forget_rate=0.2)
    assert suspects.forget_rate == 0.2
    frame = suspects.to_frame()
    hits = sum(Path(p).name in wrong for p in frame["item"])
    assert hits / len(frame) > 0.3 and hits / N_WRONG > 0.3, (hits, len(frame))
    torch.manual_seed(0)
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    run = find_suspects(learn, 4, 3e-3, detection="learner", neighbors=5, forget_rate=0)
    assert run.forget_rate == 0.0 and run.model == "the Learner"
    learn.predict(frame["item"].iloc[0])  # the Learner works as usual afterwards
    for bad in ("small", 1.0, -0.1):
        with pytest.raises(InvalidParameterError, match="forget_rate"):
            find_suspects(learn, 1, forget_rate=bad)


def _scores(frame, wrong: set) -> tuple[float, float]:
    hits = sum(Path(p).name in wrong for p in frame["item"])
    return hits / max(len(frame), 1), hits / N_WRONG


def test_image_files_judged_as_mislabel_find_judges_a_folder(dls, folder) -> None:
    """By default the colour image files are judged by the pretrained backbone, as ``mislabel
    find`` judges a folder: the Learner is not trained, the suspects are the misplaced files,
    the same as ``mislabel find`` flags in the folder, in the Learner's item order."""
    from mislabel.data import DEFAULT_IMAGE_MODEL, find_issues_in, load_dataset
    from mislabel.data._embed import default_backbone_available

    if not default_backbone_available():
        pytest.skip("the default backbone's weight packages are not installed")
    _, wrong = folder
    torch.manual_seed(0)
    learn = Learner(dls, _tiny_cnn(), metrics=accuracy)
    before = [p.detach().clone() for p in learn.model.parameters()]
    suspects = find_suspects(learn, 1)
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))
    assert "efficientnet_lite0" in suspects.model and "efficientnet_lite2" in suspects.model
    assert DEFAULT_IMAGE_MODEL.split("+")[0].removeprefix("timm:") in suspects.model
    precision, recall = _scores(suspects.to_frame(), wrong)
    assert precision > 0.5 and recall > 0.5, (precision, recall)  # chance: 0.08
    # the same suspects, scores and suggestions as mislabel find on the folder
    root, _ = folder
    cli = find_issues_in(load_dataset(root), random_state=0)
    row = {p: i for i, p in enumerate(cli.data.paths)}
    at = [row[Path(p).relative_to(root).as_posix()] for p in item_list(dls)]
    np.testing.assert_array_equal(suspects.issues.mask, np.asarray(cli.issues.mask)[at])
    np.testing.assert_allclose(suspects.issues.scores, np.asarray(cli.issues.scores)[at])
    np.testing.assert_array_equal(suspects.labels, cli.data.labels[at])
    np.testing.assert_array_equal(suspects.issues.suggested, np.asarray(cli.issues.suggested)[at])
    np.testing.assert_allclose(suspects.weights, cli.issues.weights[at])
    assert [at[i] for i in suspects.issues.ranked] == list(cli.issues.ranked)
    assert list(suspects.classes) == list(cli.data.classes) == [str(c) for c in dls.vocab]


def test_auto_leaves_few_images_without_a_backbone_to_the_learner(dls, monkeypatch) -> None:
    """Without a loadable backbone, fewer than 1,000 images are judged by the Learner's run;
    items that are not image files cannot take the images detection."""
    import mislabel.data._embed as embed

    monkeypatch.setattr(embed, "default_backbone_available", lambda: False)
    torch.manual_seed(0)
    learn = Learner(dls, _tiny_cnn(), metrics=accuracy)
    assert find_suspects(learn, 1, neighbors=5, forget_rate=0).model == "the Learner"
    from fastai.data.core import Datasets
    from fastai.data.transforms import Categorize

    X = torch.as_tensor(np.random.default_rng(0).normal(size=(40, 64)), dtype=torch.float32)
    rows = Datasets(
        list(range(40)),  # the items are row numbers, not files
        tfms=[[X.__getitem__], [lambda i: "ab"[i % 2], Categorize()]],
        splits=(list(range(30)), list(range(30, 40))),
    )
    tiny = Learner(rows.dataloaders(bs=8), nn.Linear(64, 2))
    with pytest.raises(InvalidParameterError, match="detection='images' judges image files"):
        find_suspects(tiny, 1, detection="images")
    with pytest.raises(InvalidParameterError, match="detection"):
        find_suspects(tiny, 1, detection="folder")


def test_kfold_suspects_with_a_datablock(folder) -> None:
    root, _ = folder
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=get_image_files,
        get_y=parent_label,
        splitter=RandomSplitter(0.2, seed=0),
        item_tfms=Resize(32),
    )
    folds = datablock_folds(block, root, bs=32, num_workers=0)
    assert [folds.classes[i] for i in folds.labels] == [Path(p).parent.name for p in folds.items]
    probs = cross_val_pred_probs_fastai(
        lambda d: Learner(d, _tiny_cnn(), metrics=accuracy),
        folds,
        folds.labels,
        cv=2,
        epochs=2,
        lr=3e-3,
        random_state=0,
    )
    assert probs.shape == (len(folds.items), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    frame = folds.suspects(probs).to_frame()
    assert all(Path(p).parent.name == g for p, g in zip(frame["item"], frame["given"], strict=True))
    assert set(frame["split"]) <= {"train"}


def test_elr_needs_no_index_plumbing_and_refuses_mixup(dls) -> None:
    learn = vision_learner(
        dls,
        resnet18,
        pretrained=False,
        loss_func=ml.get("elr", n_samples=n_items(dls), n_classes=3),
    )
    _quiet_fit(learn, 1)
    with pytest.raises(InvalidParameterError, match="does not combine with MixUp"):
        _quiet_fit(learn, 1, cbs=[MixUp()])


@pytest.mark.parametrize("loss", ["gce", "sce", "ce"])
def test_robust_losses_with_mixup_and_weights(dls, loss) -> None:
    learn = Learner(dls, _tiny_cnn(), loss_func=ml.get(loss), metrics=accuracy)
    w = np.ones(n_items(dls))
    w[:10] = 0.0
    cb = SampleWeightCallback(w)
    _quiet_fit(learn, 1, cbs=[MixUp(0.4), cb, TemporalProbsRecorder(neighbors=3)])
    assert cb.n_seen == len(dls.train.dataset) // 32 * 32
    assert learn.loss_func.reduction == "mean"
    assert "before_batch" not in vars(learn.cbs[-1]) and learn.loss_func is not None


def test_weighted_mixup_loss_matches_its_formula(dls) -> None:
    """With all weights 1 the weighted MixUp loss is fastai's own MixUp loss."""
    from fastai.callback.core import Callback

    seen = []

    class Spy(Callback):
        order = 50

        def after_loss(self):
            mix = next(cb for cb in self.learn.cbs if isinstance(cb, MixUp))
            with torch.no_grad():
                seen.append((float(self.learn.loss), float(mix.lf(self.learn.pred, *self.yb))))

    learn = Learner(dls, _tiny_cnn(), loss_func=ml.get("ce"))
    _quiet_fit(learn, 1, cbs=[MixUp(0.4), SampleWeightCallback(np.ones(n_items(dls))), Spy()])
    ours, fastais = np.array(seen).T
    np.testing.assert_allclose(ours, fastais, rtol=1e-5)


# ------------------------------------------------------------- everyday calls after training


def _train(dls, how: str):
    torch.manual_seed(0)
    if how == "recipe":
        learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
        fit_noise_aware(learn, 1, 3e-3, detection="learner", neighbors=5)
        return learn
    n = n_items(dls)
    loss = ml.get("elr", n_samples=n, n_classes=3) if how == "elr" else ml.get("gce")
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy, loss_func=loss)
    cbs = [SampleWeightCallback(np.linspace(0.2, 1.0, n))]
    if how == "mixup":
        cbs += [MixUp(0.4), TemporalProbsRecorder(neighbors=3)]
    return _quiet_fit(learn, 1, cbs=cbs)


@pytest.fixture(scope="module", params=["weights", "elr", "mixup", "recipe"])
def trained(request, dls):
    return _train(dls, request.param)


def test_predict(trained, folder) -> None:
    root, _ = folder
    path = sorted(root.rglob("*.png"))[0]
    label, _, probs = trained.predict(path)
    assert label in trained.dls.vocab and probs.shape == (3,)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-4)


def test_test_dl_and_get_preds(trained, folder) -> None:
    root, _ = folder
    files = sorted(root.rglob("*.png"))[:20]
    preds, _ = trained.get_preds(dl=trained.dls.test_dl(files))
    assert preds.shape == (20, 3)
    valid_preds, targets = trained.get_preds()
    assert valid_preds.shape == (len(trained.dls.valid.dataset), 3)
    assert targets.shape == (len(trained.dls.valid.dataset),)


def test_show_results(trained) -> None:
    import matplotlib.pyplot as plt

    trained.show_results(max_n=4)
    plt.close("all")


def test_classification_interpretation(trained) -> None:
    interp = ClassificationInterpretation.from_learner(trained)
    cm = interp.confusion_matrix()
    assert cm.shape == (3, 3) and cm.sum() == len(trained.dls.valid.dataset)
    assert len(interp.most_confused(min_val=0)) >= 0


def test_export_and_load_learner(trained, tmp_path, folder) -> None:
    root, _ = folder
    path = sorted(root.rglob("*.png"))[0]
    trained.export(tmp_path / "model.pkl")
    again = load_learner(tmp_path / "model.pkl")
    assert again.predict(path)[0] == trained.predict(path)[0]


def test_lr_find(trained) -> None:
    with trained.no_bar(), trained.no_logging():
        found = trained.lr_find(num_it=12, stop_div=False, show_plot=False)
    assert found.valley > 0
