"""Speed and memory of detection, side by side with cleanlab 2.9 in one run.

1. ``find_label_issues`` on 1,000,000 x 100 float32 probabilities: same method, cleanlab with
   n_jobs=1; time ratio and peak extra memory (tracemalloc, numpy's allocations included)
   against the size of the input. The scores alone too.
2. 10,000,000 x 10 float32 given as a numpy memmap: processed in chunks; time and peak RSS
   of a fresh process against the file size.

    python -m benchmarks.detection_speed [--n 1000000] [--k 100] [--memmap-n 10000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def make_probs(n: int, k: int, seed: int = 0, out: np.ndarray | None = None):
    """Labels with ~10 % noise and softmax probabilities, generated in chunks."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    labels = true.copy()
    flip = rng.random(n) < 0.1
    labels[flip] = (true[flip] + rng.integers(1, k, int(flip.sum()))) % k
    p = np.empty((n, k), dtype=np.float32) if out is None else out
    step = 200_000
    for s in range(0, n, step):
        e = min(s + step, n)
        z = rng.standard_normal((e - s, k), dtype=np.float32)
        z[np.arange(e - s), true[s:e]] += 4.0
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        p[s:e] = z
    return labels, p


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak


def in_memory(n: int, k: int) -> None:
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores as cl_scores

    import mislabel

    labels, p = make_probs(n, k)
    size = p.nbytes
    print(
        f"\n## find_label_issues on {n:,} x {k} float32 ({size / 2**20:.0f} MiB), "
        "cleanlab n_jobs=1\n"
    )
    print(
        "| task | mislabel s | cleanlab s | time ratio | mislabel peak extra / input | "
        "cleanlab peak extra / input |"
    )
    print("|---|---|---|---|---|---|")
    tasks = [
        (
            "prune_by_noise_rate (cleanlab default)",
            lambda: mislabel.find_label_issues(labels, p, method="prune_by_noise_rate"),
            lambda: cl_find(labels, p, filter_by="prune_by_noise_rate", n_jobs=1),
        ),
        (
            "both",
            lambda: mislabel.find_label_issues(labels, p, method="both"),
            lambda: cl_find(labels, p, filter_by="both", n_jobs=1),
        ),
        (
            "confident_learning",
            lambda: mislabel.find_label_issues(labels, p, method="confident_learning"),
            lambda: cl_find(labels, p, filter_by="confident_learning", n_jobs=1),
        ),
        (
            "mislabel default (noise_posterior) vs cleanlab default",
            lambda: mislabel.find_label_issues(labels, p),
            lambda: cl_find(labels, p, n_jobs=1),
        ),
        (
            "scores: self_confidence",
            lambda: mislabel.label_quality_scores(labels, p, method="self_confidence"),
            lambda: cl_scores(labels, p, method="self_confidence"),
        ),
        (
            "scores: normalized_margin",
            lambda: mislabel.label_quality_scores(labels, p, method="normalized_margin"),
            lambda: cl_scores(labels, p, method="normalized_margin"),
        ),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, ours, theirs in tasks:
            t_o, m_o = measure(ours)
            t_t, m_t = measure(theirs)
            print(
                f"| {name} | {t_o:.2f} | {t_t:.2f} | **{t_o / t_t:.3f}** | "
                f"{m_o / size:.2f} | {m_t / size:.2f} |",
                flush=True,
            )


CHILD = r"""
import json, sys, time, numpy as np
import mislabel

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

path, labels_path, method = sys.argv[1], sys.argv[4], sys.argv[5]
n, k = int(sys.argv[2]), int(sys.argv[3])
labels = np.load(labels_path)
before = status("VmRSS:")
p = np.memmap(path, dtype=np.float32, mode="r", shape=(n, k))
t0 = time.perf_counter()
res = mislabel.find_label_issues(labels, p, method=method)
sec = time.perf_counter() - t0
peak = status("VmHWM:")
out = {"seconds": sec, "peak_rss": peak, "rss_before": before, "n_issues": res.n_issues}
print(json.dumps(out))
"""


def on_memmap(n: int, k: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pred_probs.f32"
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, k))
        labels, _ = make_probs(n, k, seed=1, out=mm)
        mm.flush()
        del mm
        labels_path = Path(tmp) / "labels.npy"
        np.save(labels_path, labels)
        size = os.path.getsize(path)
        print(f"\n## {n:,} x {k} float32 memmap ({size / 2**20:.0f} MiB file), fresh process\n")
        print(
            "| method | seconds | peak RSS (VmHWM) | RSS before the call (labels loaded) | "
            "peak RSS / file size | (peak - before) / file size |"
        )
        print("|---|---|---|---|---|---|")
        for method in ("noise_posterior", "prune_by_noise_rate"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), str(n), str(k), str(labels_path), method],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {method} | {r['seconds']:.1f} | {r['peak_rss'] / 2**20:.0f} MiB | "
                f"{r['rss_before'] / 2**20:.0f} MiB | {r['peak_rss'] / size:.2f} | "
                f"{(r['peak_rss'] - r['rss_before']) / size:.2f} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--memmap-n", type=int, default=10_000_000)
    ap.add_argument("--memmap-k", type=int, default=10)
    args = ap.parse_args()
    in_memory(args.n, args.k)
    on_memmap(args.memmap_n, args.memmap_k)


if __name__ == "__main__":
    main()
