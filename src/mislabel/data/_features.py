"""Turn a :class:`LabeledData` into model inputs, and the default model for each kind.

=========  =========================================  ==========================================
kind       features for the default model             default model (scikit-learn, CPU)
=========  =========================================  ==========================================
images     pixels shrunk to at most 32 px a side,     StandardScaler → PCA(≤ 64) →
           flattened, in [0, 1]                       LogisticRegression
tabular    the columns; strings as categories         HistGradientBoostingClassifier
text       sentence-transformers embeddings when      LogisticRegression, or TF-IDF (1-2 grams)
           importable, else the raw strings           → LogisticRegression
=========  =========================================  ==========================================

:class:`Featurizer` gives dense float32 matrices for the small torch models of
:mod:`mislabel.train`.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np

from mislabel._validation import as_seed, check_option, optional_import
from mislabel.data._load import LabeledData
from mislabel.exceptions import InvalidInputError, NotFittedError

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "Featurizer",
    "TextEmbedding",
    "default_model",
    "embed_texts",
    "image_features",
    "model_inputs",
    "resize_images",
    "tabular_frame",
]

logger = logging.getLogger(__name__)

TextEmbedding = Literal["auto", "tfidf", "sentence-transformers"]
_TEXT_EMBEDDINGS = ("auto", "tfidf", "sentence-transformers")
#: The sentence-transformers model used for text when it can be loaded.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
_MAX_CATEGORIES = 255  # HistGradientBoosting's limit per categorical column


def image_features(
    pixels: np.ndarray, *, max_side: int = 32, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Flatten images to (n, d) float32 in [0, 1], shrinking them to at most ``max_side`` px.

    Args:
        pixels: uint8 ``(n, H, W)`` or ``(n, H, W, C)``.
        max_side: the longer side after shrinking (aspect ratio kept); ignored with ``size``.
        size: shrink (or grow) every image to exactly this (width, height).
    """
    pixels = resize_images(pixels, max_side=max_side, size=size)
    return (pixels.reshape(pixels.shape[0], -1).astype(np.float32)) / np.float32(255.0)


def resize_images(
    pixels: np.ndarray, *, max_side: int = 32, size: tuple[int, int] | None = None
) -> np.ndarray:
    """uint8 images shrunk to at most ``max_side`` px a side (aspect ratio kept), or to exactly
    ``size`` = (width, height); returned as given when they already fit."""
    h, w = pixels.shape[1:3]
    target = size if size is not None else _fit_size(w, h, max_side)
    if target == (w, h):
        return pixels
    image_mod = optional_import("PIL.Image", "report", "resizing images")
    return np.stack(
        [
            np.asarray(
                image_mod.fromarray(p).resize(target, image_mod.Resampling.BOX), dtype=np.uint8
            )
            for p in pixels
        ]
    )


