"""mislabel.multiannotator: consensus against majority vote and cleanlab's CROWDLAB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mislabel import InvalidInputError, InvalidParameterError
from mislabel.multiannotator import (
    ConsensusResult,
    consensus,
    cross_val_consensus_pred_probs,
    majority_vote,
)


def make_crowd(
    n: int = 1500,
    k: int = 4,
    m: int = 10,
    per_item: int = 3,
    seed: int = 0,
    model_acc: float = 0.7,
):
    """Items with a true class, ``m`` annotators of accuracy 0.35..0.95 (errors uniform over the
    other classes), ``per_item`` random annotators per item, and a model whose probabilities
    put ``model_acc`` of the items' argmax on the true class."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    acc = np.linspace(0.35, 0.95, m)
    wide = np.full((n, m), np.nan)
    for i in range(n):
        for j in rng.choice(m, per_item, replace=False):
            if rng.random() < acc[j]:
                wide[i, j] = truth[i]
            else:
                wide[i, j] = rng.choice([c for c in range(k) if c != truth[i]])
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), truth] += 2.0 if model_acc >= 0.7 else 0.3
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return wide, truth, acc, probs


def cleanlab_consensus(wide: np.ndarray, probs: np.ndarray):
    from cleanlab.multiannotator import get_label_quality_multiannotator

    out = get_label_quality_multiannotator(pd.DataFrame(wide), probs, verbose=False)
    return (
        out["label_quality"]["consensus_label"].to_numpy(),
        out["annotator_stats"]["annotator_quality"].sort_index().to_numpy(),
    )


def test_votes_only_beats_majority_vote():
    wide, truth, _, _ = make_crowd()
    result = consensus(wide)
    assert isinstance(result, ConsensusResult)
    mv = majority_vote(wide)
    assert (result.labels == truth).mean() > (mv == truth).mean()


def test_with_model_beats_cleanlab_crowdlab():
    pytest.importorskip("cleanlab")
    wide, truth, acc, probs = make_crowd(per_item=2)
    ours = consensus(wide, pred_probs=probs)
    cl_labels, cl_quality = cleanlab_consensus(wide, probs)
    assert (ours.labels == truth).mean() >= (cl_labels == truth).mean()
    # annotator quality ranks the annotators at least as well as CROWDLAB's
    ours_rho = spearmanr(ours.annotator_quality, acc).statistic
    assert ours_rho >= spearmanr(cl_quality, acc).statistic - 1e-9
    assert ours_rho > 0.9


def test_model_helps_votes_and_a_useless_model_is_ignored():
    wide, truth, _, probs = make_crowd(per_item=2, seed=1)
    votes_only = consensus(wide)
    with_model = consensus(wide, pred_probs=probs)
    assert (with_model.labels == truth).mean() > (votes_only.labels == truth).mean()
    uniform = np.full_like(probs, 1.0 / probs.shape[1])
    ignored = consensus(wide, pred_probs=uniform)
    np.testing.assert_array_equal(ignored.labels, votes_only.labels)


def test_one_label_per_item_keeps_it_and_the_model_scores_it():
    wide, truth, _, probs = make_crowd(per_item=1, seed=8)
    given = np.nanmax(wide, axis=1).astype(int)
    res = consensus(wide, pred_probs=probs)
    np.testing.assert_array_equal(res.labels, given)
    pytest.importorskip("cleanlab")
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import roc_auc_score

    wrong = given != truth
    theirs = roc_auc_score(wrong, -get_label_quality_scores(given, probs))
    assert roc_auc_score(wrong, -res.quality) >= theirs - 0.005


def test_quality_flags_wrong_consensus():
    wide, truth, _, probs = make_crowd(seed=2)
    result = consensus(wide, pred_probs=probs)
    wrong = result.labels != truth
    assert result.quality[wrong].mean() < result.quality[~wrong].mean()
    assert np.all(np.diff(result.quality[result.ranked]) >= 0)
    # a single annotation's quality is low where the annotator disagrees with the truth
    item, ann = np.nonzero(~np.isnan(wide))
    right = wide[item, ann] == truth[item]
    aq = result.annotation_quality[item, ann]
    assert aq[~right].mean() < aq[right].mean()
    assert np.isnan(result.annotation_quality[np.isnan(wide)]).all()


def test_every_input_shape_gives_the_same_consensus():
    wide, _, _, probs = make_crowd(n=300, seed=3)
    base = consensus(wide, pred_probs=probs)
    minus_one = np.where(np.isnan(wide), -1, wide).astype(int)
    frame = pd.DataFrame(wide, columns=[f"a{j}" for j in range(wide.shape[1])])
    item, ann = np.nonzero(~np.isnan(wide))
    long = pd.DataFrame(
        {"item": item, "annotator": [f"a{j}" for j in ann], "label": wide[item, ann].astype(int)}
    ).sample(frac=1.0, random_state=0)
    for other in (minus_one, frame, frame.astype("Int64"), long):
        res = consensus(other, pred_probs=probs)
        np.testing.assert_array_equal(res.labels, base.labels)
        np.testing.assert_allclose(res.quality, base.quality, rtol=1e-6)
    long_res = consensus(long, pred_probs=probs)
    assert list(long_res.annotators) == [f"a{j}" for j in range(wide.shape[1])]
    np.testing.assert_allclose(long_res.annotator_quality, base.annotator_quality, rtol=1e-6)


