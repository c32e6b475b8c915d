"""Fault injection on the fold cache: a damaged or foreign fold file is reported in one warning
line and recomputed; the result equals a run without a cache."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.naive_bayes import GaussianNB

import mislabel
from mislabel.detect._cache import FoldCache, FoldCacheWarning


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(120, 4)) + y[:, None]
    return x, y


def _run(data, cache: Path | None):
    x, y = data
    return mislabel.cross_val_pred_probs(GaussianNB(), x, y, cv=4, random_state=1, cache_dir=cache)


def _fold_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("oof-*/fold-*.npz"))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _random(p: Path) -> None:
    p.write_bytes(np.random.default_rng(3).bytes(p.stat().st_size))


def _flip_a_byte(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    with np.load(p) as z:  # change one probability, keep the zip readable
        arrays = {k: z[k] for k in z.files}
    arrays["proba"] = arrays["proba"].copy()
    arrays["proba"][0, 0] += 0.25
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)
    assert bytes(raw) != p.read_bytes()


def _other_fold(p: Path) -> None:
    sibling = sorted(p.parent.glob("fold-*.npz"))
    other = next(s for s in sibling if s != p)
    p.write_bytes(other.read_bytes())


def _old_format(p: Path) -> None:
    with np.load(p) as z:
        test, proba = z["test"], z["proba"]
    with open(p, "wb") as fh:
        np.savez(fh, test=test, proba=proba)


def _wrong_shape(p: Path) -> None:
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["proba"] = arrays["proba"][:, :2]
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)


def _pickled(p: Path) -> None:
    with open(p, "wb") as fh:
        np.savez(fh, fold=np.array([{"a": 1}], dtype=object), test=np.arange(3))


@pytest.mark.parametrize(
    "damage",
    [_truncate, _empty, _random, _flip_a_byte, _other_fold, _old_format, _wrong_shape, _pickled],
)
def test_a_damaged_fold_is_recomputed(tmp_path: Path, data, damage) -> None:
    clean = _run(data, None)
    first = _run(data, tmp_path)
    np.testing.assert_array_equal(first, clean)
    files = _fold_files(tmp_path)
    assert len(files) == 4
    damage(files[1])
    with pytest.warns(FoldCacheWarning) as record:
        again = _run(data, tmp_path)
    np.testing.assert_array_equal(again, clean)
    messages = [str(w.message) for w in record if issubclass(w.category, FoldCacheWarning)]
    assert len(messages) == 1
    assert "\n" not in messages[0]
    assert files[1].name in messages[0] and "recomputing fold 1" in messages[0]
    # the file was rewritten whole: a third run loads every fold, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", FoldCacheWarning)
        np.testing.assert_array_equal(_run(data, tmp_path), clean)


def test_every_fold_damaged_at_once(tmp_path: Path, data) -> None:
    clean = _run(data, None)
    _run(data, tmp_path)
    for p in _fold_files(tmp_path):
        _truncate(p)
    with pytest.warns(FoldCacheWarning):
        np.testing.assert_array_equal(_run(data, tmp_path), clean)


def test_the_fold_cache_round_trips(tmp_path: Path) -> None:
    splits = [(np.arange(5, 10), np.arange(5)), (np.arange(5), np.arange(5, 10))]
    cache = FoldCache(tmp_path / "run", splits, 3)
    proba = np.full((5, 3), 1 / 3)
    cache.save(0, splits[0][1], proba)
    np.testing.assert_array_equal(cache.load(0), proba)
    assert cache.load(1) is None
    # a fold file saved for other held-out rows is foreign
    cache.save(1, np.arange(5), proba)
    with pytest.warns(FoldCacheWarning, match="other held-out rows"):
        assert cache.load(1) is None
    assert not cache.path(1).exists()
