"""CIFAR-10N in Table 2: how good are the out-of-fold probabilities the detection works from?

For each label set (`aggre`, `worst`) and seed of ``table2_cnn_long``, and each detection round,
prints the flagged sets (our expected-F1 cut, the Bayes cut "P(label is right) < 0.5",
cleanlab's default, "argmax ≠ given") with their size, precision and recall against the
known wrong labels of the training set, and the estimated noise rate next to the true one.
Reads the out-of-fold probabilities cached by ``python benchmarks/table2_cnn_long.py`` (computes
them if missing, about 3 minutes per round and seed).

    python benchmarks/table2_cifar_oof_diagnosis.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _tables import RESULTS

import mislabel
from mislabel.bench import builtin_config
from mislabel.bench.runner import _cleanlab_mask, _Context, _Data, validate_config


def _pr(mask: np.ndarray, wrong: np.ndarray) -> str:
    return f"{int(mask.sum())} | {wrong[mask].mean():.3f} | {mask[wrong].mean():.3f}"


def main() -> None:
    cfg = validate_config(builtin_config("table2_cnn_long"))
    exp = next(e for e in cfg["experiments"] if e["dataset"] == "cifar10n")
    data = _Data()
    cache = Path(RESULTS / "table2_cnn_long" / ".cache")
    print(
        "| labels | seed | round | true noise rate | estimated | expected-F1 cut: n, P, R | "
        "P(right) < 0.5: n, P, R | cleanlab: n, P, R | argmax ≠ given: n, P, R |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for noise in exp["noise"]:
        for seed in cfg["seeds"]:
            split = data.split(exp, noise, seed, val=False)
            ctx = _Context(exp=exp, split=split, seed=seed, cache=cache, loss_kwargs={})
            wrong = split.labels != split.true_labels
            for r in (1, 2):
                probs, issues = ctx._round(r)
                est = mislabel.estimate_noise(split.labels, probs).noise_rate
                cells = [
                    _pr(np.asarray(issues.mask), wrong),
                    _pr(np.asarray(issues.scores) < 0.5, wrong),
                    _pr(_cleanlab_mask(split.labels, probs, None), wrong),
                    _pr(probs.argmax(axis=1) != split.labels, wrong),
                ]
                print(
                    f"| {noise['labels']} | {seed} | {r} | {wrong.mean():.3f} | {est:.3f} | "
                    + " | ".join(c.replace(" | ", ", ") for c in cells)
                    + " |"
                )


if __name__ == "__main__":
    main()
