"""`mislabel find` on an image folder with known wrong labels, as a user runs it.

Builds a folder of 6,000 Fashion-MNIST test images as PNGs in one subfolder per class, 10 % of
them in a wrong folder: half swapped between look-alike classes (T-shirt/top ↔ Shirt,
Pullover ↔ Coat, Sneaker ↔ Ankle boot), half moved to a random other class. The truth is kept
outside the folder. Then runs, each timed as a whole command:

- ``mislabel find FOLDER -o OUT`` with its defaults;
- ``mislabel find FOLDER -o OUT --model linear`` (pixels → PCA → logistic regression, k folds);
- cleanlab 2.9's ``find_label_issues`` (its defaults) on 5-fold out-of-fold probabilities of
  the default CNN (``TorchClassifier`` with the same network, 8 epochs a fold).

Detection precision / recall / F1 against the truth, and wall time.

    python benchmarks/find_folder.py                 # seed 0 → benchmarks/results/find_folder.md
    python benchmarks/find_folder.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "find_folder.md"
WORK = ROOT / "benchmarks" / ".cache" / "find_folder"
#: Look-alike class pairs of Fashion-MNIST (swapped both ways).
LOOK_ALIKE = {0: 6, 6: 0, 2: 4, 4: 2, 7: 9, 9: 7}
N_IMAGES = 6000
N_WRONG = 600


def fashion_mnist_test() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    import gzip

    data = Path(os.environ.get("MISLABEL_DATA", ROOT.parent / "shared" / "data"))
    folder = data / "fashion-mnist"
    if not folder.is_dir():
        sys.exit(f"the shared Fashion-MNIST folder is missing: {folder}")
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    names = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
             "bag", "boot")  # fmt: skip
    return x, y, names


def make_folder(seed: int, root: Path, n_images: int = N_IMAGES, n_wrong: int = N_WRONG) -> Path:
    """``root/images`` (class subfolders of ``n_images`` PNGs, ``n_wrong`` of them in a wrong
    folder: half look-alike swaps, half random) and ``root/truth.csv`` beside it."""
    from PIL import Image

    x, y, names = fashion_mnist_test()
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(y.size, n_images, replace=False))
    x, y = x[idx], y[idx]
    given = y.copy()
    order = rng.permutation(n_images)
    pairs = [i for i in order if y[i] in LOOK_ALIKE][: n_wrong // 2]
    for i in pairs:
        given[i] = LOOK_ALIKE[int(y[i])]
    taken = set(pairs)
    rest = [i for i in order if i not in taken][: n_wrong - len(pairs)]
    for i in rest:
        given[i] = (y[i] + rng.integers(1, 10)) % 10
    folder = root / "images"
    rows = ["path,true_label,given_label,kind"]
    for i in range(n_images):
        rel = f"{names[given[i]]}/img_{i:05d}.png"
        (folder / names[given[i]]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).save(folder / rel)
        kind = "look-alike" if i in taken else ("random" if given[i] != y[i] else "")
        rows.append(f"{rel},{names[y[i]]},{names[given[i]]},{kind}")
    (root / "truth.csv").write_text("\n".join(rows) + "\n")
    return folder


def score(out: Path, truth: Path) -> dict[str, float]:
    import pandas as pd

    issues = pd.read_csv(out / "issues.csv", keep_default_na=False)
    t = pd.read_csv(truth, keep_default_na=False).set_index("path")
    wrong = (t["true_label"] != t["given_label"]).reindex(issues["path"]).to_numpy()
    flagged = issues["is_issue"].astype(str).str.lower().eq("true").to_numpy()
    return prf(flagged, wrong)


def prf(flagged: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(flagged & wrong))
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(wrong.sum()), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12),
            "flagged": int(flagged.sum())}  # fmt: skip


def run_find(folder: Path, out: Path, *extra: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one ``mislabel find`` command."""
    import resource

    cmd = [sys.executable, "-m", "mislabel.cli", "find", str(folder), "-o", str(out),
           "--no-cache", *extra]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def cleanlab_on_cnn_oof(
    folder: Path, truth: Path, seed: int
) -> tuple[dict[str, float], float, float]:
    """cleanlab's default flags on 5-fold out-of-fold probabilities of the default CNN."""
    import functools

    import pandas as pd
    from cleanlab.filter import find_label_issues

    import mislabel
    from mislabel.data import load_dataset
    from mislabel.integrations.torch import TorchClassifier
    from mislabel.train._networks import InputScaler, default_network

    t0 = time.perf_counter()
    c0 = time.process_time()
    data = load_dataset(folder)
    scaler = InputScaler.fit(data.X)
    x = scaler.transform(data.X)
    net = functools.partial(default_network, scaler.network_input_shape(), data.n_classes)
    est = TorchClassifier(net, epochs=8, random_state=seed, progress=False, channels_last=True)
    probs = mislabel.cross_val_pred_probs(est, x, data.labels, cv=5, random_state=seed)
    mask = np.asarray(find_label_issues(data.labels, probs, n_jobs=1), dtype=bool)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    t = pd.read_csv(truth, keep_default_na=False).set_index("path")
    wrong = (t["true_label"] != t["given_label"]).reindex(list(data.paths)).to_numpy()
    return prf(mask, wrong), seconds, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--no-cleanlab", action="store_true")
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        root = WORK / f"seed{seed}"
        folder = root / "images"
        if not (root / "truth.csv").is_file():
            make_folder(seed, root)
        truth = root / "truth.csv"
        runs = (
            ("mislabel find (defaults)", ()),
            ("mislabel find --model linear", ("--model", "linear")),
        )
        for name, extra in runs:
            out = root / ("out-" + ("linear" if extra else "default"))
            seconds, cpu = run_find(folder, out, *extra)
            meta = json.loads((out / "find.json").read_text())
            rows.append({"seed": seed, "method": name, "seconds": seconds, "cpu": cpu,
                         **score(out, truth), "model": meta["model"]})  # fmt: skip
            print(rows[-1], flush=True)
        if not args.no_cleanlab:
            res, seconds, cpu = cleanlab_on_cnn_oof(folder, truth, seed)
            method = "cleanlab on 5-fold CNN out-of-fold"
            model = "default CNN, 5 folds × 8 epochs"
            rows.append(
                {"seed": seed, "method": method, "seconds": seconds, "cpu": cpu, **res,
                 "model": model}
            )  # fmt: skip
            print(rows[-1], flush=True)
    lines = [
        "# `mislabel find` on a Fashion-MNIST image folder with 10 % wrong labels",
        "",
        "Command: `python benchmarks/find_folder.py --seeds "
        + " ".join(map(str, args.seeds))
        + "`",
        "",
        f"{N_IMAGES:,} Fashion-MNIST test images (28×28 PNGs), {N_WRONG} in a wrong class folder: "
        "half swapped between look-alike classes (T-shirt ↔ shirt, pullover ↔ coat, sneaker ↔ "
        "boot), half moved to a random class. Wall time of the whole command (loading the PNGs "
        "included) and its CPU time (user + system, all threads); the 2-core machine may be "
        "shared with other work, which stretches the wall time, less the CPU time.",
        "",
        "| seed | method | flagged | precision | recall | F1 | wall s | CPU s | model |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['method']} | {r['flagged']} | {r['precision']:.3f} | "
            f"{r['recall']:.3f} | {r['f1']:.3f} | {r['seconds']:.0f} | {r['cpu']:.0f} | "
            f"{r['model']} |"
        )
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
