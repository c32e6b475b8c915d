"""Loaders for the real datasets in ``../shared/data`` (and scikit-learn's digits).

The data live beside the project, in ``shared/data`` (see its README.md); the library never
needs them. :func:`data_root` finds that folder: the environment variable ``MISLABEL_DATA``
if set, otherwise the first ``shared/data`` found walking up from the working directory, then
from this package's location. Every loader also takes ``root=`` to point elsewhere, and raises
:class:`DataNotFoundError` naming the missing folder when the data are not there.

Each loader returns a frozen :class:`Dataset` (``X``, ``y``, ``y_true``, ``classes``, ...) of
numpy arrays; :func:`load_cl_cifar10_oof` returns :class:`OOFPredictions` (``labels``,
``pred_probs``, ``true_labels``). CIFAR-10 is stored as JPEGs: :func:`load_cifar10` decodes them
once with Pillow (the ``bench`` extra) and caches the pixels as ``.npy`` under ``MISLABEL_CACHE``
or ``~/.cache/mislabel``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from mislabel._validation import check_option, optional_import
from mislabel.exceptions import InvalidInputError

__all__ = [
    "CACHE_ENV",
    "CIFAR10N_LABEL_SETS",
    "CIFAR10_CLASSES",
    "CL_CIFAR10_OOF_SETTINGS",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "DataNotFoundError",
    "Dataset",
    "OOFPredictions",
    "cache_dir",
    "data_root",
    "load_cifar10",
    "load_cifar10n",
    "load_cl_cifar10_oof",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_rt_snippets",
    "load_sms_spam",
    "load_trec",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the shared data folder (the one holding ``mnist/`` etc.).
DATA_ENV = "MISLABEL_DATA"
#: Environment variable naming the cache folder for decoded data.
CACHE_ENV = "MISLABEL_CACHE"

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_DIGITS = tuple(str(d) for d in range(10))

#: Settings of the confident-learning CIFAR-10 out-of-fold sets (file stems in cl-cifar10-oof/).
CL_CIFAR10_OOF_SETTINGS = tuple(
    f"sparsity{s}_noise{n}" for s in ("0.0", "0.2") for n in ("0.2", "0.4", "0.6")
)
#: CIFAR-10N label sets -> key in cifar10n_labels.npz. Realized noise: aggre 9.01 %,
#: random1/2/3 17.23 / 18.12 / 17.64 %, worst 40.21 %, clean 0 %.
CIFAR10N_LABEL_SETS: Mapping[str, str] = MappingProxyType(
    {
        "aggre": "aggre_label",
        "random1": "random_label1",
        "random2": "random_label2",
        "random3": "random_label3",
        "worst": "worse_label",
        "clean": "clean_label",
    }
)

Split = Literal["train", "test"]
PathLike = str | os.PathLike[str]


class DataNotFoundError(InvalidInputError, FileNotFoundError):
    """A shared data folder or file is missing; the message names it and how to point to it."""


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset.

    Attributes:
        name: short name, e.g. ``"mnist-train"``.
        X: features: images as uint8 ``(n, H, W)`` / ``(n, H, W, 3)``, embeddings as float32
            ``(n, d)``; None when a loader was asked not to load them.
        y: (n,) int64 labels as distributed (for the noisy sets: the noisy labels).
        classes: class names, ``classes[k]`` names label ``k``.
        y_true: (n,) int64 best-known true labels, or None when the set has no known noise.
        texts: the raw texts of text sets, row-aligned with ``X``; else None.
        extra: further per-sample arrays (e.g. ``crowd_mean``), read-only mapping.
    """

    name: str
    X: np.ndarray | None
    y: np.ndarray
    classes: tuple[str, ...]
    y_true: np.ndarray | None = None
    texts: tuple[str, ...] | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def n_samples(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_label_error(self) -> np.ndarray | None:
        """(n,) bool, ``y != y_true``; None without ``y_true``."""
        return None if self.y_true is None else self.y != self.y_true

    @property
    def noise_rate(self) -> float | None:
        """Fraction of labels that differ from ``y_true``; None without ``y_true``."""
        return None if self.y_true is None else float(np.mean(self.y != self.y_true))

    def __repr__(self) -> str:
        shape = None if self.X is None else self.X.shape
        return (
            f"Dataset(name={self.name!r}, X.shape={shape}, n_samples={self.n_samples}, "
            f"n_classes={self.n_classes}, noise_rate={self.noise_rate})"
        )


@dataclass(frozen=True, eq=False)
class OOFPredictions:
    """Out-of-fold predicted probabilities with noisy and true labels.

    Attributes:
        name: the setting, e.g. ``"sparsity0.0_noise0.2"``.
        labels: (n,) int64 noisy labels.
        pred_probs: (n, n_classes) float32 out-of-fold probabilities (stored as float16; rows
            sum to 1 within 1e-2).
        true_labels: (n,) int64 true labels.
        classes: class names.
        noise_amount: the setting's noise amount (0.6 gives about 70 % wrong labels).
        sparsity: the setting's noise-matrix sparsity.
    """

    name: str
    labels: np.ndarray
    pred_probs: np.ndarray
    true_labels: np.ndarray
    classes: tuple[str, ...]
    noise_amount: float
    sparsity: float

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_label_error(self) -> np.ndarray:
        return self.labels != self.true_labels

    @property
    def noise_rate(self) -> float:
        """Realized fraction of wrong labels."""
        return float(np.mean(self.labels != self.true_labels))

    @property
    def noise_matrix(self) -> np.ndarray:
        """Realized ``P(label = j | true = i)``: rows = true class, columns = observed label."""
        k = self.n_classes
        counts = np.bincount(self.true_labels * k + self.labels, minlength=k * k).reshape(k, k)
        return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)

    def __repr__(self) -> str:
        return (
            f"OOFPredictions(name={self.name!r}, n_samples={self.n_samples}, "
            f"n_classes={self.n_classes}, noise_rate={self.noise_rate:.4f})"
        )


