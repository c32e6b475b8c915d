"""The reweight policy, and issues tables or cleaned-label files with bad ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mislabel
from mislabel.cli import app
from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.fix import POLICIES, apply_policy, load_cleaned_labels


def _issues():
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 3
    logits = rng.normal(size=(30, 3)) + 2 * np.eye(3)[labels]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return mislabel.find_label_issues(labels, p)


def _frame(**over):
    base = {
        "id": [0, 1, 2],
        "given_label": ["a", "b", "a"],
        "suggested_label": ["a", "a", "b"],
        "suggested_prob": [0.9, 0.8, 0.7],
        "score": [0.9, -0.5, 1.7],
        "is_issue": ["false", "true", "true"],
    }
    base.update(over)
    return pd.DataFrame(base)


def test_reweight_is_a_policy() -> None:
    assert "reweight" in POLICIES


def test_reweight_keeps_every_sample_weighted_by_the_probability_its_label_is_right() -> None:
    issues = _issues()
    cleaned = apply_policy(issues, "reweight")
    assert cleaned.keep.all() and cleaned.n_removed == 0 and cleaned.n_relabelled == 0
    np.testing.assert_array_equal(cleaned.labels, cleaned.given)
    assert issues.prob_right is not None
    np.testing.assert_allclose(cleaned.weight, np.clip(issues.prob_right, 0, 1))
    frame = cleaned.labels_frame()
    assert list(frame.columns) == ["id", "path", "label", "weight"]
    assert frame["weight"].between(0, 1).all()
    assert apply_policy(issues, "remove").weight is None


def test_reweight_clips_a_table_s_scores() -> None:
    cleaned = apply_policy(_frame(), "reweight")
    np.testing.assert_allclose(cleaned.weight, [0.9, 0.0, 1.0])


def test_reweight_takes_a_table_s_prob_right_over_its_ranking_score() -> None:
    cleaned = apply_policy(_frame(prob_right=[0.2, 0.6, 1.3]), "reweight")
    np.testing.assert_allclose(cleaned.weight, [0.2, 0.6, 1.0])
    np.testing.assert_allclose(cleaned.score, [0.9, -0.5, 1.7])  # the order is untouched


def test_reweight_needs_every_score() -> None:
    with pytest.raises(InvalidInputError, match="`score`"):
        apply_policy(_frame(score=[0.5, np.nan, 0.5]), "reweight")
    with pytest.raises(InvalidInputError, match="sample id 2"):
        apply_policy(_frame(prob_right=[0.5, 0.5, np.nan]), "reweight")


@pytest.mark.parametrize(
    "bad", [[np.nan, 1, 2], [-1, 1, 2], [0.5, 1, 2], ["x", 1, 2], [9.3e18, 1, 2]]
)
def test_bad_ids_are_refused(bad) -> None:
    with pytest.raises(InvalidInputError, match="`id`"):
        apply_policy(_frame(id=bad), "remove")


def test_nan_min_confidence_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="`min_confidence`"):
        apply_policy(_frame(), "remove", min_confidence=float("nan"))


def test_duplicate_ids_in_a_cleaned_labels_file(tmp_path: Path) -> None:
    p = tmp_path / "labels_clean.csv"
    pd.DataFrame({"id": [0, 1, 1], "path": "", "label": ["a", "b", "b"]}).to_csv(p, index=False)
    with pytest.raises(InvalidInputError, match="more than once"):
        load_cleaned_labels(p, classes=["a", "b"], n_samples=3)


def test_clean_reweight_writes_a_weight_column(tmp_path: Path) -> None:
    from mislabel.data import find_issues_in, load_predictions

    issues = _issues()
    p = np.eye(3)[issues.labels] * 0.7 + 0.1
    find_issues_in(load_predictions(p, issues.labels)).save(tmp_path)
    res = CliRunner().invoke(app, ["clean", str(tmp_path), "--policy", "reweight"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(tmp_path / "labels_clean.csv")
    assert list(frame.columns) == ["id", "path", "label", "weight"]
    assert len(frame) == 30 and frame["weight"].between(0, 1).all()
    # the weights are the detector's P(label right), the same as from the LabelIssues
    found = mislabel.find_label_issues(issues.labels, p)
    assert not np.allclose(found.weights, found.scores)
    np.testing.assert_allclose(frame.sort_values("id")["weight"], found.weights, rtol=1e-6)
    assert (tmp_path / "changes.csv").exists()
    _, keep = load_cleaned_labels(
        tmp_path / "labels_clean.csv", classes=["0", "1", "2"], n_samples=30
    )
    assert keep.all()
