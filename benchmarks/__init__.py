"""The benchmarks of ``mislabel`` (not part of the wheel): run from the repository root,
``python -m benchmarks.<script>``. :mod:`benchmarks.harness` holds the config, splits,
recipes, run loop and rendering; the scripts beside it print the published tables."""
