"""Table 3: robust losses at 40 % symmetric noise on Fashion-MNIST.

CE, GCE, SCE, NCE+RCE (library defaults and its authors' MNIST setting), soft bootstrapping,
forward correction with the true and with the estimated noise matrix, and the oracle; same MLP
and schedule for all, 3 seeds. Runs the built-in config ``table3`` and writes
``benchmarks/results/table3.md`` (CSV and cache in ``benchmarks/results/table3/``), followed by
the observed order of the losses against the published one. Resumable.

    python -m benchmarks.table3_robust_losses           # the full table (~10 min, 2 CPU cores)
    python -m benchmarks.table3_robust_losses --smoke   # seconds
"""

from __future__ import annotations

import copy
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._tables import RESULTS, _rel, mean_accuracy, run_table
from benchmarks.harness.config import builtin_config
from benchmarks.harness.run import run_benchmark

#: Why NCE+RCE is not among the best at 20 epochs: the same losses trained 3x longer (3 seeds).
LONG_EPOCHS = 60
LONG_METHODS = ["ce", "gce", "sce", "nce_rce", "oracle"]


def longer_training(smoke: bool) -> tuple[str, Sequence[Mapping[str, str]]]:
    """The same setting trained LONG_EPOCHS epochs: does CE keep memorizing, NCE+RCE catch up?"""
    cfg = copy.deepcopy(builtin_config("table3", smoke=smoke))
    cfg.update(name="table3-long", title="Table 3, longer training")
    cfg["methods"] = LONG_METHODS
    cfg.pop("loss_kwargs", None)
    cfg.pop("ours", None)
    cfg["train"] = {**cfg["train"], "epochs": 1 if smoke else LONG_EPOCHS}
    for e in cfg["experiments"]:
        e.pop("train", None)
    out = Path(tempfile.mkdtemp(prefix="table3-long-")) if smoke else RESULTS / "table3-long"
    rows = run_benchmark(cfg, out, progress=False).rows
    lines = [
        f"## Diagnosis: the same losses trained {cfg['train']['epochs']} epochs (mean of seeds "
        f"{', '.join(str(s) for s in cfg['seeds'])}; `{_rel(out / 'results.csv')}`)",
        "",
    ]
    for (exp, noise), acc in mean_accuracy(rows).items():
        ranked = sorted((m for m in acc if m != "oracle"), key=lambda m: -acc[m])
        lines.append(
            f"{exp}, {noise}: "
            + " > ".join(f"{m} {100 * acc[m]:.1f}" for m in ranked)
            + f" (oracle {100 * acc['oracle']:.1f})"
        )
    return "\n".join(lines), rows


def order(config: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> str:
    """The observed order of the losses, and whether the published one holds."""
    lines = ["## Order of the losses (mean test accuracy)", ""]
    for (exp, noise), acc in mean_accuracy(rows).items():
        losses = {m: a for m, a in acc.items() if m != "oracle"}
        ranked = sorted(losses, key=lambda m: -losses[m])
        lines.append(f"{exp}, {noise}: " + " > ".join(f"{m} {100 * losses[m]:.1f}" for m in ranked))
        lines.append("")
        ce_lowest = ranked[-1] == "ce"
        nce = [m for m in ranked if m.startswith("nce_rce")]
        third = losses[ranked[min(2, len(ranked) - 1)]]
        lines.append(
            f"- CE lowest: {'yes' if ce_lowest else 'no (' + ranked[-1] + ' is lowest)'}; "
            + "; ".join(
                f"{m} rank {ranked.index(m) + 1} of {len(ranked)}"
                f"{' (top 3)' if losses[m] >= third else ''}"
                for m in nce
            )
        )
        lines.append("")
    return "\n".join(lines)


def analysis(config: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> str:
    smoke = "--smoke" in sys.argv
    text, long_rows = longer_training(smoke)
    short = mean_accuracy(rows)
    long = mean_accuracy(long_rows)
    why = []
    for key, acc in long.items():
        if key not in short or "nce_rce" not in acc or "ce" not in acc:
            continue
        s_acc = short[key]
        ranked = sorted((m for m in acc if m != "oracle"), key=lambda m: -acc[m])
        rank = ranked.index("nce_rce") + 1
        epochs = config["train"]["epochs"]
        if acc["ce"] < s_acc["ce"] - 0.03 and rank <= 2:
            why.append(
                f"Why: with {epochs} epochs CE has only begun to memorize the wrong labels "
                f"({100 * s_acc['ce']:.1f} %, oracle {100 * s_acc['oracle']:.1f} %), while "
                f"NCE+RCE, a bounded loss with small gradients, is still fitting the clean ones "
                f"({100 * s_acc['nce_rce']:.1f} %). Trained longer, CE falls to "
                f"{100 * acc['ce']:.1f} % and NCE+RCE reaches {100 * acc['nce_rce']:.1f} % "
                f"(rank {rank} of {len(ranked)}): the published order is that of fully trained "
                "models (the paper trains MNIST 50 epochs, CIFAR-10 120, with SGD)."
            )
        else:
            why.append(
                f"The longer run does not explain the order (CE {100 * acc['ce']:.1f} %, NCE+RCE "
                f"{100 * acc['nce_rce']:.1f} %, rank {rank} of {len(ranked)})."
            )
        tagged = s_acc.get("nce_rce@apl_mnist")
        if tagged is not None:
            why.append(
                f"Its authors' MNIST hyper-parameters (α = 1, β = 10): {100 * tagged:.1f} % "
                f"against {100 * s_acc['nce_rce']:.1f} % with α = β = 1 at {epochs} epochs."
            )
    return order(config, rows) + "\n\n" + text + ("\n\n" + "\n\n".join(why) if why else "")


if __name__ == "__main__":
    run_table("table3", "table3_robust_losses", extra=analysis)
