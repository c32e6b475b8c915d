"""Table 2, the small-CNN rows properly scheduled (Fashion-MNIST and CIFAR-10N, 25 epochs).

The 8- and 5-epoch CNN schedules of ``table2.toml`` stopped before plain cross-entropy
memorized the noisy labels. This runs ``src/mislabel/bench/configs/table2_cnn_long.toml`` with
the machinery of ``table2_long.py`` and writes ``benchmarks/results/table2_cnn_long.md``
(CSV and per-row markdown in ``benchmarks/results/table2_cnn_long/``). Resumable.

    python benchmarks/table2_cnn_long.py --jobs 2   # the full table (~1 h wall, 2 shared cores)
    python benchmarks/table2_cnn_long.py --smoke    # seconds
"""

from table2_long import run_config

if __name__ == "__main__":
    run_config("table2_cnn_long")
