"""CIFAR-10N end to end: out-of-fold probabilities trained on mislabel's own consensus.

multiannotator_cifar10n.py gives every method the same probabilities, trained on the majority
vote (CROWDLAB's recipe). Here the model is trained by
``cross_val_consensus_pred_probs`` on the Dawid–Skene consensus of the votes (1 round), and
again on the consensus of votes and round-1 probabilities (2 rounds); then ``consensus`` is
run with them. Same features and classifier as multiannotator_cifar10n.py (logistic
regression on 8×8×3 pixels), 2 and 3 labels per image, real worker ids.

Run: python -m benchmarks.multiannotator_cifar10n_pipeline   (~11 min, one core)
Writes benchmarks/results/multiannotator_cifar10n_pipeline.md.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks._common import shared_data
from benchmarks.multiannotator_cifar10n import SEED, features, long_table
from mislabel.multiannotator import consensus, cross_val_consensus_pred_probs

OUT = Path(__file__).resolve().parent / "results" / "multiannotator_cifar10n_pipeline.md"


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
    for m in (2, 3):
        table = long_table(labels, workers, m)
        for rounds in (1, 2):
            t0 = time.time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                probs = cross_val_consensus_pred_probs(
                    model, x, table, cv=5, n_rounds=rounds, random_state=SEED
                )
            res = consensus(table, pred_probs=probs)
            rows.append(
                (
                    m,
                    rounds,
                    float((probs.argmax(axis=1) == truth).mean()),
                    float((res.labels == truth).mean()),
                )
            )
            print(rows[-1], f"{time.time() - t0:.0f} s", flush=True)
    lines = [
        "# CIFAR-10N end to end: probabilities trained on mislabel's consensus",
        "",
        "`python -m benchmarks.multiannotator_cifar10n_pipeline` (one core, ~11 min). Same data,",
        "features and classifier as multiannotator_cifar10n.md; the model is trained by",
        "`cross_val_consensus_pred_probs` (round 1: on the Dawid–Skene consensus of the votes;",
        "round 2: on the consensus of votes and round-1 probabilities), then `consensus` runs with",
        "those probabilities. Compare with the majority-vote-trained rows of",
        "multiannotator_cifar10n.md.",
        "",
        "| labels per image | rounds | model alone (argmax) | consensus accuracy |",
        "|---|---|---|---|",
    ]
    for m, rounds, model_acc, acc in rows:
        lines.append(f"| {m} | {rounds} | {model_acc:.4f} | {acc:.4f} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
