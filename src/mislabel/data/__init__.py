"""Load labelled data from disk and run the find workflow on it.

This is the library behind ``mislabel find``: :func:`load_dataset` reads an image folder, an
image CSV, a table or a text CSV into a :class:`LabeledData`; :func:`find_issues_in` trains k
folds of the default model for that kind and flags issues; :meth:`FindResult.save` writes
``issues.csv`` and friends atomically, and :func:`load_find_outputs` reads them back.
"""

from __future__ import annotations

from mislabel.data._annotations import ANNOTATION_COLUMNS, AnnotatorVotes
from mislabel.data._atomic import (
    atomic_write,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_npy_atomic,
    write_text_atomic,
)
from mislabel.data._embed import (
    DEFAULT_DETECT_LAYERS,
    DEFAULT_IMAGE_LAYERS,
    DEFAULT_IMAGE_MODEL,
    IMAGE_LAYERS,
    IMAGE_VIEWS,
    embed_images,
    lite_state_dict_to_timm,
)
from mislabel.data._features import (
    DEFAULT_EMBEDDING_MODEL,
    Featurizer,
    default_model,
    embed_texts,
    image_features,
    model_inputs,
    tabular_frame,
)
from mislabel.data._find import (
    ANNOTATORS_FILE,
    FIND_FILES,
    ISSUES_COLUMNS,
    FindOutputs,
    FindResult,
    check_class_sizes,
    find_issues_in,
    issues_frame,
    load_find_outputs,
    read_issues,
)
from mislabel.data._load import (
    IMAGE_EXTENSIONS,
    KINDS,
    LabeledData,
    load_dataset,
    load_image_files,
    load_predictions,
    parse_image_size,
)

__all__ = [
    "ANNOTATION_COLUMNS",
    "ANNOTATORS_FILE",
    "DEFAULT_DETECT_LAYERS",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_IMAGE_LAYERS",
    "DEFAULT_IMAGE_MODEL",
    "FIND_FILES",
    "IMAGE_EXTENSIONS",
    "IMAGE_LAYERS",
    "IMAGE_VIEWS",
    "ISSUES_COLUMNS",
    "KINDS",
    "AnnotatorVotes",
    "Featurizer",
    "FindOutputs",
    "FindResult",
    "LabeledData",
    "atomic_write",
    "check_class_sizes",
    "default_model",
    "embed_images",
    "embed_texts",
    "find_issues_in",
    "image_features",
    "issues_frame",
    "lite_state_dict_to_timm",
    "load_dataset",
    "load_find_outputs",
    "load_image_files",
    "load_predictions",
    "model_inputs",
    "parse_image_size",
    "read_issues",
    "tabular_frame",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_npy_atomic",
    "write_text_atomic",
]