# --------------------------------------------------------------------------- locations


def _how_to_point() -> str:
    return (
        f"Put the shared data folder beside the project (../shared/data) or set {DATA_ENV} to "
        f"it, e.g. `export {DATA_ENV}=/path/to/shared/data`."
    )


def data_root() -> Path:
    """The shared data folder: ``$MISLABEL_DATA``, else the nearest ``shared/data`` above.

    Looks in every ancestor (itself included) of the working directory, then of this file, for
    a ``shared/data`` folder; so both ``project/../shared/data`` and ``project/shared/data``
    are found.

    Raises:
        DataNotFoundError: ``$MISLABEL_DATA`` is set but is not a folder, or nothing was found.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(
                f"{DATA_ENV}={env!r} is not a folder. Point it at the shared data folder "
                "(the one holding mnist/, cifar10-jpeg/, ...)."
            )
        return path
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate
    raise DataNotFoundError(
        "Could not find the shared data folder `shared/data` in any parent of "
        f"{starts[0]} or {starts[1]}. {_how_to_point()}"
    )


def cache_dir() -> Path:
    """Where decoded data are cached: ``$MISLABEL_CACHE``, else ``~/.cache/mislabel``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mislabel"


def _folder(name: str, root: PathLike | None) -> Path:
    base = data_root() if root is None else Path(root)
    path = base / name
    if not path.is_dir():
        raise DataNotFoundError(
            f"The `{name}/` data folder is missing: {path} does not exist. {_how_to_point()}"
        )
    return path


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataNotFoundError(
            f"The data file {path} is missing from `{folder.name}/`. See {folder}/README.txt "
            "for how to get it."
        )
    return path


def _labels(arr: np.ndarray) -> np.ndarray:
    return np.asarray(arr).astype(np.int64)


# --------------------------------------------------------------------------- CIFAR-10


def load_cl_cifar10_oof(
    setting: str = "sparsity0.0_noise0.2", *, root: PathLike | None = None
) -> OOFPredictions:
    """Confident learning's CIFAR-10 out-of-fold predictions on synthetically noised labels.

    50,000 CIFAR-10 train images: 4-fold ResNet-50 out-of-fold ``pred_probs``, the noisy labels
    it was trained on, and the true labels (Northcutt et al., JAIR 2021). Published precision /
    recall of confident learning on these exact files are in ``shared/data/README.md``.

    Args:
        setting: one of :data:`CL_CIFAR10_OOF_SETTINGS`, ``"sparsity{0.0,0.2}_noise{0.2,0.4,0.6}"``.
        root: the shared data folder; default :func:`data_root`.
    """
    check_option(setting, "setting", CL_CIFAR10_OOF_SETTINGS)
    folder = _folder("cl-cifar10-oof", root)
    with np.load(_file(folder, f"{setting}.npz")) as d:
        labels = _labels(d["noisy_labels"])
        true_labels = _labels(d["true_labels"])
        pred_probs = d["pred_probs"].astype(np.float32)
    sparsity_part, noise_part = setting.split("_")
    return OOFPredictions(
        name=setting,
        labels=labels,
        pred_probs=pred_probs,
        true_labels=true_labels,
        classes=CIFAR10_CLASSES,
        noise_amount=float(noise_part.removeprefix("noise")),
        sparsity=float(sparsity_part.removeprefix("sparsity")),
    )


