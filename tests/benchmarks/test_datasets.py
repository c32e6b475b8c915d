"""Tests of benchmarks.harness.datasets on the real shared data (skipped without it, off CI)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from benchmarks.harness import datasets
from benchmarks.harness.datasets import (
    CIFAR10_CLASSES,
    CIFAR10N_LABEL_SETS,
    CL_CIFAR10_OOF_SETTINGS,
    DataNotFoundError,
    Dataset,
    data_root,
    load_cifar10,
    load_cifar10n,
    load_cl_cifar10_oof,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_rt_snippets,
    load_sms_spam,
    load_trec,
)

from mislabel.exceptions import InvalidInputError, InvalidParameterError, MislabelError


def check_labels(ds: Dataset, n: int, n_classes: int) -> None:
    assert ds.n_samples == n
    assert ds.y.dtype == np.int64 and ds.y.shape == (n,)
    assert ds.y.min() == 0 and ds.y.max() == n_classes - 1
    assert ds.n_classes == n_classes == len(ds.classes)
    if ds.X is not None:
        assert ds.X.shape[0] == n


# --------------------------------------------------------------------------- locating the data


def test_data_root_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISLABEL_DATA", str(tmp_path))
    assert data_root() == tmp_path


def test_data_root_env_must_be_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISLABEL_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataNotFoundError, match=r"MISLABEL_DATA=.*nope.* is not a folder"):
        data_root()


def test_data_root_walks_up_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shared" / "data").mkdir(parents=True)
    project = tmp_path / "project" / "src"
    project.mkdir(parents=True)
    monkeypatch.delenv("MISLABEL_DATA", raising=False)
    monkeypatch.chdir(project)
    assert data_root() == (tmp_path / "shared" / "data").resolve()


@pytest.mark.parametrize(
    ("load", "folder"),
    [
        (lambda: load_mnist(), "mnist"),
        (lambda: load_fashion_mnist("test"), "fashion-mnist"),
        (lambda: load_cifar10("test"), "cifar10-jpeg"),
        (lambda: load_cifar10n("aggre", images=False), "cifar-n"),
        (lambda: load_cl_cifar10_oof(), "cl-cifar10-oof"),
        (lambda: load_rt_snippets(), "rt-snippets-crowd"),
        (lambda: load_sms_spam(), "sms-spam"),
        (lambda: load_trec(), "trec-questions"),
    ],
)
def test_missing_folder_error_names_it(
    load: Callable[[], object], folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISLABEL_DATA", str(tmp_path))
    with pytest.raises(
        DataNotFoundError, match=rf"`{folder}/` data folder is missing.*MISLABEL_DATA"
    ):
        load()
    err = DataNotFoundError("x")
    assert isinstance(err, FileNotFoundError)
    assert isinstance(err, InvalidInputError) and isinstance(err, MislabelError)


def test_missing_file_error_names_it(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DataNotFoundError, match=r"t10k-images-idx3-ubyte\.gz is missing"):
        load_mnist("test", root=tmp_path)


def test_bad_options() -> None:
    with pytest.raises(InvalidParameterError, match=r"`split` must be one of 'train', 'test'"):
        load_mnist("val")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"`label_set` must be one of 'aggre'"):
        load_cifar10n("worse")
    with pytest.raises(InvalidParameterError, match=r"`setting` must be one of"):
        load_cl_cifar10_oof("noise0.2")


def test_truncated_idx_file(tmp_path: Path) -> None:
    import gzip
    import struct

    folder = tmp_path / "mnist"
    folder.mkdir()
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">4B3I", 0, 0, 8, 3, 2, 28, 28) + bytes(100))
    with pytest.raises(InvalidInputError, match=r"must hold 1568 values .* got 100"):
        load_mnist("test", root=tmp_path)


def test_load_digits() -> None:
    ds = load_digits()
    check_labels(ds, 1797, 10)
    assert ds.X is not None and ds.X.shape == (1797, 64)
    assert ds.y_true is None and ds.noise_rate is None


# --------------------------------------------------------------------------- real data


def test_mnist(shared_data: Path) -> None:
    train = load_mnist("train", root=shared_data)
    test = load_mnist("test", root=shared_data)
    check_labels(train, 60_000, 10)
    check_labels(test, 10_000, 10)
    assert train.X is not None and train.X.shape == (60_000, 28, 28)
    assert train.X.dtype == np.uint8 and train.X.max() == 255
    np.testing.assert_array_equal(
        np.bincount(train.y), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    np.testing.assert_array_equal(
        np.bincount(test.y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )


def test_fashion_mnist(shared_data: Path) -> None:
    train = load_fashion_mnist("train", root=shared_data)
    test = load_fashion_mnist("test", root=shared_data)
    check_labels(train, 60_000, 10)
    check_labels(test, 10_000, 10)
    assert train.X is not None and train.X.shape == (60_000, 28, 28) and train.X.dtype == np.uint8
    assert np.all(np.bincount(train.y) == 6000) and np.all(np.bincount(test.y) == 1000)
    assert train.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert test.y[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert train.X.mean() / 255 == pytest.approx(0.28604, abs=1e-4)
    assert train.classes[9] == "Ankle boot"


@pytest.mark.parametrize("setting", CL_CIFAR10_OOF_SETTINGS)
def test_cl_cifar10_oof(shared_data: Path, setting: str) -> None:
    oof = load_cl_cifar10_oof(setting, root=shared_data)
    assert oof.n_samples == 50_000 and oof.n_classes == 10
    assert oof.pred_probs.shape == (50_000, 10) and oof.pred_probs.dtype == np.float32
    assert oof.labels.dtype == np.int64 and oof.true_labels.dtype == np.int64
    np.testing.assert_allclose(oof.pred_probs.sum(axis=1), 1.0, atol=1e-2)
    assert np.all(np.bincount(oof.true_labels) == 5000)
    # noise amount 0.2 / 0.4 / 0.6 gives about 20 / 40 / 70 % wrong labels
    expected_rate = {0.2: 0.2, 0.4: 0.4, 0.6: 0.7}[oof.noise_amount]
    assert oof.noise_rate == pytest.approx(expected_rate, abs=0.005)
    assert oof.sparsity == float(setting[len("sparsity") : len("sparsity") + 3])
    np.testing.assert_allclose(oof.noise_matrix.sum(axis=1), 1.0)
    assert 1 - np.trace(oof.noise_matrix) / 10 == pytest.approx(oof.noise_rate)


@pytest.mark.parametrize(
    ("label_set", "rate"),
    [
        ("aggre", 0.0901),
        ("random1", 0.17234),
        ("random2", 0.18122),
        ("random3", 0.1764),
        ("worst", 0.40208),
        ("clean", 0.0),
    ],
)
def test_cifar10n_labels(shared_data: Path, label_set: str, rate: float) -> None:
    ds = load_cifar10n(label_set, images=False, root=shared_data)
    check_labels(ds, 50_000, 10)
    assert ds.X is None
    assert ds.noise_rate == pytest.approx(rate, abs=1e-5)
    assert ds.y_true is not None and np.all(np.bincount(ds.y_true) == 5000)
    assert set(CIFAR10N_LABEL_SETS) == {"aggre", "random1", "random2", "random3", "worst", "clean"}


def test_rt_snippets(shared_data: Path) -> None:
    ds = load_rt_snippets(root=shared_data)
    check_labels(ds, 10_453, 2)
    assert ds.X is not None and ds.X.shape == (10_453, 384) and ds.X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ds.X, axis=1), 1.0, atol=1e-2)
    assert ds.is_label_error is not None and int(ds.is_label_error.sum()) == 289
    assert int(ds.extra["is_label_error_confident"].sum()) == 100
    assert np.all(ds.is_label_error[ds.extra["is_label_error_confident"]])
    assert np.bincount(ds.y).tolist() == [5238, 5215]
    assert ds.classes == ("rotten", "fresh")
    assert ds.texts is not None and len(ds.texts) == 10_453
    assert ds.texts[0].startswith("The Rock is destined")
    # the truth follows the crowd: positive mean -> fresh, negative -> rotten
    mean = ds.extra["crowd_mean"]
    assert ds.y_true is not None
    assert np.all(ds.y_true[mean > 0] == 1) and np.all(ds.y_true[mean < 0] == 0)
    with pytest.raises(TypeError):
        ds.extra["new"] = np.zeros(1)  # type: ignore[index]


def test_sms_spam(shared_data: Path) -> None:
    ds = load_sms_spam(root=shared_data)
    check_labels(ds, 4_837, 2)
    assert np.bincount(ds.y).tolist() == [4199, 638]
    assert ds.X is not None and ds.X.shape == (4_837, 384) and ds.X.dtype == np.float32
    assert ds.texts is not None and ds.texts[1] == "Ok lar... Joking wif u oni..."
    assert ds.y_true is None


@pytest.mark.parametrize("fine", [False, True])
def test_trec(shared_data: Path, fine: bool) -> None:
    ds = load_trec(fine=fine, root=shared_data)
    check_labels(ds, 5_452, 50 if fine else 6)
    assert ds.X is not None and ds.X.shape == (5_452, 384)
    coarse = ds.extra["coarse"]
    assert np.bincount(coarse).tolist() == [86, 1162, 1250, 1223, 835, 896]
    if fine:
        assert "HUM:ind" in ds.classes
        assert all(
            c.split(":")[0] in {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"} for c in ds.classes
        )
    else:
        assert ds.classes == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    assert (
        ds.texts is not None and ds.texts[0] == "How did serfdom develop in and then leave Russia ?"
    )


# --------------------------------------------------------------------------- CIFAR-10 images


@pytest.fixture(scope="session")
def cifar_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per session, so each split is decoded at most once per run."""
    return tmp_path_factory.mktemp("mislabel-cache")


