"""Train a classifier on a loaded dataset: what ``mislabel train`` runs.

Two recipes, both on the one training loop of :mod:`mislabel.train`:

- ``"robust"`` (default): :class:`mislabel.NoiseAwareClassifier` — find the wrong labels,
  weight them down, train with ELR when the network can memorise its training set;
- ``"plain"``: the default network trained with one loss of the :mod:`mislabel.losses`
  registry (``ce``, ``gce``, ``sce``, ``forward_correction``, ...), with optional per-sample
  weights (every loss takes them: the batch loss is their weighted mean).

Colour photos are embedded by a pretrained backbone (the one ``mislabel find`` uses, when its
weights load without a download) and the MLP trains on the embeddings; other images are shrunk
to at most 32 px a side and go to the small CNN; tables and texts become dense features
(:class:`mislabel.data.Featurizer`) for the MLP. torch is imported only when a function here
is called.
"""

from __future__ import annotations

import functools
import inspect
import io
import numbers
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mislabel._atomic import write_bytes_atomic, write_json_atomic
from mislabel._validation import as_seed, check_labels, check_option, check_scalar, optional_import
from mislabel.data._embed import DEFAULT_DETECT_LAYERS, DEFAULT_IMAGE_LAYERS
from mislabel.data._features import Featurizer, resize_images
from mislabel.data._load import LabeledData
from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = ["RECIPES", "DataTrainResult", "symmetric_noise_matrix", "train_on_data"]

PathLike = str | os.PathLike[str]
#: ``progress(stage, done, total)``.
ProgressCallback = Callable[[str, int, int], None]
Recipe = Literal["robust", "plain"]
#: The recipes of :func:`train_on_data`.
RECIPES: tuple[str, ...] = ("robust", "plain")
#: The longer side of the images the CNN sees.
_MAX_SIDE = 32
#: The built-in choices of ``train_on_data(model=...)`` (besides ``"timm:NAME"``).
TRAIN_MODELS: tuple[str, ...] = ("auto", "cnn")


