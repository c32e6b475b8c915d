"""Each confident-learning method returns exactly cleanlab 2.9's mask (cleanlab is the oracle)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import mislabel
from mislabel.detect import CL_METHODS

cleanlab_filter = pytest.importorskip("cleanlab.filter", reason="cleanlab is the test oracle")
cleanlab_count = pytest.importorskip("cleanlab.count")


def _both(labels: np.ndarray, pred_probs: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = mislabel.find_label_issues(labels, pred_probs, method=method).mask
        theirs = cleanlab_filter.find_label_issues(labels, pred_probs, filter_by=method, n_jobs=1)
    return ours, theirs


def _oof_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "cl-cifar10-oof").glob("*.npz"))
    assert len(files) == 6, f"expected 6 cl-cifar10-oof files, found {len(files)}"
    return files


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_parity_on_every_cifar10_oof_file(shared_data: Path, dtype: str) -> None:
    for path in _oof_files(shared_data):
        with np.load(path) as z:
            labels = z["noisy_labels"].astype(np.int64)
            pred_probs = z["pred_probs"].astype(dtype)
        for method in CL_METHODS:
            ours, theirs = _both(labels, pred_probs, method)
            assert np.array_equal(ours, theirs), (
                path.name,
                dtype,
                method,
                int((ours != theirs).sum()),
            )


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    n = int(rng.integers(k * 3, 600))
    true = rng.integers(0, k, n)
    true[:k] = np.arange(k)  # every class present
    labels = true.copy()
    flip = rng.random(n) < rng.uniform(0.0, 0.5)
    labels[flip] = rng.integers(0, k, int(flip.sum()))
    logits = rng.normal(size=(n, k)) + rng.uniform(0.5, 4) * np.eye(k)[true]
    if seed % 3 == 0:  # coarse probabilities create many ties
        logits = np.round(logits)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dtype = [np.float64, np.float32, np.float16][seed % 3]
    p = p.astype(dtype)
    return labels, p


@pytest.mark.parametrize("seed", range(40))
def test_parity_on_random_inputs(seed: int) -> None:
    labels, pred_probs = _random_case(seed)
    if np.abs(pred_probs.astype(np.float64).sum(1) - 1).max() > 1e-2:
        pytest.skip("float16 rounding put a row outside the tolerance")
    for method in CL_METHODS:
        ours, theirs = _both(labels, pred_probs, method)
        assert np.array_equal(ours, theirs), (seed, method, int((ours != theirs).sum()))


@pytest.mark.parametrize("seed", range(10))
def test_noise_estimate_matches_cleanlab(seed: int) -> None:
    labels, pred_probs = _random_case(seed)
    pred_probs = pred_probs.astype(np.float64)
    pred_probs /= pred_probs.sum(1, keepdims=True)
    est = mislabel.estimate_noise(labels, pred_probs)
    py, nm, inv, cj = cleanlab_count.estimate_py_and_noise_matrices_from_probabilities(
        labels, pred_probs, converge_latent_estimates=False
    )
    # cleanlab: rows = given label; ours: rows = true class.
    np.testing.assert_array_equal(est.confident_joint, cj.T)
    np.testing.assert_allclose(est.noise_matrix, nm.T, atol=1e-12)
    np.testing.assert_allclose(est.inverse_noise_matrix, inv.T, atol=1e-12)
    np.testing.assert_allclose(est.prior_true, py, atol=1e-12)
    n_cal = cleanlab_count.num_label_issues(
        labels, pred_probs, estimation_method="off_diagonal_calibrated"
    )
    assert est.n_issues == n_cal


@pytest.mark.parametrize("seed", range(6))
def test_parity_when_the_scan_spans_many_blocks(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # 256-row blocks: the checks, the per-sample pass and the second look at the rows whose
    # argmax is below its class threshold all cross block boundaries.
    monkeypatch.setattr("mislabel._validation._CHUNK_BYTES", 1)
    rng = np.random.default_rng(100 + seed)
    k, n = 7, 1500
    true = rng.integers(0, k, n)
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, k, n), true)
    logits = rng.normal(size=(n, k)) + rng.uniform(0.3, 2.0) * np.eye(k)[true]
    pred_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred_probs = pred_probs.astype([np.float64, np.float32][seed % 2])
    for method in CL_METHODS:
        ours, theirs = _both(labels, pred_probs, method)
        assert np.array_equal(ours, theirs), (seed, method, int((ours != theirs).sum()))


def test_parity_with_float32_just_below_a_threshold_and_a_class_absent() -> None:
    # Class 2 has no sample, so cleanlab's thresholds are float64: a float32 probability one
    # rounding below ``t - 1e-6`` is not confident there, and must not be here either.
    t = np.float32(0.6)
    below = np.float32(np.float64(t) - 1e-6)
    pred_probs = np.array([[t, 1 - t, 0], [below, 1 - below, 0], [0.1, 0.9, 0]], np.float32)
    labels = np.array([0, 1, 1])
    for method in CL_METHODS:
        ours, theirs = _both(labels, pred_probs, method)
        assert np.array_equal(ours, theirs), (method, ours, theirs)
    cj = cleanlab_count.compute_confident_joint(labels, pred_probs)
    np.testing.assert_array_equal(mislabel.estimate_noise(labels, pred_probs).confident_joint, cj.T)


@pytest.mark.parametrize("seed", range(8))
def test_parity_on_float32_inputs_with_a_class_absent(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    k, n = 5, 400
    true = rng.integers(0, k - 1, n)  # the last class is never given
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, k - 1, n), true)
    logits = np.round(rng.normal(size=(n, k)) + 2.0 * np.eye(k)[true], 1)  # many ties
    pred_probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    for method in CL_METHODS:
        ours, theirs = _both(labels, pred_probs, method)
        assert np.array_equal(ours, theirs), (seed, method, int((ours != theirs).sum()))
    for method in ("adjusted_self_confidence", "adjusted_normalized_margin"):
        ours_s = mislabel.label_quality_scores(labels, pred_probs, method=method)
        theirs_s = pytest.importorskip("cleanlab.rank").get_label_quality_scores(
            labels, pred_probs, method=method.removeprefix("adjusted_"), adjust_pred_probs=True
        )
        np.testing.assert_allclose(ours_s, theirs_s, rtol=1e-6)
