"""CIFAR-10N in Table 2: how good are the out-of-fold probabilities the detection works from?

For each label set (`aggre`, `worst`) and seed of ``table2_cnn_long``, and each detection round,
prints the flagged sets (our expected-F1 cut, the Bayes cut "P(label is right) < 0.5",
cleanlab's default, "argmax ≠ given") with their size, precision and recall against the
known wrong labels of the training set, and the estimated noise rate next to the true one.
Reads the out-of-fold probabilities cached by ``python -m benchmarks.table2 cnn`` (computes
them if missing, about 3 minutes per round and seed).

    python -m benchmarks.table2_cifar_oof_diagnosis
    python -m benchmarks.table2_cifar_oof_diagnosis --oof-epochs 25 --rounds 1 --seeds 0

``--oof-epochs`` trains the out-of-fold CNNs longer than the table does (6 epochs), to see
whether a stronger out-of-fold model separates its own errors from the label noise;
``--n-train`` gives it more images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mislabel
from benchmarks._tables import RESULTS
from benchmarks.harness.config import builtin_config, validate_config
from benchmarks.harness.recipes import Context, cleanlab_mask
from benchmarks.harness.splits import Data


def _pr(mask: np.ndarray, wrong: np.ndarray) -> str:
    return f"{int(mask.sum())} | {wrong[mask].mean():.3f} | {mask[wrong].mean():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oof-epochs", type=int, default=None, help="default: the table's")
    parser.add_argument("--n-train", type=int, default=None, help="default: the table's 4,000")
    parser.add_argument("--rounds", type=int, default=2, help="detection rounds (1 or 2)")
    parser.add_argument("--seeds", default=None, help="comma-separated; default: the table's")
    args = parser.parse_args()
    cfg = validate_config(builtin_config("table2_cnn_long"))
    exp = next(e for e in cfg["experiments"] if e["dataset"] == "cifar10n")
    if args.n_train is not None:
        exp = {**exp, "n_train": args.n_train}
    if args.oof_epochs is not None:
        exp = {**exp, "oof": {**exp["oof"], "epochs": args.oof_epochs}}
    seeds = cfg["seeds"] if args.seeds is None else [int(s) for s in args.seeds.split(",")]
    data = Data()
    cache = Path(RESULTS / "table2_cnn_long" / ".cache")
    print(
        f"{exp['n_train']} training images; out-of-fold: {exp['oof']['folds']} folds × "
        f"{exp['oof']['epochs']} epochs\n\n"
        "| labels | seed | round | true noise rate | estimated | expected-F1 cut: n, P, R | "
        "P(right) < 0.5: n, P, R | cleanlab: n, P, R | argmax ≠ given: n, P, R |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for noise in exp["noise"]:
        for seed in seeds:
            split = data.split(exp, noise, seed)
            ctx = Context(exp=exp, split=split, seed=seed, cache=cache, loss_kwargs={})
            wrong = split.wrong
            for r in range(1, args.rounds + 1):
                probs, issues = ctx.oof(r)
                est = mislabel.estimate_noise(split.labels, probs).noise_rate
                cells = [
                    _pr(np.asarray(issues.mask), wrong),
                    _pr(np.asarray(issues.scores) < 0.5, wrong),
                    _pr(cleanlab_mask(split.labels, probs, None), wrong),
                    _pr(probs.argmax(axis=1) != split.labels, wrong),
                ]
                print(
                    f"| {noise['labels']} | {seed} | {r} | {wrong.mean():.3f} | {est:.3f} | "
                    + " | ".join(c.replace(" | ", ", ") for c in cells)
                    + " |"
                )


if __name__ == "__main__":
    main()
