"""Table 2 (first schedule): accuracy on clean test data after training on noisy labels.

Fashion-MNIST (symmetric 20/40/60 %, pair 40 %; an MLP and a small CNN), CIFAR-10N ``aggre``
and ``worst`` (small CNN on a 5k subset) and the RT-snippets text set with its real errors
(logistic regression on the MiniLM embeddings): CE, cleanlab, our pipelines and the oracle,
3 seeds. Runs the built-in config ``table2`` and writes ``benchmarks/results/table2.md``
(CSV and cache in ``benchmarks/results/table2/``), with a check against the targets (90 % of
the CE → oracle gap closed, above cleanlab on every set). Resumable. The properly scheduled
Table 2 is ``python -m benchmarks.table2``.

    python -m benchmarks.table2_noisy_training           # the full table (~30 min, 2 CPU cores)
    python -m benchmarks.table2_noisy_training --smoke   # seconds
"""

from __future__ import annotations

import copy
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._tables import RESULTS, _rel, mean_accuracy, run_table
from benchmarks.harness.config import builtin_config
from benchmarks.harness.render import gap_closed
from benchmarks.harness.run import run_benchmark

TARGET_GAP = 0.90
#: Diagnosis: the Fashion-MNIST MLP trained 4x longer (one seed), where CE memorizes.
LONG_EPOCHS = 40


def longer_training(smoke: bool) -> str:
    """The Fashion-MNIST MLP at symmetric 60 / 40 % trained LONG_EPOCHS epochs, one seed."""
    cfg = copy.deepcopy(builtin_config("table2", smoke=smoke))
    cfg["seeds"] = cfg["seeds"][:1]
    exp = copy.deepcopy(cfg["experiments"][0])
    exp["id"] = "fashion-mnist-mlp-40ep"
    exp["train"] = {"model": "mlp", "epochs": 1 if smoke else LONG_EPOCHS}
    exp["noise"] = [{"kind": "symmetric", "rate": 0.6}, {"kind": "symmetric", "rate": 0.4}]
    cfg["experiments"] = [exp]
    out = Path(tempfile.mkdtemp(prefix="table2-long-")) if smoke else RESULTS / "table2-long"
    rows = run_benchmark(cfg, out, progress=False).rows
    lines = [
        f"## Diagnosis: the Fashion-MNIST MLP trained {exp['train']['epochs']} epochs instead of "
        f"10 (seed {cfg['seeds'][0]}; `{_rel(out / 'results.csv')}`)",
        "",
        "| noise | "
        + " | ".join(cfg["methods"])
        + " | gap closed: "
        + " | gap closed: ".join(m for m in cfg["methods"] if m not in ("ce", "oracle"))
        + " |",
        "|---|" + "---|" * (2 * len(cfg["methods"]) - 2),
    ]
    for (_, noise), acc in mean_accuracy(rows).items():
        if not all(m in acc for m in cfg["methods"]):
            continue
        others = [m for m in cfg["methods"] if m not in ("ce", "oracle")]
        gaps = [gap_closed(acc[m], acc["ce"], acc["oracle"]) for m in others]
        lines.append(
            f"| {noise} | "
            + " | ".join(f"{100 * acc[m]:.1f}" for m in cfg["methods"])
            + " | "
            + " | ".join("–" if np.isnan(g) else f"{100 * g:.0f} %" for g in gaps)
            + " |"
        )
    return "\n".join(lines)


def targets(config: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> str:
    """Our pipelines against the targets, computed from the rows."""
    acc = mean_accuracy(rows)
    thr = config["gap_threshold"]
    base = config["baseline"]
    lines = ["## Against the targets", ""]
    for m in config["ours"]:
        gaps = [
            gap_closed(a[m], a["ce"], a["oracle"])
            for a in acc.values()
            if m in a and a["oracle"] - a["ce"] >= thr
        ]
        above = [a[m] > a[base] for a in acc.values() if m in a and base in a]
        avg = float(np.mean(gaps)) if gaps else float("nan")
        lines.append(
            f"- {m}: average gap closed {100 * avg:.0f} % over {len(gaps)} settings (target "
            f"≥ {100 * TARGET_GAP:.0f} %: {'met' if avg >= TARGET_GAP else 'NOT met'}); above "
            f"{base} on {sum(above)} of {len(above)} sets (target: every set: "
            f"{'met' if above and all(above) else 'NOT met'})."
        )
    return "\n".join(lines)


def analysis(config: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> str:
    return targets(config, rows) + "\n\n" + longer_training("--smoke" in sys.argv)


if __name__ == "__main__":
    run_table("table2", "table2_noisy_training", extra=analysis)
