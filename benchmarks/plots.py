"""The figures of the documentation's results page, drawn from the benchmarks' outputs.

    python -m benchmarks.plots [--out docs/img]

- ``gap_closed.png``: share of the gap between plain CE and training on the true labels that
  each recipe closes, per setting of Table 2 at the larger subsets
  (``benchmarks/results/table2_scaled/results.csv``);
- ``losses.png``: clean-test accuracy of each loss at 40 % symmetric noise (Table 3,
  ``benchmarks/results/table3/results.csv``);
- ``detection_pr.png``: precision / recall of the score rankings on the confident-learning
  CIFAR-10 out-of-fold files, with the default cuts of mislabel and cleanlab marked
  (``shared/data/cl-cifar10-oof``);
- ``noise_matrix.png``: the true noise matrix of one of those files beside the one
  ``mislabel.estimate_noise`` recovers from the probabilities.

The first two read committed CSVs; the last two need the shared data folder and cleanlab.
"""

from __future__ import annotations

import argparse
import csv
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

import mislabel
from benchmarks._common import shared_data

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: recipe → (label, colour) of the gap-closed plot
GAP_METHODS = {
    "cleanlab": ("cleanlab (flags removed, CE)", "#9e9e9e"),
    "mislabel_dynknn_gated": ("NoiseAwareClassifier recipe", "#1f77b4"),
    "oracle_remove": ("perfect detection, removed, CE", "#d9a441"),
}
LOSS_ORDER = [
    "ce",
    "bootstrap_soft",
    "forward_correction_true",
    "forward_correction_est",
    "nce_rce@apl_mnist",
    "nce_rce",
    "sce",
    "gce",
    "oracle",
]


