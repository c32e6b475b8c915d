"""Benchmarks on real data: loaders for ``../shared/data`` (see :mod:`mislabel.bench.datasets`).

The shared data are for tests, benchmarks and examples; the library never needs them. Loaders
find the folder through ``$MISLABEL_DATA`` or a ``shared/data`` folder above the working
directory, and raise :class:`DataNotFoundError` naming the missing folder otherwise.

:func:`run_benchmark` (:mod:`mislabel.bench.runner`) runs dataset × noise × method × seed from
a declarative config and writes ``results.csv`` and ``results.md``; ``builtin_config("table2")``
gives the configs of the published tables. Importing this package does not import torch.
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
from mislabel.bench.runner import (
    BUILTIN_CONFIGS,
    BenchmarkResult,
    builtin_config,
    gap_closed,
    load_config,
    render_markdown,
    run_benchmark,
    smoke_config,
    validate_config,
)

__all__ = [
    "BUILTIN_CONFIGS",
    "CACHE_ENV",
    "CIFAR10N_LABEL_SETS",
    "CIFAR10_CLASSES",
    "CL_CIFAR10_OOF_SETTINGS",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "BenchmarkResult",
    "DataNotFoundError",
    "Dataset",
    "OOFPredictions",
    "builtin_config",
    "cache_dir",
    "data_root",
    "gap_closed",
    "load_cifar10",
    "load_cifar10n",
    "load_cl_cifar10_oof",
    "load_config",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_rt_snippets",
    "load_sms_spam",
    "load_trec",
    "render_markdown",
    "run_benchmark",
    "smoke_config",
    "validate_config",
]
