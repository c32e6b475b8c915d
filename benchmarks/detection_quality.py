"""Detection quality on the confident-learning CIFAR-10 out-of-fold files.

For each of the six files (4-fold ResNet-50 OOF probabilities, known noise): precision /
recall / F1 of mislabel's default beside cleanlab 2.9's default and cleanlab's best method on
that file, and the published confident-learning numbers.

    python -m benchmarks.detection_quality
"""

from __future__ import annotations

import warnings

import numpy as np
from cleanlab.filter import find_label_issues as cl_find

import mislabel
from benchmarks._common import shared_data
from mislabel.detect import CL_METHODS
from mislabel.metrics import precision_recall_f1

PUBLISHED_BEST = {"0.2": 0.78, "0.4": 0.85, "0.6": 0.83}  # sparsity 0 rows of the paper


def main() -> None:
    rows = []
    print(
        "| file | wrong | mislabel default P/R/F1 | cleanlab default P/R/F1 | "
        "cleanlab best (method) F1 | published best F1 |"
    )
    print("|---|---|---|---|---|---|")
    for path in sorted((shared_data() / "cl-cifar10-oof").glob("*.npz")):
        with np.load(path) as z:
            labels = z["noisy_labels"].astype(np.int64)
            truth = labels != z["true_labels"]
            pred_probs = z["pred_probs"]
        ours = precision_recall_f1(mislabel.find_label_issues(labels, pred_probs).mask, truth)
        theirs = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for m in CL_METHODS:
                theirs[m] = precision_recall_f1(
                    cl_find(labels, pred_probs, filter_by=m, n_jobs=1), truth
                )
        default = theirs["prune_by_noise_rate"]
        best_m = max(theirs, key=lambda m: theirs[m][2])
        sparsity, noise = path.stem.replace("sparsity", "").split("_noise")
        pub = PUBLISHED_BEST.get(noise, float("nan")) if sparsity == "0.0" else float("nan")
        rows.append((ours[2], default[2], theirs[best_m][2]))
        print(
            f"| {path.stem} | {truth.mean():.1%} | "
            f"{ours[0]:.3f} / {ours[1]:.3f} / **{ours[2]:.3f}** | "
            f"{default[0]:.3f} / {default[1]:.3f} / {default[2]:.3f} | "
            f"{theirs[best_m][2]:.3f} ({best_m}) | {pub:.2f} |"
        )
    arr = np.array(rows)
    print(
        f"| **mean** | | **{arr[:, 0].mean():.3f}** | {arr[:, 1].mean():.3f} | "
        f"{arr[:, 2].mean():.3f} | |"
    )
    print(
        "\nmislabel default >= cleanlab default on every file: "
        f"{bool(np.all(arr[:, 0] >= arr[:, 1]))}; "
        f">= cleanlab best on every file: {bool(np.all(arr[:, 0] >= arr[:, 2]))}"
    )


if __name__ == "__main__":
    main()
