"""Parity with cleanlab 2.9: every confident-learning method returns the same mask.

On all six ``cl-cifar10-oof`` files (as float16, as stored, and as float32) and on 200 random
inputs (2-12 classes, float16/32/64, many ties).

    python -m benchmarks.parity
"""

from __future__ import annotations

import warnings

import numpy as np
from cleanlab.filter import find_label_issues as cl_find

import mislabel
from benchmarks._common import shared_data
from mislabel.detect import CL_METHODS


def same(labels: np.ndarray, p: np.ndarray, method: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = mislabel.find_label_issues(labels, p, method=method).mask
        theirs = cl_find(labels, p, filter_by=method, n_jobs=1)
    return int((ours != theirs).sum())


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 13))
    n = int(rng.integers(k * 3, 2000))
    true = rng.integers(0, k, n)
    true[:k] = np.arange(k)
    labels = true.copy()
    flip = rng.random(n) < rng.uniform(0.0, 0.5)
    labels[flip] = rng.integers(0, k, int(flip.sum()))
    logits = rng.normal(size=(n, k)) + rng.uniform(0.5, 4) * np.eye(k)[true]
    if seed % 3 == 0:
        logits = np.round(logits)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return labels, p.astype([np.float64, np.float32, np.float16][seed % 3])


def main() -> None:
    print("| data | " + " | ".join(CL_METHODS) + " |")
    print("|---" * (len(CL_METHODS) + 1) + "|")
    for path in sorted((shared_data() / "cl-cifar10-oof").glob("*.npz")):
        with np.load(path) as z:
            labels = z["noisy_labels"].astype(np.int64)
            p16 = z["pred_probs"]
        for name, p in (("float16", p16), ("float32", p16.astype(np.float32))):
            diffs = [same(labels, p, m) for m in CL_METHODS]
            cells = ["identical" if d == 0 else f"**{d} differ**" for d in diffs]
            print(f"| {path.stem} {name} | " + " | ".join(cells) + " |", flush=True)
    total = np.zeros(len(CL_METHODS), dtype=int)
    checked = 0
    for seed in range(200):
        labels, p = random_case(seed)
        if np.abs(p.astype(np.float64).sum(1) - 1).max() > 1e-2:
            continue
        checked += 1
        total += [same(labels, p, m) for m in CL_METHODS]
    cells = ["identical" if d == 0 else f"**{d} differ**" for d in total]
    print(f"| {checked} random inputs | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
