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

import dataclasses
import functools
import inspect
import io
import json
import numbers
import os
import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mislabel._validation import as_seed, check_labels, check_option, check_scalar, optional_import
from mislabel.data._embed import DEFAULT_DETECT_LAYERS, DEFAULT_IMAGE_LAYERS
from mislabel.data._features import Featurizer, resize_images
from mislabel.data._load import LabeledData, ProgressCallback
from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = [
    "MODEL_FILES",
    "RECIPES",
    "DataTrainResult",
    "load_model",
    "predictions_frame",
    "symmetric_noise_matrix",
    "train_on_data",
]

PathLike = str | os.PathLike[str]
Recipe = Literal["robust", "plain"]
#: The recipes of :func:`train_on_data`.
RECIPES: tuple[str, ...] = ("robust", "plain")
#: The longer side of the images the CNN sees.
_MAX_SIDE = 32
#: What :meth:`DataTrainResult.save` writes beside ``metrics.json``, the set's manifest.
MODEL_FILES: tuple[str, ...] = ("model.pt", "preprocess.pkl")
#: The layout of ``preprocess.pkl``.
_PREPROCESS_FORMAT = 1
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

    def embed(self, data: LabeledData, progress: ProgressCallback | None = None) -> np.ndarray:
        """What the network takes: the ``layers`` of every view of every image."""
        return self._embed(data, (self.layers,), progress)[0]

    def embed_for_training(
        self, data: LabeledData, progress: ProgressCallback | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(what the network trains on, what the detection judges), from one forward pass."""
        x, judged = self._embed(data, (self.layers, self.detect_layers), progress)
        return x, judged

    def _embed(
        self, data: LabeledData, layers: tuple[str, ...], progress: ProgressCallback | None
    ) -> tuple[np.ndarray, ...]:
        from mislabel.data._find import embed_dataset

        return embed_dataset(
            data,
            self.model,
            self.weights,
            self.cache_dir,
            views=self.views,
            layers=layers,
            progress=progress,
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
        network: ``input_shape`` and ``n_classes`` of the network
            (``mislabel.train.default_network(**network)`` rebuilds it untrained).
        featurizer: the fitted :class:`~mislabel.data.Featurizer` for tables and texts (None
            for images, which are shrunk to ``image_side`` px).
        classes: class names, in output column order.
        metrics: accuracies and settings (what ``metrics.json`` holds; its ``backbone`` names
            the pretrained backbone whose embeddings the network takes, or is null).
        backbone: the pretrained backbone whose embeddings the network was trained on (new
            images are embedded by it too), or None.

    :meth:`save` writes the model to a folder and :func:`load_model` reads it back, ready for
    :meth:`predict_proba` on new data.
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
        return est.module if isinstance(est, _SavedNetwork) else _inner(est).module_

    def predict_proba(self, data: LabeledData) -> np.ndarray:
        """(n, n_classes) probabilities for new data of the same kind."""
        x = _inputs(data, self.featurizer, self.backbone)
        p = np.asarray(self.estimator.predict_proba(x), dtype=np.float64)
        seen = np.asarray(getattr(self.estimator, "classes_", np.arange(p.shape[1])))
        out = np.zeros((p.shape[0], len(self.classes)))
        out[:, seen.astype(np.int64)] = p  # a class absent from training gets probability 0
        return out

    def save(self, out_dir: PathLike) -> dict[str, Path]:
        """Write the model into ``out_dir`` as one set: ``model.pt`` (the network's
        ``state_dict``), ``preprocess.pkl`` (what turns new data into the network's input: the
        input scaling, the fitted :class:`~mislabel.data.Featurizer` of tables and texts, the
        backbone and its views) and ``metrics.json``, written last with the SHA-256 of the
        other two. :func:`load_model` reads the folder back; an interrupted write leaves the
        previous model in place."""
        torch = optional_import("torch", "torch", "saving a model")
        from mislabel.data._outputs import write_file_set

        weights = io.BytesIO()
        torch.save(self.module.state_dict(), weights)
        prep = pickle.dumps(_preprocess(self), protocol=pickle.HIGHEST_PROTOCOL)
        writers = {
            "model.pt": lambda fh: fh.write(weights.getvalue()),
            "preprocess.pkl": lambda fh: fh.write(prep),
        }
        paths, _ = write_file_set(
            out_dir,
            writers,
            "metrics.json",
            {**self.metrics, "network": self.network, "classes": list(self.classes)},
        )
        return paths


@dataclass(frozen=True)
class _Preprocess:
    """``preprocess.pkl``: everything between new data and the saved network."""

    format: int
    scaler: Any  # the InputScaler of the network's input, or None
    views: bool  # (n, v, d) embeddings: the network takes the mean view
    columns: tuple[int, ...]  # the class index of each network output
    channels_last: bool
    featurizer: Featurizer | None
    backbone: Backbone | None


def _inner(estimator: Any) -> Any:
    """The TorchClassifier inside a fitted estimator of :func:`train_on_data`."""
    for name in ("model_", "est"):
        if hasattr(estimator, name):
            return getattr(estimator, name)
    return estimator


def _preprocess(result: DataTrainResult) -> _Preprocess:
    est = result.estimator
    if isinstance(est, _SavedNetwork):
        return est.prep
    inner = _inner(est)
    n_out = int(result.network["n_classes"])
    backbone = result.backbone
    if backbone is not None:  # portable: no cache folder of the training run, an absolute path
        weights = None if backbone.weights is None else str(Path(backbone.weights).resolve())
        backbone = dataclasses.replace(backbone, weights=weights, cache_dir=None)
    columns = tuple(int(c) for c in getattr(inner, "classes_", range(n_out)))
    return _Preprocess(
        _PREPROCESS_FORMAT,
        getattr(est, "_scaler", getattr(est, "scaler", None)),
        result.backbone is not None,
        columns,
        bool(getattr(inner, "channels_last", False)),
        result.featurizer,
        backbone,
    )


class _SavedNetwork:
    """A network read back by :func:`load_model`, behind its input scaling."""

    def __init__(self, module: Any, prep: _Preprocess, n_classes: int, device: str) -> None:
        self.module = module
        self.prep = prep
        self.n_classes = n_classes
        self.device = device

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        from mislabel.train._loop import predict_logits

        if self.prep.views:
            x = np.asarray(x).mean(axis=1)
        if self.prep.scaler is not None:
            x = self.prep.scaler.transform(x)
        logits = predict_logits(
            self.module,
            torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)),
            1024,
            self.device,
            self.prep.channels_last,
        )
        p = torch.softmax(logits, dim=1).numpy().astype(np.float64)
        out = np.zeros((p.shape[0], self.n_classes))
        out[:, list(self.prep.columns)] = p
        return out


def load_model(
    folder: PathLike, *, cache_dir: PathLike | None = None, device: str = "auto"
) -> DataTrainResult:
    """Read back a model written by :meth:`DataTrainResult.save` (``mislabel train -o
    FOLDER``), ready for :meth:`DataTrainResult.predict_proba` on new data of the same kind.

    ``preprocess.pkl`` is a pickle: load only folders you trust, as with ``torch.load`` or
    fastai's ``load_learner``.

    Args:
        folder: the model folder.
        cache_dir: where new images' embeddings are cached, for a model on a pretrained
            backbone (None caches nothing).
        device: where the network runs: ``"auto"`` (a GPU when present), ``"cpu"``,
            ``"cuda"``, ...

    Raises:
        InvalidInputError: a file of the set is missing or damaged, or the files belong to
            different runs.
    """
    torch = optional_import("torch", "torch", "loading a model")
    from mislabel.data._embed import _resolve_device
    from mislabel.data._outputs import check_file_set
    from mislabel.train._networks import default_network

    dev = str(_resolve_device(device, torch))
    root = Path(folder)
    manifest_path = root / "metrics.json"
    missing = [n for n in ("metrics.json", *MODEL_FILES) if not (root / n).is_file()]
    if missing:
        raise InvalidInputError(
            f"'{root}' is not a saved model: {', '.join(missing)} missing. A model folder is "
            "what `mislabel train -o FOLDER` (DataTrainResult.save) writes: "
            f"{', '.join(MODEL_FILES)} and metrics.json."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        network = manifest["network"]
        shape, n_classes = tuple(int(v) for v in network["input_shape"]), int(network["n_classes"])
        classes = tuple(str(c) for c in manifest["classes"])
    except Exception as exc:
        raise InvalidInputError(
            f"'{manifest_path}' cannot be read as a model's metrics.json ({type(exc).__name__}: "
            f"{exc}); train the model again."
        ) from exc
    check_file_set(
        root, manifest, MODEL_FILES, manifest_name="metrics.json", rerun="mislabel train"
    )
    try:
        prep = pickle.loads((root / "preprocess.pkl").read_bytes())
        if not isinstance(prep, _Preprocess) or prep.format != _PREPROCESS_FORMAT:
            raise TypeError(f"not a preprocess.pkl of format {_PREPROCESS_FORMAT}")
        module = default_network(shape, n_classes)
        state = torch.load(io.BytesIO((root / "model.pt").read_bytes()), map_location="cpu",
                           weights_only=True)  # fmt: skip
        module.load_state_dict(state)
        module.to(dev)
    except Exception as exc:
        raise InvalidInputError(
            f"the model in '{root}' cannot be read ({type(exc).__name__}: {exc}); train it "
            "again with the installed mislabel."
        ) from exc
    backbone = prep.backbone
    if backbone is not None and cache_dir is not None:
        backbone = dataclasses.replace(backbone, cache_dir=str(cache_dir))
    listed = ("network", "classes", "run_id", "files")
    metrics = {k: v for k, v in manifest.items() if k not in listed}
    return DataTrainResult(
        estimator=_SavedNetwork(module, prep, n_classes, dev),
        network={"input_shape": list(shape), "n_classes": n_classes},
        featurizer=prep.featurizer,
        classes=classes,
        metrics=metrics,
        backbone=backbone,
    )


def predictions_frame(result: DataTrainResult, data: LabeledData) -> tuple[Any, float | None]:
    """Predictions of ``result`` for ``data`` as a table, and the accuracy on ``data``'s
    labels when every one of its classes is a class of the model (else None).

    Columns: ``id`` (the row of ``data``), ``path`` (images) or ``text`` (texts), ``label``
    (the given label, when the accuracy applies), ``predicted`` (a class name),
    ``probability`` (of that class) and ``p_<class>`` for every class of the model.
    """
    pd = optional_import("pandas", "pandas", "a predictions table")
    proba = result.predict_proba(data)
    pred = proba.argmax(axis=1)
    frame = pd.DataFrame({"id": np.arange(data.n_samples)})
    if data.paths is not None:
        frame["path"] = list(data.paths)
    elif data.texts is not None:
        frame["text"] = list(data.texts)
    accuracy = None
    if set(data.classes) <= set(result.classes):
        truth = _match_classes(data, result.classes)
        frame["label"] = [result.classes[int(i)] for i in truth]
        accuracy = float(np.mean(pred == truth))
    frame["predicted"] = [result.classes[int(i)] for i in pred]
    frame["probability"] = proba[np.arange(len(pred)), pred]
    for j, name in enumerate(result.classes):
        frame[f"p_{name}"] = proba[:, j]
    return frame, accuracy


def _inputs(
    data: LabeledData,
    featurizer: Featurizer | None,
    backbone: Backbone | None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    if backbone is not None:
        return backbone.embed(data, progress)
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
        progress: optional ``progress(stage, done, total)`` callback (stages ``"train"``,
            and ``"embedding (MODEL)"`` for each backbone's images).
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
        x_all, judged_all = backbone.embed_for_training(data, progress)
    elif featurizer is None:
        x_all = _inputs(data, None, backbone, progress)
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