def test_long_table_custom_columns_and_frames():
    long = pd.DataFrame(
        {
            "img": ["x", "x", "y", "y", "z"],
            "who": ["ann", "bob", "ann", "bob", "bob"],
            "tag": [1, 1, 0, 1, 0],
        }
    )
    res = consensus(long, item_column="img", annotator_column="who", label_column="tag")
    assert list(res.items) == ["x", "y", "z"]
    frame = res.to_frame()
    assert list(frame.columns) == [
        "item",
        "consensus_label",
        "quality",
        "agreement",
        "n_annotations",
    ]
    assert frame["n_annotations"].tolist() == [2, 2, 1]
    ann = res.annotators_frame()
    assert set(ann["annotator"]) == {"ann", "bob"}
    assert ann["quality"].is_monotonic_decreasing
    assert ann.set_index("annotator").loc["bob", "n_labels"] == 3


def test_majority_vote_matches_cleanlab_without_ties():
    pytest.importorskip("cleanlab")
    from cleanlab.multiannotator import get_majority_vote_label

    wide, _, _, probs = make_crowd(n=400, per_item=3, seed=4)
    ours = majority_vote(wide, pred_probs=probs)
    theirs = get_majority_vote_label(pd.DataFrame(wide), probs, verbose=False)
    counts = np.stack([(wide == c).sum(axis=1) for c in range(probs.shape[1])], axis=1)
    no_tie = (counts == counts.max(axis=1, keepdims=True)).sum(axis=1) == 1
    np.testing.assert_array_equal(ours[no_tie], theirs[no_tie])
    assert np.array_equal(
        ours[~no_tie],
        np.where(counts == counts.max(1, keepdims=True), probs, -1)[~no_tie].argmax(axis=1),
    )


def test_majority_vote_method_and_fixed_weight():
    wide, _, _, probs = make_crowd(n=300, seed=5)
    res = consensus(wide, method="majority_vote")
    np.testing.assert_array_equal(res.labels, majority_vote(wide))
    assert res.method == "majority_vote"
    fixed = consensus(wide, pred_probs=probs, model_weight=0.0)
    assert fixed.model_weight == 0.0
    np.testing.assert_array_equal(fixed.labels, consensus(wide).labels)


def test_items_without_labels_need_a_model():
    wide, _, _, probs = make_crowd(n=100, seed=6)
    wide[0] = np.nan
    with pytest.raises(InvalidInputError, match=r"item 0 \(row 0\) has none"):
        consensus(wide)
    res = consensus(wide, pred_probs=probs)
    assert res.n_annotations[0] == 0 and res.labels[0] == probs[0].argmax()
    assert np.isnan(res.agreement[0])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.array([0, 1, 2]), r"`annotations` must be 2-D.*reshape\(-1, 1\)"),
        (np.array([["a", "b"], ["b", "a"]]), r"`annotations` must hold integer class indices"),
        (np.array([[0.5, 1.0]]), r"`annotations` must hold integer class indices.*0\.5"),
        (np.array([[-3, 1]]), r"class indices >= 0"),
        (np.full((2, 2), np.nan), r"at least one label; all are missing"),
        (np.empty((0, 3)), r"at least one item and one annotator"),
    ],
)
def test_bad_annotations(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        consensus(bad)


def test_bad_long_table_and_probs():
    long = pd.DataFrame({"item": [0, 0], "annotator": ["a", "a"], "label": [1, 0]})
    with pytest.raises(InvalidInputError, match=r"at most one label per \(item, annotator\)"):
        consensus(long)
    wide = np.array([[0, 1], [2, 2]])
    with pytest.raises(InvalidInputError, match=r"class indices in \[0, 2\); got 2"):
        consensus(wide, pred_probs=np.full((2, 2), 0.5))
    with pytest.raises(InvalidInputError, match=r"one row per item of `annotations` \(2\)"):
        consensus(wide, pred_probs=np.full((3, 3), 1 / 3))
    with pytest.raises(InvalidParameterError, match="`method` must be one of"):
        consensus(wide, method="mean")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="`prior_strength` must be > 0"):
        consensus(wide, prior_strength=0.0)


def test_cross_val_consensus_pred_probs_is_seeded():
    from sklearn.linear_model import LogisticRegression

    wide, truth, _, _ = make_crowd(n=400, seed=7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) + np.eye(4)[truth] @ rng.normal(size=(4, 5)) * 3
    a = cross_val_consensus_pred_probs(LogisticRegression(), x, wide, cv=3, random_state=1)
    b = cross_val_consensus_pred_probs(LogisticRegression(), x, wide, cv=3, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (400, 4)
    res = consensus(wide, pred_probs=a)
    assert (res.labels == truth).mean() >= (consensus(wide).labels == truth).mean()


def test_cifar10n_three_labels_beats_majority_vote(shared_data: Path):
    with np.load(shared_data / "cifar-n" / "cifar10n_labels.npz") as z:
        wide = np.stack([z[f"random_label{c}"] for c in (1, 2, 3)], axis=1).astype(int)
        truth = z["clean_label"]
    res = consensus(wide)
    assert (res.labels == truth).mean() > (majority_vote(wide) == truth).mean()


def test_order_of_items_and_annotators_does_not_matter():
    """With a given prior strength (the automatic choice splits the items by position)."""
    wide, _, _, probs = make_crowd(n=400, seed=9)
    base = consensus(wide, pred_probs=probs, prior_strength=20.0)
    rng = np.random.default_rng(0)
    rows, cols = rng.permutation(wide.shape[0]), rng.permutation(wide.shape[1])
    other = consensus(wide[rows][:, cols], pred_probs=probs[rows], prior_strength=20.0)
    np.testing.assert_array_equal(other.labels, base.labels[rows])
    np.testing.assert_allclose(other.quality, base.quality[rows], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        other.annotator_quality, base.annotator_quality[cols], rtol=1e-6, atol=1e-9
    )
    assert np.all((base.quality >= 0) & (base.quality <= 1))
