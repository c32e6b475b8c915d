"""CIFAR-10N consensus with 1, 2 and 3 human labels per image (real worker ids).

For each setting the same out-of-fold probabilities (5-fold logistic regression on 8×8×3
downsampled pixels, trained on the majority vote of the labels that setting sees) go to every
method that takes a model: mislabel's consensus and cleanlab 2.9's CROWDLAB
(get_label_quality_multiannotator). Majority vote and Dawid–Skene use the votes alone.

Columns: consensus accuracy against the clean CIFAR-10 labels; AUROC of each method's
per-image quality score for "the consensus is wrong"; Spearman correlation of each method's
annotator quality with the worker's measured accuracy on the labels that setting sees.

Run: python -m benchmarks.multiannotator_cifar10n   (~10 min, one core)
Writes benchmarks/results/multiannotator_cifar10n.md.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks._common import shared_data
from benchmarks.harness.datasets import load_cifar10
from mislabel import cross_val_pred_probs
from mislabel.multiannotator import consensus, majority_vote

SEED = 0
OUT = Path(__file__).resolve().parent / "results" / "multiannotator_cifar10n.md"


def long_table(labels: np.ndarray, workers: np.ndarray, columns: int) -> pd.DataFrame:
    """One row per (image, worker, label) for the first ``columns`` label sets."""
    n = labels.shape[0]
    parts = [
        pd.DataFrame({"item": np.arange(n), "annotator": workers[:, c], "label": labels[:, c]})
        for c in range(columns)
    ]
    return pd.concat(parts, ignore_index=True)


def features() -> np.ndarray:
    x = load_cifar10("train").X.astype(np.float32) / 255.0
    return x.reshape(-1, 8, 4, 8, 4, 3).mean(axis=(2, 4)).reshape(x.shape[0], -1)


def crowdlab(
    table: pd.DataFrame, pred_probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    from cleanlab.multiannotator import get_label_quality_multiannotator
    from cleanlab.rank import get_label_quality_scores

    wide = table.pivot(index="item", columns="annotator", values="label")
    if int(wide.notna().sum(axis=1).max()) == 1:  # CROWDLAB refuses one label per example
        given = wide.bfill(axis=1).iloc[:, 0].to_numpy().astype(int)
        return given, get_label_quality_scores(given, pred_probs), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = get_label_quality_multiannotator(wide, pred_probs, verbose=False)
    lq = out["label_quality"]
    return (
        lq["consensus_label"].to_numpy(),
        lq["consensus_quality_score"].to_numpy(),
        out["annotator_stats"]["annotator_quality"],
    )


def main() -> None:
    data = shared_data() / "cifar-n"
    with np.load(data / "cifar10n_labels.npz") as z:
        labels = np.stack([z[f"random_label{c}"] for c in (1, 2, 3)], axis=1).astype(np.int64)
        truth = z["clean_label"].astype(np.int64)
    side = pd.read_csv(data / "side_info_cifar10N.csv")
    workers = np.stack(
        [np.repeat(side[f"Worker{c}-id"].to_numpy(), 10) for c in (1, 2, 3)], axis=1
    )[: truth.shape[0]]
    x = features()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    rows = []
    for m in (1, 2, 3):
        t0 = time.time()
        table = long_table(labels, workers, m)
        mv = majority_vote(table)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probs = cross_val_pred_probs(model, x, mv, cv=5, random_state=SEED)
        acc_worker = (
            table.assign(ok=table["label"].to_numpy() == truth[table["item"]])
            .groupby("annotator")["ok"]
            .mean()
        )
        ds = consensus(table)
        ours = consensus(table, pred_probs=probs)
        cl_labels, cl_quality, cl_annot = crowdlab(table, probs)
        mv_agree = (
            table.assign(ok=table["label"].to_numpy() == mv[table["item"]])
            .groupby("annotator")["ok"]
            .mean()
        )

        def rho(series: pd.Series | None, acc_worker: pd.Series = acc_worker) -> float:
            if series is None:
                return float("nan")
            s = pd.Series(np.asarray(series, dtype=float), index=series.index)
            both = pd.concat([s, acc_worker], axis=1, join="inner").dropna()
            return float(spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic)

        def auroc(lab: np.ndarray, score: np.ndarray) -> float:
            wrong = lab != truth
            return float(roc_auc_score(wrong, -np.asarray(score)))

        def q(res) -> pd.Series:
            return pd.Series(res.annotator_quality, index=res.annotators)

        setting = f"{m} label{'s' if m > 1 else ''}"
        n_workers = int(table["annotator"].nunique())
        rows += [
            (setting, "model alone (argmax)", (probs.argmax(1) == truth).mean(), np.nan, np.nan),
            (setting, "majority vote", (mv == truth).mean(), np.nan, rho(mv_agree)),
            (
                setting,
                "Dawid–Skene (votes only)",
                (ds.labels == truth).mean(),
                auroc(ds.labels, ds.quality),
                rho(q(ds)),
            ),
            (
                setting,
                "cleanlab CROWDLAB",
                (cl_labels == truth).mean(),
                auroc(cl_labels, cl_quality),
                rho(cl_annot),
            ),
            (
                setting,
                "mislabel consensus",
                (ours.labels == truth).mean(),
                auroc(ours.labels, ours.quality),
                rho(q(ours)),
            ),
        ]
        print(
            f"{setting}: {n_workers} workers, model weight {ours.model_weight}, "
            f"{time.time() - t0:.0f} s",
            flush=True,
        )
        for r in rows[-5:]:
            print("   ", r, flush=True)
    lines = [
        "# CIFAR-10N: consensus from 1, 2, 3 human labels per image",
        "",
        "`python -m benchmarks.multiannotator_cifar10n` (one core, ~10 min). 50,000 CIFAR-10 train",
        "images, labels random_label1..3 with the real worker ids of side_info_cifar10N.csv (747",
        "workers), truth = clean labels. Every model-based method gets the same out-of-fold",
        "probabilities: 5-fold logistic regression on 8×8×3 downsampled pixels trained on the",
        "majority vote of the labels the setting sees (a weak model: see its own row).",
        "Accuracy = consensus vs clean label; AUROC = per-image quality score as a detector of a",
        "wrong consensus; Spearman = annotator quality vs the worker's measured accuracy (majority",
        "vote row: agreement with the majority vote). With one label per image cleanlab's",
        'get_label_quality_multiannotator refuses the input ("use get_label_quality_scores"):',
        "that row keeps the given label and scores it with cleanlab.rank.get_label_quality_scores.",
        "",
        "| labels per image | method | consensus accuracy | AUROC (wrong consensus) "
        "| Spearman (annotator quality) |",
        "|---|---|---|---|---|",
    ]
    fmt = lambda v: "—" if v != v else f"{v:.4f}"  # noqa: E731
    for setting, name, acc, au, sp in rows:
        lines.append(f"| {setting} | {name} | {acc:.4f} | {fmt(au)} | {fmt(sp)} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