def _fit_size(w: int, h: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def tabular_frame(frame: Any) -> Any:
    """Feature columns ready for HistGradientBoosting: numbers stay, booleans become 0/1,
    strings become pandas categories; string columns with more than 255 distinct values (ids,
    free text) are dropped with a warning."""
    pd = optional_import("pandas", "pandas", "tabular data")
    out = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            out[c] = col.astype(np.float64)
        elif pd.api.types.is_numeric_dtype(col):
            out[c] = col
        else:
            as_str = col.astype("string")
            if as_str.nunique(dropna=True) > _MAX_CATEGORIES:
                warnings.warn(
                    f"column '{c}' has more than {_MAX_CATEGORIES} distinct text values; it is "
                    "not used as a feature (use --text-column for free text).",
                    stacklevel=2,
                )
                continue
            out[c] = as_str.astype("category")
    if not out:
        raise InvalidInputError(
            "the table has no usable feature columns (all were free text with too many "
            "distinct values). Name a text column with --text-column instead."
        )
    return pd.DataFrame(out)


#: What a pickled Featurizer holds in place of its sentence-transformers model.
_ENCODER_BY_NAME = "sentence-transformers:" + DEFAULT_EMBEDDING_MODEL


def _load_encoder(model_name: str, *, required: bool) -> Any:
    """A sentence-transformers model, or None when it cannot be loaded (unless ``required``)."""
    try:
        st = optional_import("sentence_transformers", "text", "text embeddings")
        return st.SentenceTransformer(model_name, device="cpu")
    except Exception as exc:
        if required:
            raise InvalidInputError(
                f"cannot load the sentence-transformers model {model_name!r}: {exc}"
            ) from exc
        logger.info("sentence-transformers unavailable (%s); using TF-IDF", exc)
        return None


def _encode(encoder: Any, texts: Any) -> np.ndarray:
    emb = encoder.encode(list(texts), batch_size=64, show_progress_bar=False)
    return np.asarray(emb, dtype=np.float32)


def embed_texts(
    texts: Any, *, model_name: str = DEFAULT_EMBEDDING_MODEL, required: bool = False
) -> np.ndarray | None:
    """Sentence-transformers embeddings (n, d) float32, or None when the package or the model
    cannot be loaded (with ``required=True``, that raises instead)."""
    encoder = _load_encoder(model_name, required=required)
    return None if encoder is None else _encode(encoder, texts)


def model_inputs(
    data: LabeledData,
    *,
    text_embedding: TextEmbedding = "auto",
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
) -> tuple[Any, str]:
    """The input ``X`` of the default model for ``data`` and a short description of it."""
    check_option(text_embedding, "text_embedding", _TEXT_EMBEDDINGS)
    if data.kind == "images":
        x = image_features(data.X)
        return x, f"pixels {tuple(data.X.shape[1:])} → {x.shape[1]} features"
    if data.kind == "tabular":
        frame = tabular_frame(data.X)
        return frame, f"{frame.shape[1]} columns"
    if data.kind == "text":
        texts = data.texts or ()
        if text_embedding != "tfidf":
            emb = embed_texts(
                texts,
                model_name=embedding_model,
                required=text_embedding == "sentence-transformers",
            )
            if emb is not None:
                return emb, f"{embedding_model} embeddings ({emb.shape[1]})"
        return np.asarray(texts, dtype=object), "TF-IDF"
    raise InvalidInputError(f"data of kind {data.kind!r} has no features to train on.")


def default_model(data: LabeledData, x: Any, *, cv: int = 5, random_state: Any = 0) -> Any:
    """The default scikit-learn classifier for ``data``'s kind, sized for ``x``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    seed = as_seed(random_state)
    if data.kind == "tabular":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    if data.kind == "images":
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        n, d = x.shape
        n_train = n - -(-n // cv)  # the smallest training part of cv folds
        n_comp = int(max(1, min(64, d, n_train - 1)))
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("pca", PCA(n_components=n_comp, random_state=seed)),
                ("clf", LogisticRegression(max_iter=2000, C=0.1)),
            ]
        )
    if data.kind == "text":
        if isinstance(x, np.ndarray) and x.dtype != object:
            return LogisticRegression(max_iter=2000)
        from sklearn.feature_extraction.text import TfidfVectorizer

        return Pipeline(
            [
                ("tfidf", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))),
                ("clf", LogisticRegression(max_iter=2000, C=10.0)),
            ]
        )
    raise InvalidInputError(f"data of kind {data.kind!r} needs no model.")


class Featurizer:
    """Dense float32 features for a small neural network, fitted on training data.

    Images: pixels shrunk to at most ``max_side`` px a side, centred and scaled. Tabular:
    numbers imputed and standardised, strings one-hot encoded. Text: sentence-transformers
    embeddings when available (``text_embedding``), else TF-IDF (``max_text_features``).

    Args:
        max_side: longer image side after shrinking.
        max_text_features: vocabulary size of the TF-IDF fallback.
        text_embedding: ``"auto"``, ``"tfidf"`` or ``"sentence-transformers"``.
    """

    def __init__(
        self,
        *,
        max_side: int = 32,
        max_text_features: int = 4096,
        text_embedding: TextEmbedding = "auto",
    ) -> None:
        self.max_side = max_side
        self.max_text_features = max_text_features
        self.text_embedding = text_embedding

    def fit(self, data: LabeledData) -> Featurizer:
        check_option(self.text_embedding, "text_embedding", _TEXT_EMBEDDINGS)
        self.kind_ = data.kind
        if data.kind == "images":
            h, w = data.X.shape[1:3]
            self.size_ = _fit_size(w, h, self.max_side)
            x = image_features(data.X, size=self.size_)
            self.mean_ = x.mean(axis=0)
            self.scale_ = np.float32(max(float(x.std()), 1e-6))
        elif data.kind == "tabular":
            self.transformer_ = _tabular_transformer(data.X).fit(_as_str_objects(data.X))
        elif data.kind == "text":
            self.encoder_ = None
            if self.text_embedding != "tfidf":
                self.encoder_ = _load_encoder(
                    DEFAULT_EMBEDDING_MODEL, required=self.text_embedding == "sentence-transformers"
                )
            if self.encoder_ is None:
                from sklearn.feature_extraction.text import TfidfVectorizer

                self.tfidf_ = TfidfVectorizer(
                    sublinear_tf=True, max_features=self.max_text_features
                ).fit(list(data.texts or ()))
        else:
            raise InvalidInputError(f"data of kind {data.kind!r} has no features to train on.")
        return self

    def transform(self, data: LabeledData) -> np.ndarray:
        if not hasattr(self, "kind_"):
            raise NotFittedError("This Featurizer is not fitted yet; call fit(data) first.")
        if data.kind != self.kind_:
            raise InvalidInputError(
                f"data must be of the kind the Featurizer was fitted on ({self.kind_!r}); got "
                f"{data.kind!r}."
            )
        if data.kind == "images":
            x = image_features(data.X, size=self.size_)
            return ((x - self.mean_) / self.scale_).astype(np.float32)
        if data.kind == "tabular":
            missing = [c for c in self.transformer_.feature_names_in_ if c not in data.X.columns]
            if missing:
                raise InvalidInputError(
                    f"the table lacks the feature columns the model was trained on: {missing[:5]}."
                )
            out = self.transformer_.transform(_as_str_objects(data.X))
            return np.asarray(out, dtype=np.float32)
        texts = list(data.texts or ())
        if self.encoder_ is not None:
            return _encode(self.encoder_, texts)
        return np.asarray(self.tfidf_.transform(texts).toarray(), dtype=np.float32)

    def fit_transform(self, data: LabeledData) -> np.ndarray:
        return self.fit(data).transform(data)

    def __getstate__(self) -> dict[str, Any]:
        # the sentence-transformers model is not pickled: it is loaded again by name
        state = dict(self.__dict__)
        if state.get("encoder_") is not None:
            state["encoder_"] = _ENCODER_BY_NAME
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("encoder_") == _ENCODER_BY_NAME:
            state = {**state, "encoder_": _load_encoder(DEFAULT_EMBEDDING_MODEL, required=True)}
        self.__dict__.update(state)


def _as_str_objects(frame: Any) -> Any:
    pd = optional_import("pandas", "pandas", "tabular data")
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_bool_dtype(col):
            out[c] = col.astype(np.float64)
        elif not pd.api.types.is_numeric_dtype(col):
            out[c] = col.astype(str).astype(object)
    return out


def _tabular_transformer(frame: Any) -> Any:
    pd = optional_import("pandas", "pandas", "tabular data")
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    ]
    other = [c for c in frame.columns if c not in numeric]
    parts: list[tuple[str, Any, list[Any]]] = []
    if numeric:
        parts.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
        )
    if other:
        parts.append(
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", max_categories=50, sparse_output=False),
                other,
            )
        )
    return ColumnTransformer(parts, sparse_threshold=0.0)