def _decode_jpegs(data: bytes, offsets: np.ndarray) -> np.ndarray:
    image_mod = optional_import("PIL.Image", "bench", "decoding the CIFAR-10 JPEGs")
    n = offsets.shape[0] - 1
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        with image_mod.open(io.BytesIO(data[offsets[i] : offsets[i + 1]])) as im:
            pixels = np.asarray(im.convert("RGB"))
        if pixels.shape != (32, 32, 3):
            raise InvalidInputError(
                f"CIFAR-10 image {i} must decode to shape (32, 32, 3); got {pixels.shape}. "
                "The npz file is damaged: compare its sha256 with cifar10-jpeg/README.txt."
            )
        out[i] = pixels
    return out


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shareable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cifar10(
    split: Split = "train",
    *,
    root: PathLike | None = None,
    cache: PathLike | None = None,
) -> Dataset:
    """CIFAR-10 (JPEG q75 copy, original CIFAR order): uint8 images (n, 32, 32, 3).

    The JPEGs are decoded with Pillow (``pip install 'mislabel[bench]'``) the first time, about
    10 s for the 50,000 train images, and the pixels are cached as
    ``<cache>/cifar10-jpeg-<split>-<hash>.npy`` (written atomically; the hash is of the JPEG
    bytes, so a changed source is decoded again). The pixels are close to, not identical to,
    the original CIFAR-10 (lossy JPEG).

    Args:
        split: ``"train"`` (50,000) or ``"test"`` (10,000).
        root: the shared data folder; default :func:`data_root`.
        cache: the cache folder; default :func:`cache_dir`.
    """
    check_option(split, "split", ("train", "test"))
    folder = _folder("cifar10-jpeg", root)
    with np.load(_file(folder, "cifar10_jpeg_q75_cifar_order.npz")) as d:
        jpeg = d[f"{split}_jpeg"].tobytes()
        offsets = d[f"{split}_offsets"].astype(np.int64)
        y = _labels(d[f"{split}_labels"])
    digest = hashlib.sha256(offsets.tobytes())
    digest.update(jpeg)
    cache_path = (
        Path(cache) if cache is not None else cache_dir()
    ) / f"cifar10-jpeg-{split}-{digest.hexdigest()[:16]}.npy"
    X = None
    if cache_path.is_file():
        try:
            X = np.load(cache_path)
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache %s (%s)", cache_path, exc)
        else:
            if X.shape != (y.shape[0], 32, 32, 3) or X.dtype != np.uint8:
                logger.warning("ignoring cache %s of shape %s", cache_path, X.shape)
                X = None
    if X is None:
        logger.info("decoding %d CIFAR-10 %s JPEGs", y.shape[0], split)
        X = _decode_jpegs(jpeg, offsets)
        try:
            _save_atomic(cache_path, X)
        except OSError as exc:
            logger.warning("could not cache decoded CIFAR-10 at %s (%s)", cache_path, exc)
    return Dataset(name=f"cifar10-{split}", X=X, y=y, classes=CIFAR10_CLASSES)


