"""A small, CPU-friendly baseline trainer: a one-hidden-layer MLP with a robust loss.

The loss comes from the :mod:`mislabel.losses` registry by name (``"gce"``, ``"sce"``,
``"forward_correction"``, ...); the features from :class:`mislabel.data.Featurizer` (shrunk
pixels, standardised columns, embeddings or TF-IDF). This is what ``mislabel train`` runs.
torch is imported only when a function here is called.
"""

from __future__ import annotations

import inspect
import io
import numbers
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mislabel._validation import as_seed, check_labels, check_scalar, optional_import
from mislabel.data._atomic import write_bytes_atomic, write_json_atomic
from mislabel.data._features import Featurizer
from mislabel.data._load import LabeledData
from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = ["SimpleTrainResult", "build_mlp", "make_loss", "symmetric_noise_matrix", "train_simple"]

PathLike = str | os.PathLike[str]
#: ``progress(stage, done, total)``.
ProgressCallback = Callable[[str, int, int], None]


def _torch() -> Any:
    return optional_import("torch", "torch", "training a model")


def symmetric_noise_matrix(noise_rate: float, n_classes: int) -> np.ndarray:
    """P(given = j | true = i) (rows = true class) with ``1 - noise_rate`` on the diagonal and
    the rest spread evenly over the other classes."""
    check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
    t = np.full((n_classes, n_classes), noise_rate / (n_classes - 1))
    np.fill_diagonal(t, 1.0 - noise_rate)
    return t


def make_loss(
    name: str,
    *,
    n_samples: int,
    n_classes: int,
    noise_rate: float | None = None,
    noise_matrix: Any = None,
    sample_weight: Any = None,
    **kwargs: Any,
) -> Any:
    """Build the registered loss ``name``, filling in what it needs from the data.

    ``n_samples`` and ``n_classes`` go to losses that take them (``elr``, ``truncated_gce``);
    a loss that takes a ``noise_matrix`` (rows = true class) gets ``noise_matrix``, or a
    symmetric one built from ``noise_rate``; one that takes ``sample_weights`` gets
    ``sample_weight`` ((n_samples,) non-negative).
    """
    losses = optional_import("mislabel.losses", "torch", "robust losses")
    params = inspect.signature(losses.get_class(name)).parameters
    kw = dict(kwargs)
    if "n_samples" in params and "n_samples" not in kw:
        kw["n_samples"] = n_samples
    if "n_classes" in params and "n_classes" not in kw:
        kw["n_classes"] = n_classes
    if "noise_matrix" in params and "noise_matrix" not in kw:
        if noise_matrix is not None:
            kw["noise_matrix"] = np.asarray(noise_matrix, dtype=np.float64)
        elif noise_rate is not None:
            kw["noise_matrix"] = symmetric_noise_matrix(noise_rate, n_classes)
        else:
            raise InvalidParameterError(
                f"loss {name!r} needs a noise matrix; pass `noise_rate` (--noise-rate 0.1) or "
                "`noise_matrix`."
            )
    if "sample_weights" in params and "sample_weights" not in kw:
        if sample_weight is None:
            raise InvalidParameterError(
                f"loss {name!r} needs per-sample weights; pass `sample_weight` (command line: "
                "--weights FIND_DIR weights each sample by its label quality score)."
            )
        kw["sample_weights"] = _torch().as_tensor(np.asarray(sample_weight, dtype=np.float32))
    if "noise_matrix" in kw:
        kw["noise_matrix"] = _torch().as_tensor(kw["noise_matrix"], dtype=_torch().float32)
    return losses.get(name, **kw)


def build_mlp(in_features: int, n_classes: int, hidden: int = 128) -> Any:
    """``Linear(in_features, hidden) → ReLU → Linear(hidden, n_classes)`` (logits)."""
    nn = _torch().nn
    if hidden <= 0:
        return nn.Linear(in_features, n_classes)
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


