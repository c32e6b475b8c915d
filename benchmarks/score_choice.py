"""Which label-quality score should be the default? Evidence on real label errors.

Ranking quality (AUROC and average precision of "low score = wrong label") of every score
method on:
- the six confident-learning CIFAR-10 OOF files (synthetic class-conditional noise, known);
- RT-snippets: 10,453 movie-review snippets with 289 real, crowd-validated label errors;
  OOF probabilities of a logistic regression on the shipped MiniLM embeddings (5 folds);
- scikit-learn digits with 10 % uniformly flipped labels (logistic regression, 5 folds).

    python -m benchmarks.score_choice
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

import mislabel
from benchmarks._common import shared_data
from benchmarks.harness import datasets
from mislabel.detect import SCORE_METHODS


def cases():
    root = shared_data()
    for path in sorted((root / "cl-cifar10-oof").glob("*.npz")):
        oof = datasets.load_cl_cifar10_oof(path.stem, root=root)
        yield f"cifar10 {path.stem}", oof.labels, oof.pred_probs, oof.labels != oof.true_labels
    rt = datasets.load_rt_snippets(root=root)
    p = mislabel.cross_val_pred_probs(
        LogisticRegression(max_iter=2000), rt.X, rt.y, cv=5, random_state=0
    )
    yield "rt-snippets (real errors)", rt.y, p, rt.y != rt.y_true
    dg = datasets.load_digits()
    rng = np.random.default_rng(0)
    given = dg.y.copy()
    flip = rng.choice(given.size, round(0.1 * given.size), replace=False)
    given[flip] = (given[flip] + rng.integers(1, 10, flip.size)) % 10
    p = mislabel.cross_val_pred_probs(
        LogisticRegression(max_iter=2000, C=0.05), dg.X, given, cv=5, random_state=0
    )
    yield "digits 10% flipped", given, p, given != dg.y


def main() -> None:
    header = "| data | " + " | ".join(SCORE_METHODS) + " |"
    print("AUROC / average precision of low score = wrong label (higher is better)\n")
    print(header)
    print("|---" * (len(SCORE_METHODS) + 1) + "|")
    totals = np.zeros((len(SCORE_METHODS), 2))
    n = 0
    for name, labels, p, wrong in cases():
        cells = []
        for i, m in enumerate(SCORE_METHODS):
            s = mislabel.label_quality_scores(labels, p, method=m)
            auc = roc_auc_score(wrong, -s)
            ap = average_precision_score(wrong, -s)
            totals[i] += (auc, ap)
            cells.append(f"{auc:.3f} / {ap:.3f}")
        n += 1
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    mean = totals / n
    print("| **mean** | " + " | ".join(f"**{a:.3f} / {b:.3f}**" for a, b in mean) + " |")


if __name__ == "__main__":
    main()
