"""Shared pieces of the property-based (fuzz) tests.

Every fuzz test calls the public API on drawn inputs, valid and malformed, through
:func:`outcome`: the call either returns (then the test checks the result: finite, right
shapes, documented ranges) or raises an error of the library's family whose message names one
of the call's arguments in backticks. Anything else fails the test: a bare numpy, scikit-learn
or torch error, a NaN from finite input, a hang (``deadline``).

Runs are derandomised (the same cases on every run). ``MISLABEL_FUZZ_SCALE=10`` multiplies the
number of cases for a longer campaign.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mislabel.exceptions import MislabelError

SCALE = float(os.environ.get("MISLABEL_FUZZ_SCALE", "1"))

#: Cases run by the fuzz tests of this session, for the summary line.
COUNTS: dict[str, int] = {"cases": 0, "errors": 0}


def fuzz(n: int, deadline_ms: int | None = 5000) -> Any:
    """Hypothesis settings of a fuzz test: ``n`` cases (times the scale), derandomised."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        derandomize=True,
        deadline=deadline_ms,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def outcome(call: Callable[[], Any], names: Iterable[str]) -> Any:
    """``call()``'s result, or None when it raised a library error naming one of ``names``."""
    COUNTS["cases"] += 1
    try:
        return call()
    except MislabelError as exc:
        COUNTS["errors"] += 1
        message = str(exc)
        named = [n for n in names if f"`{n}`" in message or re.search(rf"\b{n}\b", message)]
        assert named, f"{type(exc).__name__} names none of {sorted(names)}: {message}"
        assert message.strip(), "empty error message"
        return None


# ------------------------------------------------------------------------------ strategies

ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([10**6, 2**40, 2**64, -(2**63), 2**70]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 1e-300, 1e300, float("nan"), float("inf")]),
    st.text(max_size=3),
    st.just([1, 2]),
    st.just(np.float32(0.3)),
    st.just(np.int64(2)),
    st.just(1 + 2j),
)


def setting(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values of a setting (7 in 8), sometimes odd ones."""
    return st.integers(0, 7).flatmap(lambda i: valid if i < 7 else ODD_SCALARS)


LABEL_DTYPES = st.sampled_from(
    [np.int64, np.int32, np.int8, np.uint8, np.uint16, np.uint32, np.uint64, np.float64, bool]
)


@st.composite
def label_vectors(draw: Any, n: int | None = None, k: int | None = None) -> Any:
    """Labels: usually valid class indices in a random dtype, sometimes malformed."""
    n = n if n is not None else draw(st.integers(1, 40))
    k = k if k is not None else draw(st.integers(1, 6))
    kind = draw(st.integers(0, 14))
    if kind <= 11:
        y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, max(k - 1, 0)), fill=st.nothing()))
        dtype = draw(LABEL_DTYPES)
        if dtype is bool and k > 2:
            dtype = np.int64
        return y.astype(dtype)
    if kind == 12:  # out of range, negative or huge
        return draw(hnp.arrays(np.int64, n, elements=st.integers(-(2**40), 2**40)))
    if kind == 13:  # floats, NaN included
        return draw(hnp.arrays(np.float64, n, elements=st.floats(allow_nan=True, width=32)))
    return draw(st.sampled_from([[], [[0, 1]], "abc", [0, "a"], None, np.zeros((2, 2))]))


@st.composite
def prob_matrices(draw: Any, n: int, k: int) -> Any:
    """(n, k) probabilities: usually valid (some sharp, some flat), sometimes malformed."""
    kind = draw(st.integers(0, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind <= 10:
        alpha = draw(st.sampled_from([0.05, 0.3, 1.0, 5.0]))
        p = rng.dirichlet(np.full(k, alpha), size=n)
        dtype = draw(st.sampled_from([np.float64, np.float32, np.float16]))
        p = p.astype(dtype)
        return p / p.sum(axis=1, keepdims=True, dtype=np.float64).astype(dtype)
    if kind == 11:  # one-hot and exact ties
        return np.eye(k)[rng.integers(0, k, n)] if draw(st.booleans()) else np.full((n, k), 1 / k)
    if kind == 12:  # NaN / inf / negative / unnormalised
        p = rng.dirichlet(np.ones(k), size=n)
        p.flat[draw(st.integers(0, n * k - 1))] = draw(st.sampled_from([np.nan, np.inf, -0.2, 3.0]))
        return p
    if kind == 13:  # wrong shape
        return rng.dirichlet(np.ones(k + 1), size=max(n - 1, 1))
    return draw(st.sampled_from([[[0.5, 0.5]], "p", None, np.ones(3), np.zeros((n, 0))]))


def assert_finite(x: Any, what: str) -> None:
    arr = np.asarray(x, dtype=np.float64)
    assert np.all(np.isfinite(arr)), f"{what} is not finite: {arr}"