@dataclass(frozen=True, eq=False)
class SimpleTrainResult:
    """What :func:`train_simple` returns.

    Attributes:
        model: the trained ``torch.nn.Module`` (eval mode).
        featurizer: the fitted :class:`~mislabel.data.Featurizer` (apply it to new data).
        config: ``in_features``, ``hidden``, ``n_classes``: rebuild the model with
            ``build_mlp(**config)``.
        classes: class names, in output column order.
        metrics: accuracies and settings (what ``metrics.json`` holds).
    """

    model: Any
    featurizer: Featurizer
    config: dict[str, int]
    classes: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, data: LabeledData) -> np.ndarray:
        """(n, n_classes) probabilities for new data of the same kind."""
        torch = _torch()
        x = torch.from_numpy(self.featurizer.transform(data))
        with torch.no_grad():
            return np.asarray(torch.softmax(self.model(x), dim=1).numpy(), dtype=np.float64)

    def save(self, out_dir: PathLike) -> dict[str, Path]:
        """Write ``model.pt`` (the state_dict) and ``metrics.json``, each atomically."""
        torch = _torch()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save(self.model.state_dict(), buf)
        return {
            "model.pt": write_bytes_atomic(out / "model.pt", buf.getvalue()),
            "metrics.json": write_json_atomic(
                out / "metrics.json",
                {**self.metrics, "model": self.config, "classes": list(self.classes)},
            ),
        }


