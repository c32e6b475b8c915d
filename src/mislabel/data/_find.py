"""The whole find workflow on a loaded dataset: folds, out-of-fold probabilities, issues.

:func:`find_issues_in` picks the default model for the data's kind, trains k folds (one
:func:`mislabel.cross_val_pred_probs` call per fold, so each fold reports progress and lands in
the resumable fold cache), and flags issues with :func:`mislabel.find_label_issues`. The
:class:`FindResult` writes ``issues.csv`` (columns :data:`ISSUES_COLUMNS`), ``pred_probs.npy``,
``labels.npy``, ``classes.txt`` and ``find.json``, each atomically; :func:`load_find_outputs`
reads them back for the report and for training.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import numbers
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mislabel._atomic import atomic_write, escape_frame, unescape_frame
from mislabel._validation import as_seed, check_option, check_scalar, optional_import
from mislabel.data._embed import (
    DEFAULT_DETECT_LAYERS,
    DEFAULT_IMAGE_LAYERS,
    DEFAULT_IMAGE_MODEL,
    IMAGE_LAYERS,
    LAYER_NAMES,
)
from mislabel.data._features import TextEmbedding, default_model, model_inputs
from mislabel.data._load import LabeledData, ProgressCallback
from mislabel.data._outputs import (
    check_file_set,
    decode_class_names,
    encode_class_names,
    read_manifest,
    write_file_set,
)
from mislabel.detect import (
    METHODS,
    LabelIssues,
    cross_val_pred_probs,
    estimate_noise,
    find_label_issues,
)
from mislabel.detect._knn import vote_neighbors
from mislabel.exceptions import InvalidInputError

__all__ = [
    "ANNOTATORS_FILE",
    "FIND_FILES",
    "ISSUES_COLUMNS",
    "FindOutputs",
    "FindResult",
    "check_class_sizes",
    "find_issues_in",
    "issues_frame",
    "load_find_outputs",
    "read_issues",
]

#: The columns of ``issues.csv``, in order (``text`` or ``features`` may follow).
ISSUES_COLUMNS: tuple[str, ...] = (
    "id",
    "path",
    "given_label",
    "suggested_label",
    "suggested_prob",
    "score",
    "prob_right",
    "is_issue",
    "top1_label",
    "top1_prob",
    "top2_label",
    "top2_prob",
    "top3_label",
    "top3_prob",
)
#: Columns an ``issues.csv`` may lack (tables written before they existed): without
#: ``prob_right``, the training weights are read from ``score``.
_OPTIONAL_COLUMNS = ("prob_right",)
#: The files :meth:`FindResult.save` writes (and ``annotators.csv`` for annotated data).
FIND_FILES = ("issues.csv", "pred_probs.npy", "labels.npy", "classes.txt", "find.json")
#: Written beside :data:`FIND_FILES` when the labels are the consensus of several annotators.
ANNOTATORS_FILE = "annotators.csv"

PathLike = str | os.PathLike[str]
#: Below this many samples the folds are fitted with one thread (see :func:`_oof`).
_SMALL = 20_000


@dataclass(frozen=True, eq=False)
class FindResult:
    """What :func:`find_issues_in` found.

    Attributes:
        data: the dataset.
        pred_probs: (n, n_classes) out-of-fold probabilities.
        issues: the :class:`~mislabel.LabelIssues`.
        model: the model that produced ``pred_probs`` (its repr), or ``"given"``.
        features: how the model's inputs were made.
        cv: number of folds trained (None for one-run detection or given ``pred_probs``).
        noise_rate: the known noise rate passed in, if any.
        seconds: wall time.
        folds_cached: folds (or the one run) read from the cache instead of trained.
        detection: ``"k-fold"``, ``"one-run"`` or ``"given"`` (``pred_probs`` passed in).
    """

    data: LabeledData
    pred_probs: np.ndarray
    issues: LabelIssues
    model: str
    features: str
    cv: int | None
    noise_rate: float | None
    seconds: float
    folds_cached: int = 0
    detection: str = "k-fold"

    @property
    def oof_accuracy(self) -> float:
        """Share of samples whose detection-probability argmax equals the given label
        (out-of-fold with k-fold detection, in-sample with one-run detection)."""
        return float(np.mean(self.pred_probs.argmax(axis=1) == self.data.labels))

    @property
    def estimated_noise_rate(self) -> float:
        """The share of wrong labels estimated by the calibrated confident joint."""
        return float(estimate_noise(self.data.labels, self.pred_probs).noise_rate)

    def to_frame(self) -> Any:
        """The ``issues.csv`` table: every sample, most suspect first (columns
        :data:`ISSUES_COLUMNS`, then ``text`` for text data or ``features`` (JSON) for tables,
        then, for annotated data, ``n_annotations``, ``agreement``, ``consensus_quality`` and
        ``votes`` (JSON: annotator → label))."""
        return issues_frame(self.data, self.pred_probs, self.issues)

    def summary(self) -> dict[str, Any]:
        """The facts saved in ``find.json``."""
        data = self.data
        return {
            "kind": data.kind,
            "source": None if data.source is None else str(Path(data.source).resolve()),
            "image_root": None if data.image_root is None else str(data.image_root.resolve()),
            "n_samples": data.n_samples,
            "n_classes": data.n_classes,
            "classes": list(data.classes),
            "model": self.model,
            "features": self.features,
            "cv": self.cv,
            "detection": self.detection,
            "method": self.issues.method,
            "noise_rate": self.noise_rate,
            "n_issues": self.issues.n_issues,
            "estimated_noise_rate": self.estimated_noise_rate,
            "oof_accuracy": self.oof_accuracy,
            "seconds": round(self.seconds, 3),
            **self._annotation_summary(),
        }

    def _annotation_summary(self) -> dict[str, Any]:
        votes = self.data.annotations
        if votes is None:
            return {}
        return {
            "labels": "consensus",
            "item_column": votes.item_column,
            "annotator_column": votes.annotator_column,
            "n_annotators": votes.n_annotators,
            "n_annotations": int(votes.consensus.n_annotations.sum()),
            "mean_agreement": float(np.nanmean(votes.consensus.agreement)),
        }

    def save(self, out_dir: PathLike) -> dict[str, Path]:
        """Write :data:`FIND_FILES` into ``out_dir`` (created if needed) as one set, with
        :data:`ANNOTATORS_FILE` for annotated data.

        ``find.json`` comes last and lists the run id and each file's SHA-256, which
        :func:`load_find_outputs` and :func:`read_issues` check: a reader sees one whole run
        (or the previous one), or an error naming the file that belongs to another run.
        """
        csv_text = escape_frame(self.to_frame()).to_csv(index=False).encode("utf-8")
        classes_text = encode_class_names(self.data.classes).encode("utf-8")
        labels = self.data.labels.astype(np.int64)
        writers: dict[str, Any] = {
            "issues.csv": lambda fh: fh.write(csv_text),
            "pred_probs.npy": lambda fh: np.save(fh, self.pred_probs, allow_pickle=False),
            "labels.npy": lambda fh: np.save(fh, labels, allow_pickle=False),
            "classes.txt": lambda fh: fh.write(classes_text),
        }
        votes = self.data.annotations
        if votes is not None:
            ann_text = escape_frame(votes.annotators_frame()).to_csv(index=False).encode("utf-8")
            writers[ANNOTATORS_FILE] = lambda fh: fh.write(ann_text)
        paths, _ = write_file_set(out_dir, writers, "find.json", self.summary())
        if votes is None:  # an annotators.csv of an earlier run does not belong to this one
            with contextlib.suppress(OSError):
                (Path(out_dir) / ANNOTATORS_FILE).unlink()
        return paths


def issues_frame(data: LabeledData, pred_probs: np.ndarray, issues: LabelIssues) -> Any:
    """Build the ``issues.csv`` table (see :data:`ISSUES_COLUMNS`)."""
    pd = optional_import("pandas", "pandas", "the issues table")
    n, k = pred_probs.shape
    names = np.asarray(data.classes, dtype=object)
    flagged = np.asarray(issues.ranked, dtype=np.intp)
    rest = np.flatnonzero(~issues.mask)
    rest = rest[np.argsort(issues.scores[rest], kind="stable")]
    order = np.concatenate([flagged, rest])
    top = np.argsort(-pred_probs[order], axis=1, kind="stable")[:, :3]
    cols: dict[str, Any] = {
        "id": order.astype(np.int64),
        "path": [data.paths[i] for i in order] if data.paths is not None else [""] * n,
        "given_label": names[data.labels[order]],
        "suggested_label": names[issues.suggested[order]],
        "suggested_prob": issues.suggested_prob[order],
        "score": issues.scores[order],
        "prob_right": issues.weights[order],
        "is_issue": np.where(issues.mask[order], "true", "false"),
    }
    rows = np.arange(order.size)
    for r in range(3):
        if r < k:
            cols[f"top{r + 1}_label"] = names[top[:, r]]
            cols[f"top{r + 1}_prob"] = pred_probs[order[rows], top[:, r]]
        else:
            cols[f"top{r + 1}_label"] = [""] * n
            cols[f"top{r + 1}_prob"] = np.full(n, np.nan)
    if data.kind == "text" and data.texts is not None:
        cols["text"] = [data.texts[i] for i in order]
    elif data.kind == "tabular" and data.X is not None:
        records = data.X.to_json(orient="records", lines=True).splitlines()
        cols["features"] = [records[i] for i in order]
    if data.annotations is not None:
        cols.update(data.annotations.columns(order, data.classes))
    return pd.DataFrame(cols)


class _FixedSplits:
    """A scikit-learn splitter that yields given (train, test) pairs."""

    def __init__(self, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.splits = splits

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Any:
        return iter(self.splits)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)


def check_class_sizes(data: LabeledData, *, min_samples: int = 2) -> np.ndarray:
    """Per-class sample counts; a class with fewer than ``min_samples`` raises, naming it."""
    counts = np.bincount(data.labels, minlength=data.n_classes)
    for c in np.flatnonzero(counts < min_samples):
        if counts[c] == 0:
            continue
        i = int(np.flatnonzero(data.labels == c)[0])
        where = f" ('{data.paths[i]}')" if data.paths is not None else f" (row {i})"
        raise InvalidInputError(
            f"class '{data.classes[c]}' has only {int(counts[c])} sample{where}; finding label "
            f"issues needs at least {min_samples} samples per class to cross-validate. Add "
            "samples to it or remove the class."
        )
    return counts


def _fingerprint(x: Any, description: str) -> str:
    h = hashlib.sha256(description.encode())
    if isinstance(x, np.ndarray) and x.dtype != object:
        h.update(str(x.shape).encode())
        h.update(np.ascontiguousarray(x).tobytes())
    elif isinstance(x, np.ndarray):
        for s in x.tolist():
            h.update(str(s).encode())
            h.update(b"\0")
    else:  # DataFrame
        pd = optional_import("pandas", "pandas", "tabular data")
        h.update(json.dumps([str(c) for c in x.columns]).encode())
        h.update(pd.util.hash_pandas_object(x, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def find_issues_in(
    data: LabeledData,
    *,
    cv: int = 5,
    noise_rate: float | None = None,
    method: str = "noise_posterior",
    random_state: int | None = 0,
    cache_dir: PathLike | None = None,
    model: Any = "auto",
    epochs: int | None = None,
    backbone_weights: PathLike | None = None,
    detect_layers: str = DEFAULT_DETECT_LAYERS,
    n_jobs: int | None = None,
    text_embedding: TextEmbedding = "auto",
    progress: ProgressCallback | None = None,
) -> FindResult:
    """Train the detection model for ``data`` and flag the likely wrong labels.

    Colour images get, by default (``model="auto"``), the embeddings of a pretrained backbone
    (:data:`~mislabel.data.DEFAULT_IMAGE_MODEL`, when its weights load without a download),
    judged by :func:`mislabel.embedding_pred_probs` (the labels' vote among nearest
    neighbours and a k-fold logistic-regression head, refined in rounds). Grey images, or
    colour ones without a loadable backbone, get from 1,000 images on (or with ``"cnn"``) the
    detection of :class:`mislabel.NoiseAwareClassifier`, three times with three seeds: each a
    training run of a small CNN on mixup batches (images shrunk to at most 32 px a side), its
    probabilities averaged over the epochs (and over the three runs) and with the labels' vote
    among nearest neighbours in its features, cut by :func:`mislabel.train.one_run_issues`.
    ``model="linear"`` trains k folds of pixels → PCA → logistic regression instead (fast,
    weak; what ``"auto"`` picks below 1,000 grey images). Tables and texts train k folds of the
    default scikit-learn model for their kind.

    Args:
        data: from :func:`load_dataset` (or :func:`load_predictions`, which skips training).
        cv: number of stratified folds; lowered to the smallest class size (with a warning)
            when a class has fewer samples.
        noise_rate: the known share of wrong labels, passed to
            :func:`~mislabel.find_label_issues`.
        method: the detection method (see :func:`~mislabel.find_label_issues`).
        random_state: seeds the folds and the models.
        cache_dir: fold cache; a rerun on the same data recomputes only missing folds.
        model: ``"auto"``, ``"cnn"`` (images: the one-run recipe), ``"linear"`` (images: k
            folds of pixels → PCA → logistic regression), ``"timm:NAME"`` (images: embeddings
            of a pretrained timm backbone, :func:`mislabel.data.embed_images`, judged by
            :func:`mislabel.embedding_pred_probs`), or a scikit-learn classifier for k folds.
        epochs: epochs of the one-run recipe (default :func:`one_run_epochs`).
        backbone_weights: a local weights file for a ``"timm:NAME"`` model.
        detect_layers: what of the backbone the detection judges
            (:func:`mislabel.data.embed_images`'s ``layers``): ``"stages+pooled"`` (default;
            one forward pass gives both), ``"stages"`` or ``"pooled"``.
        n_jobs: passed to models that take it; folds run one after the other.
        text_embedding: ``"auto"`` (sentence-transformers if importable, else TF-IDF),
            ``"tfidf"`` or ``"sentence-transformers"``.
        progress: optional ``progress(stage, done, total)`` callback: ``"folds"``, or
            ``"embedding (MODEL)"`` for each backbone's images.

    Raises:
        InvalidInputError: a class has a single sample, ...
    """
    t0 = time.perf_counter()
    check_scalar(cv, "cv", kind=numbers.Integral, min_val=2)
    check_option(method, "method", METHODS)
    if noise_rate is not None:
        check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
    labels = data.labels
    k = data.n_classes
    if data.pred_probs is not None:
        pred_probs = data.pred_probs
        model_desc, feat_desc, n_folds, cached = "given", "given pred_probs", None, 0
    else:
        counts = check_class_sizes(data)
        present = counts[counts > 0]
        if present.size < 2:
            raise InvalidInputError(
                f"labels must contain at least 2 classes to find label issues; got only "
                f"'{data.classes[int(np.argmax(counts))]}'."
            )
        n_folds = int(min(int(cv), int(present.min())))
        if n_folds < cv:
            small = data.classes[int(np.flatnonzero(counts == present.min())[0])]
            warnings.warn(
                f"class '{small}' has only {int(present.min())} samples; using cv={n_folds} "
                f"folds instead of {cv}.",
                stacklevel=2,
            )
        choice = "auto" if model is None else model
        check_option(detect_layers, "detect_layers", IMAGE_LAYERS)
        if choice == "auto" and data.kind == "images" and wants_backbone(data):
            choice = DEFAULT_IMAGE_MODEL
        if isinstance(choice, str) and choice.startswith("timm:"):
            if data.kind != "images":
                raise InvalidInputError(
                    f"model {choice!r} embeds images; the data are {data.kind}."
                )
            return _find_backbone(
                data, choice, backbone_weights, detect_layers, method, noise_rate,
                random_state, cache_dir, n_folds, t0, progress,
            )  # fmt: skip
        if isinstance(choice, str):
            check_option(choice, "model", FIND_MODELS)
        wants_cnn = choice == "auto" and data.n_samples >= MIN_CNN_IMAGES
        if data.kind == "images" and wants_cnn and importlib.util.find_spec("torch") is None:
            warnings.warn(
                "torch is not installed, so the images are judged by the k-fold linear model "
                "(pixels → PCA → logistic regression), which finds fewer wrong labels; "
                "pip install 'mislabel[torch]' for the CNN.",
                UserWarning,
                stacklevel=2,
            )
            wants_cnn = False
        if data.kind == "images" and (choice == "cnn" or wants_cnn):
            return _find_one_run(data, method, noise_rate, random_state, cache_dir, epochs, t0)
        if isinstance(choice, str) and choice == "cnn":
            raise InvalidInputError(
                f"model 'cnn' is for images; the data are {data.kind}. Use model 'auto'."
            )
        x, feat_desc = model_inputs(data, text_embedding=text_embedding)
        est = (
            default_model(data, x, cv=n_folds, random_state=random_state)
            if isinstance(choice, str)
            else choice
        )
        if n_jobs is not None and "n_jobs" in est.get_params():
            est.set_params(n_jobs=n_jobs)
        model_desc = _describe_model(est)
        pred_probs, cached = _oof(
            est, x, labels, k, n_folds, random_state, cache_dir, feat_desc, progress
        )
    method_: Any = method
    issues = find_label_issues(labels, pred_probs, method=method_, noise_rate=noise_rate)
    return _finish_find(
        FindResult(
            data=data,
            pred_probs=pred_probs,
            issues=issues,
            model=model_desc,
            features=feat_desc,
            cv=n_folds,
            noise_rate=noise_rate,
            seconds=time.perf_counter() - t0,
            folds_cached=cached,
            detection="k-fold" if n_folds is not None else "given",
        )
    )


#: ``model="auto"`` trains the CNN from this many images on; below, a network learns too
#: little and memorises the rest, so the k-fold linear model judges the labels better.
MIN_CNN_IMAGES = 1000
#: The built-in choices of ``find_issues_in(model=...)``.
FIND_MODELS = ("auto", "cnn", "linear")
#: Below this share of given labels that the detection model agrees with, its flags are
#: unreliable: either the labels are mostly wrong or the model is too weak to judge them.
WEAK_AGREEMENT = 0.6
#: Sample passes of the one-run recipe when ``epochs`` is not given.
_ONE_RUN_PASSES = 100_000
#: Runs of the images recipe (seeds ``random_state + r``) whose probabilities are averaged:
#: a smaller share of each run's chance memorisation survives the mean.
_ONE_RUN_SEEDS = 3
#: The longer side of the images the one-run CNN sees.
_CNN_MAX_SIDE = 32


def wants_backbone(data: LabeledData) -> bool:
    """``model="auto"`` embeds colour photos with the default pretrained backbone when it loads
    without a download; grey images (scans, digits, sketches), which ImageNet backbones were
    not trained on, get the CNN recipe."""
    from mislabel.data._embed import default_backbone_available

    x = np.asarray(data.X) if data.X is not None else None
    return x is not None and x.ndim == 4 and x.shape[-1] == 3 and default_backbone_available()


def embed_dataset(
    data: LabeledData,
    model: str,
    weights: PathLike | None,
    cache_dir: PathLike | None,
    *,
    views: tuple[str, ...] = ("identity",),
    layers: tuple[str, ...] = (DEFAULT_IMAGE_LAYERS,),
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, ...]:
    """The images of ``data`` through the backbone ``model``, one array for each choice of
    ``layers`` (:func:`embed_images`' ``layers``; (n, d) for one view, (n, v, d) for several),
    all from one forward pass per image, read from their files when the data came from a
    folder (the cache is keyed by file content), cached under ``cache_dir/embeddings``."""
    from mislabel.data._embed import embed_image_layers, join_layers

    images: Any = np.asarray(data.X)
    if data.paths is not None and data.image_root is not None:
        images = [data.image_root / p for p in data.paths]
    parts = embed_image_layers(
        images,
        layers=layers,
        model=model,
        weights=weights,
        cache_dir=None if cache_dir is None else Path(cache_dir) / "embeddings",
        views=views,
        progress=progress or False,
    )
    return tuple(join_layers(parts, choice) for choice in layers)


def one_run_epochs(n_samples: int, batch_size: int = 128) -> int:
    """Epochs of the one-run recipe for ``n_samples``: about 100,000 sample passes (8 to 24
    epochs), and at least 200 optimiser steps for small sets (at most 200 epochs)."""
    epochs = min(24, max(8, round(_ONE_RUN_PASSES / max(n_samples, 1))))
    steps_per_epoch = -(-max(n_samples, 1) // batch_size)
    return int(min(200, max(epochs, -(-200 // steps_per_epoch))))


def _find_one_run(
    data: LabeledData,
    method: str,
    noise_rate: float | None,
    random_state: int | None,
    cache_dir: PathLike | None,
    epochs: int | None,
    t0: float,
) -> FindResult:
    """The images recipe: :meth:`mislabel.NoiseAwareClassifier.find` on the (shrunk) pixels;
    its probabilities cached under ``cache_dir`` keyed by the pixels, labels and settings."""
    optional_import("torch", "torch", "`mislabel find` on images (or pass model='linear')")
    from mislabel.data._features import resize_images
    from mislabel.train._noise_aware import NoiseAwareClassifier, one_run_issues

    if epochs is not None:
        check_scalar(epochs, "epochs", kind=numbers.Integral, min_val=1)
    n_epochs = int(epochs) if epochs is not None else one_run_epochs(data.n_samples)
    pixels = resize_images(np.asarray(data.X), max_side=_CNN_MAX_SIDE)
    clf = NoiseAwareClassifier(epochs=n_epochs, random_state=as_seed(random_state))
    desc = f"{clf!r}|{data.n_classes}|runs={_ONE_RUN_SEEDS}|forget=auto"
    feat_desc = f"pixels {tuple(data.X.shape[1:])} → {tuple(pixels.shape[1:])}"
    path = None
    if cache_dir is not None:
        key = _fingerprint(np.ascontiguousarray(pixels), desc + _fingerprint(data.labels, ""))
        path = Path(cache_dir) / f"one-run-{key}.npz"
    probs, forget = _read_cached_probs(path, data.n_samples, data.n_classes)
    cached = int(probs is not None)
    if probs is None:
        # the first run chooses how the network trains (mixup or small-loss, see
        # NoiseAwareClassifier's detect_forget_rate); the other seeds train the same way
        seed = as_seed(random_state)
        runs = [clf.find(pixels, data.labels).pred_probs_]
        forget = float(clf.detect_forget_rate_)
        clf.set_params(detect_forget_rate=forget)
        for r in range(1, _ONE_RUN_SEEDS):
            clf.set_params(random_state=None if seed is None else seed + r)
            runs.append(clf.find(pixels, data.labels).pred_probs_)
        probs = np.mean(runs, axis=0)
        if path is not None:
            atomic_write(
                path,
                lambda fh: np.savez(
                    fh, probs=np.asarray(probs, dtype=np.float32), forget_rate=np.float64(forget)
                ),
            )
    if method == "noise_posterior":
        issues = one_run_issues(data.labels, probs, noise_rate=noise_rate)
    else:
        method_: Any = method
        issues = find_label_issues(data.labels, probs, method=method_, noise_rate=noise_rate)
    return _finish_find(
        FindResult(
            data=data,
            pred_probs=np.asarray(probs, dtype=np.float64),
            issues=issues,
            model=(
                f"small CNN, {_ONE_RUN_SEEDS} {_run_kind(forget)} runs of {n_epochs} epochs "
                "(seeds averaged) + nearest-neighbour label vote"
            ),
            features=feat_desc,
            cv=None,
            noise_rate=noise_rate,
            seconds=time.perf_counter() - t0,
            folds_cached=cached,
            detection="one-run",
        )
    )


def _find_backbone(
    data: LabeledData,
    model: str,
    weights: PathLike | None,
    layers: str,
    method: str,
    noise_rate: float | None,
    random_state: int | None,
    cache_dir: PathLike | None,
    n_folds: int,
    t0: float,
    progress: ProgressCallback | None = None,
) -> FindResult:
    """Images through a pretrained backbone: the embeddings of the images as given (one view,
    half the time of two; training adds the mirrored view) judged by
    :func:`mislabel.embedding_pred_probs`."""
    from mislabel.detect import embedding_pred_probs

    (emb,) = embed_dataset(data, model, weights, cache_dir, layers=(layers,), progress=progress)
    labels = data.labels
    k = vote_neighbors(30, data.n_samples)
    probs = embedding_pred_probs(
        emb,
        labels,
        n_neighbors=k,
        cv=n_folds,
        noise_rate=noise_rate,
        n_classes=data.n_classes,
        random_state=as_seed(random_state),
    )
    method_: Any = method
    issues = find_label_issues(labels, probs, method=method_, noise_rate=noise_rate)
    return _finish_find(
        FindResult(
            data=data,
            pred_probs=probs,
            issues=issues,
            model=f"{model} → logistic regression ({n_folds} folds) + {k}-neighbour vote",
            features=f"{model} embeddings ({LAYER_NAMES[layers]}, {emb.shape[1]})",
            cv=n_folds,
            noise_rate=noise_rate,
            seconds=time.perf_counter() - t0,
            folds_cached=0,
            detection="k-fold",
        )
    )


def _run_kind(forget_rate: float) -> str:
    """How the one-run recipe's networks trained, in words."""
    if forget_rate > 0:
        return f"small-loss ({forget_rate:.0%} of each batch left out)"
    return "mixup"


def _read_cached_probs(path: Path | None, n: int, k: int) -> tuple[np.ndarray | None, float]:
    """Cached (probabilities, the detection's small-loss share), or (None, 0.0) when absent or
    damaged (a damaged file is recomputed)."""
    if path is None or not path.is_file():
        return None, 0.0
    probs: np.ndarray | None = None
    forget = 0.0
    try:
        with np.load(path, allow_pickle=False) as saved:
            probs = np.asarray(saved["probs"])
            forget = float(saved["forget_rate"])
    except (ValueError, OSError, EOFError, KeyError, TypeError, AttributeError):
        probs = None
    if (
        probs is None
        or probs.shape != (n, k)
        or not np.all(np.isfinite(probs))
        or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
        or not 0.0 <= forget < 1.0
    ):
        warnings.warn(f"the cached probabilities '{path}' are damaged; recomputing.", stacklevel=3)
        return None, 0.0
    return probs, forget


def _finish_find(result: FindResult) -> FindResult:
    """Warn when the detection model agrees with too few of the given labels to judge them."""
    if result.detection != "given" and result.oof_accuracy < WEAK_AGREEMENT:
        warnings.warn(
            f"the detection model ({result.model}) agrees with only "
            f"{result.oof_accuracy:.0%} of the given labels: either most labels are wrong, or "
            "the model is too weak to judge them and most of its flags are correct labels it "
            "could not learn. Treat the flags with care; a stronger model (more data, a "
            "pretrained backbone) gives better ones.",
            UserWarning,
            stacklevel=3,
        )
    return result


def _describe_model(est: Any) -> str:
    steps = getattr(est, "steps", None)
    if steps:
        return " → ".join(type(s).__name__ for _, s in steps)
    return type(est).__name__


def _oof(
    est: Any,
    x: Any,
    labels: np.ndarray,
    k: int,
    n_folds: int,
    random_state: int | None,
    cache_dir: PathLike | None,
    feat_desc: str,
    progress: ProgressCallback | None,
) -> tuple[np.ndarray, int]:
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    seed = as_seed(random_state)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(labels.shape[0]), labels))
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"data-{_fingerprint(x, feat_desc)}"
    out = np.zeros((labels.shape[0], k), dtype=np.float64)
    cached = 0
    if progress is not None:
        progress("folds", 0, n_folds)
    # Small data gain nothing from threads, and OpenMP's spinning threads slow tiny fits down
    # tenfold on a busy machine: one thread below _SMALL samples.
    limit = threadpool_limits(limits=1) if labels.shape[0] < _SMALL else contextlib.nullcontext()
    with limit:
        for f, (train, test) in enumerate(splits):
            before = _count_files(cache)
            proba = cross_val_pred_probs(
                est,
                x,
                labels,
                cv=_FixedSplits([(train, test)]),
                random_state=None if seed is None else seed + f,
                cache_dir=cache,
                n_classes=k,
            )
            if cache is not None and _count_files(cache) == before:
                cached += 1
            out[test] = proba[test]
            if progress is not None:
                progress("folds", f + 1, n_folds)
    return out, cached