def _mean_accuracy(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(experiment, noise) → method → mean test accuracy (%) over seeds."""
    acc: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            acc[(row["experiment"], row["noise"])][row["method"]].append(float(row["test_acc"]))
    return {k: {m: 100 * float(np.mean(v)) for m, v in d.items()} for k, d in acc.items()}


def _setting_name(experiment: str, noise: str) -> str:
    model = "MLP" if "-mlp" in experiment else "CNN"
    data = "C10N" if experiment.startswith("cifar10n") else "FM"
    noise = noise.replace(" (fashion_mnist)", "").replace("symmetric", "sym.")
    return f"{data} {model}\n{noise.replace('real ', '')}"


def plot_gap_closed(plt: object, out: Path) -> Path:
    means = _mean_accuracy(RESULTS / "table2_scaled" / "results.csv")
    settings = sorted(means, key=lambda k: (k[0], k[1]))
    fig, ax = plt.subplots(figsize=(10, 4.2))  # type: ignore[attr-defined]
    width = 0.8 / len(GAP_METHODS)
    x = np.arange(len(settings))
    for i, (method, (label, colour)) in enumerate(GAP_METHODS.items()):
        gaps = []
        for key in settings:
            m = means[key]
            span = m["oracle"] - m["ce"]
            gaps.append(100 * (m[method] - m["ce"]) / span if span >= 3 else np.nan)
        ax.bar(x + (i - 1) * width, gaps, width, label=label, color=colour)
    ax.axhline(100, color="black", lw=0.8, ls="--")
    ax.set_xticks(x, [_setting_name(*k) for k in settings], fontsize=8)
    ax.set_ylabel("gap closed (%)")
    ax.set_ylim(0, 125)
    ax.set_title(
        "Table 2, larger subsets: share of the CE → true-labels gap closed (3 seeds; "
        "FM = Fashion-MNIST, C10N = CIFAR-10N)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    return _save(fig, out / "gap_closed.png")


def plot_losses(plt: object, out: Path) -> Path:
    means = _mean_accuracy(RESULTS / "table3" / "results.csv")
    (key,) = list(means)
    m = means[key]
    names = [n for n in LOSS_ORDER if n in m]
    fig, ax = plt.subplots(figsize=(7, 3.6))  # type: ignore[attr-defined]
    colours = ["#9e9e9e" if n in ("ce", "oracle") else "#1f77b4" for n in names]
    ax.barh(names, [m[n] for n in names], color=colours)
    for i, n in enumerate(names):
        ax.text(m[n] + 0.1, i, f"{m[n]:.1f}", va="center", fontsize=8)
    ax.set_xlim(min(m.values()) - 3, max(m.values()) + 2)
    ax.set_xlabel("clean test accuracy (%), mean of 3 seeds")
    ax.set_title("Table 3: Fashion-MNIST MLP, 40 % symmetric noise, 20 epochs", fontsize=10)
    return _save(fig, out / "losses.png")


def _pr_curve(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(scores, kind="stable")  # low score = most suspect first
    hits = np.cumsum(truth[order])
    k = np.arange(1, truth.size + 1)
    return hits / truth.sum(), hits / k


def plot_detection(plt: object, out: Path) -> Path:
    from cleanlab.filter import find_label_issues as cl_find

    files = ["sparsity0.0_noise0.2", "sparsity0.0_noise0.4", "sparsity0.0_noise0.6"]
    fig, axes = plt.subplots(1, len(files), figsize=(11, 3.6), sharey=True)  # type: ignore[attr-defined]
    for ax, name in zip(axes, files, strict=True):
        with np.load(shared_data() / "cl-cifar10-oof" / f"{name}.npz") as z:
            labels = z["noisy_labels"].astype(np.int64)
            truth = labels != z["true_labels"]
            probs = z["pred_probs"]
        for method, colour in (("noise_posterior", "#1f77b4"), ("self_confidence", "#9e9e9e")):
            scores = mislabel.label_quality_scores(labels, probs, method=method)
            r, p = _pr_curve(scores, truth)
            ax.plot(r, p, color=colour, lw=1.4, label=f"ranking: {method}")
        ours = mislabel.find_label_issues(labels, probs).mask
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cl_find(labels, probs, n_jobs=1)
        for mask, marker, label in (
            (ours, "o", "mislabel default flags"),
            (theirs, "s", "cleanlab default flags"),
        ):
            tp = np.sum(mask & truth)
            ax.plot(
                tp / truth.sum(),
                tp / mask.sum(),
                marker,
                color="black",
                ms=6,
                mfc="none",
                label=label,
            )
        ax.set_title(f"{truth.mean():.0%} wrong labels", fontsize=9)
        ax.set_xlabel("recall")
        ax.set_xlim(0, 1)
        ax.set_ylim(0.3, 1.01)
    axes[0].set_ylabel("precision")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        "Detection on the confident-learning CIFAR-10 out-of-fold files (ResNet-50, 4 folds)",
        fontsize=10,
    )
    return _save(fig, out / "detection_pr.png")


def plot_noise_matrix(plt: object, out: Path) -> Path:
    name = "sparsity0.2_noise0.4"
    with np.load(shared_data() / "cl-cifar10-oof" / f"{name}.npz") as z:
        labels = z["noisy_labels"].astype(np.int64)
        true = z["true_labels"].astype(np.int64)
        probs = z["pred_probs"]
    k = probs.shape[1]
    counts = np.zeros((k, k))
    np.add.at(counts, (true, labels), 1)
    actual = counts / counts.sum(1, keepdims=True)
    estimated = mislabel.estimate_noise(labels, probs).noise_matrix
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))  # type: ignore[attr-defined]
    for ax, matrix, title in (
        (axes[0], actual, "true noise matrix"),
        (axes[1], estimated, "estimated by mislabel.estimate_noise"),
    ):
        im = ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        for i in range(k):
            for j in range(k):
                if matrix[i, j] >= 0.05:
                    colour = "white" if matrix[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color=colour,
                    )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("given label")
        ax.set_ylabel("true class")
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(
        f"CIFAR-10, {np.mean(labels != true):.0%} wrong labels, sparsity 0.2 "
        "(rows = true class, columns = given label)",
        fontsize=10,
    )
    return _save(fig, out / "noise_matrix.png")


def _save(fig: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for plot in (plot_gap_closed, plot_losses, plot_detection, plot_noise_matrix):
        path = plot(plt, args.out)
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
