"""Dawid–Skene EM over sparse votes, optionally with a model's probabilities as each item's
prior.

Model: item i has a true class y_i; annotator j reports class l with probability
``theta[j, y_i, l]`` (a confusion matrix per annotator, rows = true class), independently of the
other annotators given y_i. Without a model the prior of y_i is the class prior ``pi``; with
out-of-fold probabilities ``p_i`` the prior is ``pi^(1-w) * p_i^w`` (normalised), where the
exponent ``w`` (the weight of the model) is chosen at each iteration to maximise the marginal
likelihood of the observed votes, so a weak or over-confident model is trusted less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mislabel.multiannotator._input import Votes

#: Pseudo-count added to every class of the pooled confusion matrix and the class prior.
_EPS = 1e-2
#: Candidate model weights w (exponent of the model's probabilities in each item's prior).
_WEIGHTS = np.linspace(0.0, 2.0, 41)
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
    mats: list[Any], q: np.ndarray, n_annotators: int, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrices shrunk towards the pooled one, and the class prior."""
    k = q.shape[1]
    counts = np.empty((n_annotators, k, k))
    for c, s in enumerate(mats):
        counts[:, :, c] = s.T @ q
    pooled = counts.sum(axis=0) + _EPS
    pooled /= pooled.sum(axis=1, keepdims=True)
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


def fit_em(
    votes: Votes,
    *,
    pred_probs: np.ndarray | None,
    prior_strength: float,
    max_iter: int,
    tol: float,
    model_weight: float | None = None,
) -> EMFit:
    """Run EM from the vote fractions until the log-likelihood stops improving by ``tol``
    (relative) or ``max_iter`` iterations. ``model_weight`` fixes w instead of fitting it."""
    mats = _vote_matrices(votes)
    counts = votes.counts()
    log_p = None
    if pred_probs is not None:
        log_p = np.log(np.clip(np.asarray(pred_probs, dtype=np.float64), _P_MIN, None))
        log_p -= _logsumexp(log_p)[:, None]
    q = counts + 1e-3
    empty = counts.sum(axis=1) == 0
    if log_p is not None and empty.any():
        q[empty] = np.exp(log_p[empty])
    q /= q.sum(axis=1, keepdims=True)
    w = model_weight
    last = -np.inf
    ll = -np.inf
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        theta, pi = _m_step(mats, q, votes.n_annotators, prior_strength)
        loglik = _vote_loglik(mats, np.log(theta))
        log_pi = np.log(pi)
        if log_p is not None and model_weight is None:
            best = -np.inf
            for cand in _WEIGHTS:
                val = float(_logsumexp(_log_prior(log_pi, log_p, float(cand)) + loglik).sum())
                if val > best:
                    best, w = val, float(cand)
        joint = _log_prior(log_pi, log_p, 0.0 if w is None else w) + loglik
        norm = _logsumexp(joint)
        ll = float(norm.sum())
        q = np.exp(joint - norm[:, None])
        if abs(ll - last) <= tol * max(abs(ll), 1.0):
            break
        last = ll
    theta, pi = _m_step(mats, q, votes.n_annotators, prior_strength)
    return EMFit(
        posterior=q,
        confusion=theta,
        class_prior=pi,
        model_weight=None if log_p is None else w,
        log_likelihood=ll,
        n_iter=it,
    )


def leave_one_out_agreement(votes: Votes, posterior: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """For each vote, P(vote is right) computed from the item's posterior without that vote:
    q^{-v} ∝ q / theta[j, :, l]. An annotator's own vote cannot vouch for itself."""
    q = posterior[votes.item]
    like = theta[votes.annotator, :, votes.label]
    loo = q / np.clip(like, 1e-12, None)
    loo /= loo.sum(axis=1, keepdims=True)
    return loo[np.arange(votes.label.shape[0]), votes.label]