def _count_files(cache: Path | None) -> int:
    if cache is None or not cache.exists():
        return 0
    return sum(1 for _ in cache.glob("oof-*/fold-*.npz"))


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True, eq=False)
class FindOutputs:
    """The files of a ``mislabel find`` run, read back.

    Attributes:
        folder: where they are.
        issues: the ``issues.csv`` table (pandas), most suspect first.
        pred_probs: (n, n_classes) out-of-fold probabilities, rows in ``id`` order.
        labels: (n,) given labels, in ``id`` order.
        classes: class names.
        meta: the contents of ``find.json`` (empty if absent).
    """

    folder: Path
    issues: Any
    pred_probs: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def image_root(self) -> Path | None:
        root = self.meta.get("image_root")
        return None if root is None else Path(root)

    def scores_by_id(self) -> np.ndarray:
        """(n,) label quality scores in ``id`` order (low = suspect)."""
        return self._by_id("score")

    def weights_by_id(self) -> np.ndarray:
        """(n,) training weights in ``id`` order: the estimated probability that each label
        is right (the ``prob_right`` column; the ``score`` of a table written without it)."""
        column = "prob_right" if "prob_right" in self.issues.columns else "score"
        return np.clip(self._by_id(column), 0.0, 1.0)

    def _by_id(self, column: str) -> np.ndarray:
        out = np.full(self.labels.shape[0], np.nan)
        out[self.issues["id"].to_numpy()] = self.issues[column].to_numpy(dtype=np.float64)
        return out


