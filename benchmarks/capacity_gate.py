"""Dev check of the capacity gate (``mislabel.train.can_memorize``, recipe
``mislabel_dynknn_gated``): do the detection's weights and ELR pay off for a model that cannot
learn its training set by heart?

Logistic regression and an MLP on MiniLM embeddings of TREC questions and SMS spam (text sets
Table 2 does not use), and logistic regression on Fashion-MNIST pixels (the dev split: other
training images, scored on further training images), synthetic noise from none to 40 %, 3
seeds, the recipes of Table 2's headline. Runs the built-in config ``capacity_gate`` and writes
``benchmarks/results/capacity_gate.md`` (CSV in ``benchmarks/results/capacity_gate/``), then the
average difference to plain CE per model and what the gate decides. Resumable.

    python -m benchmarks.capacity_gate           # ~20 min on 2 shared cores
    python -m benchmarks.capacity_gate --smoke   # seconds
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks._tables import mean_accuracy, run_table

#: The rows compared with plain CE, per model family.
COMPARED = (
    "cleanlab",
    "mislabel_dynknn_weight",
    "elr",
    "mislabel_dynknn_weight_elr",
    "mislabel_dynknn_gated",
    "oracle",
)


def gate_summary(config: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> str:
    """Per experiment: the parameters against the training samples, the gate's choice, and
    each recipe's accuracy minus plain CE's, averaged over the noise settings (and the worst)."""
    from benchmarks.harness.recipes import network
    from benchmarks.harness.splits import Data, prepare_features
    from mislabel.train import can_memorize, n_parameters

    acc = mean_accuracy(rows)
    n_used = {(r["experiment"], r["method"]): int(r["n_train"]) for r in rows}
    lines = [
        "## What the gate decides, and what it would have cost to decide otherwise",
        "",
        "Accuracy minus plain CE's, in points: mean over the noise settings (worst setting).",
        "",
        "| experiment | parameters | training samples | gate | "
        + " | ".join(f"{m} − ce" for m in COMPARED)
        + " |",
        "|---|---:|---:|---|" + "---:|" * len(COMPARED),
    ]
    datasets = Data()  # the harness's loaders: (training set, test set or None)
    # per recipe: its accuracy minus CE's in every setting where the gate chose plain CE
    when_ce: dict[str, list[float]] = {m: [] for m in COMPARED}
    for exp in config["experiments"]:
        eid = exp["id"]
        settings = [a for (e, _), a in acc.items() if e == eid]
        if not settings:
            continue
        n = n_used.get((eid, "ce"), 0)
        data = datasets.load(exp["dataset"], None)[0]
        model = exp["train"]["model"]
        shape = prepare_features(np.asarray(data.X[:2]), model).shape[1:]
        net = network(model, tuple(shape), data.n_classes)()
        memorizes = can_memorize(net, n)
        cells = []
        for m in COMPARED:
            d = [100 * (a[m] - a["ce"]) for a in settings if m in a and "ce" in a]
            cells.append(f"{np.mean(d):+.1f} ({min(d):+.1f})" if d else "–")
            if not memorizes:
                when_ce[m] += d
        gate = "weights + ELR" if memorizes else "plain CE"
        n_par = n_parameters(net)
        lines.append(f"| {eid} | {n_par:,} | {n:,} | {gate} | " + " | ".join(cells) + " |")
    pooled = {m: d for m, d in when_ce.items() if d}
    if pooled:
        lines += [
            "",
            f"Over the {len(next(iter(pooled.values())))} settings where the gate chose plain CE, "
            "each recipe minus plain CE, in points (mean; settings where it is ahead): "
            + "; ".join(
                f"{m} {np.mean(d):+.2f} ({sum(x > 0 for x in d)} ahead)" for m, d in pooled.items()
            )
            + ".",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    run_table("capacity_gate", "capacity_gate", gate_summary)
