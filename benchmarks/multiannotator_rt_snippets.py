"""RT-snippets: consensus of crowd sentiment votes, against the full crowd and the review-level
label.

Each of the 10,453 snippets has 15-29 crowd ratings on -4..+4 (VADER study); a rating > 0 is a
"fresh" vote, < 0 a "rotten" vote, 0 no vote. Raters are anonymous, so the annotator of a vote
is its position in the snippet's list. For r = 1, 3, 5 votes per snippet (drawn at random,
seeded) each method builds a consensus; the truth proxy is the sign of the mean of all ratings
(ties left out). Model-based methods share out-of-fold probabilities of a logistic regression on
the MiniLM embeddings, trained on the majority vote of the drawn votes.

Columns: accuracy against the full crowd; agreement with the review-level Rotten Tomatoes label;
P / R / F1 of "consensus != review-level label" as a detector of the 289 review-level label errors
(is_label_error: the full crowd disagrees with the review-level label).

Run: python -m benchmarks.multiannotator_rt_snippets   (~3 min, one core)
Writes benchmarks/results/multiannotator_rt_snippets.md.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from benchmarks._common import shared_data
from mislabel import cross_val_pred_probs
from mislabel.metrics import precision_recall_f1
from mislabel.multiannotator import consensus, majority_vote

SEED = 0
OUT = Path(__file__).resolve().parent / "results" / "multiannotator_rt_snippets.md"


def draw_votes(ratings: list[list[int]], r: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long table of up to ``r`` non-neutral votes per snippet (1 = fresh, 0 = rotten)."""
    rows = []
    for i, rs in enumerate(ratings):
        votes = [1 if v > 0 else 0 for v in rs if v != 0]
        take = rng.permutation(len(votes))[:r]
        rows += [(i, j, votes[t]) for j, t in enumerate(take)]
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def crowdlab(table: pd.DataFrame, n: int, probs: np.ndarray) -> np.ndarray:
    from cleanlab.multiannotator import get_label_quality_multiannotator

    wide = table.pivot(index="item", columns="annotator", values="label").reindex(range(n))
    if int(wide.notna().sum(axis=1).max()) == 1:  # CROWDLAB refuses one label per example
        return wide.bfill(axis=1).iloc[:, 0].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = get_label_quality_multiannotator(wide, probs, verbose=False)
    return out["label_quality"]["consensus_label"].to_numpy()


def main() -> None:
    folder = shared_data() / "rt-snippets-crowd"
    frame = pd.read_csv(folder / "rt_snippets_crowd.csv")
    emb = np.load(folder / "rt_snippets_crowd_minilm_l6_v2.npy").astype(np.float32)
    ratings = [json.loads(s) for s in frame["ratings"]]
    given = frame["given_label"].to_numpy()
    crowd = frame["crowd_label"].to_numpy()
    known_error = frame["is_label_error"].to_numpy().astype(bool)
    keep = crowd >= 0
    n = len(frame)
    rng = np.random.default_rng(SEED)
    rows = []
    for r in (1, 3, 5):
        t0 = time.time()
        table = draw_votes(ratings, r, rng)
        has = np.bincount(table["item"], minlength=n) > 0
        if not has.all():
            raise SystemExit(f"{(~has).sum()} snippets have no non-neutral rating")
        mv = majority_vote(table)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probs = cross_val_pred_probs(
                LogisticRegression(C=1.0, max_iter=1000), emb, mv, cv=5, random_state=SEED
            )
        ds = consensus(table)
        ours = consensus(table, pred_probs=probs)
        cl = crowdlab(table, n, probs)
        for name, lab in (
            ("model alone (argmax)", probs.argmax(axis=1)),
            ("majority vote", mv),
            ("Dawid–Skene (votes only)", ds.labels),
            ("cleanlab CROWDLAB", cl),
            ("mislabel consensus", ours.labels),
        ):
            p, rc, f1 = precision_recall_f1(lab != given, known_error)
            rows.append(
                (
                    r,
                    name,
                    float((lab[keep] == crowd[keep]).mean()),
                    float((lab == given).mean()),
                    p,
                    rc,
                    f1,
                )
            )
        print(f"r={r}: {time.time() - t0:.0f} s, model weight {ours.model_weight}", flush=True)
        for row in rows[-5:]:
            print("   ", row, flush=True)
    lines = [
        "# RT-snippets: consensus of crowd votes vs the full crowd and the review-level label",
        "",
        "`python -m benchmarks.multiannotator_rt_snippets` (one core, ~3 min). 10,453 snippets;",
        "r random non-neutral crowd votes per snippet (seed 0); truth = sign of the mean of all",
        f"15-29 ratings ({int(keep.sum())} snippets without a tie). Model: 5-fold logistic",
        "regression on MiniLM-L6 embeddings trained on the majority vote of the r votes (same",
        "probabilities for CROWDLAB and mislabel). Detection: consensus ≠ review-level label, as a",
        f"detector of the {int(known_error.sum())} review-level label errors.",
        "",
        "| votes per snippet | method | accuracy vs full crowd | agreement with review label "
        "| error detection P | R | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, name, acc, agree, p, rc, f1 in rows:
        lines.append(f"| {r} | {name} | {acc:.4f} | {agree:.4f} | {p:.3f} | {rc:.3f} | {f1:.3f} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