def test_cifar10_test_split_decodes_once_then_caches(
    shared_data: Path, cifar_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("PIL", reason="decoding CIFAR-10 JPEGs needs Pillow")
    ds = load_cifar10("test", root=shared_data, cache=cifar_cache)
    check_labels(ds, 10_000, 10)
    assert ds.X is not None and ds.X.shape == (10_000, 32, 32, 3) and ds.X.dtype == np.uint8
    assert np.all(np.bincount(ds.y) == 1000)
    assert ds.classes == CIFAR10_CLASSES
    # JPEG q75 keeps the per-channel means of the CIFAR-10 test set
    np.testing.assert_allclose(
        ds.X.reshape(-1, 3).mean(axis=0) / 255, [0.4942, 0.4851, 0.4504], atol=3e-3
    )
    cached = list(cifar_cache.glob("cifar10-jpeg-test-*.npy"))
    assert len(cached) == 1
    assert not list(cifar_cache.glob("*.tmp")), "temporary file left behind"

    def no_decode(*args: object) -> None:
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(datasets, "_decode_jpegs", no_decode)
    again = load_cifar10("test", root=shared_data, cache=cifar_cache)
    assert again.X is not None
    np.testing.assert_array_equal(again.X, ds.X)


def test_cifar10_cache_dir_from_env(
    shared_data: Path, cifar_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("PIL", reason="decoding CIFAR-10 JPEGs needs Pillow")
    load_cifar10("test", root=shared_data, cache=cifar_cache)  # decoded by now
    monkeypatch.setenv("MISLABEL_CACHE", os.fspath(cifar_cache))
    monkeypatch.setattr(datasets, "_decode_jpegs", None)  # would fail if called
    assert datasets.cache_dir() == cifar_cache
    assert load_cifar10("test", root=shared_data).n_samples == 10_000


def write_fake_cifar(root: Path, sizes: tuple[int, ...] = (32, 32, 32)) -> np.ndarray:
    """A tiny cifar10-jpeg folder (both splits alike); returns the images before JPEG."""
    image_mod = pytest.importorskip("PIL.Image", reason="decoding CIFAR-10 JPEGs needs Pillow")
    import io

    rng = np.random.default_rng(0)
    images, blobs = [], []
    for size in sizes:
        img = np.full((size, size, 3), rng.integers(0, 256, 3), dtype=np.uint8)
        buf = io.BytesIO()
        image_mod.fromarray(img).save(buf, format="JPEG", quality=95)
        images.append(img)
        blobs.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))
    offsets = np.concatenate([[0], np.cumsum([b.size for b in blobs])]).astype(np.int64)
    arrays = {}
    for split in ("train", "test"):
        arrays[f"{split}_jpeg"] = np.concatenate(blobs)
        arrays[f"{split}_offsets"] = offsets
        arrays[f"{split}_labels"] = np.arange(len(sizes), dtype=np.uint8)
    (root / "cifar10-jpeg").mkdir()
    np.savez(root / "cifar10-jpeg" / "cifar10_jpeg_q75_cifar_order.npz", **arrays)
    return np.stack(images) if len(set(sizes)) == 1 else np.empty(0)