def load_cifar10n(
    label_set: str = "aggre",
    *,
    images: bool = True,
    root: PathLike | None = None,
    cache: PathLike | None = None,
) -> Dataset:
    """CIFAR-10N: real human noisy labels for the 50,000 CIFAR-10 train images.

    ``y`` is the chosen label set and ``y_true`` the clean CIFAR-10 labels (Wei et al.,
    ICLR 2022; CC BY-NC 4.0, tests and benchmarks only). Realized noise: aggre 9.01 %,
    random1 17.23 %, random2 18.12 %, random3 17.64 %, worst 40.21 %.

    Args:
        label_set: one of :data:`CIFAR10N_LABEL_SETS`: ``"aggre"``, ``"random1"``,
            ``"random2"``, ``"random3"``, ``"worst"``, ``"clean"``.
        images: also load the images (:func:`load_cifar10` ``("train")``, decoded once);
            otherwise ``X`` is None.
        root: the shared data folder; default :func:`data_root`.
        cache: the cache folder for the decoded images; default :func:`cache_dir`.
    """
    check_option(label_set, "label_set", tuple(CIFAR10N_LABEL_SETS))
    folder = _folder("cifar-n", root)
    with np.load(_file(folder, "cifar10n_labels.npz")) as d:
        y = _labels(d[CIFAR10N_LABEL_SETS[label_set]])
        y_true = _labels(d["clean_label"])
    X = None
    if images:
        train = load_cifar10("train", root=root, cache=cache)
        if not np.array_equal(train.y, y_true):
            raise InvalidInputError(
                "The CIFAR-10N clean labels do not match the cifar10-jpeg train labels: the two "
                "folders are out of sync. Check their sha256 sums against the README.txt files."
            )
        X = train.X
    return Dataset(name=f"cifar10n-{label_set}", X=X, y=y, classes=CIFAR10_CLASSES, y_true=y_true)


# --------------------------------------------------------------------------- MNIST family


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) of unsigned bytes as an array of the shape in its header."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise InvalidInputError(
            f"{path} must be an IDX file of unsigned bytes (magic 0x0000080N); got header "
            f"{raw[:4].hex()}."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise InvalidInputError(
            f"{path} must hold {int(np.prod(dims))} values as its header {dims} says; got "
            f"{data.size}. The file is truncated."
        )
    return data.reshape(dims).copy()


def _load_idx_set(
    folder_name: str, split: str, classes: tuple[str, ...], root: PathLike | None
) -> Dataset:
    check_option(split, "split", ("train", "test"))
    folder = _folder(folder_name, root)
    prefix = "train" if split == "train" else "t10k"
    X = _read_idx(_file(folder, f"{prefix}-images-idx3-ubyte.gz"))
    y = _labels(_read_idx(_file(folder, f"{prefix}-labels-idx1-ubyte.gz")))
    if X.shape[0] != y.shape[0]:
        raise InvalidInputError(
            f"{folder_name}/{prefix} images and labels must have the same length; got "
            f"{X.shape[0]} images and {y.shape[0]} labels."
        )
    return Dataset(name=f"{folder_name}-{split}", X=X, y=y, classes=classes)


def load_mnist(split: Split = "train", *, root: PathLike | None = None) -> Dataset:
    """MNIST: uint8 images (n, 28, 28), labels 0-9; 60,000 train / 10,000 test.

    Args:
        split: ``"train"`` or ``"test"``.
        root: the shared data folder; default :func:`data_root`.
    """
    return _load_idx_set("mnist", split, _DIGITS, root)


def load_fashion_mnist(split: Split = "train", *, root: PathLike | None = None) -> Dataset:
    """Fashion-MNIST: uint8 images (n, 28, 28), 10 classes; 60,000 train / 10,000 test.

    Args:
        split: ``"train"`` or ``"test"``.
        root: the shared data folder; default :func:`data_root`.
    """
    return _load_idx_set("fashion-mnist", split, FASHION_MNIST_CLASSES, root)


