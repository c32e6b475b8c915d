"""5-fold out-of-fold training through Dask: wall time with 1 vs 2 workers.

A single-threaded scikit-learn model (a random forest, n_jobs=1; BLAS/OpenMP pinned to one
thread so the workers do not oversubscribe the cores) on a Fashion-MNIST subset, 5 folds, the
same seed on every backend (results are checked identical).

    python -m benchmarks.dask_folds [--n 12000]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier

import mislabel
from benchmarks._common import shared_data
from benchmarks.harness import datasets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24_000)
    args = ap.parse_args()
    fm = datasets.load_fashion_mnist("train", root=shared_data())
    x = fm.X[: args.n].reshape(args.n, -1)[:, ::2].astype(np.float32) / 255
    y = fm.y[: args.n]
    est = RandomForestClassifier(n_estimators=40, n_jobs=1, random_state=0)
    print(f"5-fold OOF, RandomForest(40 trees, n_jobs=1), Fashion-MNIST {args.n} x {x.shape[1]}\n")
    print("| backend | workers | wall s | speed-up vs 1 local | identical to local |")
    print("|---|---|---|---|---|")
    ref = None
    base = None
    for backend, jobs in [("local", 1), ("dask", 1), ("dask", 2), ("local", 2)]:
        t0 = time.perf_counter()
        p = mislabel.cross_val_pred_probs(
            est, x, y, cv=5, random_state=0, n_jobs=jobs, backend=backend
        )
        sec = time.perf_counter() - t0
        if ref is None:
            ref, base = p, sec
        same = bool(np.array_equal(ref, p))
        print(f"| {backend} | {jobs} | {sec:.1f} | {base / sec:.2f}x | {same} |", flush=True)


if __name__ == "__main__":
    main()
