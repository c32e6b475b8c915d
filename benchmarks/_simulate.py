"""Out-of-fold probabilities simulated on CIFAR-10's clean-label structure, for new noise.

The confident-learning CIFAR-10 files hold out-of-fold probabilities of a ResNet-50 trained on
noisy labels with a known noise matrix T (rows = true class, columns = given label). Undoing T
on the least noisy file gives, for every one of the 50,000 images, a clean posterior
``pi(x) = p(x) @ inv(T)`` (clipped to a distribution): what the network believes about the
image's true class. For a new noise matrix T' the labels are drawn from T' and the
probabilities of a model trained on them are ``pi(x) @ T'``, optionally made over- or
under-confident (a temperature on the log-probabilities), weaker (Gaussian noise on the
log-probabilities) or stronger (a sharper clean posterior). Everything is numpy and seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mislabel.noise import apply_noise_matrix, random_noise_matrix

SOURCE = "sparsity0.0_noise0.2"
#: CIFAR-10 look-alike partners (airplane, automobile, bird, cat, deer, dog, frog, horse, ship,
#: truck): each class is confused with one other class.
CIFAR10_PARTNER = np.array([8, 9, 0, 5, 7, 3, 2, 4, 0, 1])


@dataclass(frozen=True)
class CleanStructure:
    """Per-image clean posterior ``pi`` (n, K) and the true labels (n,)."""

    pi: np.ndarray
    true_labels: np.ndarray


@dataclass(frozen=True)
class Simulated:
    labels: np.ndarray
    true_labels: np.ndarray
    pred_probs: np.ndarray


def clean_structure(root: Path, source: str = SOURCE, *, undo_noise: bool = True) -> CleanStructure:
    """The clean posterior of every image, from the file ``source`` of ``cl-cifar10-oof``.

    ``undo_noise=False`` takes the file's probabilities as they are (a network's beliefs with
    its own confusions and no exactly one-hot rows) instead of undoing its noise matrix (which
    clips many rows to one-hot: every class then has perfect anchor points)."""
    with np.load(root / "cl-cifar10-oof" / f"{source}.npz") as z:
        given = z["noisy_labels"].astype(np.int64)
        true = z["true_labels"].astype(np.int64)
        p = z["pred_probs"].astype(np.float64)
    k = p.shape[1]
    p /= p.sum(axis=1, keepdims=True)
    if not undo_noise:
        return CleanStructure(pi=p, true_labels=true)
    t = np.zeros((k, k))
    np.add.at(t, (true, given), 1.0)
    t /= t.sum(axis=1, keepdims=True)
    pi = np.clip(p @ np.linalg.inv(t), 0.0, None)
    pi /= pi.sum(axis=1, keepdims=True)
    return CleanStructure(pi=pi, true_labels=true)


def _sharpen(p: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0:
        return p
    lg = np.log(np.clip(p, 1e-12, None)) / temperature
    lg -= lg.max(axis=1, keepdims=True)
    out = np.exp(lg)
    return out / out.sum(axis=1, keepdims=True)


def noise_matrix(
    n_classes: int, noise: float, sparsity: float, rng: np.random.Generator
) -> np.ndarray:
    """A random T (rows = true class) whose mean off-diagonal mass is ``noise``."""
    return random_noise_matrix(
        n_classes, trace=n_classes * (1.0 - noise), sparsity=sparsity, random_state=rng
    )


def pair_matrix(partner: np.ndarray, noise: float) -> np.ndarray:
    """Each true class keeps ``1 - noise`` and gives ``noise`` to its look-alike partner."""
    k = partner.size
    t = np.eye(k) * (1.0 - noise)
    t[np.arange(k), partner] += noise
    return t


def imbalanced(cs: CleanStructure, ratio: float, rng: np.random.Generator) -> CleanStructure:
    """Keep class c with probability ``ratio ** (-c / (K - 1))``: the largest class is
    ``ratio`` times the smallest."""
    k = cs.pi.shape[1]
    keep_p = ratio ** (-np.arange(k) / (k - 1))
    keep = rng.random(cs.true_labels.size) < keep_p[cs.true_labels]
    return CleanStructure(pi=cs.pi[keep], true_labels=cs.true_labels[keep])


def simulate(
    cs: CleanStructure,
    t: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    logit_noise: float = 0.0,
    clean_temperature: float = 1.0,
) -> Simulated:
    """Labels drawn from ``t`` (rows = true class) and the probabilities of a model trained on
    them: ``pi @ t``, then ``temperature`` (< 1 over-confident) and ``logit_noise`` (weaker
    model); ``clean_temperature`` < 1 sharpens the clean posterior first (stronger model)."""
    labels = apply_noise_matrix(cs.true_labels, t, random_state=rng).labels
    p = _sharpen(cs.pi, clean_temperature) @ t
    if logit_noise > 0:
        lg = np.log(np.clip(p, 1e-12, None)) + logit_noise * rng.normal(size=p.shape)
        p = np.exp(lg - lg.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    p = _sharpen(p, temperature)
    return Simulated(labels, cs.true_labels, p.astype(np.float32))


def simulate_lookalike(
    cs: CleanStructure, partner: np.ndarray, noise: float, rng: np.random.Generator
) -> Simulated:
    """Instance-dependent look-alike swaps: an image of class c gets its partner's label with a
    probability proportional to how much it looks like the partner (``pi[partner]``), scaled
    so that ``noise`` of the labels are swapped. The model's probabilities are the exact noisy
    posterior under that per-image noise."""
    n, k = cs.pi.shape
    rows = np.arange(n)
    look = cs.pi[rows, partner[cs.true_labels]]
    flip_p = np.clip(look * (noise * n / look.sum()), 0.0, 0.95)
    flip = rng.random(n) < flip_p
    labels = np.where(flip, partner[cs.true_labels], cs.true_labels)
    # P(given = j | x) = sum_c pi_c(x) P(given = j | x, true = c); the flip probability of an
    # image depends on its look-alike score under each candidate true class.
    scale = noise * n / look.sum()
    p = np.zeros((n, k))
    for c in range(k):
        f = np.clip(cs.pi[:, partner[c]] * scale, 0.0, 0.95)
        p[:, c] += cs.pi[:, c] * (1 - f)
        p[:, partner[c]] += cs.pi[:, c] * f
    return Simulated(labels, cs.true_labels, p.astype(np.float32))
