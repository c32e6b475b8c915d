"""TrainingDynamics: per-sample loss and margin per epoch, area under the margin."""

from __future__ import annotations

import numpy as np
import pytest

from mislabel.exceptions import InvalidInputError, NotFittedError
from mislabel.train import TrainingDynamics


def _record(dyn: TrainingDynamics, logits: np.ndarray, y: np.ndarray, order: np.ndarray) -> None:
    for chunk in np.array_split(order, 3):
        dyn.update(chunk, logits[chunk], y[chunk])
    dyn.end_epoch()


def test_loss_and_margin_match_references() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    n, k = 30, 4
    logits = rng.normal(size=(n, k)) * 3
    y = rng.integers(0, k, n)
    dyn = TrainingDynamics(n, k)
    _record(dyn, logits, y, rng.permutation(n))
    ref = torch.nn.functional.cross_entropy(
        torch.as_tensor(logits), torch.as_tensor(y), reduction="none"
    ).numpy()
    np.testing.assert_allclose(dyn.losses[0], ref, rtol=1e-10)
    other = logits.copy()
    other[np.arange(n), y] = -np.inf
    np.testing.assert_allclose(dyn.margins[0], logits[np.arange(n), y] - other.max(1))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(dyn.mean_probs(), probs, rtol=1e-10)


def test_aum_is_the_mean_margin_over_epochs_that_saw_the_sample() -> None:
    n, k = 6, 3
    dyn = TrainingDynamics(n, k)
    y = np.zeros(n, dtype=int)
    for shift in (1.0, 3.0):
        z = np.zeros((n, k))
        z[:, 0] = shift
        dyn.update(np.arange(n), z, y)
        dyn.end_epoch()
    dyn.update(np.array([0]), np.array([[10.0, 0.0, 0.0]]), np.array([0]))
    dyn.end_epoch()
    dyn.end_epoch()  # nothing recorded since: a no-op
    assert dyn.n_epochs == 3
    aum = dyn.aum()
    assert aum[0] == pytest.approx((1 + 3 + 10) / 3)
    assert aum[1:] == pytest.approx([2.0] * 5)
    scores = dyn.as_scores()
    assert np.all((scores > 0) & (scores < 1)) and scores[0] > scores[1]


def test_to_label_issues_flags_the_lowest_aum() -> None:
    n, k = 10, 2
    dyn = TrainingDynamics(n, k)
    y = np.zeros(n, dtype=int)
    z = np.zeros((n, k))
    z[:, 0] = np.linspace(-2, 2, n)  # margins from -2 to 2
    dyn.update(np.arange(n), z, y)
    dyn.end_epoch()
    default = dyn.to_label_issues()
    assert default.method == "aum" and default.n_issues == 5  # the negative margins
    issues = dyn.to_label_issues(noise_rate=0.2)
    assert issues.ranked.tolist() == [0, 1]
    assert issues.suggested[:2].tolist() == [1, 1] and issues.suggested[2:].tolist() == [0] * 8
    assert dyn.to_label_issues(n_issues=3).n_issues == 3


def test_errors() -> None:
    dyn = TrainingDynamics(5, 3)
    with pytest.raises(NotFittedError, match="no finished epoch"):
        dyn.aum()
    with pytest.raises(InvalidInputError, match=r"\[0, 5\)"):
        dyn.update(np.array([7]), np.zeros((1, 3)), np.array([0]))
    with pytest.raises(InvalidInputError, match="n_classes"):
        dyn.update(np.array([0]), np.zeros((1, 4)), np.array([0]))
    with pytest.raises(InvalidInputError, match="class indices"):
        dyn.update(np.array([0]), np.zeros((1, 3)), np.array([3]))
    dyn.update(np.array([0]), np.zeros((1, 3)), np.array([0]))
    dyn.end_epoch()
    assert np.isnan(dyn.aum()[1])
    with pytest.raises(InvalidInputError, match="never recorded"):
        dyn.mean_probs()
