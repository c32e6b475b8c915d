"""The whole recipe for a fastai user: lines added to a plain ``vision_learner`` script, and
what they buy on an image folder with known wrong labels.

Builds a folder of 1,200 Fashion-MNIST test images (28 px PNGs, one subfolder per class), 10 %
in a wrong folder (half swapped between look-alike classes, half moved to a random other
class; the truth stays outside the folder), then runs, on the CPU, with ``resnet18`` from
scratch (``pretrained=False``: nothing is downloaded):

- the plain script: ``vision_learner`` + ``fit_one_cycle``;
- the same script with :func:`mislabel.integrations.fastai.fit_noise_aware` and its
  defaults (1,200 image files: judged as ``mislabel find`` judges a folder → suspects →
  weights + ELR in the final training);
- the same with ``detection="learner"`` (the Learner's own run with MixUp and the temporal
  recorder judges instead);
- ``mislabel.data.find_issues_in`` on the same folder with its defaults (the CLI's
  ``mislabel find``), for the detection beside the fastai path;
- both ``fit_noise_aware`` runs again on 1,500 colour CIFAR-10 photos in the folders of their
  CIFAR-10N human labels (the default judges them by the pretrained backbones).

Each Learner trains with seeds 0, 1 and 2. Reports the lines the recipe adds (a diff of the
two scripts below), detection precision / recall / F1 against the truth, and the accuracy on
2,000 clean test images that are not in the folder.

    python -m benchmarks.fastai_recipe          # → benchmarks/results/fastai_recipe.md (~10 min)
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.find_folder import make_folder as make_folder_of

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fastai_recipe.md"
N_IMAGES, N_WRONG, EPOCHS, SEED = 1200, 120, 5, 0
#: Training seeds of every Learner (the folder is drawn once, with SEED).
SEEDS = (0, 1, 2)
#: Clean test images (Fashion-MNIST training images, none of them in the folder).
N_TEST = 2000

PLAIN = """\
from fastai.vision.all import *

dls = ImageDataLoaders.from_folder(path, valid_pct=0.2, seed=0, item_tfms=Resize(32))
learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
learn.fit_one_cycle(5, 3e-3)
learn.export("model.pkl")
"""

RECIPE = """\
from fastai.vision.all import *
from mislabel.integrations.fastai import fit_noise_aware

