"""The default networks, and how raw arrays become their inputs.

=================  ===========================================  ==============================
input              network                                      input scaling
=================  ===========================================  ==============================
vectors (n, d)     MLP: d → 256 → ReLU → 256 → ReLU → K         float: standardised per column;
                                                                uint8 pixels: x / 255 − 0.5
images (n, H, W),  small CNN: two 3×3 conv blocks (16, 32       x / 255 − 0.5 for uint8;
(n, H, W, C) or    channels, BatchNorm, ReLU, 2×2 max-pool)     floats as given
(n, C, H, W)       → 128 → ReLU → K
=================  ===========================================  ==============================

:class:`InputScaler` records what it did in ``fit`` so that ``predict`` sees the same scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel.exceptions import InvalidInputError

__all__ = ["InputScaler", "build_cnn", "build_mlp_net", "default_network"]

#: Channel counts that mark the last (or second) axis of a 4-D array as the colour axis.
_CHANNELS = (1, 2, 3, 4)


def build_mlp_net(n_features: int, n_classes: int, hidden: int = 256) -> Any:
    """``d → hidden → ReLU → hidden → ReLU → n_classes`` (flattens its input first)."""
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_classes),
    )


def build_cnn(input_shape: tuple[int, int, int], n_classes: int) -> Any:
    """A small CNN for (C, H, W) images: two 3×3 conv blocks (16 and 32 channels, BatchNorm,
    ReLU, 2×2 max-pool), then 128 hidden units and ``n_classes`` logits."""
    from torch import nn

    c, h, w = input_shape
    if h < 4 or w < 4:
        raise InvalidInputError(
            f"images must be at least 4×4 pixels for the default CNN; got {h}×{w}. Pass flat "
            "features (n, d) for an MLP instead."
        )
    flat = 32 * (h // 4) * (w // 4)
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(flat, 128),
        nn.ReLU(),
        nn.Linear(128, n_classes),
    )


def default_network(input_shape: tuple[int, ...], n_classes: int) -> Any:
    """A fresh default network for inputs of ``input_shape`` (without the batch axis): the small
    CNN for (C, H, W) images, the MLP for anything else (flattened)."""
    if len(input_shape) == 3:
        return build_cnn((int(input_shape[0]), int(input_shape[1]), int(input_shape[2])), n_classes)
    return build_mlp_net(int(np.prod(input_shape)), n_classes)


@dataclass(frozen=True)
class InputScaler:
    """How raw ``X`` becomes float32 network input; fitted once, applied to every later ``X``.

    Attributes:
        kind: ``"vectors"`` or ``"images"``.
        layout: for images, ``"nhw"``, ``"nhwc"`` or ``"nchw"`` as given.
        pixels: whether the values are uint8 pixels (scaled to ``x / 255 − 0.5``).
        mean, scale: per-column standardisation of float vectors (None otherwise).
        shape: the shape of one sample as given (checked on every later ``X``).
    """

    kind: str
    layout: str
    pixels: bool
    mean: np.ndarray | None
    scale: np.ndarray | None
    shape: tuple[int, ...]

    @classmethod
    def fit(cls, X: Any, *, standardize: bool = True) -> InputScaler:
        """Look at ``X`` (n, ...) and decide; float vectors are standardised with their column
        means and standard deviations when ``standardize``."""
        x = _as_array(X)
        pixels = x.dtype == np.uint8
        shape = tuple(int(s) for s in x.shape[1:])
        if x.ndim == 2:
            mean = scale = None
            if not pixels and standardize:
                xf = x.astype(np.float64)
                mean = xf.mean(axis=0).astype(np.float32)
                sd = xf.std(axis=0)
                scale = np.where(sd > 1e-8, sd, 1.0).astype(np.float32)
            return cls("vectors", "nd", bool(pixels), mean, scale, shape)
        if x.ndim == 3:
            return cls("images", "nhw", bool(pixels), None, None, shape)
        if x.ndim == 4:
            if x.shape[-1] in _CHANNELS and x.shape[1] not in _CHANNELS:
                layout = "nhwc"
            elif x.shape[1] in _CHANNELS:
                layout = "nchw"
            else:
                raise InvalidInputError(
                    f"`X` of shape {x.shape} looks like images but has no colour axis of 1-4 "
                    "channels first (n, C, H, W) or last (n, H, W, C)."
                )
            return cls("images", layout, bool(pixels), None, None, shape)
        raise InvalidInputError(
            f"`X` must be vectors (n, d) or images (n, H, W), (n, H, W, C) or (n, C, H, W); got "
            f"shape {x.shape}."
        )

    def transform(self, X: Any) -> np.ndarray:
        """``X`` as float32 network input: (n, d) vectors or (n, C, H, W) images."""
        x = _as_array(X)
        if tuple(x.shape[1:]) != self.shape:
            raise InvalidInputError(
                f"`X` must have samples of shape {self.shape} like the training data; got "
                f"{tuple(x.shape[1:])}."
            )
        out = (
            x.astype(np.float32) / np.float32(255.0) - np.float32(0.5)
            if self.pixels
            else (x.astype(np.float32, copy=False))
        )
        if self.mean is not None and self.scale is not None:
            out = (out - self.mean) / self.scale
        if self.layout == "nhw":
            out = out[:, None, :, :]
        elif self.layout == "nhwc":
            out = np.moveaxis(out, -1, 1)
        return np.ascontiguousarray(out, dtype=np.float32)

    def network_input_shape(self) -> tuple[int, ...]:
        """The shape of one transformed sample."""
        if self.layout == "nhw":
            return (1, *self.shape)
        if self.layout == "nhwc":
            return (self.shape[2], self.shape[0], self.shape[1])
        return self.shape


def _as_array(X: Any) -> np.ndarray:
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    try:
        x = np.asarray(X)
    except Exception as exc:
        raise InvalidInputError(
            f"`X` must be a numeric array of shape (n_samples, ...); got {type(X).__name__} "
            f"that numpy cannot convert ({exc})."
        ) from exc
    if x.dtype.kind not in "fiub":
        raise InvalidInputError(
            f"`X` must hold numbers; got dtype {x.dtype}. Encode text or categories as numbers "
            "first (e.g. embeddings)."
        )
    if x.ndim < 2 or x.shape[0] == 0:
        raise InvalidInputError(
            f"`X` must have shape (n_samples, n_features, ...) with n_samples ≥ 1; got shape "
            f"{x.shape}. Reshape your data, e.g. X.reshape(-1, 1) for a single feature."
        )
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise InvalidInputError(
            f"`X` must be finite; got {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}."
        )
    return x