def test_cifar10_decode_and_damaged_cache(tmp_path: Path) -> None:
    images = write_fake_cifar(tmp_path)
    cache = tmp_path / "cache"
    first = load_cifar10("train", root=tmp_path, cache=cache)
    assert first.X is not None and first.X.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(first.X, images, atol=3)  # flat colours survive JPEG
    (path,) = cache.glob("cifar10-jpeg-train-*.npy")
    path.write_bytes(b"not an npy file")
    second = load_cifar10("train", root=tmp_path, cache=cache)
    assert second.X is not None
    np.testing.assert_array_equal(second.X, first.X)
    assert np.load(path).shape == (3, 32, 32, 3)


def test_cifar10_wrong_image_size(tmp_path: Path) -> None:
    write_fake_cifar(tmp_path, sizes=(32, 16))
    with pytest.raises(
        InvalidInputError, match=r"image 1 must decode to shape \(32, 32, 3\); got \(16, 16, 3\)"
    ):
        load_cifar10("test", root=tmp_path, cache=tmp_path / "cache")


@pytest.mark.slow
def test_cifar10_train_and_cifar10n_images(shared_data: Path, cifar_cache: Path) -> None:
    pytest.importorskip("PIL", reason="decoding CIFAR-10 JPEGs needs Pillow")
    train = load_cifar10("train", root=shared_data, cache=cifar_cache)
    check_labels(train, 50_000, 10)
    assert train.X is not None and train.X.shape == (50_000, 32, 32, 3)
    ds = load_cifar10n("worst", root=shared_data, cache=cifar_cache)
    assert ds.X is not None and ds.X.shape == (50_000, 32, 32, 3)
    np.testing.assert_array_equal(ds.y_true, train.y)