def train_simple(
    data: LabeledData,
    *,
    labels: Any = None,
    keep: Any = None,
    loss: str = "ce",
    loss_kwargs: Mapping[str, Any] | None = None,
    noise_rate: float | None = None,
    noise_matrix: Any = None,
    epochs: int = 30,
    hidden: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    random_state: int | None = 0,
    sample_weight: Any = None,
    test: LabeledData | None = None,
    featurizer: Featurizer | None = None,
    progress: ProgressCallback | None = None,
) -> SimpleTrainResult:
    """Train a small MLP on ``data`` with a loss from the :mod:`mislabel.losses` registry.

    Args:
        data: the training data (images, tabular or text; see :func:`~mislabel.data.load_dataset`).
        labels: (n,) labels to train on instead of ``data.labels`` (e.g. cleaned ones).
        keep: (n,) bool, train only on these samples (e.g. after removing issues).
        loss: a registered loss name (``mislabel.losses.available()``).
        loss_kwargs: extra arguments of the loss (``{"q": 0.7}``).
        noise_rate: known share of wrong labels; builds the noise matrix of correction losses.
        noise_matrix: (K, K) P(given | true), rows = true class, for correction losses.
        epochs, hidden, lr, weight_decay, batch_size: the usual.
        random_state: seeds initialisation and shuffling (the global torch RNG is left alone).
        sample_weight: (n,) non-negative weights, for losses that take ``sample_weights``
            (``weighted_ce``), e.g. the label quality scores of :func:`~mislabel.find_label_issues`.
        test: labelled test data; its classes are matched to ``data``'s by name.
        featurizer: how to make features (default :class:`~mislabel.data.Featurizer`).
        progress: optional ``progress("epochs", done, total)`` callback.

    Returns:
        A :class:`SimpleTrainResult`; ``metrics`` holds ``train_accuracy`` (on the labels
        trained on), ``train_accuracy_given`` (on ``data.labels``, all samples) and
        ``test_accuracy`` when ``test`` is given.
    """
    torch = _torch()
    t0 = time.perf_counter()
    check_scalar(epochs, "epochs", kind=numbers.Integral, min_val=1)
    check_scalar(hidden, "hidden", kind=numbers.Integral, min_val=0)
    check_scalar(batch_size, "batch_size", kind=numbers.Integral, min_val=1)
    check_scalar(lr, "lr", min_val=0.0, include_min=False)
    n, k = data.n_samples, data.n_classes
    y_all = data.labels if labels is None else check_labels(labels, n_classes=k, n_samples=n)
    mask = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if mask.shape != (n,):
        raise InvalidInputError(f"`keep` must have one entry per sample ({n}); got {mask.shape}.")
    if not mask.any():
        raise InvalidInputError("`keep` removes every sample; nothing is left to train on.")
    feat = featurizer if featurizer is not None else Featurizer()
    x_all = feat.fit_transform(data)
    idx = np.flatnonzero(mask)
    x = torch.from_numpy(np.ascontiguousarray(x_all[idx]))
    y = torch.from_numpy(y_all[idx].astype(np.int64))
    n_train = int(idx.size)
    loss_fn = make_loss(
        loss,
        n_samples=n_train,
        n_classes=k,
        noise_rate=noise_rate,
        noise_matrix=noise_matrix,
        sample_weight=None if sample_weight is None else _weights(sample_weight, n)[idx],
        **dict(loss_kwargs or {}),
    )
    # per-sample losses get the batch's indices; WeightedCELoss without weights wants none
    takes_index = bool(getattr(loss_fn, "takes_index", False)) and (
        getattr(loss_fn, "sample_weights", True) is not None
    )
    seed = as_seed(random_state)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = build_mlp(x.shape[1], k, hidden)
    gen = torch.Generator()
    if seed is not None:
        gen.manual_seed(seed)
    # tiny models gain nothing from threads; spinning OpenMP threads slow them on busy CPUs
    prev_threads = torch.get_num_threads()
    if n_train * max(int(hidden), 1) < 5_000_000:
        torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        last = float("nan")
        model.train()
        loss_fn.train()
        for epoch in range(int(epochs)):
            perm = torch.randperm(n_train, generator=gen)
            total, seen = 0.0, 0
            for start in range(0, n_train, int(batch_size)):
                b = perm[start : start + int(batch_size)]
                logits = model(x[b])
                value = loss_fn(logits, y[b], index=b) if takes_index else loss_fn(logits, y[b])
                opt.zero_grad()
                value.backward()
                opt.step()
                total += float(value.detach()) * b.shape[0]
                seen += b.shape[0]
            last = total / max(seen, 1)
            if progress is not None:
                progress("epochs", epoch + 1, int(epochs))
    finally:
        torch.set_num_threads(prev_threads)
    model.eval()
    loss_fn.eval()
    with torch.no_grad():
        pred_all = model(torch.from_numpy(x_all)).argmax(dim=1).numpy()
    metrics: dict[str, Any] = {
        "loss": loss,
        "loss_kwargs": {k_: v for k_, v in (loss_kwargs or {}).items()},
        "noise_rate": noise_rate,
        "epochs": int(epochs),
        "seed": seed,
        "n_samples": n,
        "n_train": n_train,
        "n_removed": int(n - n_train),
        "n_relabelled": int(np.count_nonzero(y_all[idx] != data.labels[idx])),
        "final_train_loss": last,
        "train_accuracy": float(np.mean(pred_all[idx] == y_all[idx])),
        "train_accuracy_given": float(np.mean(pred_all == data.labels)),
    }
    result = SimpleTrainResult(
        model=model,
        featurizer=feat,
        config={"in_features": int(x.shape[1]), "hidden": int(hidden), "n_classes": k},
        classes=data.classes,
        metrics=metrics,
    )
    if test is not None:
        y_test = _match_classes(test, data.classes)
        pred = result.predict_proba(test).argmax(axis=1)
        metrics["n_test"] = int(test.n_samples)
        metrics["test_accuracy"] = float(np.mean(pred == y_test))
    metrics["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _weights(sample_weight: Any, n: int) -> np.ndarray:
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise InvalidInputError(
            f"`sample_weight` must be ({n},) finite, non-negative weights; got shape {w.shape}."
        )
    return w


def _match_classes(test: LabeledData, classes: tuple[str, ...]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    unknown = [c for c in test.classes if c not in index]
    if unknown:
        raise InvalidInputError(
            f"test data has classes the training data lacks: {unknown[:5]}; training classes "
            f"are {list(classes)[:10]}."
        )
    mapping = np.array([index[c] for c in test.classes], dtype=np.int64)
    return mapping[test.labels]
