"""Inject label noise with known ground truth, for benchmarks and tests.

Every generator takes true ``labels`` (and ``random_state``) and returns a frozen
:class:`NoisyLabels` with the noisy ``labels``, the realized ``noise_matrix`` and ``is_noisy``.
Everywhere here ``noise_matrix[i, j] = P(observed label = j | true class = i)``: rows = true
class, columns = observed label, rows sum to 1 (cleanlab uses the transpose).

=============================  ==========================================================
:func:`flip_symmetric`         exactly ``round(rate * n)`` labels moved to another class
:func:`resample_symmetric`     each label redrawn over all classes with probability
                               ``rate``; realized rate ≈ ``rate * (K - 1) / K``
:func:`flip_pairs`             pair / asymmetric noise (MNIST, CIFAR-10, Fashion-MNIST
                               maps, ``pairflip``, or a dict)
:func:`apply_noise_matrix`     class-conditional noise from a given matrix
:func:`random_noise_matrix`    random matrix with a given trace and sparsity (confident
                               learning's ``generate_noise_matrix_from_trace``)
:func:`is_valid_noise_matrix`  the learnability condition of confident learning
:func:`instance_dependent`     feature-dependent noise of Xia et al. (2020)
=============================  ==========================================================
"""

from __future__ import annotations

from mislabel.noise._labels import (
    PAIR_MAPPINGS,
    NoisyLabels,
    apply_noise_matrix,
    flip_pairs,
    flip_symmetric,
    instance_dependent,
    resample_symmetric,
)
from mislabel.noise._matrix import is_valid_noise_matrix, random_noise_matrix

__all__ = [
    "PAIR_MAPPINGS",
    "NoisyLabels",
    "apply_noise_matrix",
    "flip_pairs",
    "flip_symmetric",
    "instance_dependent",
    "is_valid_noise_matrix",
    "random_noise_matrix",
    "resample_symmetric",
]
