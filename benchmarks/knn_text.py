"""Does the k-NN label vote help detection on fixed text embeddings?

For each text set of ``shared/data`` (MiniLM-L6 embeddings): RT-snippets with its 289 real label
errors, SMS spam and TREC (coarse) with 20 % symmetric flips (seed 0). Detection with our
default method on three kinds of probabilities: 5-fold out-of-fold logistic regression, the
labels' distribution among each sample's k nearest neighbours (``mislabel.neighbor_label_probs``,
cosine, k = 10 and 30; no model), and the mean of the two. Prints a markdown table (written to
``benchmarks/results/knn_text.md`` by the command below).

    python -m benchmarks.knn_text > benchmarks/results/knn_text.md
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import mislabel
from benchmarks._common import shared_data
from benchmarks.harness import datasets
from mislabel.metrics import precision_recall_f1
from mislabel.noise import flip_symmetric


def cases():
    root = shared_data()
    rt = datasets.load_rt_snippets(root=root)
    yield "RT-snippets (289 real errors)", rt.X, rt.y, rt.y_true
    for name, ds in (
        ("SMS spam, 20 % flipped", datasets.load_sms_spam(root=root)),
        ("TREC coarse, 20 % flipped", datasets.load_trec(root=root)),
    ):
        noisy = flip_symmetric(ds.y, 0.2, n_classes=ds.n_classes, random_state=0).labels
        yield name, ds.X, noisy, ds.y


def main() -> None:
    print("# k-NN label vote on text embeddings: detection quality\n")
    print("Command: `python -m benchmarks.knn_text > benchmarks/results/knn_text.md`\n")
    print(__doc__.split("\n\n")[1].replace("\n", " ").split(" Prints")[0] + "\n")
    print("| data | probabilities | ROC-AUC | precision | recall | F1 | flagged | wrong |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, X, noisy, truth in cases():
        wrong = noisy != truth
        oof = mislabel.cross_val_pred_probs(
            LogisticRegression(max_iter=2000), X, noisy, cv=5, random_state=0
        )
        rows = [("out-of-fold logistic regression", oof)]
        for k in (10, 30):
            knn = mislabel.neighbor_label_probs(X, noisy, n_neighbors=k)
            rows += [(f"k-NN vote, k = {k}", knn), (f"mean of both, k = {k}", (oof + knn) / 2)]
        for label, probs in rows:
            issues = mislabel.find_label_issues(noisy, probs)
            auc = roc_auc_score(wrong, -np.asarray(issues.scores))
            p, r, f1 = precision_recall_f1(issues.mask, wrong)
            print(
                f"| {name} | {label} | {auc:.3f} | {p:.3f} | {r:.3f} | {f1:.3f} | "
                f"{issues.n_issues} | {int(wrong.sum())} |"
            )


if __name__ == "__main__":
    main()
