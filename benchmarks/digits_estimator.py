"""`NoiseAwareClassifier()` with its defaults against cleanlab and plain training, side by side.

scikit-learn's digits, a stratified 75 / 25 split, 20 % of the training labels flipped to a
random other class (seeded); clean test accuracy and detection precision / recall / F1 of:

- ``mislabel.NoiseAwareClassifier(random_state=seed)`` — nothing else set;
- cleanlab 2.9's ``CleanLearning(LogisticRegression(max_iter=2000), seed=seed)``;
- ``MLPClassifier(random_state=seed)`` and ``LogisticRegression(max_iter=2000)`` on the noisy
  labels.

    python benchmarks/digits_estimator.py            # seeds 0 1 2 → results/digits_estimator.md
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "digits_estimator.md"


def noisy_digits(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    noisy = ytr.copy()
    flip = rng.random(ytr.shape[0]) < 0.2
    noisy[flip] = (noisy[flip] + rng.integers(1, 10, int(flip.sum()))) % 10
    return Xtr, noisy, ytr, Xte, yte


def main() -> None:
    from cleanlab.classification import CleanLearning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    import mislabel
    from mislabel.metrics import precision_recall_f1

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for seed in args.seeds:
        Xtr, noisy, ytr, Xte, yte = noisy_digits(seed)
        wrong = noisy != ytr
        runs = {
            "NoiseAwareClassifier() defaults": lambda s=seed: mislabel.NoiseAwareClassifier(
                random_state=s
            ),
            "cleanlab CleanLearning(LogisticRegression())": lambda s=seed: CleanLearning(
                LogisticRegression(max_iter=2000), seed=s
            ),
            "MLPClassifier (noisy labels)": lambda s=seed: MLPClassifier(
                random_state=s, max_iter=500
            ),
            "LogisticRegression (noisy labels)": lambda: LogisticRegression(max_iter=2000),
        }
        for name, make in runs.items():
            t0 = time.perf_counter()
            clf = make().fit(Xtr, noisy)
            seconds = time.perf_counter() - t0
            acc = float(clf.score(Xte, yte))
            f1 = float("nan")
            if hasattr(clf, "issues_"):
                f1 = precision_recall_f1(clf.issues_.mask, wrong)[2]
            elif hasattr(clf, "label_issues_df"):
                f1 = precision_recall_f1(clf.label_issues_df["is_label_issue"].to_numpy(), wrong)[2]
            rows.setdefault(name, []).append((acc, f1, seconds))
            print(seed, name, f"acc {acc:.4f} f1 {f1:.3f} {seconds:.1f}s", flush=True)
    lines = [
        "# NoiseAwareClassifier on scikit-learn's digits with 20 % flipped labels",
        "",
        "Command: `python benchmarks/digits_estimator.py --seeds "
        + " ".join(map(str, args.seeds))
        + "`",
        "",
        "Stratified 75 / 25 split per seed, 20 % of the training labels flipped to a random other "
        "class; clean test accuracy and detection F1 against the flipped labels, mean ± std over "
        "seeds; fit time on the 2-core CPU (shared, so an upper bound).",
        "",
        "| method | test accuracy | detection F1 | fit s |",
        "|---|---:|---:|---:|",
    ]
    for name, vals in rows.items():
        a = np.array(vals)
        f1 = "–" if np.isnan(a[:, 1]).all() else f"{a[:, 1].mean():.3f} ± {a[:, 1].std():.3f}"
        lines.append(
            f"| {name} | {100 * a[:, 0].mean():.1f} ± {100 * a[:, 0].std():.1f} % | {f1} | "
            f"{a[:, 2].mean():.1f} |"
        )
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