def load_digits() -> Dataset:
    """scikit-learn's 8×8 digits: float64 ``X`` (1797, 64) with values 0-16, labels 0-9.

    Ships with scikit-learn, so it needs no shared data.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch: Any = _sk_load_digits()
    return Dataset(
        name="digits", X=np.asarray(bunch.data), y=_labels(bunch.target), classes=_DIGITS
    )


# --------------------------------------------------------------------------- text sets


def _embeddings(path: Path, n_rows: int) -> np.ndarray:
    X = np.load(path).astype(np.float32)
    if X.ndim != 2 or X.shape[0] != n_rows:
        raise InvalidInputError(
            f"{path} must hold one embedding row per text ({n_rows}); got shape {X.shape}."
        )
    return X


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_rt_snippets(*, root: PathLike | None = None) -> Dataset:
    """Rotten-Tomatoes snippets with real label errors, checked by ~19 crowd ratings each.

    10,453 movie-review snippets. ``y`` is the review-level Rotten Tomatoes verdict
    (0 = rotten, 1 = fresh): a real, systematic noise source. ``y_true`` is the crowd's side
    (sign of the mean rating); ties (37) keep ``y``. 289 labels (2.76 %) are wrong.
    ``X`` holds float32 all-MiniLM-L6-v2 embeddings (10453, 384), L2-normalised.

    ``extra``: ``crowd_mean`` (float64, -4..4), ``n_ratings`` (int64),
    ``is_label_error_confident`` (bool; 100 errors with ``|mean| >= 0.5`` and >= 70 % of raters
    on one side), ``id`` (int64).

    Args:
        root: the shared data folder; default :func:`data_root`.
    """
    folder = _folder("rt-snippets-crowd", root)
    rows = _read_csv(_file(folder, "rt_snippets_crowd.csv"))
    y = np.array([int(r["given_label"]) for r in rows], dtype=np.int64)
    is_error = np.array([r["is_label_error"] == "1" for r in rows])
    extra = {
        "crowd_mean": np.array([float(r["crowd_mean"]) for r in rows]),
        "n_ratings": np.array([int(r["n_ratings"]) for r in rows], dtype=np.int64),
        "is_label_error_confident": np.array([r["is_label_error_confident"] == "1" for r in rows]),
        "id": np.array([int(r["id"]) for r in rows], dtype=np.int64),
    }
    X = _embeddings(_file(folder, "rt_snippets_crowd_minilm_l6_v2.npy"), len(rows))
    return Dataset(
        name="rt-snippets",
        X=X,
        y=y,
        classes=("rotten", "fresh"),
        y_true=np.where(is_error, 1 - y, y),
        texts=tuple(r["text"] for r in rows),
        extra=MappingProxyType(extra),
    )


def load_sms_spam(*, root: PathLike | None = None) -> Dataset:
    """SMS spam: 4,837 messages (4,199 ham = 0, 638 spam = 1), no known label noise.

    ``X`` holds float32 all-MiniLM-L6-v2 embeddings (4837, 384), L2-normalised; ``texts`` the
    messages.

    Args:
        root: the shared data folder; default :func:`data_root`.
    """
    folder = _folder("sms-spam", root)
    rows = _read_csv(_file(folder, "sms-spam.csv"))
    y = np.array([int(r["spam"]) for r in rows], dtype=np.int64)
    X = _embeddings(_file(folder, "sms_spam_minilm_l6_v2.npy"), len(rows))
    return Dataset(
        name="sms-spam",
        X=X,
        y=y,
        classes=("ham", "spam"),
        texts=tuple(r["text"] for r in rows),
    )


def load_trec(*, fine: bool = False, root: PathLike | None = None) -> Dataset:
    """TREC question classification (train_5500): 5,452 questions, no known label noise.

    Classes are sorted names: coarse ``ABBR, DESC, ENTY, HUM, LOC, NUM`` (6), or with
    ``fine=True`` the 50 ``"COARSE:fine"`` labels (e.g. ``"HUM:ind"``). ``X`` holds float32
    all-MiniLM-L6-v2 embeddings (5452, 384); ``texts`` the questions; ``extra["coarse"]`` the
    coarse label indices either way.

    Args:
        fine: use the 50 fine classes instead of the 6 coarse ones.
        root: the shared data folder; default :func:`data_root`.
    """
    folder = _folder("trec-questions", root)
    path = _file(folder, "trec_train_5500.label.txt")
    tags: list[str] = []
    texts: list[str] = []
    for n, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        tag, _, text = line.partition(" ")
        if ":" not in tag:
            raise InvalidInputError(
                f"{path} line {n} must start with 'COARSE:fine '; got {line[:40]!r}."
            )
        tags.append(tag)
        texts.append(text)
    coarse_tags = [t.split(":", 1)[0] for t in tags]
    coarse_classes = tuple(sorted(set(coarse_tags)))
    coarse = np.searchsorted(coarse_classes, coarse_tags).astype(np.int64)
    if fine:
        classes = tuple(sorted(set(tags)))
        y = np.searchsorted(classes, tags).astype(np.int64)
    else:
        classes, y = coarse_classes, coarse
    X = _embeddings(_file(folder, "trec_train_5500_minilm_l6_v2.npy"), len(tags))
    return Dataset(
        name="trec-fine" if fine else "trec",
        X=X,
        y=y,
        classes=classes,
        texts=tuple(texts),
        extra=MappingProxyType({"coarse": coarse}),
    )
