"""The fold cache: each finished fold of an out-of-fold run, one checked file per fold.

A run's folder (named by a key over the estimator, the labels and the folds) holds
``fold-{k}.npz`` with the fold's number, its held-out row indices, its probabilities and a
SHA-256 digest of the three. A file that cannot be read, whose digest does not match, or that
belongs to another fold or another shape (a truncated, empty, foreign or hand-edited file) is
reported in one warning line, deleted, and its fold recomputed. Files are written atomically
and read without pickles.

:func:`mislabel.cross_val_pred_probs` and the fastai k-fold runner share this cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mislabel._atomic import atomic_write

__all__ = ["FoldCache", "FoldCacheWarning"]

logger = logging.getLogger(__name__)


class FoldCacheWarning(UserWarning):
    """A fold file in the cache was damaged or foreign; the fold is recomputed."""


def _digest(fold: int, test: np.ndarray, proba: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(f"fold={fold};shape={proba.shape};dtype={proba.dtype.str}".encode())
    h.update(np.ascontiguousarray(test, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(proba).tobytes())
    return h.hexdigest()


class FoldCache:
    """The finished folds of one out-of-fold run.

    Args:
        folder: the run's folder (created if needed).
        splits: the run's (train, test) index pairs; a cached fold must hold exactly its
            ``test`` rows.
        n_classes: the number of probability columns.
    """

    def __init__(
        self, folder: str | Path, splits: Sequence[tuple[Any, Any]], n_classes: int
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tests = [np.asarray(test, dtype=np.int64) for _, test in splits]
        self.n_classes = int(n_classes)

    def path(self, fold: int) -> Path:
        return self.folder / f"fold-{fold}.npz"

    def load(self, fold: int) -> np.ndarray | None:
        """The fold's cached (n_test, n_classes) probabilities, or None when absent or damaged
        (then the file is deleted, with a :class:`FoldCacheWarning`)."""
        path = self.path(fold)
        if not path.exists():
            return None
        proba, problem = self._read(path, fold)
        if problem is None:
            logger.info("fold %d loaded from cache %s", fold, path)
            return proba
        warnings.warn(
            f"fold cache file '{path}' is {problem}; recomputing fold {fold}.",
            FoldCacheWarning,
            stacklevel=3,
        )
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def _read(self, path: Path, fold: int) -> tuple[np.ndarray | None, str | None]:
        try:
            with np.load(path, allow_pickle=False) as z:
                names = set(z.files)
                if not {"fold", "test", "proba", "digest"} <= names:
                    return None, "not a fold file of this version (fields missing)"
                got_fold = int(z["fold"])
                test = np.asarray(z["test"])
                proba = np.asarray(z["proba"])
                digest = str(z["digest"])
        except Exception as exc:  # truncated, empty, random bytes, pickles, ...
            return None, f"unreadable ({type(exc).__name__})"
        if got_fold != fold:
            return None, f"the file of fold {got_fold}, not {fold}"
        expected = self._tests[fold]
        if test.shape != expected.shape or not np.array_equal(test, expected):
            return None, "for other held-out rows"
        if proba.shape != (expected.shape[0], self.n_classes) or proba.dtype != np.float64:
            return None, (
                f"of shape {proba.shape} and dtype {proba.dtype}, expected "
                f"({expected.shape[0]}, {self.n_classes}) float64"
            )
        if digest != _digest(fold, test, proba):
            return None, "damaged (checksum mismatch)"
        return proba, None

    def save(self, fold: int, test: np.ndarray, proba: np.ndarray) -> Path:
        """Write a finished fold atomically."""
        test = np.asarray(test, dtype=np.int64)
        proba = np.ascontiguousarray(proba, dtype=np.float64)
        digest = _digest(fold, test, proba)
        return atomic_write(
            self.path(fold),
            lambda fh: np.savez(
                fh, fold=np.int64(fold), test=test, proba=proba, digest=np.str_(digest)
            ),
        )