def read_issues(path: PathLike) -> Any:
    """Read an ``issues.csv`` (or the folder holding it) into a pandas DataFrame with typed
    columns: ``id`` int, probabilities and ``score`` float, ``is_issue`` bool, labels str."""
    pd = optional_import("pandas", "pandas", "reading issues.csv")
    p = Path(path)
    if p.is_dir():
        p = p / "issues.csv"
    if not p.is_file():
        raise InvalidInputError(
            f"issues file '{p}' does not exist; run `mislabel find` first (it writes issues.csv)."
        )
    check_file_set(p.parent, read_manifest(p.parent / "find.json"), ("issues.csv",))
    try:
        issues = pd.read_csv(p, keep_default_na=False)
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read issues file '{p}': {exc}") from exc
    unescape_frame(issues)
    missing_cols = [
        c for c in ISSUES_COLUMNS if c not in issues.columns and c not in _OPTIONAL_COLUMNS
    ]
    if missing_cols:
        raise InvalidInputError(
            f"'{p}' lacks the columns {missing_cols}; was it written by `mislabel find`?"
        )
    try:
        issues["id"] = issues["id"].astype(np.int64)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"'{p}' has a non-integer id: {exc}") from exc
    for c in ("suggested_prob", "score", "top1_prob", "top2_prob", "top3_prob"):
        issues[c] = pd.to_numeric(issues[c], errors="coerce")
    if "prob_right" in issues.columns:
        issues["prob_right"] = pd.to_numeric(issues["prob_right"], errors="coerce")
    issues["is_issue"] = issues["is_issue"].astype(str).str.strip().str.lower().isin(["true", "1"])
    for c in ("path", "given_label", "suggested_label", "top1_label", "top2_label", "top3_label"):
        issues[c] = issues[c].astype(str)
    for c in ("agreement", "consensus_quality"):
        if c in issues.columns:
            issues[c] = pd.to_numeric(issues[c], errors="coerce")
    if "n_annotations" in issues.columns:
        counts = pd.to_numeric(issues["n_annotations"], errors="coerce")
        issues["n_annotations"] = counts.fillna(0).astype(np.int64)
    return issues


