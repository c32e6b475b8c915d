"""`mislabel find` on a folder of 10,000 photos with human label errors, as a user runs it.

Builds a folder of the 10,000 CIFAR-10 training photos of the CIFAR-10N rows (the stratified
subset of ``benchmarks/_cifar10n_embed.py``) as PNGs, one subfolder per class, each photo in
the folder of its CIFAR-10N human label (``aggre`` by default: 9 % wrong; ``--labels worst``:
40 % wrong). The clean labels are kept outside the folder. Then runs ``mislabel find FOLDER -o
OUT --no-cache`` with its defaults (on colour photos: EfficientNet-Lite0 + Lite2 embeddings
computed cold, judged by ``embedding_pred_probs``) as one timed command, and scores its flags
against the clean labels beside cleanlab 2.9's ``find_label_issues`` (its defaults) on the same
probabilities (``OUT/pred_probs.npy``).

    python -m benchmarks.find_photos            # → benchmarks/results/find_photos.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks import _cifar10n_embed as E
from benchmarks.find_folder import prf, run_find

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "find_photos.md"
WORK = ROOT / "benchmarks" / ".cache" / "find_photos"
NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck")  # fmt: skip


def make_folder(label_set: str, root: Path) -> Path:
    """The photo folder and ``root/truth.csv`` (path, clean label, given label) beside it."""
    from PIL import Image

    from benchmarks.harness.datasets import load_cifar10n

    folder = root / "images"
    truth = root / "truth.csv"
    if truth.is_file():
        return folder
    aggre = load_cifar10n("aggre", images=True, cache=E.CACHE)
    given = load_cifar10n(label_set, images=False).y
    idx = E.train_subset(aggre.y_true)
    rows = ["path,true_label,given_label"]
    for i in idx:
        rel = f"{NAMES[given[i]]}/img_{i:05d}.png"
        (folder / NAMES[given[i]]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(aggre.X[i]).save(folder / rel)
        rows.append(f"{rel},{NAMES[aggre.y_true[i]]},{NAMES[given[i]]}")
    tmp = truth.with_suffix(".tmp")
    tmp.write_text("\n".join(rows) + "\n")
    os.replace(tmp, truth)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", choices=("aggre", "worst"), default="aggre")
    args = ap.parse_args()

    import json

    import pandas as pd
    from cleanlab.filter import find_label_issues

    root = WORK / args.labels
    folder = make_folder(args.labels, root)
    out = root / "out"
    wall, cpu = run_find(folder, out)
    meta = json.loads((out / "find.json").read_text())
    issues = pd.read_csv(out / "issues.csv", keep_default_na=False)
    t = pd.read_csv(root / "truth.csv", keep_default_na=False).set_index("path")
    classes = (out / "classes.txt").read_text().split()
    # pred_probs.npy rows follow the loader's order (sorted paths), issues.csv ranks them
    order = issues.sort_values("id")["path"].tolist()
    wrong = (t["true_label"] != t["given_label"]).reindex(order).to_numpy()
    ours = issues.sort_values("id")["is_issue"].astype(str).str.lower().eq("true").to_numpy()
    probs = np.load(out / "pred_probs.npy")
    given = np.array([classes.index(g) for g in t["given_label"].reindex(order)])
    theirs = np.asarray(find_label_issues(given, probs, n_jobs=1), dtype=bool)
    rows = [("mislabel find (defaults)", prf(ours, wrong)),
            ("cleanlab 2.9 on the same probabilities", prf(theirs, wrong))]  # fmt: skip
    lines = [
        f"# `mislabel find` on 10,000 CIFAR-10 photos with CIFAR-10N `{args.labels}` labels",
        "",
        f"`python -m benchmarks.find_photos --labels {args.labels}`. {wrong.mean():.1%} of the "
        f"given labels are wrong. Model that ran: {meta['model']}.",
        "",
        "| flagged by | precision | recall | F1 | flagged |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['flagged']} |"
        for name, r in rows
    ]
    lines += [
        "",
        f"Wall time of the whole command, embeddings computed cold (`--no-cache`): {wall:.0f} s "
        f"(CPU {cpu:.0f} s) on {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
