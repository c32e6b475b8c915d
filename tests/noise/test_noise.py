"""Tests of mislabel.noise: exact counts, realized matrices, maps, seeds, bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.noise import (
    PAIR_MAPPINGS,
    NoisyLabels,
    apply_noise_matrix,
    flip_pairs,
    flip_symmetric,
    instance_dependent,
    is_valid_noise_matrix,
    random_noise_matrix,
    resample_symmetric,
)

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def unbalanced_labels(n: int = 3_000, k: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 3.0)))


def joint_counts(out: NoisyLabels) -> np.ndarray:
    k = out.n_classes
    return np.bincount(out.true_labels * k + out.labels, minlength=k * k).reshape(k, k)


def assert_consistent(out: NoisyLabels, y: np.ndarray) -> None:
    """The fields of a result agree with each other and with the input."""
    np.testing.assert_array_equal(out.true_labels, y)
    np.testing.assert_array_equal(out.is_noisy, out.labels != y)
    assert out.labels.shape == y.shape
    assert out.labels.min() >= 0 and out.labels.max() < out.n_classes
    counts = joint_counts(out)
    present = counts.sum(axis=1) > 0
    realized = counts[present] / counts[present].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.noise_matrix[present], realized)
    np.testing.assert_allclose(out.noise_matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(out.expected_noise_matrix.sum(axis=1), 1.0)
    assert out.noise_rate == pytest.approx(np.mean(out.labels != y))


# --------------------------------------------------------------------------- flip_symmetric


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.2345, 0.5, 0.9, 1.0])
def test_flip_symmetric_flips_exact_count_to_other_classes(rate: float, stratify: bool) -> None:
    y = unbalanced_labels()
    out = flip_symmetric(y, rate, stratify=stratify, random_state=0)
    assert_consistent(out, y)
    assert out.n_noisy == math.floor(rate * y.size + 0.5)
    assert out.method == "flip_symmetric"
    k = 10
    expected = np.full((k, k), rate / (k - 1))
    np.fill_diagonal(expected, 1 - rate)
    np.testing.assert_allclose(out.expected_noise_matrix, expected)


def test_flip_symmetric_stratified_flips_each_class_evenly() -> None:
    y = unbalanced_labels()
    rate = 0.3
    out = flip_symmetric(y, rate, random_state=1)
    counts = joint_counts(out)
    n_c = counts.sum(axis=1)
    flipped = n_c - np.diag(counts)
    assert np.all(np.abs(flipped - rate * n_c) < 1)
    for c in range(10):
        off = np.delete(counts[c], c)
        assert off.max() - off.min() <= 1, f"class {c} flips spread unevenly: {off}"


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=2, max_size=80).filter(lambda v: len(set(v)) > 1),
    rate=st.floats(0, 1),
    stratify=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_flip_symmetric_count_property(
    labels: list[int], rate: float, stratify: bool, seed: int
) -> None:
    y = np.array(labels)
    out = flip_symmetric(y, rate, stratify=stratify, random_state=seed)
    assert out.n_noisy == math.floor(rate * y.size + 0.5)
    assert_consistent(out, y)


def test_flip_symmetric_respects_n_classes_beyond_labels() -> None:
    y = np.repeat([0, 1], 50)
    out = flip_symmetric(y, 1.0, n_classes=5, random_state=0)
    assert out.n_classes == 5
    assert set(np.unique(out.labels)) <= {0, 1, 2, 3, 4}
    # classes 2..4 are absent: identity rows in the realized matrix
    np.testing.assert_array_equal(out.noise_matrix[2:], np.eye(5)[2:])


# --------------------------------------------------------------------------- resample_symmetric


def test_resample_symmetric_realized_rate_is_rate_times_k_minus_1_over_k() -> None:
    y = np.repeat(np.arange(10), 2_000)
    out = resample_symmetric(y, 0.5, random_state=0)
    assert_consistent(out, y)
    # Binomial(20000, 0.45): sd 0.0035
    assert out.noise_rate == pytest.approx(0.5 * 9 / 10, abs=0.015)
    np.testing.assert_allclose(out.expected_noise_matrix, 0.5 * np.eye(10) + 0.05)
    np.testing.assert_allclose(out.noise_matrix, out.expected_noise_matrix, atol=0.05)


def test_resample_symmetric_rate_one_is_uniform_labels() -> None:
    y = np.zeros(10_000, dtype=int)
    out = resample_symmetric(y, 1.0, n_classes=4, random_state=3)
    assert np.allclose(np.bincount(out.labels, minlength=4) / y.size, 0.25, atol=0.02)


# --------------------------------------------------------------------------- flip_pairs


def test_standard_maps_by_class_name() -> None:
    def named(mapping: str, names: tuple[str, ...]) -> set[tuple[str, str]]:
        return {(names[s], names[d]) for s, d in PAIR_MAPPINGS[mapping].items()}

    assert named("mnist", tuple(str(d) for d in range(10))) == {
        ("7", "1"),
        ("2", "7"),
        ("5", "6"),
        ("6", "5"),
        ("3", "8"),
    }
    assert named("cifar10", CIFAR10) == {
        ("truck", "automobile"),
        ("bird", "airplane"),
        ("deer", "horse"),
        ("cat", "dog"),
        ("dog", "cat"),
    }
    assert named("fashion_mnist", FASHION) == {
        ("T-shirt/top", "Shirt"),
        ("Pullover", "Coat"),
        ("Sandal", "Sneaker"),
        ("Sneaker", "Sandal"),
        ("Ankle boot", "Sneaker"),
    }


@pytest.mark.parametrize("mapping", ["mnist", "cifar10", "fashion_mnist"])
def test_flip_pairs_named_maps(mapping: str) -> None:
    y = unbalanced_labels(5_000)
    rate = 0.35
    out = flip_pairs(y, rate, mapping=mapping, random_state=0)
    assert_consistent(out, y)
    pairs = PAIR_MAPPINGS[mapping]
    counts = joint_counts(out)
    n_c = counts.sum(axis=1)
    allowed = np.eye(10, dtype=bool)
    for src, dst in pairs.items():
        allowed[src, dst] = True
        assert abs(counts[src, dst] - rate * n_c[src]) < 1
    assert np.all(counts[~allowed] == 0), "a label moved outside the map"
    for c in set(range(10)) - set(pairs):
        assert counts[c, c] == n_c[c]
    np.testing.assert_allclose(out.noise_matrix, out.expected_noise_matrix, atol=1 / n_c.min())


def test_flip_pairs_pairflip_and_dict() -> None:
    y = np.repeat(np.arange(4), 100)
    out = flip_pairs(y, 0.25, mapping="pairflip", random_state=0)
    counts = joint_counts(out)
    for c in range(4):
        assert counts[c, (c + 1) % 4] == 25
    out = flip_pairs(y, 0.5, mapping={0: 3}, random_state=0)
    assert joint_counts(out)[0, 3] == 50
    assert out.n_noisy == 50


def test_flip_pairs_independent_draws() -> None:
    y = np.repeat(np.arange(10), 1_000)
    out = flip_pairs(y, 0.4, mapping="cifar10", exact=False, random_state=0)
    assert out.noise_matrix[9, 1] == pytest.approx(0.4, abs=0.06)
    assert out.noise_matrix[0, 0] == 1.0


# --------------------------------------------------------------------------- apply_noise_matrix


def test_apply_noise_matrix_exact_realizes_matrix_within_rounding() -> None:
    y = unbalanced_labels(4_000)
    nm = random_noise_matrix(10, trace=5.0, sparsity=0.3, random_state=2)
    out = apply_noise_matrix(y, nm, random_state=0)
    assert_consistent(out, y)
    n_c = np.bincount(y, minlength=10)
    assert np.all(np.abs(out.noise_matrix - nm) < 1 / n_c[:, None])
    np.testing.assert_allclose(out.expected_noise_matrix, nm)
    assert np.all(out.noise_matrix[nm == 0] == 0)


def test_apply_noise_matrix_independent_draws_are_close() -> None:
    y = np.repeat(np.arange(3), 5_000)
    nm = np.array([[0.7, 0.2, 0.1], [0.0, 0.9, 0.1], [0.25, 0.25, 0.5]])
    out = apply_noise_matrix(y, nm, exact=False, random_state=0)
    np.testing.assert_allclose(out.noise_matrix, nm, atol=0.03)
    assert out.noise_matrix[1, 0] == 0


def test_apply_noise_matrix_agrees_with_cleanlab() -> None:
    noise_generation = pytest.importorskip("cleanlab.benchmarking.noise_generation")
    y = np.repeat(np.arange(5), 400)
    nm = random_noise_matrix(5, trace=3.0, random_state=4)
    np.random.seed(0)  # noqa: NPY002 - cleanlab's generator draws from the global RNG
    theirs = noise_generation.generate_noisy_labels(y, nm.T)  # cleanlab: columns = true class
    ours = apply_noise_matrix(y, nm, random_state=0)
    k = 5
    their_counts = np.bincount(y * k + theirs, minlength=k * k).reshape(k, k)
    their_matrix = their_counts / their_counts.sum(axis=1, keepdims=True)
    # cleanlab floors each count, we apportion: both within k / n_c of the target
    np.testing.assert_allclose(ours.noise_matrix, their_matrix, atol=k / 400)


# --------------------------------------------------------------------------- random_noise_matrix


@pytest.mark.parametrize(
    ("k", "trace", "sparsity"),
    [(2, 1.5, 0.0), (3, 2.0, 0.5), (10, 4.0, 0.0), (10, 6.0, 0.2), (10, 8.0, 0.6), (20, 12, 0.4)],
)
def test_random_noise_matrix_honours_trace_and_sparsity(
    k: int, trace: float, sparsity: float
) -> None:
    nm = random_noise_matrix(k, trace=trace, sparsity=sparsity, random_state=0)
    assert nm.shape == (k, k)
    assert np.trace(nm) == pytest.approx(trace)
    np.testing.assert_allclose(nm.sum(axis=1), 1.0)
    assert nm.min() >= 0 and nm.max() <= 1
    off = nm[~np.eye(k, dtype=bool)]
    assert np.sum(off == 0) == math.floor(sparsity * k * (k - 1) + 1e-9)
    assert is_valid_noise_matrix(nm)


def test_random_noise_matrix_with_prior_is_valid_for_cleanlab() -> None:
    noise_generation = pytest.importorskip("cleanlab.benchmarking.noise_generation")
    py = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    for seed in range(10):
        nm = random_noise_matrix(5, trace=2.0, sparsity=0.25, py=py, random_state=seed)
        assert noise_generation.noise_matrix_is_valid(nm.T, py)


def test_is_valid_noise_matrix_agrees_with_cleanlab() -> None:
    noise_generation = pytest.importorskip("cleanlab.benchmarking.noise_generation")
    rng = np.random.default_rng(0)
    verdicts = []
    for seed in range(60):
        k = int(rng.integers(3, 8))
        py = rng.dirichlet(np.full(k, 2.0))
        nm = random_noise_matrix(
            k, trace=float(rng.uniform(0.5, k)), valid=False, random_state=seed
        )
        ours = is_valid_noise_matrix(nm, py=py)
        assert ours == noise_generation.noise_matrix_is_valid(nm.T, py)
        verdicts.append(ours)
    assert any(verdicts) and not all(verdicts), "both outcomes should be exercised"
    # and cleanlab's own matrices are valid in our orientation
    py = np.full(6, 1 / 6)
    theirs = noise_generation.generate_noise_matrix_from_trace(6, 3.0, py=py, seed=1)
    assert is_valid_noise_matrix(theirs.T, py=py)


def test_random_noise_matrix_valid_false_allows_low_trace() -> None:
    nm = random_noise_matrix(4, trace=0.5, valid=False, random_state=0)
    assert np.trace(nm) == pytest.approx(0.5)
    assert not is_valid_noise_matrix(nm)


# --------------------------------------------------------------------------- instance_dependent


def test_instance_dependent_rate_and_dependence_on_features() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 2_000)
    X = rng.normal(size=(y.size, 20)) + y[:, None]
    out = instance_dependent(X, y, 0.3, random_state=0)
    assert_consistent(out, y)
    assert out.noise_rate == pytest.approx(0.3, abs=0.02)
    np.testing.assert_allclose(np.diag(out.expected_noise_matrix), 0.7, atol=0.02)
    np.testing.assert_allclose(out.noise_matrix, out.expected_noise_matrix, atol=0.03)
    # same seed, other features: other flip targets
    again = instance_dependent(np.repeat(X[:1], y.size, axis=0), y, 0.3, random_state=0)
    assert not np.allclose(again.expected_noise_matrix, out.expected_noise_matrix)
    # one feature vector for all samples: every class sends its flips mostly to one class
    off = again.expected_noise_matrix[~np.eye(5, dtype=bool)].reshape(5, 4)
    assert np.all(off.max(axis=1) > 0.5 * off.sum(axis=1))


def test_instance_dependent_accepts_images() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 30)
    out = instance_dependent(rng.random((90, 4, 4, 3)), y, 0.2, random_state=0)
    assert out.labels.shape == (90,)


# --------------------------------------------------------------------------- seeds


GENERATORS = {
    "flip_symmetric": lambda y, rs: flip_symmetric(y, 0.3, random_state=rs),
    "flip_symmetric_global": lambda y, rs: flip_symmetric(y, 0.3, stratify=False, random_state=rs),
    "resample_symmetric": lambda y, rs: resample_symmetric(y, 0.3, random_state=rs),
    "flip_pairs": lambda y, rs: flip_pairs(y, 0.3, mapping="mnist", random_state=rs),
    "apply_noise_matrix": lambda y, rs: apply_noise_matrix(
        y, random_noise_matrix(10, trace=7.0, random_state=1), random_state=rs
    ),
    "instance_dependent": lambda y, rs: instance_dependent(
        np.arange(y.size * 3, dtype=float).reshape(-1, 3) % 7, y, 0.3, random_state=rs
    ),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_same_result(name: str) -> None:
    y = unbalanced_labels(2_000)
    make = GENERATORS[name]
    a, b, c = make(y, 7), make(y, 7), make(y, 8)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.noise_matrix, b.noise_matrix)
    assert not np.array_equal(a.labels, c.labels)
    d, e = make(y, np.random.default_rng(5)), make(y, np.random.default_rng(5))
    np.testing.assert_array_equal(d.labels, e.labels)
    np.testing.assert_array_equal(y, unbalanced_labels(2_000))  # input left alone


def test_random_noise_matrix_same_seed_same_matrix() -> None:
    a = random_noise_matrix(8, trace=5.0, sparsity=0.3, random_state=11)
    b = random_noise_matrix(8, trace=5.0, sparsity=0.3, random_state=11)
    c = random_noise_matrix(8, trace=5.0, sparsity=0.3, random_state=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_result_is_frozen() -> None:
    out = flip_symmetric([0, 1, 0, 1], 0.5, random_state=0)
    with pytest.raises(AttributeError):
        out.labels = np.zeros(4)  # type: ignore[misc]
    assert "flip_symmetric" in repr(out)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: flip_symmetric([0, 1, 2], 1.5),
            InvalidParameterError,
            r"`noise_rate` must be <= 1",
        ),
        (
            lambda: flip_symmetric([0, 1, 2], -0.1),
            InvalidParameterError,
            r"`noise_rate` must be >= 0",
        ),
        (lambda: flip_symmetric([0, 1, 2], "0.2"), InvalidParameterError, r"`noise_rate` must be"),
        (lambda: flip_symmetric([[0, 1, 2]], 0.2), InvalidInputError, r"`labels` must be a 1-D"),
        (lambda: flip_symmetric([0, 0, 0], 0.2), InvalidInputError, r"at least 2 classes"),
        (lambda: flip_symmetric([0, -1], 0.2), InvalidInputError, r"negative value -1"),
        (
            lambda: flip_symmetric([0, 1, 2], 0.2, n_classes=2),
            InvalidInputError,
            r"\[0, 2\); got 2",
        ),
        (
            lambda: flip_symmetric([0, 1], 0.2, n_classes=1),
            InvalidParameterError,
            r"`n_classes` must be >= 2",
        ),
        (
            lambda: flip_symmetric([0, 1], 0.2, random_state=-3),
            InvalidParameterError,
            r"`random_state`",
        ),
        (lambda: resample_symmetric(["a", "b"], 0.2), InvalidInputError, r"integer class indices"),
        (
            lambda: flip_pairs([0, 1], 0.2, mapping="svhn"),
            InvalidParameterError,
            r"`mapping` must be one of 'mnist'",
        ),
        (
            lambda: flip_pairs([0, 10], 0.2, mapping="mnist"),
            InvalidInputError,
            r"\[0, 10\); got 10",
        ),
        (
            lambda: flip_pairs([0, 1], 0.2, mapping="cifar10", n_classes=5),
            InvalidParameterError,
            r"10-class map",
        ),
        (
            lambda: flip_pairs([0, 1], 0.2, mapping={0: 0}),
            InvalidParameterError,
            r"different class; got 0: 0",
        ),
        (
            lambda: flip_pairs([0, 1], 0.2, mapping={0: 5}),
            InvalidParameterError,
            r"\[0, 2\); got 0: 5",
        ),
        (lambda: flip_pairs([0, 1], 0.2, mapping=[(0, 1)]), InvalidParameterError, r"or a dict"),
        (
            lambda: apply_noise_matrix([0, 1], [[0.5, 0.4], [0, 1]]),
            InvalidInputError,
            r"rows .*must each sum to 1.*row 0 sums to 0\.9",
        ),
        (
            lambda: apply_noise_matrix([0, 1], [[0.9, 0.3], [0.1, 0.7]]),
            InvalidInputError,
            r"pass its transpose",
        ),
        (
            lambda: apply_noise_matrix([0, 1], [[1.2, -0.2], [0, 1]]),
            InvalidInputError,
            r"non-negative.*-0\.2 at row 0, column 1",
        ),
        (
            lambda: apply_noise_matrix([0, 1], np.eye(2)[:1]),
            InvalidInputError,
            r"shape \(n_classes, n_classes\).*got shape \(1, 2\)",
        ),
        (
            lambda: apply_noise_matrix([0, 2], np.eye(2)),
            InvalidInputError,
            r"\[0, 2\) to match `noise_matrix`",
        ),
        (
            lambda: random_noise_matrix(5, trace=1.0),
            InvalidParameterError,
            r"`trace` must be > 1 for a valid",
        ),
        (lambda: random_noise_matrix(5, trace=6.0), InvalidParameterError, r"`trace` must be <= 5"),
        (
            lambda: random_noise_matrix(1, trace=1.0),
            InvalidParameterError,
            r"`n_classes` must be >= 2",
        ),
        (
            lambda: random_noise_matrix(4, trace=2.0, sparsity=0.9),
            InvalidParameterError,
            r"`sparsity` must be <= .*0\.6667",
        ),
        (
            lambda: random_noise_matrix(3, trace=2.0, py=[0.5, 0.5]),
            InvalidInputError,
            r"`py` must have shape \(n_classes,\) = \(3,\)",
        ),
        (
            lambda: random_noise_matrix(2, trace=1.5, py=[1.0, 0.0]),
            InvalidInputError,
            r"strictly positive",
        ),
        (
            lambda: random_noise_matrix(2, trace=1.5, py=[0.6, 0.6]),
            InvalidInputError,
            r"`py` must sum to 1",
        ),
        (
            lambda: random_noise_matrix(10, trace=1.01, max_iter=1, random_state=0),
            InvalidParameterError,
            r"no valid noise matrix",
        ),
        (
            lambda: instance_dependent(np.zeros((3, 2)), [0, 1], 0.2),
            InvalidInputError,
            r"n_samples = 2.*got shape \(3, 2\)",
        ),
        (
            lambda: instance_dependent(np.zeros(2), [0, 1], 0.2),
            InvalidInputError,
            r"reshape\(-1, 1\)",
        ),
        (
            lambda: instance_dependent(np.full((2, 2), np.nan), [0, 1], 0.2),
            InvalidInputError,
            r"finite",
        ),
        (
            lambda: instance_dependent(np.zeros((2, 2)), [0, 1], 0.2, norm_std=0),
            InvalidParameterError,
            r"`norm_std` must be > 0",
        ),
    ],
)
def test_bad_input_names_the_input(
    call: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call()