dls = ImageDataLoaders.from_folder(path, valid_pct=0.2, seed=0, item_tfms=Resize(32))
learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
suspects = fit_noise_aware(learn, 5, 3e-3)
suspects.to_frame().to_csv("suspects.csv")
learn.export("model.pkl")
"""


def make_folder(root: Path) -> dict[str, str]:
    """``root/images`` (the folder of ``benchmarks/find_folder.py`` at this size); returns
    relative path → true class name."""
    import pandas as pd

    make_folder_of(SEED, root, n_images=N_IMAGES, n_wrong=N_WRONG)
    truth = pd.read_csv(root / "truth.csv", keep_default_na=False)
    return dict(zip(truth["path"], truth["true_label"], strict=True))


def prf(flagged: set[str], wrong: set[str]) -> tuple[float, float, float, int]:
    tp = len(flagged & wrong)
    p, r = tp / max(len(flagged), 1), tp / max(len(wrong), 1)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, len(flagged)


def _cells(det: tuple[float, float, float, int] | None) -> str:
    return " | | | " if det is None else "{:.3f} | {:.3f} | {:.3f} | {}".format(*det)


def clean_test_set(root: Path) -> tuple[list[Path], list[str]]:
    """``root/<i>.png``: N_TEST Fashion-MNIST training images (none of them in the folder,
    which holds test images), with their true class names."""
    import gzip

    from PIL import Image

    from benchmarks.find_folder import fashion_mnist_test

    folder = (
        Path(os.environ.get("MISLABEL_DATA", ROOT.parent / "shared" / "data")) / "fashion-mnist"
    )
    _, _, names = fashion_mnist_test()
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    idx = np.random.default_rng(SEED).choice(y.size, N_TEST, replace=False)
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for i in idx:
        files.append(root / f"{i}.png")
        Image.fromarray(x[i]).save(files[-1])
    return files, [names[int(y[i])] for i in idx]


def test_accuracy(learn, files: list[Path], true: list[str]) -> float:
    preds = learn.get_preds(dl=learn.dls.test_dl(files))[0].argmax(1).numpy()
    names = [str(v) for v in learn.dls.vocab]
    return float(np.mean([names[int(k)] == t for k, t in zip(preds, true, strict=True)]))


#: Colour photos: the first N_PHOTOS of the CIFAR-10N benchmark subset, each in the folder
#: of its ``aggre`` human label (about 9 % wrong).
N_PHOTOS = 1500
PHOTO_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")  # fmt: skip


def photos_rows(root: Path) -> tuple[list[tuple], int]:
    """The two detections of ``fit_noise_aware`` on a folder of CIFAR-10 photos with human
    label errors (seed 0): (name, detection P/R/F1/flagged, clean-test accuracy on
    N_TEST CIFAR-10 test photos, seconds, judge) rows, and the number of wrong labels."""
    import torch
    from fastai.vision.all import ImageDataLoaders, Resize, accuracy, resnet18, vision_learner
    from PIL import Image

    from benchmarks import _cifar10n_embed as E
    from benchmarks.harness.datasets import load_cifar10, load_cifar10n
    from mislabel.integrations.fastai import fit_noise_aware

    aggre = load_cifar10n("aggre", images=True, cache=E.CACHE)
    folder = root / "photos"
    wrong = set()
    for i in E.train_subset(aggre.y_true)[:N_PHOTOS]:
        rel = f"{PHOTO_CLASSES[aggre.y[i]]}/img_{i:05d}.png"
        (folder / PHOTO_CLASSES[aggre.y[i]]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(aggre.X[i]).save(folder / rel)
        if aggre.y[i] != aggre.y_true[i]:
            wrong.add(rel)
    test = load_cifar10("test", cache=E.CACHE)
    pick = np.random.default_rng(SEED).choice(test.y.size, N_TEST, replace=False)
    (root / "photo-test").mkdir()
    files = []
    for i in pick:
        files.append(root / "photo-test" / f"{i}.png")
        Image.fromarray(test.X[i]).save(files[-1])
    true = [PHOTO_CLASSES[int(test.y[i])] for i in pick]
    rows = []
    for detection in ("auto", "learner"):
        t = time.perf_counter()
        torch.manual_seed(SEED)
        dls = ImageDataLoaders.from_folder(
            folder, valid_pct=0.2, seed=0, item_tfms=Resize(32), bs=64, num_workers=0
        )
        learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
        with learn.no_bar(), learn.no_logging():
            suspects = fit_noise_aware(learn, EPOCHS, 3e-3, detection=detection)
        flagged = {Path(p).relative_to(folder).as_posix() for p in suspects.to_frame()["item"]}
        how = "defaults" if detection == "auto" else f"detection={detection!r}"
        rows.append(
            (
                f"with fit_noise_aware ({how})",
                prf(flagged, wrong),
                test_accuracy(learn, files, true),
                time.perf_counter() - t,
                suspects.model,
            )
        )
    return rows, len(wrong)


def main() -> None:
    import torch
    from fastai.vision.all import ImageDataLoaders, Resize, accuracy, resnet18, vision_learner

    from mislabel.data import find_issues_in, load_dataset
    from mislabel.integrations.fastai import fit_noise_aware

    torch.set_num_threads(1)
    added = [
        ln[1:]
        for ln in difflib.unified_diff(PLAIN.splitlines(), RECIPE.splitlines(), lineterm="")
        if ln.startswith("+") and not ln.startswith("+++")
    ]
    removed = [
        ln[1:]
        for ln in difflib.unified_diff(PLAIN.splitlines(), RECIPE.splitlines(), lineterm="")
        if ln.startswith("-") and not ln.startswith("---")
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        truth = make_folder(Path(tmp))
        root = Path(tmp) / "images"
        wrong = {p for p, t in truth.items() if Path(p).parent.name != t}

        def dls(seed: int):
            torch.manual_seed(seed)
            return ImageDataLoaders.from_folder(
                root, valid_pct=0.2, seed=0, item_tfms=Resize(32), bs=64, num_workers=0
            )

        test_files, test_true = clean_test_set(Path(tmp) / "test")
        for seed in SEEDS:
            t = time.perf_counter()
            torch.manual_seed(seed)
            plain = vision_learner(dls(seed), resnet18, pretrained=False, metrics=accuracy)
            with plain.no_bar(), plain.no_logging():
                plain.fit_one_cycle(EPOCHS, 3e-3)
            acc = test_accuracy(plain, test_files, test_true)
            rows.append(("plain script", seed, None, acc, time.perf_counter() - t, ""))
            for detection in ("auto", "learner"):
                t = time.perf_counter()
                torch.manual_seed(seed)
                learn = vision_learner(dls(seed), resnet18, pretrained=False, metrics=accuracy)
                with learn.no_bar(), learn.no_logging():
                    suspects = fit_noise_aware(learn, EPOCHS, 3e-3, detection=detection)
                frame = suspects.to_frame()
                flagged = {Path(p).relative_to(root).as_posix() for p in frame["item"]}
                how = "defaults" if detection == "auto" else f"detection={detection!r}"
                rows.append(
                    (
                        f"with fit_noise_aware ({how})",
                        seed,
                        prf(flagged, wrong),
                        test_accuracy(learn, test_files, test_true),
                        time.perf_counter() - t,
                        suspects.model,
                    )
                )

        t = time.perf_counter()
        try:
            data = load_dataset(root)
            found = find_issues_in(data, random_state=SEED)
            mask = np.asarray(found.issues.mask)
            flagged_cli = {Path(data.paths[i]).as_posix() for i in np.flatnonzero(mask)}
            cli = (f"`find_issues_in` defaults ({found.model})", _cells(prf(flagged_cli, wrong)))
        except Exception as exc:  # the CLI's defaults are another module's; report, go on
            cli = ("`find_issues_in` defaults", f"failed: {type(exc).__name__}: {exc}")
        cli_s = time.perf_counter() - t
        torch.set_num_threads(2)  # the backbones embed the photos on both cores
        photo_rows, n_photo_wrong = photos_rows(Path(tmp))

    lines = [
        "# fastai: the whole recipe in a plain `vision_learner` script",
        "",
        "`python -m benchmarks.fastai_recipe`. A folder of 1,200 Fashion-MNIST test images "
        "(28 px PNGs), 120 (10 %) in a wrong class folder (60 swapped between look-alike "
        "classes, 60 moved at random); `resnet18` from scratch, 5 epochs, batch 64, one CPU "
        f"thread, training seeds {', '.join(map(str, SEEDS))}; validation split 20 % (its "
        f"labels are as noisy as the rest). Accuracy on {N_TEST:,} clean test images "
        "(Fashion-MNIST training images, none of them in the folder).",
        "",
        f"## Lines: {len(added)} added, {len(removed)} changed away",
        "",
        "```diff",
        *difflib.unified_diff(
            PLAIN.splitlines(), RECIPE.splitlines(), "plain.py", "recipe.py", lineterm=""
        ),
        "```",
        "",
        "## Detection and accuracy (mean over the seeds)",
        "",
        "| run | F1 | flagged | clean test accuracy | per seed | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == name]
        accs = [r[3] for r in mine]
        dets = [r[2] for r in mine if r[2] is not None]
        f1 = f"{np.mean([d[2] for d in dets]):.3f}" if dets else ""
        flagged = f"{np.mean([d[3] for d in dets]):.0f}" if dets else ""
        lines.append(
            f"| {name} | {f1} | {flagged} | {np.mean(accs):.3f} | "
            f"{' / '.join(f'{a:.3f}' for a in accs)} | {np.mean([r[4] for r in mine]):.0f} |"
        )
    lines += [
        "",
        "## Every run",
        "",
        "| run | seed | precision | recall | F1 | flagged | clean test accuracy | seconds | "
        "judged by |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, seed, det, acc, secs, judge in rows:
        lines.append(f"| {name} | {seed} | {_cells(det)} | {acc:.3f} | {secs:.0f} | {judge} |")
    lines += [
        "",
        f"{cli[0]} on the same folder (what `mislabel find` runs), seed {SEED}: precision / "
        f"recall / F1 / flagged {cli[1].replace(' | ', ' / ')}, {cli_s:.0f} s.",
        "",
        f"## Colour photos: {N_PHOTOS:,} CIFAR-10 photos, {n_photo_wrong} in the folder of a "
        "wrong human label",
        "",
        "The first 1,500 photos of the CIFAR-10N benchmark subset (32 px), each in the folder of "
        "its `aggre` label; the same script (`resnet18` from scratch, 5 epochs, seed 0, two "
        f"torch threads); accuracy on {N_TEST:,} CIFAR-10 test photos.",
        "",
        "| run | precision | recall | F1 | flagged | clean test accuracy | seconds | judged by |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {name} | {_cells(det)} | {acc:.3f} | {secs:.0f} | {judge} |"
            for name, det, acc, secs, judge in photo_rows
        ),
        "",
        "The machine's 2 cores may have been shared with other work while this ran: seconds "
        "are upper bounds.",
        "",
    ]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