def load_find_outputs(path: PathLike) -> FindOutputs:
    """Read the output of ``mislabel find`` from its folder (or its ``issues.csv``)."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"path '{p}' does not exist; run `mislabel find` first.")
    folder = p if p.is_dir() else p.parent
    issues_path = folder / "issues.csv" if p.is_dir() else p
    missing = [
        name
        for name in ("pred_probs.npy", "labels.npy", "classes.txt")
        if not (folder / name).is_file()
    ]
    if not issues_path.is_file() or missing:
        what = ", ".join([*([] if issues_path.is_file() else ["issues.csv"]), *missing])
        raise InvalidInputError(
            f"folder '{folder}' lacks {what}; point to the --out folder of `mislabel find`."
        )
    meta = read_manifest(folder / "find.json")
    check_file_set(folder, meta, (*FIND_FILES[:-1], ANNOTATORS_FILE))
    issues = read_issues(issues_path)
    try:
        pred_probs = np.load(folder / "pred_probs.npy", allow_pickle=False)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        classes = decode_class_names((folder / "classes.txt").read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read the find outputs in '{folder}': {exc}") from exc
    if pred_probs.ndim != 2 or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise InvalidInputError(
            f"the find outputs in '{folder}' are malformed: pred_probs.npy must be 2-D and "
            f"labels.npy 1-D integers; got shapes {pred_probs.shape} and {labels.shape} "
            f"({labels.dtype}). Run `mislabel find` again."
        )
    n = labels.shape[0]
    if pred_probs.shape != (n, len(classes)) or len(issues) != n:
        raise InvalidInputError(
            f"the find outputs in '{folder}' disagree: {n} labels, pred_probs of shape "
            f"{pred_probs.shape}, {len(classes)} classes, {len(issues)} rows in issues.csv."
        )
    return FindOutputs(folder, issues, pred_probs, labels.astype(np.int64), classes, meta)
