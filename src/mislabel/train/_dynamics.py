"""Training dynamics: per-sample loss and margin per epoch, and the area under the margin.

Pleiss et al., "Identifying Mislabeled Data using the Area Under the Margin Ranking",
NeurIPS 2020: while a network trains, the margin of sample ``i`` at epoch ``e`` is

.. math:: M_i^{(e)} = z_{i, y_i}^{(e)} - \\max_{k \\ne y_i} z_{i, k}^{(e)}

(logits, as computed in the training forward pass). A correctly labelled sample is learnt
early and its margin turns positive; a wrong label fights the generalisation from its
class-mates and keeps a low or negative margin until it is memorised. The area under the margin,
``AUM_i = mean_e M_i^{(e)}``, ranks the samples (low = suspect) without out-of-fold training:
one ordinary training run gives it.

:class:`TrainingDynamics` is the recorder itself, framework-free; the plain-PyTorch trainers of
:mod:`mislabel.train` fill it with ``record_dynamics=True`` and the fastai callback
:class:`mislabel.integrations.fastai.TrainingDynamicsRecorder` wraps it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mislabel._validation import check_labels, check_scalar
from mislabel.exceptions import InvalidInputError, NotFittedError

__all__ = ["TrainingDynamics"]


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


class TrainingDynamics:
    """Per-sample loss and margin, one row per epoch; area under the margin.

    Args:
        n_samples: number of training samples; ``index`` values passed to :meth:`update` are
            positions in ``[0, n_samples)``.
        n_classes: number of classes.

    Attributes:
        losses: (n_epochs, n_samples) cross-entropy of the given label per finished epoch
            (nan where a sample was not seen that epoch).
        margins: (n_epochs, n_samples) logit margin ``z_y - max_{k != y} z_k``, same layout.
        labels: (n_samples,) the labels seen in training (-1 for samples never seen).

    Example:
        >>> dyn = TrainingDynamics(n_samples=1000, n_classes=10)   # doctest: +SKIP
        >>> for epoch in range(epochs):                             # doctest: +SKIP
        ...     for idx, x, y in batches:
        ...         logits = model(x)
        ...         dyn.update(idx, logits, y)
        ...     dyn.end_epoch()
        >>> issues = dyn.to_label_issues(noise_rate=0.1)           # doctest: +SKIP
    """

    def __init__(self, n_samples: int, n_classes: int) -> None:
        self.n_samples = int(check_scalar(n_samples, "n_samples", kind=numbers.Integral, min_val=1))
        self.n_classes = int(check_scalar(n_classes, "n_classes", kind=numbers.Integral, min_val=2))
        self.labels = np.full(self.n_samples, -1, dtype=np.int64)
        self._losses: list[np.ndarray] = []
        self._margins: list[np.ndarray] = []
        self._prob_sum = np.zeros((self.n_samples, self.n_classes), dtype=np.float64)
        self._prob_count = np.zeros(self.n_samples, dtype=np.int64)
        self._new_epoch()

    def _new_epoch(self) -> None:
        self._loss = np.full(self.n_samples, np.nan, dtype=np.float64)
        self._margin = np.full(self.n_samples, np.nan, dtype=np.float64)
        self._dirty = False

    @property
    def n_epochs(self) -> int:
        """Number of finished epochs."""
        return len(self._losses)

    @property
    def losses(self) -> np.ndarray:
        return np.stack(self._losses) if self._losses else np.empty((0, self.n_samples))

    @property
    def margins(self) -> np.ndarray:
        return np.stack(self._margins) if self._margins else np.empty((0, self.n_samples))

    def update(self, index: Any, logits: Any, target: Any) -> None:
        """Record one batch: dataset ``index`` (b,), training ``logits`` (b, K), ``target`` (b,)."""
        z = _np(logits).astype(np.float64, copy=False)
        idx = _np(index).astype(np.int64, copy=False).reshape(-1)
        y = _np(target).astype(np.int64, copy=False).reshape(-1)
        if z.ndim != 2 or z.shape[1] != self.n_classes:
            raise InvalidInputError(
                f"`logits` must have shape (batch, n_classes) = (batch, {self.n_classes}); got "
                f"{z.shape}."
            )
        if idx.shape[0] != z.shape[0] or y.shape[0] != z.shape[0]:
            raise InvalidInputError(
                f"`index` and `target` must have one entry per row of `logits` ({z.shape[0]}); "
                f"got {idx.shape[0]} and {y.shape[0]}."
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples):
            raise InvalidInputError(
                f"`index` must hold positions in [0, {self.n_samples}); got "
                f"{int(idx.min()) if idx.min() < 0 else int(idx.max())}. Give n_samples the size "
                "of the whole indexed dataset."
            )
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise InvalidInputError(
                f"`target` must be class indices in [0, {self.n_classes}); got "
                f"{int(y.min()) if y.min() < 0 else int(y.max())}."
            )
        rows = np.arange(z.shape[0])
        zy = z[rows, y]
        other = z.copy()
        other[rows, y] = -np.inf
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        self._loss[idx] = lse - zy
        self._margin[idx] = zy - other.max(axis=1)
        self._prob_sum[idx] += np.exp(z - lse[:, None])
        self._prob_count[idx] += 1
        self.labels[idx] = y
        self._dirty = True

    def end_epoch(self) -> None:
        """Close the current epoch (a no-op when nothing was recorded since the last call)."""
        if not self._dirty:
            return
        self._losses.append(self._loss)
        self._margins.append(self._margin)
        self._new_epoch()

    def _check_ready(self) -> None:
        if not self._losses:
            raise NotFittedError(
                "TrainingDynamics has no finished epoch: call update() for each batch and "
                "end_epoch() after each epoch (the trainers do it with record_dynamics=True)."
            )

    @property
    def seen(self) -> np.ndarray:
        """(n_samples,) bool, samples recorded in at least one finished epoch."""
        self._check_ready()
        return np.any(~np.isnan(self.margins), axis=0)

    def aum(self) -> np.ndarray:
        """(n_samples,) area under the margin: the mean margin over the epochs that saw each
        sample; **low = suspect**; nan for samples never seen."""
        self._check_ready()
        m = self.margins
        counts = np.sum(~np.isnan(m), axis=0)
        total = np.nansum(m, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)

    def mean_loss(self) -> np.ndarray:
        """(n_samples,) the per-sample loss averaged over epochs (high = suspect)."""
        self._check_ready()
        loss = self.losses
        counts = np.sum(~np.isnan(loss), axis=0)
        return np.where(counts > 0, np.nansum(loss, axis=0) / np.maximum(counts, 1), np.nan)

    def as_scores(self) -> np.ndarray:
        """(n_samples,) label-quality scores in (0, 1), **low = suspect**: ``sigmoid(AUM)``.

        Same order as :meth:`aum` (0.5 is a zero margin), on the scale of
        :func:`mislabel.label_quality_scores`, so it can replace them where only a ranking is
        needed (weights, ``n_issues`` cut-offs). Unseen samples get nan.
        """
        a = self.aum()
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-a))

    def mean_probs(self) -> np.ndarray:
        """(n_samples, n_classes) softmax of the training logits averaged over all recorded
        batches. These are *in-sample* probabilities (the model saw each label), so they are
        overconfident: prefer out-of-fold ``pred_probs`` for :func:`mislabel.find_label_issues`
        and use this where training k folds is too expensive."""
        self._check_ready()
        if np.any(self._prob_count == 0):
            raise InvalidInputError(
                f"{int(np.sum(self._prob_count == 0))} samples were never recorded; mean_probs() "
                "needs every sample (use aum() / as_scores(), which give nan for them)."
            )
        return self._prob_sum / self._prob_count[:, None]

    def to_label_issues(
        self,
        labels: Any = None,
        *,
        noise_rate: float | None = None,
        n_issues: int | None = None,
    ) -> Any:
        """Flag label issues by AUM: a :class:`mislabel.LabelIssues` with ``method="aum"``.

        Args:
            labels: (n,) given labels (default: the labels seen in training).
            noise_rate: a known fraction of wrong labels: flag ``round(noise_rate * n)``
                samples with the lowest AUM.
            n_issues: flag exactly this many.

        Without either, flags the samples whose AUM is negative (on average over training the
        network preferred another class). ``suggested`` is the most probable other class of
        :meth:`mean_probs` for the flagged samples.
        """
        from mislabel.detect import LabelIssues
        from mislabel.exceptions import InvalidParameterError

        self._check_ready()
        if labels is None:
            if np.any(self.labels < 0):
                raise InvalidInputError(
                    "some samples were never recorded, so their labels are unknown; pass `labels`."
                )
            y = self.labels.copy()
        else:
            y = check_labels(labels, n_classes=self.n_classes, n_samples=self.n_samples)
        if noise_rate is not None and n_issues is not None:
            raise InvalidParameterError(
                "Give at most one of `noise_rate` and `n_issues`; got both."
            )
        n = self.n_samples
        a = self.aum()
        if np.any(np.isnan(a)):
            raise InvalidInputError(
                f"{int(np.isnan(a).sum())} samples were never recorded; AUM needs every sample."
            )
        order = np.argsort(a, kind="stable")
        if n_issues is not None:
            count = int(
                check_scalar(n_issues, "n_issues", kind=numbers.Integral, min_val=0, max_val=n)
            )
        elif noise_rate is not None:
            check_scalar(noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
            count = round(noise_rate * n)
        else:
            count = int(np.sum(a < 0))
        mask = np.zeros(n, dtype=bool)
        mask[order[:count]] = True
        scores = self.as_scores()
        probs = self._prob_sum / np.maximum(self._prob_count, 1)[:, None]
        rows = probs.copy()
        rows[np.arange(n), y] = -1.0
        best = rows.argmax(axis=1)
        suggested = np.where(mask, best, y)
        suggested_prob = np.where(mask, rows[np.arange(n), best], probs[np.arange(n), y])
        return LabelIssues(
            mask=mask,
            scores=scores,
            ranked=order[:count],
            suggested=suggested.astype(np.intp),
            suggested_prob=suggested_prob,
            labels=y,
            method="aum",
            n_classes=self.n_classes,
        )

    def __repr__(self) -> str:
        return (
            f"TrainingDynamics(n_samples={self.n_samples}, n_classes={self.n_classes}, "
            f"n_epochs={self.n_epochs})"
        )
