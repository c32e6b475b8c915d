"""Table 1 of issue 8: detection on the confident-learning CIFAR-10 files, beside the paper.

Runs the built-in config ``table1`` (``src/mislabel/bench/configs/table1.toml``) through
:func:`mislabel.bench.run_benchmark` and writes ``benchmarks/results/table1.md`` (the runner's
CSV and cache go to ``benchmarks/results/table1/``). Resumable: a rerun skips finished rows.

    python benchmarks/table1_detection.py            # the full table (about a minute)
    python benchmarks/table1_detection.py --smoke    # seconds; what CI runs
"""

from __future__ import annotations

from _tables import run_table

if __name__ == "__main__":
    run_table("table1", "table1_detection.py")
