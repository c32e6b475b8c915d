"""Detection on inputs that used to crash or slip through: unsigned labels, NaN settings,
degenerate noise estimates, library errors instead of numpy / scikit-learn ones."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

import mislabel
from mislabel.exceptions import InvalidInputError, InvalidParameterError

NAN = float("nan")
P = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8])
@pytest.mark.parametrize(
    "fn",
    [
        lambda y: mislabel.find_label_issues(y, P),
        lambda y: mislabel.estimate_noise(y, P),
        lambda y: mislabel.true_label_posterior(y, P),
        lambda y: mislabel.health_summary(y, P),
        lambda y: mislabel.label_quality_scores(y, P),
    ],
)
def test_unsigned_labels_work_like_signed_ones(dtype, fn) -> None:
    fn(np.array([0, 1, 0, 1], dtype=dtype))


def test_an_estimated_noise_matrix_has_rows_summing_to_one_and_feeds_back() -> None:
    labels = np.array([0, 1, 1, 1])
    p = np.array([[0.3, 0.7]] * 4)
    est = mislabel.estimate_noise(labels, p)
    np.testing.assert_allclose(est.noise_matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(est.inverse_noise_matrix.sum(axis=1), 1.0)
    mislabel.find_label_issues(labels, p, noise_matrix=est.noise_matrix)
    mislabel.true_label_posterior(labels, p, noise_matrix=est)


Y4 = [0, 1, 0, 1]
E4 = np.eye(4)
BAD_SETTINGS = [
    (lambda: mislabel.find_label_issues(Y4, P, noise_rate=NAN), "noise_rate"),
    (lambda: mislabel.find_label_issues(Y4, P, frac_noise=NAN), "frac_noise"),
    (lambda: mislabel.find_label_issues(Y4, P, noise_matrix="identity"), "noise_matrix"),
    (lambda: mislabel.health_summary(Y4, P, class_names=["a"]), "class_names"),
    (lambda: mislabel.health_summary(Y4, P, top_pairs="3"), "top_pairs"),
    (lambda: mislabel.neighbor_label_probs(E4, Y4, n_neighbors=2, smoothing=NAN), "smoothing"),
    (lambda: mislabel.neighbor_label_probs(E4, Y4, n_neighbors=2, smoothing=1e999), "smoothing"),
]


@pytest.mark.parametrize("call, name", BAD_SETTINGS)
def test_bad_settings_name_the_argument(call, name: str) -> None:
    with pytest.raises((InvalidInputError, InvalidParameterError), match=f"`{name}`"):
        call()


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    return rng.normal(size=(40, 3)) + y[:, None], y


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"cv": "2"}, InvalidParameterError, "`cv`"),
        ({"cv": 41}, InvalidParameterError, "`cv`"),
        ({"cv": KFold(2)}, InvalidInputError, "fold 0's training part holds only class"),
        ({"sample_weight": np.zeros(40)}, InvalidInputError, "`sample_weight`"),
        ({"n_classes": "3"}, InvalidParameterError, "`n_classes`"),
        ({"n_jobs": 0}, InvalidParameterError, "`n_jobs`"),
    ],
)
def test_cross_val_errors_are_the_library_s(xy, kwargs, error, pattern) -> None:
    x, y = xy
    if isinstance(kwargs.get("cv"), KFold):
        y = np.sort(y)  # unshuffled halves: each training part holds one class
    with pytest.raises(error, match=pattern):
        mislabel.cross_val_pred_probs(LogisticRegression(), x, y, **kwargs)


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (lambda x: np.where(np.arange(40)[:, None] == 3, np.inf, x), "finite"),
        (lambda x: x.astype(complex), "complex"),
        (lambda x: x.astype(str).astype(object) + "a", "could not fit"),
    ],
)
def test_unusable_features_name_x(xy, bad, pattern) -> None:
    x, y = xy
    with pytest.raises(InvalidInputError, match=pattern):
        mislabel.cross_val_pred_probs(LogisticRegression(), bad(x), y, cv=2)


def test_huge_seeds_work_and_stay_deterministic(xy) -> None:
    x, y = xy
    a = mislabel.cross_val_pred_probs(LogisticRegression(), x, y, cv=2, random_state=2**40)
    b = mislabel.cross_val_pred_probs(LogisticRegression(), x, y, cv=2, random_state=2**40)
    np.testing.assert_array_equal(a, b)


def test_n_jobs_does_not_change_the_bits(xy) -> None:
    x, y = xy
    est = LogisticRegression(max_iter=200)
    a = mislabel.cross_val_pred_probs(est, x, y, cv=4, random_state=0, n_jobs=1)
    b = mislabel.cross_val_pred_probs(est, x, y, cv=4, random_state=0, n_jobs=2)
    np.testing.assert_array_equal(a, b)


def test_detect_does_not_import_torch_side_code() -> None:
    import ast
    from pathlib import Path

    import mislabel.detect as det

    for path in Path(det.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("mislabel.integrations", "mislabel.train")), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("torch") for a in node.names), path
