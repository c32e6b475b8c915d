"""One label per item from several annotators: consensus, its quality, and the annotators'."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from mislabel._validation import check_option, check_pred_probs, check_scalar
from mislabel.exceptions import InvalidInputError
from mislabel.multiannotator._em import choose_strength, fit_em
from mislabel.multiannotator._input import Votes, parse_annotations

ConsensusMethod = Literal["dawid_skene", "majority_vote"]
CONSENSUS_METHODS: tuple[str, ...] = get_args(ConsensusMethod)

#: Pseudo-votes that pull an annotator's estimated accuracy towards the average annotator's.
_QUALITY_SHRINK = 2.0


@dataclass(frozen=True)
class ConsensusResult:
    """The result of :func:`consensus`.

    Attributes:
        labels: (n_items,) int, the consensus label of each item.
        quality: (n_items,) float in [0, 1], the estimated probability that the consensus
            label is right; **low = look again**.
        ranked: item positions by increasing ``quality`` (the items that most need another
            look first).
        posterior: (n_items, n_classes) P(true class | votes[, model]).
        agreement: (n_items,) share of the item's annotators who gave the consensus label
            (NaN for an item nobody labelled).
        n_annotations: (n_items,) number of labels each item got.
        annotation_quality: (n_items, n_annotators) the estimated probability that each single
            annotation is right (NaN where the annotator gave no label).
        annotator_quality: (n_annotators,) each annotator's estimated accuracy: the mean of
            ``annotation_quality`` over their labels, pulled towards the average annotator's
            by two pseudo-labels (so one lucky label does not make a best annotator).
        annotator_agreement: (n_annotators,) share of each annotator's labels that equal the
            consensus (NaN for an annotator with no label).
        annotator_n_labels: (n_annotators,) number of labels each annotator gave.
        annotator_confusion: (n_annotators, n_classes, n_classes) P(annotator's label = l |
            true class = k), **rows = true class**.
        annotators: (n_annotators,) annotator names (column names, or the long table's ids).
        items: (n_items,) item names (the index, or the long table's item ids).
        method: ``"dawid_skene"`` or ``"majority_vote"``.
        model_weight: the weight given to ``pred_probs`` (exponent of the model's probabilities
            in each item's prior, fitted to the votes; 0 = ignored, 1 = taken as calibrated), or
            None without a model.
        prior_strength: the pseudo-counts that pulled each annotator's confusion matrix
            towards the pooled one.
    """

    labels: np.ndarray
    quality: np.ndarray
    ranked: np.ndarray
    posterior: np.ndarray = field(repr=False)
    agreement: np.ndarray = field(repr=False)
    n_annotations: np.ndarray = field(repr=False)
    annotation_quality: np.ndarray = field(repr=False)
    annotator_quality: np.ndarray = field(repr=False)
    annotator_agreement: np.ndarray = field(repr=False)
    annotator_n_labels: np.ndarray = field(repr=False)
    annotator_confusion: np.ndarray = field(repr=False)
    annotators: np.ndarray = field(repr=False)
    items: np.ndarray = field(repr=False)
    method: str = "dawid_skene"
    model_weight: float | None = None
    prior_strength: float | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return int(self.posterior.shape[1])

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per item in the input order, with columns item,
        consensus_label, quality, agreement, n_annotations."""
        import pandas as pd

        return pd.DataFrame(
            {
                "item": self.items,
                "consensus_label": self.labels,
                "quality": self.quality,
                "agreement": self.agreement,
                "n_annotations": self.n_annotations,
            }
        )

    def annotators_frame(self) -> Any:
        """A pandas DataFrame, one row per annotator, best first, with columns annotator,
        quality, n_labels, agreement_with_consensus."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "annotator": self.annotators,
                "quality": self.annotator_quality,
                "n_labels": self.annotator_n_labels,
                "agreement_with_consensus": self.annotator_agreement,
            }
        )
        return frame.sort_values("quality", ascending=False, kind="stable").reset_index(drop=True)

    def __repr__(self) -> str:
        weight = "" if self.model_weight is None else f", model_weight={self.model_weight:.2f}"
        return (
            f"ConsensusResult(method={self.method!r}, n_items={self.labels.shape[0]}, "
            f"n_annotators={self.annotators.shape[0]}, n_classes={self.n_classes}{weight})"
        )


def _break_ties(counts: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """argmax of ``counts`` per row, ties going to the larger ``tie_break`` (then the lower
    class index)."""
    top = counts == counts.max(axis=1, keepdims=True)
    score = np.where(top, tie_break, -np.inf)
    return np.argmax(score, axis=1)


def _majority(votes: Votes, pred_probs: np.ndarray | None) -> np.ndarray:
    counts = votes.counts()
    if pred_probs is not None:
        tie = np.asarray(pred_probs, dtype=np.float64)
    else:
        tie = np.broadcast_to(counts.sum(axis=0), counts.shape)
    return _break_ties(counts, tie)


def _prepare(
    annotations: Any,
    pred_probs: Any,
    item_column: str,
    annotator_column: str,
    label_column: str,
) -> tuple[Votes, np.ndarray | None]:
    probs = None
    k = None
    if pred_probs is not None:
        probs = check_pred_probs(pred_probs)
        k = int(probs.shape[1])
    votes = parse_annotations(
        annotations,
        n_classes=k,
        item_column=item_column,
        annotator_column=annotator_column,
        label_column=label_column,
    )
    if probs is not None and probs.shape[0] != votes.n_items:
        raise InvalidInputError(
            f"`pred_probs` must have one row per item of `annotations` ({votes.n_items}); got "
            f"{probs.shape[0]} rows."
        )
    return votes, probs


def majority_vote(
    annotations: Any,
    *,
    pred_probs: Any = None,
    item_column: str = "item",
    annotator_column: str = "annotator",
    label_column: str = "label",
) -> np.ndarray:
    """The most common label of each item.

    Ties go to the class with the higher ``pred_probs`` when given, otherwise to the class
    with more votes over the whole dataset (then the lower class index): deterministic.

    Args:
        annotations: (n_items, n_annotators) array-like or DataFrame, NaN or -1 where an
            annotator gave no label; or a long DataFrame with one row per label (columns
            ``item_column``, ``annotator_column``, ``label_column``).
        pred_probs: optional (n_items, n_classes) probabilities used only to break ties.

    Returns:
        (n_items,) int labels. An item nobody labelled gets the tie-break's top class.
    """
    votes, probs = _prepare(annotations, pred_probs, item_column, annotator_column, label_column)
    return _majority(votes, probs)


def consensus(
    annotations: Any,
    *,
    pred_probs: Any = None,
    method: ConsensusMethod = "dawid_skene",
    prior_strength: float | None = None,
    model_weight: float | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    item_column: str = "item",
    annotator_column: str = "annotator",
    label_column: str = "label",
) -> ConsensusResult:
    """One label per item from several annotators, how sure it is, and how good each
    annotator and each single annotation is.

    ``method="dawid_skene"`` (default) learns a confusion matrix per annotator (rows = true
    class) by EM from the votes alone (Dawid & Skene, 1979), each shrunk towards the pooled
    confusion matrix so that annotators with few labels stay sensible. With ``pred_probs``,
    out-of-fold probabilities of a model, each item's prior becomes the model's probabilities,
    tempered by a weight fitted to the votes (the maximum of their marginal likelihood): a good
    model can overrule a lone or unreliable annotator, a weak one is mostly ignored. This
    combines both sources as CROWDLAB (Goh et al., 2022) does, but by Bayes' rule with learnt
    per-annotator confusions instead of a weighted average of votes. The confusions are learnt
    from the items with two or more labels; when every item has a single label, annotators
    cannot be told apart by agreement, so the label is kept and its quality ranks it by the
    model's support (without a second label the rate of wrong votes is not measured, so that
    quality ranks well but is not a calibrated probability).

    Args:
        annotations: (n_items, n_annotators) array-like or DataFrame (columns = annotators),
            integer class indices with NaN or -1 where an annotator gave no label; or a long
            DataFrame with one row per label and columns ``item_column`` (optional: the index
            is used when absent), ``annotator_column`` and ``label_column``.
        pred_probs: optional (n_items, n_classes) **out-of-fold** probabilities (see
            :func:`cross_val_consensus_pred_probs`), rows in the item order (a long table's
            items are sorted).
        method: ``"dawid_skene"`` or ``"majority_vote"`` (the most common label; ties by
            ``pred_probs``, else by the overall class frequency).
        prior_strength: pseudo-counts pulling each annotator's confusion matrix towards the
            pooled one (``float("inf")``: one confusion matrix shared by all). Default: chosen
            among 0.5 to 100 times the number of classes and inf, by how well the confusions
            fitted on half of the items predict the votes on the other half (items at even and odd
            positions: deterministic).
        model_weight: fix the model's weight instead of fitting it (0 ignores the model).
        max_iter, tol: EM stops after ``max_iter`` iterations or when the log-likelihood
            improves by less than ``tol`` (relative).

    Returns:
        A frozen :class:`ConsensusResult`.

    Example:
        >>> result = consensus(annotations, pred_probs=pred_probs)     # doctest: +SKIP
        >>> result.to_frame().sort_values("quality").head()              # doctest: +SKIP
        >>> result.annotators_frame().tail()                             # doctest: +SKIP
    """
    check_option(method, "method", CONSENSUS_METHODS)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, min_val=1)
    check_scalar(tol, "tol", min_val=0.0)
    if prior_strength is not None:
        check_scalar(
            prior_strength, "prior_strength", min_val=0.0, include_min=False, allow_inf=True
        )
    if model_weight is not None:
        check_scalar(model_weight, "model_weight", min_val=0.0)
    votes, probs = _prepare(annotations, pred_probs, item_column, annotator_column, label_column)
    n_votes = np.bincount(votes.item, minlength=votes.n_items)
    if probs is None and (n_votes == 0).any():
        i = int(np.argmax(n_votes == 0))
        name = votes.item_names[i].tolist()
        raise InvalidInputError(
            f"`annotations` must give every item at least one label; item {name!r} "
            f"(row {i}) has none. Drop it, or pass `pred_probs` so the model decides."
        )
    if prior_strength is None:
        strength = choose_strength(votes, max_iter=int(max_iter), tol=float(tol))
    else:
        strength = float(prior_strength)
    fit = fit_em(
        votes,
        pred_probs=probs,
        prior_strength=strength,
        max_iter=int(max_iter),
        tol=float(tol),
        model_weight=None if model_weight is None else float(model_weight),
    )
    if probs is not None and method == "dawid_skene" and not (n_votes >= 2).any():
        # one label per item: annotators cannot be told apart by agreement, so the label stays;
        # its quality is its posterior under the tempered model and the pooled vote noise
        labels = _majority(votes, probs)
        rows = np.arange(votes.n_items)
        return _result(
            votes, fit, fit.posterior, labels, fit.posterior[rows, labels], n_votes, method
        )
    if method == "majority_vote":
        labels = _majority(votes, probs)
        counts = votes.counts()
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts / counts.sum(axis=1, keepdims=True)
        posterior = np.where(n_votes[:, None] > 0, share, fit.posterior)
    else:
        posterior = fit.posterior
        labels = np.argmax(posterior, axis=1)
    rows = np.arange(votes.n_items)
    quality = posterior[rows, labels]
    return _result(votes, fit, posterior, labels, quality, n_votes, method)


def _result(
    votes: Votes,
    fit: Any,
    posterior: np.ndarray,
    labels: np.ndarray,
    quality: np.ndarray,
    n_votes: np.ndarray,
    method: str,
) -> ConsensusResult:
    m = votes.n_annotators
    ann_q = np.full((votes.n_items, m), np.nan)
    ann_q[votes.item, votes.annotator] = posterior[votes.item, votes.label]
    # annotator accuracy: mean probability that their labels are right, shrunk to the mean
    right = posterior[votes.item, votes.label]
    total = np.bincount(votes.annotator, weights=right, minlength=m)
    n_lab = np.bincount(votes.annotator, minlength=m).astype(np.float64)
    mean = float(right.mean())
    annotator_quality = (total + _QUALITY_SHRINK * mean) / (n_lab + _QUALITY_SHRINK)
    same = (votes.label == labels[votes.item]).astype(np.float64)
    hits = np.bincount(votes.item, weights=same, minlength=votes.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(n_votes > 0, hits / np.maximum(n_votes, 1), np.nan)
        ann_agree = np.where(
            n_lab > 0, np.bincount(votes.annotator, weights=same, minlength=m) / n_lab, np.nan
        )
    return ConsensusResult(
        labels=labels.astype(np.intp),
        quality=quality,
        ranked=np.argsort(quality, kind="stable"),
        posterior=posterior,
        agreement=agree,
        n_annotations=n_votes,
        annotation_quality=ann_q,
        annotator_quality=annotator_quality,
        annotator_agreement=ann_agree,
        annotator_n_labels=n_lab.astype(np.intp),
        annotator_confusion=fit.confusion,
        annotators=votes.annotator_names,
        items=votes.item_names,
        method=method,
        model_weight=fit.model_weight,
        prior_strength=fit.prior_strength,
    )
