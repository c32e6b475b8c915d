"""Noise generators on degenerate settings: no hang, no NaN, no giant allocation."""

from __future__ import annotations

import numpy as np
import pytest

from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.noise import (
    flip_pairs,
    flip_symmetric,
    instance_dependent,
    random_noise_matrix,
    resample_symmetric,
)

NAN = float("nan")
INF = float("inf")
Y = np.arange(40) % 4
X = np.random.default_rng(0).normal(size=(40, 3))


@pytest.mark.parametrize("std", [1e6, 1e300])
def test_a_very_wide_truncated_normal_ends(std: float) -> None:
    out = instance_dependent(X, Y, 0.2, norm_std=std, random_state=0)
    assert out.labels.shape == Y.shape


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: instance_dependent(X, Y, 0.2, norm_std=INF), "norm_std"),
        (lambda: instance_dependent(X, Y, NAN), "noise_rate"),
        (lambda: flip_symmetric(Y, NAN), "noise_rate"),
        (lambda: resample_symmetric(Y, NAN), "noise_rate"),
        (lambda: flip_pairs(Y, NAN, mapping="pairflip", exact=False), "noise_rate"),
        (lambda: random_noise_matrix(3, trace=NAN, valid=False), "trace"),
        (lambda: random_noise_matrix(3, trace=2.0, sparsity=NAN), "sparsity"),
        (lambda: random_noise_matrix(10**6, trace=2.0), "n_classes"),
        (lambda: flip_symmetric(Y, 0.5, n_classes=10**7), "n_classes"),
    ],
)
def test_nan_inf_and_absurd_settings_are_refused(call, name: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"`{name}`"):
        call()


def test_absurd_label_values_are_refused_before_allocating() -> None:
    with pytest.raises(InvalidInputError, match=r"`labels`.*at most 4096 classes"):
        flip_symmetric([0, 10**6], 0.5)


def test_unsigned_labels_are_accepted() -> None:
    a = flip_symmetric(Y.astype(np.uint64), 0.25, random_state=0)
    b = flip_symmetric(Y, 0.25, random_state=0)
    np.testing.assert_array_equal(a.labels, b.labels)