@dataclass(frozen=True)
class Backbone:
    """The pretrained image backbone whose embeddings a model was trained on, and the views of
    every image it embeds (as given and mirrored left-right: (n, 2, d) embeddings; the network
    trains on each view as a row and predicts from the mean of an image's views)."""

    model: str
    weights: str | None = None
    cache_dir: str | None = None
    views: tuple[str, ...] = ("identity", "hflip")
    layers: str = DEFAULT_IMAGE_LAYERS
    detect_layers: str = DEFAULT_DETECT_LAYERS

    def embed(self, data: LabeledData) -> np.ndarray:
        """What the network takes: the ``layers`` of every view of every image."""
        return self._embed(data, (self.layers,))[0]

    def embed_for_training(self, data: LabeledData) -> tuple[np.ndarray, np.ndarray]:
        """(what the network trains on, what the detection judges), from one forward pass."""
        x, judged = self._embed(data, (self.layers, self.detect_layers))
        return x, judged

    def _embed(self, data: LabeledData, layers: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        from mislabel.data._find import embed_dataset

        return embed_dataset(
            data, self.model, self.weights, self.cache_dir, views=self.views, layers=layers
        )


def symmetric_noise_matrix(noise_rate: float, n_classes: int) -> np.ndarray:
    """P(given = j | true = i) (rows = true class) with ``1 - noise_rate`` on the diagonal and
    the rest spread evenly over the other classes."""
    check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
    t = np.full((n_classes, n_classes), noise_rate / (n_classes - 1))
    np.fill_diagonal(t, 1.0 - noise_rate)
    return t


@dataclass(frozen=True, eq=False)
class DataTrainResult:
    """What :func:`train_on_data` returns.

    Attributes:
        estimator: the fitted :class:`mislabel.NoiseAwareClassifier` (robust) or
            :class:`~mislabel.integrations.torch.TorchClassifier` (plain).
        network: ``input_shape`` and ``n_classes``: rebuild the network with
            ``mislabel.train.default_network(**network)`` and load ``model.pt`` into it.
        featurizer: the fitted :class:`~mislabel.data.Featurizer` for tables and texts (None
            for images, which are shrunk to ``image_side`` px).
        classes: class names, in output column order.
        metrics: accuracies and settings (what ``metrics.json`` holds; its ``backbone`` names
            the pretrained backbone whose embeddings the network takes, or is null).
        backbone: the pretrained backbone whose embeddings the network was trained on (new
            images are embedded by it too), or None.
    """

    estimator: Any
    network: dict[str, Any]
    featurizer: Featurizer | None
    classes: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    backbone: Backbone | None = None

    @property
    def module(self) -> Any:
        """The trained torch network."""
        est = self.estimator
        return est.model_.module_ if hasattr(est, "model_") else est.module_

    def predict_proba(self, data: LabeledData) -> np.ndarray:
        """(n, n_classes) probabilities for new data of the same kind."""
        x = _inputs(data, self.featurizer, self.backbone)
        p = np.asarray(self.estimator.predict_proba(x), dtype=np.float64)
        seen = np.asarray(getattr(self.estimator, "classes_", np.arange(p.shape[1])))
        out = np.zeros((p.shape[0], len(self.classes)))
        out[:, seen.astype(np.int64)] = p  # a class absent from training gets probability 0
        return out

    def save(self, out_dir: PathLike) -> dict[str, Path]:
        """Write ``model.pt`` (the network's state_dict) and ``metrics.json``, each atomically."""
        torch = optional_import("torch", "torch", "saving a model")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save(self.module.state_dict(), buf)
        return {
            "model.pt": write_bytes_atomic(out / "model.pt", buf.getvalue()),
            "metrics.json": write_json_atomic(
                out / "metrics.json",
                {**self.metrics, "network": self.network, "classes": list(self.classes)},
            ),
        }


def _inputs(
    data: LabeledData, featurizer: Featurizer | None, backbone: Backbone | None
) -> np.ndarray:
    if backbone is not None:
        return backbone.embed(data)
    if featurizer is None:
        return resize_images(np.asarray(data.X), max_side=_MAX_SIDE)
    return featurizer.transform(data)


def _backbone(
    data: LabeledData,
    model: str,
    weights: PathLike | None,
    layers: str,
    detect_layers: str,
    cache_dir: PathLike | None,
) -> Backbone | None:
    """The backbone ``model`` asks for on ``data`` (``"auto"``: the default one for colour
    photos when it loads without a download), or None."""
    from mislabel.data._embed import DEFAULT_IMAGE_MODEL, IMAGE_LAYERS
    from mislabel.data._find import wants_backbone

    check_option(layers, "backbone_layers", IMAGE_LAYERS)
    check_option(detect_layers, "detect_layers", IMAGE_LAYERS)
    if not isinstance(model, str) or not (model in TRAIN_MODELS or model.startswith("timm:")):
        raise InvalidParameterError(
            f"`model` must be one of {list(TRAIN_MODELS)} or 'timm:NAME' (a pretrained timm "
            f"backbone); got {model!r}."
        )
    if model != "auto" and data.kind != "images":
        raise InvalidParameterError(
            f"model {model!r} is for images; the data are {data.kind}. Use model 'auto'."
        )
    if model == "auto" and data.kind == "images" and wants_backbone(data):
        model = DEFAULT_IMAGE_MODEL
    if not model.startswith("timm:"):
        if weights is not None:
            raise InvalidParameterError(
                "`backbone_weights` goes with a 'timm:NAME' model; the model trained here is "
                f"{'the small CNN' if data.kind == 'images' else 'the MLP'}."
            )
        return None
    return Backbone(
        model,
        None if weights is None else str(weights),
        None if cache_dir is None else str(cache_dir),
        layers=layers,
        detect_layers=detect_layers,
    )


def _loss_kwargs(
    loss: str,
    loss_kwargs: Mapping[str, Any] | None,
    *,
    n_classes: int,
    noise_rate: float | None,
    noise_matrix: Any,
) -> dict[str, Any]:
    """``loss_kwargs`` with the noise matrix filled in for the losses that take one."""
    losses = optional_import("mislabel.losses", "torch", "robust losses")
    params = inspect.signature(losses.get_class(loss)).parameters
    kw = dict(loss_kwargs or {})
    if "noise_matrix" in params and "noise_matrix" not in kw:
        if noise_matrix is not None:
            kw["noise_matrix"] = np.asarray(noise_matrix, dtype=np.float64)
        elif noise_rate is not None:
            kw["noise_matrix"] = symmetric_noise_matrix(noise_rate, n_classes)
        else:
            raise InvalidParameterError(
                f"loss {loss!r} needs a noise matrix; pass `noise_rate` (--noise-rate 0.1) or "
                "`noise_matrix`."
            )
    if "noise_matrix" in kw:
        torch = optional_import("torch", "torch", "robust losses")
        kw["noise_matrix"] = torch.as_tensor(kw["noise_matrix"], dtype=torch.float32)
    return kw


def train_on_data(
    data: LabeledData,
    *,
    recipe: Recipe = "robust",
    loss: str = "ce",
    loss_kwargs: Mapping[str, Any] | None = None,
    labels: Any = None,
    keep: Any = None,
    sample_weight: Any = None,
    noise_rate: float | None = None,
    noise_matrix: Any = None,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 128,
    random_state: int | None = 0,
    device: str = "auto",
    test: LabeledData | None = None,
    progress: ProgressCallback | None = None,
    model: str = "auto",
    backbone_weights: PathLike | None = None,
    backbone_layers: str = DEFAULT_IMAGE_LAYERS,
    detect_layers: str = DEFAULT_DETECT_LAYERS,
    cache_dir: PathLike | None = None,
) -> DataTrainResult:
    """Train the default network for ``data``: an MLP on pretrained embeddings for colour
    photos, the small CNN for other images, an MLP on dense features for tables and texts.

    Args:
        data: the training data (images, tabular or text; see
            :func:`~mislabel.data.load_dataset`).
        recipe: ``"robust"`` (:class:`mislabel.NoiseAwareClassifier`: detection, weights, ELR
            when the network can memorise) or ``"plain"`` (one registered ``loss``).
        loss: the loss of the plain recipe (``mislabel.losses.available()``).
        loss_kwargs: extra arguments of that loss (``{"q": 0.7}``).
        labels: (n,) labels to train on instead of ``data.labels`` (e.g. cleaned ones).
        keep: (n,) bool, train only on these samples (e.g. after removing issues).
        sample_weight: (n,) non-negative weights of the plain recipe, e.g. the ``weight``
            column of ``mislabel clean --policy reweight`` (the robust recipe makes its own).
        noise_rate: known share of wrong labels: the robust recipe's count of flags; the
            symmetric noise matrix of correction losses.
        noise_matrix: (K, K) P(given | true), rows = true class, for correction losses.
        epochs, lr, batch_size: the optimisation (Adam).
        random_state: seeds every random step.
        device: ``"auto"`` (a GPU when present), ``"cpu"``, ``"cuda"``, ...
        test: labelled test data; its classes are matched to ``data``'s by name.
        progress: optional ``progress(stage, done, total)`` callback (stages ``"train"``).
        model: for images, ``"auto"`` (colour photos: the embeddings of
            :data:`~mislabel.data.DEFAULT_IMAGE_MODEL` when its weights load without a
            download, as ``mislabel find`` does; otherwise the small CNN on the pixels),
            ``"cnn"`` (the small CNN), or ``"timm:NAME"`` (the embeddings of that pretrained
            timm backbone, :func:`mislabel.data.embed_images`). Each photo is embedded as
            given and mirrored left-right; the network trains on both views as two rows with
            the photo's label and predicts from the mean of a photo's two views. On
            embeddings the robust recipe detects with :func:`mislabel.embedding_pred_probs`
            on that mean and removes the suspects
            (``NoiseAwareClassifier(detection="embeddings")``).
        backbone_weights: a local weights file for a ``"timm:NAME"`` backbone.
        backbone_layers: what of the backbone the network trains on
            (:func:`mislabel.data.embed_images`'s ``layers``): ``"stages"`` (default),
            ``"pooled"`` or ``"stages+pooled"``.
        detect_layers: what of the backbone the robust recipe's detection judges:
            ``"stages+pooled"`` (default; one forward pass gives both), ``"stages"`` or
            ``"pooled"``.
        cache_dir: folder of the embeddings cache (None caches nothing).

    Returns:
        A :class:`DataTrainResult`; ``metrics`` holds ``train_accuracy`` (on the labels
        trained on), ``train_accuracy_given`` (on ``data.labels``, all samples), ``n_flagged``
        (robust) and ``test_accuracy`` when ``test`` is given.
    """
    optional_import("torch", "torch", "training a model")
    from mislabel.integrations.torch import TorchClassifier
    from mislabel.train._networks import InputScaler, default_network
    from mislabel.train._noise_aware import NoiseAwareClassifier

    t0 = time.perf_counter()
    check_option(recipe, "recipe", RECIPES)
    check_scalar(epochs, "epochs", kind=numbers.Integral, min_val=1)
    check_scalar(batch_size, "batch_size", kind=numbers.Integral, min_val=1)
    check_scalar(lr, "lr", min_val=0.0, include_min=False)
    if noise_rate is not None:
        check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
    n, k = data.n_samples, data.n_classes
    y_all = data.labels if labels is None else check_labels(labels, n_classes=k, n_samples=n)
    mask = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if mask.shape != (n,):
        raise InvalidInputError(f"`keep` must have one entry per sample ({n}); got {mask.shape}.")
    if not mask.any():
        raise InvalidInputError("`keep` removes every sample; nothing is left to train on.")
    w_all = None if sample_weight is None else _weights(sample_weight, n)
    if recipe == "robust" and w_all is not None:
        raise InvalidParameterError(
            "the robust recipe computes its own per-sample weights; to train with given "
            "weights use recipe 'plain' (command line: --recipe plain --loss NAME)."
        )
    seed = as_seed(random_state)
    backbone = _backbone(data, model, backbone_weights, backbone_layers, detect_layers, cache_dir)
    featurizer = None if data.kind == "images" else Featurizer()
    judged_all = None
    if backbone is not None and recipe == "robust":
        x_all, judged_all = backbone.embed_for_training(data)
    elif featurizer is None:
        x_all = _inputs(data, None, backbone)
    else:
        x_all = featurizer.fit_transform(data)
    idx = np.flatnonzero(mask)
    x, y = x_all[idx], y_all[idx]
    if progress is not None:
        progress("train", 0, 1)
    extra: dict[str, Any] = {}
    if recipe == "robust":
        est: Any = NoiseAwareClassifier(
            epochs=int(epochs),
            noise_rate=noise_rate,
            lr=lr,
            batch_size=int(batch_size),
            device=device,
            random_state=seed,
            detection="auto" if backbone is None else "embeddings",
        ).fit(x, y, detection_features=None if judged_all is None else judged_all[idx])
        scaler = est._scaler
        extra = {
            "n_flagged": int(est.issues_.mask.sum()),
            "policy": est.policy_,
            "final_loss": est.final_loss_,
            "memorizes": est.memorizes_,
        }
    else:
        views = backbone is not None  # x: (n, v, d), the views of every photo
        scaler = InputScaler.fit(x.mean(axis=1) if views else x)
        est = _ScaledTorch(
            TorchClassifier(
                functools.partial(default_network, scaler.network_input_shape(), k),
                loss=loss,
                loss_kwargs=_loss_kwargs(
                    loss, loss_kwargs, n_classes=k, noise_rate=noise_rate, noise_matrix=noise_matrix
                ),
                epochs=int(epochs),
                lr=lr,
                batch_size=int(batch_size),
                device=device,
                random_state=seed,
                progress=False,
                channels_last=len(scaler.network_input_shape()) == 3,
                n_classes=k,
                require_all_classes=False,
            ),
            scaler,
            views,
        ).fit(x, y, None if w_all is None else w_all[idx])
    if progress is not None:
        progress("train", 1, 1)
    pred_all = np.asarray(est.predict(x_all))
    metrics: dict[str, Any] = {
        "recipe": recipe,
        "loss": loss if recipe == "plain" else extra["final_loss"],
        "loss_kwargs": dict(loss_kwargs or {}) if recipe == "plain" else {},
        "noise_rate": noise_rate,
        "epochs": int(epochs),
        "seed": seed,
        "backbone": None if backbone is None else backbone.model,
        "views": None if backbone is None else list(backbone.views),
        "layers": None if backbone is None else backbone.layers,
        "detect_layers": None if backbone is None or recipe != "robust" else backbone.detect_layers,
        "n_samples": n,
        "n_train": int(idx.size),
        "n_removed": int(n - idx.size),
        "n_relabelled": int(np.count_nonzero(y != data.labels[idx])),
        "weighted": w_all is not None,
        **{key: v for key, v in extra.items() if key != "final_loss"},
        "train_accuracy": float(np.mean(pred_all[idx] == y)),
        "train_accuracy_given": float(np.mean(pred_all == data.labels)),
    }
    result = DataTrainResult(
        estimator=est,
        network={"input_shape": list(scaler.network_input_shape()), "n_classes": k},
        featurizer=featurizer,
        classes=data.classes,
        metrics=metrics,
        backbone=backbone,
    )
    if test is not None:
        y_test = _match_classes(test, data.classes)
        pred = result.predict_proba(test).argmax(axis=1)
        metrics["n_test"] = int(test.n_samples)
        metrics["test_accuracy"] = float(np.mean(pred == y_test))
    metrics["seconds"] = round(time.perf_counter() - t0, 3)
    return result


class _ScaledTorch:
    """A TorchClassifier behind the default input scaling (the plain recipe). With ``views``
    the input is (n, v, d): every view a training row, predictions from the mean view."""

    def __init__(self, est: Any, scaler: Any, views: bool = False) -> None:
        self.est = est
        self.scaler = scaler
        self.views = views

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: Any) -> _ScaledTorch:
        if self.views:
            from mislabel.train._noise_aware import view_rows

            x, y, sample_weight = view_rows(x, y, None, sample_weight)
        self.est.fit(self.scaler.transform(x), y, sample_weight=sample_weight)
        self.module_ = self.est.module_
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.views:
            x = x.mean(axis=1)
        return np.asarray(self.est.predict_proba(self.scaler.transform(x)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


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
