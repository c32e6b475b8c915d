"""What the table scripts share: run a built-in config, write the markdown table."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.config import builtin_config, validate_config
from benchmarks.harness.run import run_benchmark

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

Extra = Callable[[Mapping[str, Any], Sequence[Mapping[str, str]]], str]


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def mean_accuracy(rows: Sequence[Mapping[str, str]]) -> dict[tuple[str, str], dict[str, float]]:
    """(experiment, noise) -> method -> mean test accuracy over seeds."""
    acc: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in rows:
        acc.setdefault((r["experiment"], r["noise"]), {}).setdefault(r["method"], []).append(
            float(r["test_acc"])
        )
    return {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in acc.items()}


def run_table(name: str, module: str, extra: Extra | None = None) -> None:
    """Run the built-in config ``name``; write ``results/<name>.md`` (``--smoke``: not written).

    ``extra(config, rows)`` may return more markdown to append (e.g. an analysis).
    """
    parser = argparse.ArgumentParser(description=f"Benchmark {name}.")
    parser.add_argument("--smoke", action="store_true", help="seconds-long variant (CI)")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = builtin_config(name, smoke=args.smoke)
    out = args.out or (RESULTS / (f"{name}-smoke" if args.smoke else name))
    command = f"python -m benchmarks.{module}" + (" --smoke" if args.smoke else "")
    t0 = time.perf_counter()
    result = run_benchmark(cfg, out, progress=not args.no_progress, command=command)
    md = result.markdown.rstrip()
    if extra is not None:
        md += "\n\n" + extra(validate_config(cfg), result.rows).strip()
    total = sum(float(r["seconds"] or 0) for r in result.rows)
    md += (
        f"\n\nSame table with the harness: `python -m benchmarks.harness.run {name}"
        f"{' --smoke' if args.smoke else ''} --out {_rel(out)}` (CSV: `{_rel(result.csv_path)}`). "
        "Sum of the per-row training "
        f"times: {total / 60:.1f} min (out-of-fold probabilities are counted in the first row "
        f"that needed them); this call computed {result.n_run} rows and resumed "
        f"{result.n_skipped}, in {time.perf_counter() - t0:.0f} s. Machine: a shared 2-core CPU, "
        "torch 1 thread per run.\n"
    )
    if not args.smoke:
        (RESULTS / f"{name}.md").write_text(md, encoding="utf-8")
    print(md)
