"""Benchmarks on real data: loaders for ``../shared/data`` (see :mod:`mislabel.bench.datasets`).

The shared data are for tests, benchmarks and examples; the library never needs them. Loaders
find the folder through ``$MISLABEL_DATA`` or a ``shared/data`` folder above the working
directory, and raise :class:`DataNotFoundError` naming the missing folder otherwise.
"""

from __future__ import annotations

from mislabel.bench.datasets import (
    CACHE_ENV,
    CIFAR10_CLASSES,
    CIFAR10N_LABEL_SETS,
    CL_CIFAR10_OOF_SETTINGS,
    DATA_ENV,
    FASHION_MNIST_CLASSES,
    DataNotFoundError,
    Dataset,
    OOFPredictions,
    cache_dir,
    data_root,
    load_cifar10,
    load_cifar10n,
    load_cl_cifar10_oof,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_rt_snippets,
    load_sms_spam,
    load_trec,
)

__all__ = [
    "CACHE_ENV",
    "CIFAR10N_LABEL_SETS",
    "CIFAR10_CLASSES",
    "CL_CIFAR10_OOF_SETTINGS",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "DataNotFoundError",
    "Dataset",
    "OOFPredictions",
    "cache_dir",
    "data_root",
    "load_cifar10",
    "load_cifar10n",
    "load_cl_cifar10_oof",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_rt_snippets",
    "load_sms_spam",
    "load_trec",
]
