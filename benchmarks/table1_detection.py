"""Table 1: detection on the confident-learning CIFAR-10 files, beside the paper.

Runs the built-in config ``table1`` (``benchmarks/configs/table1.toml``) through
:func:`benchmarks.harness.run.run_benchmark` and writes ``benchmarks/results/table1.md`` (the
harness's CSV and cache go to ``benchmarks/results/table1/``). Resumable.

    python -m benchmarks.table1_detection            # the full table (about a minute)
    python -m benchmarks.table1_detection --smoke    # seconds
"""

from __future__ import annotations

from benchmarks._tables import run_table

if __name__ == "__main__":
    run_table("table1", "table1_detection")
