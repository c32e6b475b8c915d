"""apply_policy: remove / relabel / keep, from a LabelIssues or from the issues.csv table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mislabel
from mislabel.exceptions import InvalidInputError, InvalidParameterError
from mislabel.fix import CleanedLabels, apply_policy, load_cleaned_labels


@pytest.fixture
def issues() -> mislabel.LabelIssues:
    rng = np.random.default_rng(0)
    n, k = 300, 3
    true = rng.integers(0, k, n)
    pred = np.full((n, k), 0.05)
    pred[np.arange(n), true] = 0.9
    given = true.copy()
    flip = rng.choice(n, 30, replace=False)
    given[flip] = (true[flip] + 1) % k
    return mislabel.find_label_issues(given, pred / pred.sum(1, keepdims=True))


def _frame(issues: mislabel.LabelIssues, names: list[str]) -> pd.DataFrame:
    frame = issues.to_frame(only_issues=False, class_names=names).rename(columns={"index": "id"})
    frame["is_issue"] = np.where(frame["is_issue"], "true", "false")
    frame["path"] = [f"img/{i}.png" for i in frame["id"]]
    return frame


def test_remove_drops_exactly_the_flagged(issues: mislabel.LabelIssues) -> None:
    cleaned = apply_policy(issues, "remove")
    assert isinstance(cleaned, CleanedLabels)
    np.testing.assert_array_equal(cleaned.keep, ~issues.mask)
    assert cleaned.n_removed == issues.n_issues and cleaned.n_relabelled == 0
    np.testing.assert_array_equal(cleaned.labels, issues.labels)


def test_relabel_uses_the_suggestion(issues: mislabel.LabelIssues) -> None:
    cleaned = apply_policy(issues, "relabel")
    assert cleaned.keep.all()
    np.testing.assert_array_equal(cleaned.labels[issues.mask], issues.suggested[issues.mask])
    np.testing.assert_array_equal(cleaned.labels[~issues.mask], issues.labels[~issues.mask])
    log = cleaned.changes_frame()
    assert len(log) == cleaned.n_relabelled == issues.n_issues
    assert set(log["action"]) == {"relabel"}


def test_keep_changes_nothing(issues: mislabel.LabelIssues) -> None:
    cleaned = apply_policy(issues, "keep")
    assert cleaned.keep.all() and (cleaned.action == "keep").all()
    assert cleaned.changes_frame().empty


def test_min_confidence_spares_the_uncertain(issues: mislabel.LabelIssues) -> None:
    threshold = float(np.median(issues.suggested_prob[issues.mask]))
    cleaned = apply_policy(issues, "remove", min_confidence=threshold)
    expected = issues.mask & (issues.suggested_prob >= threshold)
    np.testing.assert_array_equal(~cleaned.keep, expected)
    assert 0 < cleaned.n_removed <= issues.n_issues


def test_frame_and_label_issues_agree(issues: mislabel.LabelIssues) -> None:
    names = ["ant", "bee", "cat"]
    from_frame = apply_policy(_frame(issues, names), "relabel", min_confidence=0.3)
    direct = apply_policy(issues, "relabel", min_confidence=0.3, class_names=names)
    np.testing.assert_array_equal(from_frame.ids, direct.ids)
    np.testing.assert_array_equal(from_frame.labels, direct.labels)
    np.testing.assert_array_equal(from_frame.action, direct.action)
    assert from_frame.paths is not None and from_frame.paths[3] == "img/3.png"


def test_save_round_trip(issues: mislabel.LabelIssues, tmp_path: Path) -> None:
    names = ["ant", "bee", "cat"]
    cleaned = apply_policy(_frame(issues, names), "remove")
    labels_path, log_path = cleaned.save(tmp_path / "labels.csv", tmp_path / "changes.csv")
    assert log_path is not None and log_path.is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind
    y, keep = load_cleaned_labels(labels_path, classes=names, n_samples=issues.labels.shape[0])
    np.testing.assert_array_equal(keep, ~issues.mask)
    np.testing.assert_array_equal(y[keep], issues.labels[keep])


def test_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="`policy` must be one of"):
        apply_policy(pd.DataFrame(), "burn")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="`min_confidence` must be <= 1"):
        apply_policy(pd.DataFrame(), "remove", min_confidence=2.0)
    with pytest.raises(InvalidInputError, match="lacks the columns"):
        apply_policy(pd.DataFrame({"id": [0]}), "remove")
    with pytest.raises(InvalidInputError, match="must be a LabelIssues"):
        apply_policy([1, 2, 3], "remove")


def test_load_cleaned_labels_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_cleaned_labels(tmp_path / "none.csv", classes=["a"], n_samples=3)
    pd.DataFrame({"id": [0, 7], "label": ["a", "a"]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"ids outside \[0, 3\)"):
        load_cleaned_labels(tmp_path / "x.csv", classes=["a"], n_samples=3)
    pd.DataFrame({"id": [0], "label": ["zebra"]}).to_csv(tmp_path / "y.csv", index=False)
    with pytest.raises(InvalidInputError, match="not classes of the data"):
        load_cleaned_labels(tmp_path / "y.csv", classes=["a"], n_samples=3)


def test_load_review_export(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "id": [0, 1, 2, 3],
            "path": ["", "", "", ""],
            "given_label": ["a", "b", "a", "b"],
            "final_label": ["b", "b", "", "b"],
            "action": ["relabeled", "kept", "removed", "unreviewed"],
        }
    ).to_csv(tmp_path / "reviewed.csv", index=False)
    labels, keep = load_cleaned_labels(tmp_path / "reviewed.csv", classes=["a", "b"], n_samples=4)
    assert keep.tolist() == [True, True, False, True]
    assert labels[keep].tolist() == [1, 1, 1]
