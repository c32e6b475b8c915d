"""Dawid–Skene EM over sparse votes, optionally with a model's probabilities as each item's
prior.

Model: item i has a true class y_i; annotator j reports class l with probability
``theta[j, y_i, l]`` (a confusion matrix per annotator, rows = true class), independently of the
other annotators given y_i. The confusions are learnt by EM from the votes alone, on the items
with two or more votes (only disagreement between annotators tells who errs). With
out-of-fold probabilities ``p_i`` of a model, each item's prior becomes ``pi^(1-w) * p_i^w``
(normalised), where the exponent ``w`` (the weight of the model) maximises the marginal
likelihood of the observed votes given those confusions, so a weak or over-confident model is
trusted less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel.multiannotator._input import Votes

#: Pseudo-count added to every class of the pooled confusion matrix and the class prior.
_EPS = 1e-2
#: Pseudo-votes on the diagonal of the pooled confusion matrix.
_DIAG = 1.0
#: Candidate model weights w (exponent of the model's probabilities in each item's prior).
_WEIGHTS = np.linspace(0.0, 2.0, 41)
#: Candidate prior strengths, as multiples of the number of classes (inf: every annotator
#: shares the pooled confusion matrix).
_STRENGTHS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, np.inf)
#: Smallest probability taken from a model (log of 0 is -inf).
_P_MIN = 1e-6


@dataclass(frozen=True)
class EMFit:
    posterior: np.ndarray  # (n, K) P(true class | votes, model)
    confusion: np.ndarray  # (m, K, K) P(annotator's label | true class), rows = true class
    class_prior: np.ndarray  # (K,)
    model_weight: float | None
    log_likelihood: float
    n_iter: int
    prior_strength: float


def _vote_matrices(votes: Votes) -> list[Any]:
    """One sparse (n_items, n_annotators) 0/1 matrix per class l: who voted l on what."""
    from scipy import sparse

    out = []
    for c in range(votes.n_classes):
        sel = votes.label == c
        out.append(
            sparse.csr_matrix(
                (np.ones(int(sel.sum())), (votes.item[sel], votes.annotator[sel])),
                shape=(votes.n_items, votes.n_annotators),
            )
        )
    return out


def _m_step(
    mats: list[Any],
    q: np.ndarray,
    n_annotators: int,
    strength: float,
    informative: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrices shrunk towards the pooled one, and the class prior.

    Only items with two or more votes inform the confusions: a lone vote always agrees with
    itself. The pooled matrix gets a small diagonal prior (annotators are better than chance),
    which alone decides when no item has two votes: then every vote is taken as nearly sure.
    """
    k = q.shape[1]
    qi = q * informative[:, None]
    counts = np.empty((n_annotators, k, k))
    for c, s in enumerate(mats):
        counts[:, :, c] = s.T @ qi
    pooled = counts.sum(axis=0) + _DIAG * np.eye(k) + _EPS
    pooled /= pooled.sum(axis=1, keepdims=True)
    if np.isinf(strength):  # one confusion matrix shared by every annotator
        theta = np.broadcast_to(pooled, (n_annotators, k, k)).copy()
    else:
        theta = counts + strength * pooled[None]
        theta /= theta.sum(axis=2, keepdims=True)
    prior = q.sum(axis=0) + _EPS
    return theta, prior / prior.sum()


def _vote_loglik(mats: list[Any], log_theta: np.ndarray) -> np.ndarray:
    """(n, K): sum over an item's votes of log P(vote | true class)."""
    out = None
    for c, s in enumerate(mats):
        part = s @ log_theta[:, :, c]
        out = part if out is None else out + part
    return np.asarray(out)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0]


def _log_prior(log_pi: np.ndarray, log_p: np.ndarray | None, w: float) -> np.ndarray:
    if log_p is None:
        return np.broadcast_to(log_pi, (1, log_pi.shape[0]))
    a = max(1.0 - w, 0.0) * log_pi[None, :] + w * log_p
    return a - _logsumexp(a)[:, None]


def _fit_weight(log_pi: np.ndarray, log_p: np.ndarray, loglik: np.ndarray) -> float:
    """The model weight w that maximises the marginal likelihood of the votes."""
    best, w = -np.inf, 0.0
    for cand in _WEIGHTS:
        val = float(_logsumexp(_log_prior(log_pi, log_p, float(cand)) + loglik).sum())
        if val > best:
            best, w = val, float(cand)
    return w


