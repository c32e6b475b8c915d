"""A PyTorch network as a scikit-learn classifier, for the k-fold machinery.

:func:`mislabel.cross_val_pred_probs` clones its estimator once per fold and calls ``fit`` /
``predict_proba``; :func:`to_estimator` turns an ``nn.Module`` (or a factory returning one)
into such an estimator, :class:`TorchClassifier`. ``cross_val_pred_probs`` wraps a bare
``nn.Module`` with the defaults by itself; call :func:`to_estimator` to choose the loss, epochs,
device, ...::

    est = to_estimator(make_cnn, loss="gce", epochs=10, device="cuda", random_state=0)
    pred_probs = mislabel.cross_val_pred_probs(est, X, labels, cv=5, cache_dir=".cache")

Why not skorch
--------------
skorch (``NeuralNetClassifier``) is the maintained scikit-learn wrapper for PyTorch and was
evaluated first (skorch 1.4 with torch 2.13). It does work in ``cross_val_pred_probs`` as any
scikit-learn classifier does, and brings callbacks, a progress bar and a device argument. We
still wrote this ~300-line wrapper on the shared loop of :mod:`mislabel.train`, because for
this library's needs skorch would have needed as much glue as the wrapper itself:

* **per-sample weights**: skorch forwards ``fit(X, y, sample_weight=w)`` to
  ``module.forward`` (``TypeError: forward() got an unexpected keyword argument
  'sample_weight'``); weights need ``X`` passed as a dict plus a subclass overriding
  ``get_loss``. The same holds for the **sample indices** that ELR, truncated GCE and weighted
  CE need (``index=``), and for the small-loss selection, which needs per-sample losses.
* **deterministic seeds**: skorch has no ``random_state``; the k-fold machinery sets
  ``random_state = seed + fold`` on each clone, which a skorch net would ignore (it relies on
  the global ``torch.manual_seed``).
* **validation before training**: a network with too few outputs fails inside the first
  batch with ``IndexError: Target 2 is out of bounds``; mislabel gives a clear error naming
  the shape before any training.
* **dependency**: one more package (and its tqdm/tabulate pins) for the ``torch`` extra.

The progress bar (tqdm when installed, otherwise logging), device argument and per-fold cache
(``cross_val_pred_probs(..., cache_dir=)``, keyed by this estimator's stable ``repr``) are
covered here. A skorch net can still be passed to ``cross_val_pred_probs`` directly.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import marshal
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from mislabel._validation import check_scalar, optional_import

optional_import("torch", "torch", "mislabel.integrations.torch")

import torch  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from torch import nn  # noqa: E402

from mislabel.exceptions import InvalidInputError, NotFittedError  # noqa: E402
from mislabel.train._loop import (  # noqa: E402
    EpochLog,
    Objective,
    TrainSettings,
    as_features,
    build_loss,
    check_mixup,
    check_module_arg,
    check_output,
    fit_module,
    predict_logits,
    prepare,
    recording_penultimate,
    resolve_device,
    seeded,
)
from mislabel.train._schedule import keep_rate  # noqa: E402

__all__ = ["TorchClassifier", "stable_repr", "temporal_pred_probs", "to_estimator"]

#: Epochs over which ``TorchClassifier(forget_rate=τ)`` ramps from keeping every sample of a
#: batch to keeping ``1 - τ`` of them.
_FORGET_RAMP_EPOCHS = 10


def stable_repr(obj: Any) -> str:
    """A ``repr`` that is the same in every process: no memory addresses.

    Modules give their architecture; functions their qualified name and a hash of their code
    (two different lambdas differ); ``functools.partial`` its function and arguments.
    """
    if isinstance(obj, nn.Module):
        return repr(obj)
    if isinstance(obj, functools.partial):
        args = ", ".join(stable_repr(a) for a in obj.args)
        kw = ", ".join(f"{k}={stable_repr(v)}" for k, v in sorted(obj.keywords.items()))
        return f"partial({stable_repr(obj.func)}, {args}; {kw})"
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        code = getattr(obj, "__code__", None)
        digest = ""
        if code is not None:
            try:
                digest = "#" + hashlib.sha256(marshal.dumps(code)).hexdigest()[:12]
            except ValueError:  # code objects holding unmarshallable constants
                digest = ""
        return f"{obj.__module__}.{obj.__qualname__}{digest}"
    if inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    text = repr(obj)
    if " at 0x" in text:
        return f"{type(obj).__module__}.{type(obj).__qualname__}"
    return text


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A PyTorch network as a scikit-learn classifier (``fit``, ``predict_proba``, ``classes_``).

    ``__init__`` only stores the settings (so :func:`sklearn.base.clone` works); each ``fit``
    trains a fresh network: a deep copy of ``module`` (its weights as given: every fold of a
    k-fold run starts from the same state, which keeps pretrained weights) or a new call of the
    factory under the seed (a fresh seeded initialisation per fold).

    Args:
        module: an ``nn.Module`` mapping a batch of ``X`` to (batch, n_classes) logits, or a
            callable returning one.
        loss: a :mod:`mislabel.losses` name (``"ce"``, ``"gce"``, ``"elr"``, ...) or a loss
            module with a ``reduction`` attribute. Losses that need sample indices get them.
        loss_kwargs: arguments of the named loss; ``n_samples`` / ``n_classes`` are filled in.
        epochs: passes over the training data.
        batch_size: samples per batch.
        lr: learning rate.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: L2 penalty of the optimiser.
        device: ``"auto"`` (a GPU when present, else the CPU) or a torch device (``"cpu"``,
            ``"cuda"``, ``"cuda:1"``, ``"mps"``).
        random_state: seeds the factory's initialisation, the batch order and dropout (the
            caller's RNG is left untouched). ``cross_val_pred_probs(random_state=s)`` sets
            ``s + fold`` on each fold's clone when this is None.
        progress: a tqdm bar over epochs when tqdm is installed (epochs are logged anyway).
        channels_last: channels-last memory format for 4-D inputs (faster CNNs on CPU).
        n_classes: expected number of classes; default the network's output width.
        require_all_classes: raise when the training labels miss a class of the network's
            output (a fold without that class cannot learn it).
        predict_batch_size: batch size of :meth:`predict_proba`.
        mixup: α > 0 trains on mixup batches (Zhang et al., ICLR 2018; λ ~ Beta(α, α)): the
            network fits fewer single wrong labels, so out-of-fold or one-run probabilities
            from it flag label errors better. Not with losses that keep per-sample state
            (``"elr"``).
        forget_rate: τ > 0 trains on the small-loss share of each batch: over the first 10
            epochs the share kept falls from all to ``1 - τ``, the samples with the largest
            loss dropped (:func:`mislabel.train.small_loss`'s selection; Han et al., NeurIPS
            2018), for labels with some wrong ones left.
        lr_schedule: ``"constant"`` (default) keeps ``lr``; ``"cosine"`` lowers it epoch by
            epoch along half a cosine from ``lr`` towards 0, which keeps a network that has
            fitted its training set from being thrown off it again late in training.

    Attributes:
        module_: the trained network (eval mode).
        classes_: ``arange(n_classes_)``: one probability column per network output.
        n_classes_: number of classes.
        history_: one :class:`mislabel.train.EpochLog` per epoch.
        loss_: the loss module used (its per-sample state, e.g. ELR targets, after training).

    Example:
        >>> est = TorchClassifier(lambda: nn.Linear(4, 3), epochs=5)  # doctest: +SKIP
        >>> est.fit(X, y).predict_proba(X).shape                    # doctest: +SKIP
        (150, 3)
    """

    def __init__(
        self,
        module: Any,
        *,
        loss: Any = "ce",
        loss_kwargs: dict[str, Any] | None = None,
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        device: str = "cpu",
        random_state: int | np.random.Generator | None = None,
        progress: bool = True,
        channels_last: bool = False,
        n_classes: int | None = None,
        require_all_classes: bool = True,
        predict_batch_size: int = 1024,
        mixup: float = 0.0,
        forget_rate: float = 0.0,
        lr_schedule: str = "constant",
    ) -> None:
        self.module = module
        self.loss = loss
        self.loss_kwargs = loss_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.channels_last = channels_last
        self.n_classes = n_classes
        self.require_all_classes = require_all_classes
        self.predict_batch_size = predict_batch_size
        self.mixup = mixup
        self.forget_rate = forget_rate
        self.lr_schedule = lr_schedule

    # ------------------------------------------------------------------ sklearn protocol

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        """Stable across processes (the per-fold cache keys on it): no memory addresses."""
        parts = [f"module={stable_repr(self.module)}"]
        defaults = {
            k: p.default
            for k, p in inspect.signature(type(self).__init__).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        for key, value in self.get_params(deep=False).items():
            if key == "module":
                continue
            if key in defaults and _same(value, defaults[key]):
                continue
            parts.append(f"{key}={stable_repr(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _settings(self) -> TrainSettings:
        return TrainSettings.check(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            device=self.device,
            random_state=self.random_state,
            progress=self.progress,
            channels_last=self.channels_last,
            lr_schedule=self.lr_schedule,
        )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TorchClassifier:
        """Train a fresh network on (X, y).

        Everything is checked before the first step: settings, the loss name, one label per
        row, labels in ``[0, n_classes)``, a forward pass of 2 samples giving (2, n_classes)
        logits, every class present (``require_all_classes``), the weights.

        Args:
            X: (n, ...) features, converted to float32.
            y: (n,) labels in ``[0, n_classes)``.
            sample_weight: optional (n,) non-negative per-sample weights (e.g. detection
                scores): the batch loss is their weighted mean.
        """
        return self._fit(X, y, sample_weight)

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        on_epoch: Callable[[int, nn.Module], None] | None = None,
    ) -> TorchClassifier:
        """`fit`, and ``on_epoch(epoch, module)`` after each epoch."""
        check_scalar(
            self.predict_batch_size, "predict_batch_size", kind=numbers.Integral, min_val=1
        )
        settings = self._settings()
        prep, module = prepare(
            self.module,
            X,
            y,
            sample_weight=sample_weight,
            loss=self.loss,
            loss_kwargs=self.loss_kwargs,
            settings=settings,
            n_classes=self.n_classes,
            require_all_classes=self.require_all_classes,
            name="module",
        )
        loss_fn = build_loss(
            self.loss, self.loss_kwargs, n_samples=prep.y.shape[0], n_classes=prep.n_classes
        )
        self.loss_ = loss_fn
        objective = Objective(loss_fn, prep.sample_weight, settings.epochs)
        alpha = check_mixup(self.mixup, objective, None)
        tau = float(check_scalar(self.forget_rate, "forget_rate", min_val=0.0, max_val=1.0,
                                 include_max=False))  # fmt: skip
        history: list[EpochLog] = fit_module(
            module,
            prep.x,
            prep.y_t,
            objective=objective,
            settings=settings,
            desc="fit",
            mixup=alpha,
            on_epoch=on_epoch,
            keep_schedule=(
                functools.partial(keep_rate, forget_rate=tau, t_k=_FORGET_RAMP_EPOCHS)
                if tau > 0
                else None
            ),
        )
        self.module_ = module
        self.history_ = tuple(history)
        self.n_classes_ = prep.n_classes
        self.classes_ = np.arange(prep.n_classes)
        self.n_features_in_ = int(np.prod(prep.x.shape[1:]))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) before "
                "predict_proba()."
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) float32 class probabilities (softmax of the logits, or the loss's
        ``activation``)."""
        self._check_fitted()
        return self._probs(self.module_, as_features(X)).float().numpy()

    def _probs(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Probabilities of ``module`` over ``x``: softmax of the logits, or the loss's
        ``activation`` (``loss_`` is set before the first epoch)."""
        logits = predict_logits(
            module,
            x,
            int(self.predict_batch_size),
            str(torch.device(resolve_device(self.device))),
            bool(self.channels_last),
        )
        act = getattr(self.loss_, "activation", None)
        return act(logits) if callable(act) else torch.softmax(logits, dim=1)

    def predict(self, X: Any) -> np.ndarray:
        """(n,) the most probable class."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_logits(self, X: Any) -> np.ndarray:
        """(n, n_classes) raw logits."""
        self._check_fitted()
        return (
            predict_logits(
                self.module_,
                as_features(X),
                int(self.predict_batch_size),
                str(torch.device(resolve_device(self.device))),
                bool(self.channels_last),
            )
            .float()
            .numpy()
        )

    def check_folds(self, X: Any, labels: Any, splits: Any, n_classes: int | None = None) -> None:
        """Check k-fold training before any fold trains.

        One forward pass of 2 samples must give (2, n_classes) logits, labels must be columns
        of it, and every fold's training part must hold every class. Raises
        :class:`~mislabel.exceptions.InvalidInputError` naming the problem.

        Args:
            X: all features.
            labels: all labels.
            splits: the ``(train, test)`` index pairs of the folds.
            n_classes: the number of classes of the k-fold run.
        """
        settings = self._settings()
        from mislabel.train._loop import check_xy, instantiate

        check_module_arg(self.module, "module")
        k_expected = self.n_classes if self.n_classes is not None else n_classes
        x, y = check_xy(X, labels, k_expected)
        with seeded(settings.seed):
            module = instantiate(self.module, "module")
        k = check_output(
            module,
            x,
            y,
            n_classes=k_expected,
            device=settings.device,
            channels_last=settings.channels_last,
            name="module",
        )
        if not self.require_all_classes:
            return
        for fold, (train, _) in enumerate(splits):
            missing = np.flatnonzero(np.bincount(y[np.asarray(train)], minlength=k) == 0)
            if missing.size:
                total = np.bincount(y, minlength=k)[missing]
                raise InvalidInputError(
                    f"fold {fold}'s training part has no sample of classes "
                    f"{missing[:10].tolist()} ({total[:10].tolist()} in all `labels`); a "
                    "network trained there cannot predict them. Use fewer folds (cv) or merge "
                    "or drop the rare classes."
                )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or (type(a) is type(b) and a == b))
    except Exception:  # arrays and tensors compare element-wise
        return False


def to_estimator(
    module_or_factory: Any,
    *,
    loss: Any = "ce",
    loss_kwargs: dict[str, Any] | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    device: str = "cpu",
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
    channels_last: bool = False,
    n_classes: int | None = None,
    require_all_classes: bool = True,
) -> TorchClassifier:
    """A scikit-learn classifier that trains ``module_or_factory`` (see :class:`TorchClassifier`).

    Checks right away that ``module_or_factory`` is an ``nn.Module`` or callable and that the
    loss name is registered; the data-dependent checks run at the start of ``fit``.

    Example:
        >>> est = to_estimator(make_cnn, loss="gce", epochs=5, random_state=0)   # doctest: +SKIP
        >>> pred_probs = mislabel.cross_val_pred_probs(est, X, labels, cv=5)    # doctest: +SKIP
    """
    from mislabel.train._loop import check_loss_arg

    check_module_arg(module_or_factory, "module_or_factory")
    check_loss_arg(loss, loss_kwargs)
    return TorchClassifier(
        module_or_factory,
        loss=loss,
        loss_kwargs=loss_kwargs,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        device=device,
        random_state=random_state,
        progress=progress,
        channels_last=channels_last,
        n_classes=n_classes,
        require_all_classes=require_all_classes,
    )


def temporal_pred_probs(
    estimator: TorchClassifier,
    X: Any,
    labels: Any,
    *,
    sample_weight: Any = None,
    neighbors: int = 0,
) -> np.ndarray:
    """Detection probabilities from **one** training run on all the data: the network's
    probabilities for every training sample at the end of each epoch, averaged over the epochs
    (a temporal ensemble), for :func:`mislabel.find_label_issues` in place of out-of-fold ones.

    A network fits most correct labels early and wrong ones late, if at all; averaged over the
    run, a wrong label keeps a low probability. Train with ``mixup`` (α = 1 to 4) so that the
    network hardly memorises single wrong labels. These probabilities are in-sample: cut them
    with :func:`mislabel.train.one_run_issues`, which allows for the network's certainty about
    wrong labels it has seen. Give the run the
    sample passes of a k-fold run, (k - 1) × the epochs of one fold.
    :class:`mislabel.NoiseAwareClassifier` runs this detection, with ``neighbors=30`` and
    mixup α = 4, before its final training.

    Args:
        estimator: an unfitted :class:`TorchClassifier` (cloned; the original is untouched).
            Its ``epochs`` are the length of the run, ``mixup`` should be > 0.
        X: (n, ...) features.
        labels: (n,) given (noisy) labels.
        sample_weight: optional (n,) weights (e.g. label-quality scores of an earlier round).
        neighbors: > 0 averages the result with the given labels' distribution among each
            sample's ``neighbors`` nearest others in the network's penultimate features (the
            input of its last ``nn.Linear``; :func:`mislabel.neighbor_label_probs`), averaged
            over the second half of the epochs.

    Returns:
        (n, n_classes) float32 probabilities, each row summing to 1.

    Example:
        >>> est = TorchClassifier(make_net, epochs=20, mixup=1.0, random_state=0)  # doctest: +SKIP
        >>> probs = temporal_pred_probs(est, X, labels)                            # doctest: +SKIP
        >>> issues = mislabel.train.one_run_issues(labels, probs)                 # doctest: +SKIP
    """
    from sklearn.base import clone

    from mislabel.exceptions import InvalidParameterError

    if not isinstance(estimator, TorchClassifier):
        raise InvalidParameterError(
            "`estimator` must be a mislabel.integrations.torch.TorchClassifier (the run records "
            f"the network after every epoch); got {type(estimator).__name__}. Wrap a network "
            "with to_estimator(...) or TorchClassifier(...)."
        )
    from mislabel.detect._knn import TemporalVote

    vote = TemporalVote(neighbors)
    est = clone(estimator)
    x = as_features(X)
    n_epochs = int(est.epochs)

    def record(epoch: int, module: nn.Module) -> None:
        if not vote.votes_at(epoch, n_epochs):
            vote.add(est._probs(module, x).numpy())
            return
        feats: list[torch.Tensor] = []
        with recording_penultimate(module, feats):
            probs = est._probs(module, x).numpy()
        vote.add(probs, torch.cat(feats).numpy(), labels)

    est._fit(X, labels, sample_weight, on_epoch=record)
    return vote.mean()
