"""A PyTorch network as a scikit-learn multi-label classifier (BCE on K sigmoid outputs).

:mod:`mislabel.train`'s loop takes class indices; multi-label training needs (n, K) float
targets and per-(sample, tag) weights, so this small estimator has its own loop.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mislabel._validation import as_seed, check_option, check_scalar
from mislabel.exceptions import InvalidInputError, NotFittedError

LOSSES = ("bce", "forward")


class MultiLabelTorchClassifier(ClassifierMixin, BaseEstimator):
    """Train ``module`` (a batch of X → (batch, K) logits) with binary cross-entropy.

    ``__init__`` only stores the settings (``clone`` works); each ``fit`` trains a fresh deep
    copy of ``module`` (or a fresh call of a factory) under ``random_state``.

    Args:
        module: an ``nn.Module`` or a callable returning one.
        loss: ``"bce"`` or ``"forward"`` (:func:`mislabel.multilabel.losses.forward_corrected_bce`
            with ``noise_matrices``).
        noise_matrices: (K, 2, 2) P(given | true) per tag (rows = true), for ``"forward"``.
        epochs, batch_size, lr, weight_decay: Adam settings.
        random_state: seeds the initialisation and the batch order.
        device: a torch device name.

    Attributes:
        module_: the trained network (eval mode).
        n_classes_: number of tags.
        classes_: ``arange(n_classes_)``.
    """

    def __init__(
        self,
        module: Any,
        *,
        loss: str = "bce",
        noise_matrices: Any = None,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        random_state: int | np.random.Generator | None = None,
        device: str = "cpu",
    ) -> None:
        self.module = module
        self.loss = loss
        self.noise_matrices = noise_matrices
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device

    def fit(self, X: Any, Y: Any, sample_weight: Any = None) -> MultiLabelTorchClassifier:
        """Fit on ``Y``: (n, K) 0/1 or soft tags. ``sample_weight``: (n,) per sample or (n, K)
        per (sample, tag) weights."""
        import torch
        import torch.nn.functional as F
        from torch import nn

        from mislabel.multilabel.losses import forward_corrected_bce

        check_option(self.loss, "loss", LOSSES)
        check_scalar(self.epochs, "epochs", kind=numbers.Integral, min_val=1)
        check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, min_val=1)
        check_scalar(self.lr, "lr", min_val=0.0, include_min=False)
        x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        y = torch.as_tensor(np.asarray(Y, dtype=np.float32))
        if y.ndim != 2 or y.shape[0] != x.shape[0]:
            raise InvalidInputError(
                f"`Y` must have shape (n_samples, n_classes) with n_samples = {x.shape[0]}; got "
                f"{tuple(y.shape)}."
            )
        w = None
        if sample_weight is not None:
            w = torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
            if w.ndim == 1:
                w = w[:, None].expand_as(y)
            if w.shape != y.shape:
                raise InvalidInputError(
                    f"`sample_weight` must have shape (n,) or (n, K) = {tuple(y.shape)}; got "
                    f"{tuple(w.shape)}."
                )
        if self.loss == "forward" and self.noise_matrices is None:
            raise InvalidInputError(
                '`noise_matrices` must be given with loss="forward" (e.g. '
                "MultiLabelIssues.noise_matrices)."
            )
        seed = as_seed(self.random_state)
        gen = torch.Generator().manual_seed(0 if seed is None else seed)
        with torch.random.fork_rng():
            if seed is not None:
                torch.manual_seed(seed)
            net = (
                copy.deepcopy(self.module) if isinstance(self.module, nn.Module) else self.module()
            )
        net = net.to(self.device)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = x.shape[0]
        net.train()
        for _ in range(int(self.epochs)):
            for idx in torch.randperm(n, generator=gen).split(int(self.batch_size)):
                xb, yb = x[idx].to(self.device), y[idx].to(self.device)
                wb = None if w is None else w[idx].to(self.device)
                logits = net(xb)
                if logits.shape != yb.shape:
                    raise InvalidInputError(
                        f"`module` must output (batch, n_classes) = {tuple(yb.shape)} logits; "
                        f"got {tuple(logits.shape)}."
                    )
                if self.loss == "forward":
                    loss = forward_corrected_bce(logits, yb, self.noise_matrices, weight=wb)
                else:
                    loss = F.binary_cross_entropy_with_logits(logits, yb, weight=wb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        self.module_ = net
        self.n_classes_ = int(y.shape[1])
        self.classes_ = np.arange(self.n_classes_)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, K) sigmoid probabilities, one independent probability per tag."""
        import torch

        if not hasattr(self, "module_"):
            raise NotFittedError("This MultiLabelTorchClassifier is not fitted; call fit first.")
        x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        out = []
        with torch.no_grad():
            for xb in x.split(1024):
                out.append(torch.sigmoid(self.module_(xb.to(self.device))).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """(n, K) 0/1 tags at threshold 0.5."""
        return (self.predict_proba(X) > 0.5).astype(np.int8)