def _votes_only(
    mats: list[Any],
    counts: np.ndarray,
    n_annotators: int,
    strength: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """EM from the vote fractions: (posterior, confusions, class prior, log-likelihood, n_iter)."""
    informative = counts.sum(axis=1) >= 2
    q = counts + 1e-3
    q /= q.sum(axis=1, keepdims=True)
    last = ll = -np.inf
    it = 0
    theta, pi = _m_step(mats, q, n_annotators, strength, informative)
    for it in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        joint = np.log(pi)[None, :] + _vote_loglik(mats, np.log(theta))
        norm = _logsumexp(joint)
        ll = float(norm.sum())
        q = np.exp(joint - norm[:, None])
        theta, pi = _m_step(mats, q, n_annotators, strength, informative)
        if abs(ll - last) <= tol * max(abs(ll), 1.0):
            break
        last = ll
    return q, theta, pi, ll, it


def _subset(votes: Votes, keep: np.ndarray) -> Votes:
    sel = keep[votes.item]
    return Votes(
        item=votes.item[sel],
        annotator=votes.annotator[sel],
        label=votes.label[sel],
        n_items=votes.n_items,
        n_classes=votes.n_classes,
        item_names=votes.item_names,
        annotator_names=votes.annotator_names,
    )


def choose_strength(votes: Votes, *, max_iter: int, tol: float) -> float:
    """The prior strength (pseudo-counts towards the pooled confusion, as a multiple of the
    number of classes) whose confusions best predict held-out votes: two halves of the items
    (even / odd positions), each fitted on one half and scored on the other by the marginal
    likelihood of its votes. Deterministic; the number of classes when no item has two votes."""
    k = votes.n_classes
    n_votes = np.bincount(votes.item, minlength=votes.n_items)
    if not (n_votes >= 2).any():
        return float(k)
    half = np.arange(votes.n_items) % 2 == 0
    best, choice = -np.inf, float(k)
    for mult in _STRENGTHS:
        strength = float(mult * k)
        score = 0.0
        for fit_on in (half, ~half):
            train, test = _subset(votes, fit_on), _subset(votes, ~fit_on)
            _, theta, pi, _, _ = _votes_only(
                _vote_matrices(train),
                train.counts(),
                votes.n_annotators,
                strength,
                min(max_iter, 50),
                max(tol, 1e-5),
            )
            joint = np.log(pi)[None, :] + _vote_loglik(_vote_matrices(test), np.log(theta))
            score += float(_logsumexp(joint)[~fit_on].sum())
        if score > best:
            best, choice = score, strength
    return choice


def fit_em(
    votes: Votes,
    *,
    pred_probs: np.ndarray | None,
    prior_strength: float,
    max_iter: int,
    tol: float,
    model_weight: float | None = None,
) -> EMFit:
    """Dawid–Skene EM on the votes alone (from the vote fractions, until the log-likelihood
    improves by less than ``tol`` relative, or ``max_iter`` iterations); then, with a model,
    its weight w is fitted to the votes with the annotators' confusions held fixed (so the
    confusions are learnt from agreement between annotators, never from agreement with the
    model) and the posterior is recomputed with the model's prior. ``model_weight`` fixes w."""
    mats = _vote_matrices(votes)
    q, theta, pi, ll, it = _votes_only(
        mats, votes.counts(), votes.n_annotators, prior_strength, max_iter, tol
    )
    w = None
    if pred_probs is not None:
        log_p = np.log(np.clip(np.asarray(pred_probs, dtype=np.float64), _P_MIN, None))
        log_p -= _logsumexp(log_p)[:, None]
        loglik = _vote_loglik(mats, np.log(theta))
        log_pi = np.log(pi)
        w = _fit_weight(log_pi, log_p, loglik) if model_weight is None else model_weight
        joint = _log_prior(log_pi, log_p, w) + loglik
        norm = _logsumexp(joint)
        ll = float(norm.sum())
        q = np.exp(joint - norm[:, None])
    return EMFit(
        posterior=q,
        confusion=theta,
        class_prior=pi,
        model_weight=w,
        log_likelihood=ll,
        n_iter=it,
        prior_strength=prior_strength,
    )
