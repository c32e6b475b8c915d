"""The whole recipe in one scikit-learn estimator: find the wrong labels, fix them, train.

:class:`NoiseAwareClassifier` runs, in ``fit``:

1. **detection** — by default one training run of the network on mixup batches on all the data;
   the network's probabilities for every sample, averaged over the epochs (a temporal
   ensemble), are averaged with the given labels' vote among each sample's nearest neighbours
   in the network's penultimate features (:func:`one_run_pred_probs`), then cut by
   :func:`one_run_issues`. ``detection="kfold"`` uses out-of-fold probabilities instead (the
   choice for a scikit-learn model); ``detection="embeddings"`` judges fixed features (the
   embeddings of a pretrained backbone, which ``backbone`` computes from images) by a
   neighbour vote and a logistic-regression head (:func:`mislabel.embedding_pred_probs`);
2. **a fix policy** — ``"reweight"`` (each sample weighted by the probability that its label is
   right; the default after a network's detection), ``"remove"`` the flagged samples (the
   default after ``"embeddings"``), or ``"relabel"`` them to the suggested class;
3. **the final training** — when the network can learn its training set by heart
   (:func:`mislabel.train.can_memorize`), the weights with ELR (early-learning
   regularisation); otherwise plain cross-entropy on the labels as given, because weights and
   ELR cost such a model accuracy. After ``"embeddings"``, cross-entropy on what the policy
   leaves, on the small-loss share of each batch. A scikit-learn model gets the policy
   through ``sample_weight``.

This module imports torch only inside ``fit`` (``import mislabel`` stays light).
"""

from __future__ import annotations

import functools
import logging
import numbers
import os
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from mislabel._validation import (
    as_seed,
    check_features,
    check_option,
    check_scalar,
    optional_import,
    split_views,
)
from mislabel.data._embed import DEFAULT_DETECT_LAYERS, DEFAULT_IMAGE_LAYERS
from mislabel.detect._knn import vote_neighbors
from mislabel.exceptions import InvalidInputError, InvalidParameterError, NotFittedError

__all__ = [
    "DETECTIONS",
    "POLICIES",
    "NoiseAwareClassifier",
    "one_run_issues",
    "one_run_pred_probs",
]

logger = logging.getLogger(__name__)

Detection = Literal["auto", "one-run", "kfold", "embeddings"]
Policy = Literal["auto", "reweight", "remove", "relabel"]
FinalLoss = Literal["auto", "elr", "ce"]
#: Detection modes of :class:`NoiseAwareClassifier`.
DETECTIONS: tuple[str, ...] = ("auto", "one-run", "kfold", "embeddings")
#: Fix policies of :class:`NoiseAwareClassifier`.
POLICIES: tuple[str, ...] = ("auto", "reweight", "remove", "relabel")
_FINAL_LOSSES: tuple[str, ...] = ("auto", "elr", "ce")


def one_run_issues(labels: Any, pred_probs: Any, *, noise_rate: float | None = None) -> Any:
    """Flag wrong labels from the in-sample probabilities of one training run.

    One-run probabilities (:func:`one_run_pred_probs`, fastai's ``TemporalProbsRecorder``)
    are in-sample: the network has seen every label and is surer of some wrong ones than an
    out-of-fold model would be, so the expected-F1 cut of :func:`mislabel.find_label_issues`
    tends to flag too few. With three classes or more this flags the calibrated confident
    joint's count (:func:`mislabel.estimate_noise`) where it is larger, but at most 1.25
    times the default cut's count: the samples the noise posterior finds most probably wrong
    or, where the default cut does not trust the posterior (it expects far fewer wrong labels
    than the joint counts), those of lowest self-confidence. With two classes, the default
    cut. A known ``noise_rate`` sets the count.

    Returns:
        A :class:`mislabel.LabelIssues`.
    """
    from mislabel.detect import find_label_issues
    from mislabel.detect._issues import one_run_cut

    if noise_rate is not None:
        return find_label_issues(labels, pred_probs, noise_rate=noise_rate)
    return one_run_cut(labels, pred_probs, max_stretch=_ONE_RUN_MAX_STRETCH)


#: After the embeddings detection, the final training drops this share of each batch with
#: the largest loss (small-loss selection) against the wrong labels the detection missed.
_EMBEDDINGS_FORGET_RATE = 0.2
#: The label smoothing of the final training after ``"embeddings"`` detection: the loss on the
#: kept samples never reaches zero, so Adam's steps stay scaled to real gradients.
_EMBEDDINGS_SMOOTHING = 0.1
#: How far :func:`one_run_issues` may stretch the default cut's count toward the joint's.
_ONE_RUN_MAX_STRETCH = 1.25
#: ``detect_forget_rate="auto"`` on images: up to this estimated share of wrong labels the
#: small-loss run judges them better than the mixup run (Fashion-MNIST and MNIST folders
#: with 10-20 % wrong labels); above, mixup does (30 %, and 40 % pair noise).
_SMALL_LOSS_MAX_NOISE = 0.25
#: ... and up to this estimated share of a class given another class's label (pair noise of
#: 40 % is learnt by the small-loss run; the mixup run judges it far better).
_SMALL_LOSS_MAX_SWAP = 0.25
#: The small-loss run leaves out this much more than the estimated share of wrong labels.
_SMALL_LOSS_MARGIN = 0.04
#: ... and runs only where the detection trains this many epochs or more (the small-loss
#: share ramps in over 10 epochs; 3-epoch fastai runs on the digits practice folder flagged
#: worse with it: F1 0.862 against 0.90-0.94).
_SMALL_LOSS_MIN_EPOCHS = 10


def _forget_choice(value: Any, name: str) -> float | None:
    """A detection's ``forget_rate`` setting checked: None for ``"auto"``, else the share in
    [0, 1) that its network leaves out of each batch."""
    if isinstance(value, str):
        check_option(value, name, ("auto",))
        return None
    return float(check_scalar(value, name, min_val=0.0, max_val=1.0, include_max=False))


def _small_loss_share(issues: Any, noise_rate: float | None, *, epochs: int) -> float:
    """The share of each batch that the small-loss detection run leaves out, judged from the
    mixup run's ``issues`` on images; 0.0 where the mixup run is the better judge.

    Where at most a quarter of the labels are wrong (``noise_rate``, else the share the mixup
    run flags) and no class pair is swapped in more than a quarter of a class (the estimated
    noise matrix), a network trained on the small-loss share of each batch leaves the wrong
    labels unlearnt: that share + 0.04. Where more are wrong, or a pair of classes is swapped
    as a rule (pair noise), the small-loss selection keeps them and learns them; runs shorter
    than 10 epochs (the share's ramp) keep the mixup run too.
    """
    if epochs < _SMALL_LOSS_MIN_EPOCHS:
        return 0.0
    estimate = float(np.mean(issues.mask)) if noise_rate is None else float(noise_rate)
    matrix = issues.noise_matrix
    swapped = 0.0 if matrix is None else float(np.max(matrix - np.diag(np.diag(matrix))))
    if estimate > _SMALL_LOSS_MAX_NOISE or swapped > _SMALL_LOSS_MAX_SWAP:
        return 0.0
    return round(estimate + _SMALL_LOSS_MARGIN, 2)


def one_run_pred_probs(
    estimator: Any, X: Any, labels: Any, *, neighbors: int = 30, sample_weight: Any = None
) -> np.ndarray:
    """Detection probabilities from one training run of a
    :class:`~mislabel.integrations.torch.TorchClassifier` on all of ``X`` (train it with
    ``mixup``): the temporal ensemble of its probabilities, averaged with the labels' vote
    among the ``neighbors`` nearest samples in its penultimate features
    (:func:`mislabel.integrations.torch.temporal_pred_probs`). Cut them with
    :func:`one_run_issues`."""
    from mislabel.integrations.torch import temporal_pred_probs

    return temporal_pred_probs(
        estimator, X, labels, sample_weight=sample_weight, neighbors=neighbors
    )


def _is_sklearn(model: Any) -> bool:
    return (
        hasattr(model, "fit") and hasattr(model, "predict_proba") and hasattr(model, "get_params")
    )


class NoiseAwareClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that finds the wrong training labels, fixes them and trains through the
    rest, in one ``fit``.

    Args:
        model: what to train. ``None`` (default): a network sized to ``X`` — an MLP (two hidden
            layers of 256) for vectors, a small CNN for images ((n, H, W), (n, H, W, C) or
            (n, C, H, W); uint8 pixels are scaled to [−0.5, 0.5], float vectors standardised).
            A PyTorch ``nn.Module`` (deep-copied for every training) or a callable returning a
            fresh one: it gets ``X`` as float32, as given. Any scikit-learn classifier with
            ``predict_proba``: detection is k-fold and the policy reaches the final training
            through ``sample_weight``.
        detection: ``"auto"`` (default): ``"embeddings"`` with a ``backbone``, ``"kfold"``
            for a scikit-learn model, ``"one-run"`` otherwise. ``"one-run"`` (networks only):
            one mixup training run on all the data, its probabilities averaged over the epochs
            and with the labels' vote among nearest neighbours in the network's features.
            ``"kfold"``: ``cv`` out-of-fold trainings. ``"embeddings"``: ``X`` are fixed
            features such as a pretrained backbone's embeddings, judged by the labels' vote
            among nearest neighbours and a ``cv``-fold logistic-regression head, refined in
            rounds (:func:`mislabel.embedding_pred_probs`). ``X`` is (n, d), or (n, v, d)
            with ``v`` views of every sample (``embed_images(views=("identity", "hflip"))``):
            the detection judges the mean over the views, the final training takes every
            view of a kept sample as a row of its own (with the sample's label), and
            ``predict`` takes the mean of a sample's views ((m, v, d); (m, d) is the mean
            itself). One-run probabilities are
            in-sample: a network that fits the given labels within its first epochs (an MLP
            on strong fixed embeddings, say) hides the wrong labels from them and few are
            flagged; use ``"embeddings"`` there.
        policy: what happens to the suspects before the final training: ``"reweight"`` (each
            sample weighted by the estimated probability that its label is right),
            ``"remove"`` the flagged samples, ``"relabel"`` them to the suggested class;
            ``"auto"`` (default): ``"remove"`` after ``"embeddings"`` detection, otherwise
            ``"reweight"``.
        final_loss: ``"auto"``: ELR (:class:`mislabel.losses.ELRLoss`) when the network can
            learn its training set by heart (:func:`mislabel.train.can_memorize`), otherwise
            plain cross-entropy on the labels as given (the policy is then not applied: such
            a model does not fit single wrong labels, and weights or ELR cost it accuracy).
            After ``"embeddings"`` detection, ``"auto"`` is cross-entropy with label
            smoothing 0.1 on what the policy leaves, on the small-loss 80 % of each batch
            (``TorchClassifier(forget_rate=0.2)``) against the wrong labels the detection
            missed. ``"elr"`` / ``"ce"`` force the loss (the policy is applied either way).
            After ``"embeddings"`` detection the final training also lowers its learning
            rate along a cosine (``TorchClassifier(lr_schedule="cosine")``): with plain
            cross-entropy at a constant rate, a network that has fitted the kept samples can
            be thrown off them late in training and lose several points.
        backbone: ``"timm:NAME"`` (e.g. ``"timm:efficientnet_lite0"``), or several joined
            by ``+`` (:data:`mislabel.data.DEFAULT_IMAGE_MODEL`,
            ``"timm:efficientnet_lite0+timm:efficientnet_lite2"``, the pair ``mislabel
            train`` uses on photos, whose features side by side give the detection and the
            final network more to go on than either): ``X`` are images (paths, a uint8 array
            or PIL images), embedded by that pretrained backbone
            (:func:`mislabel.data.embed_images`) in ``fit`` and in ``predict``; the detection
            and the final network (an MLP unless ``model`` is given) work on the embeddings.
        backbone_weights: a local weights file for ``backbone`` (one model), or a list with
            one entry (a file or None) per model.
        backbone_layers: what of ``backbone`` the final network trains on and predicts from
            (:data:`mislabel.data.IMAGE_LAYERS`): ``"stages"`` (default), its last three
            stages averaged over the image and concatenated; ``"pooled"``, its pooled
            output; ``"stages+pooled"``, both side by side.
        detect_layers: what of ``backbone`` the detection judges: ``"stages+pooled"``
            (default; the same forward pass gives both parts, and the two together miss
            fewer of the wrong labels that cost the final network accuracy), ``"stages"``
            or ``"pooled"``.
        views: the views of every image that ``backbone`` embeds (:data:`mislabel.data.
            IMAGE_VIEWS`): by default the image as given and mirrored left-right, used as
            ``detection`` describes for (n, v, d) features (twice the embedding time of
            ``("identity",)``, and on photos a more accurate final network). Other
            detections take the mean over the views.
        cache_dir: where ``backbone``'s embeddings are cached (keyed by model, weights and
            image content); None: not cached.
        noise_rate: the known share of wrong labels ("10 % are wrong" → 0.1), if you know it.
        epochs: epochs of the final training (networks).
        detect_epochs: epochs of the detection run (default ``epochs``); with
            ``detection="kfold"``, the epochs of each fold.
        batch_size, lr, weight_decay: the optimisation (Adam) of every network training.
        mixup: α of the detection run's mixup batches (λ ~ Beta(α, α)); 0 turns it off.
        detect_forget_rate: how the one-run detection trains its network. ``"auto"``
            (default): on images, the mixup run first; where it finds at most a quarter of
            the labels wrong and no class pair swapped in more than a quarter of a class
            (its estimated noise matrix), and where the run is 10 epochs or longer, a
            second run on the small-loss share
            of each batch (no mixup; the estimated share of wrong labels, or ``noise_rate``,
            + 0.04 with the largest loss left out; Han et al., NeurIPS 2018), whose
            probabilities are the ones cut: it leaves few wrong labels unlearnt, and mixup
            judges better where they are many or swapped as a rule. On vectors, the mixup
            run alone. ``0``: the mixup run alone. A number in (0, 1): the small-loss run
            alone, with that share left out (with ``detection="kfold"``, every fold's
            network).
        neighbors: neighbours of the label vote of the one-run and embeddings detections (at
            most 5 or a tenth of the samples, whichever is more); 0 turns it off (one-run).
        cv: folds of ``detection="kfold"`` and of the ``"embeddings"`` head.
        device: ``"auto"`` (a GPU when present), ``"cpu"``, ``"cuda"``, ...
        random_state: seeds every random step (initialisation, batches, mixup, folds).
        progress: a progress bar over each training's epochs (tqdm).

    Attributes:
        classes_: the class labels, sorted (``predict`` returns these).
        n_classes_: number of classes.
        issues_: the :class:`mislabel.LabelIssues` of the training labels (indices are rows
            of ``X``; ``suggested`` indexes ``classes_``).
        pred_probs_: (n, n_classes) the detection's probabilities.
        sample_weight_: the per-sample weights of the final training (None without).
        memorizes_: whether the network can memorise the training set (None for a
            scikit-learn model).
        final_loss_: the loss of the final training (``"elr"``, ``"ce"``, or ``"sklearn"``).
        model_: the trained final model (a :class:`~mislabel.integrations.torch.TorchClassifier`
            or the fitted scikit-learn clone).
        seconds_: wall time of ``fit`` by stage (``detect``, ``train``).
        n_neighbors_: the neighbours of the one-run detection's label vote.
        n_views_: the rows per kept sample of the final training (the views of (n, v, d)
            features with ``"embeddings"`` detection; otherwise 1).
        detection_: the detection that ran (``"one-run"``, ``"kfold"`` or ``"embeddings"``).
        detect_forget_rate_: the small-loss share the detection's network left out (0.0: it
            trained on mixup batches, or on every sample).
        policy_: the policy that was applied (``"reweight"``, ``"remove"``, ``"relabel"``, or
            ``"none"`` when plain cross-entropy trained on the labels as given).

    Example:
        >>> clf = NoiseAwareClassifier(random_state=0).fit(X, labels)   # doctest: +SKIP
        >>> clf.issues_.to_frame().head()                               # doctest: +SKIP
        >>> clf.score(X_test, y_test)                                   # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any = None,
        *,
        detection: Detection = "auto",
        policy: Policy = "auto",
        final_loss: FinalLoss = "auto",
        noise_rate: float | None = None,
        epochs: int = 20,
        detect_epochs: int | None = None,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        mixup: float = 4.0,
        detect_forget_rate: float | Literal["auto"] = "auto",
        neighbors: int = 30,
        cv: int = 3,
        backbone: str | None = None,
        backbone_weights: str
        | os.PathLike[str]
        | list[str | os.PathLike[str] | None]
        | None = None,
        backbone_layers: str = DEFAULT_IMAGE_LAYERS,
        detect_layers: str = DEFAULT_DETECT_LAYERS,
        cache_dir: str | os.PathLike[str] | None = None,
        views: Sequence[str] = ("identity", "hflip"),
        device: str = "auto",
        random_state: int | np.random.Generator | None = None,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.detection = detection
        self.policy = policy
        self.final_loss = final_loss
        self.noise_rate = noise_rate
        self.epochs = epochs
        self.detect_epochs = detect_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.mixup = mixup
        self.detect_forget_rate = detect_forget_rate
        self.neighbors = neighbors
        self.cv = cv
        self.backbone = backbone
        self.backbone_weights = backbone_weights
        self.backbone_layers = backbone_layers
        self.detect_layers = detect_layers
        self.cache_dir = cache_dir
        self.views = views
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ checks

    def _check_params(self) -> None:
        check_option(self.detection, "detection", DETECTIONS)
        check_option(self.policy, "policy", POLICIES)
        check_option(self.final_loss, "final_loss", _FINAL_LOSSES)
        if self.noise_rate is not None:
            check_scalar(self.noise_rate, "noise_rate", min_val=0.0, max_val=1.0, include_max=False)
        check_scalar(self.epochs, "epochs", kind=numbers.Integral, min_val=1)
        if self.detect_epochs is not None:
            check_scalar(self.detect_epochs, "detect_epochs", kind=numbers.Integral, min_val=1)
        check_scalar(self.mixup, "mixup", min_val=0.0)
        _forget_choice(self.detect_forget_rate, "detect_forget_rate")
        check_scalar(self.neighbors, "neighbors", kind=numbers.Integral, min_val=0)
        check_scalar(self.cv, "cv", kind=numbers.Integral, min_val=2)
        from mislabel.data._embed import IMAGE_LAYERS, check_views

        check_views(self.views)
        check_option(self.backbone_layers, "backbone_layers", IMAGE_LAYERS)
        check_option(self.detect_layers, "detect_layers", IMAGE_LAYERS)
        if self.backbone is not None and (
            not isinstance(self.backbone, str) or not self.backbone.startswith("timm:")
        ):
            raise InvalidParameterError(
                "`backbone` must be None or 'timm:NAME' (e.g. 'timm:efficientnet_lite0'); got "
                f"{self.backbone!r}."
            )
        if self.model is not None and not callable(self.model) and not _is_sklearn(self.model):
            raise InvalidParameterError(
                "`model` must be None (a default network), a torch nn.Module or a factory "
                "returning one, or a scikit-learn classifier with predict_proba; got "
                f"{type(self.model).__name__}."
            )

    def _encode(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        try:
            y_arr = np.asarray(y)
        except Exception as exc:
            raise InvalidInputError(
                f"`labels` must be a 1-D array; got {type(y).__name__}."
            ) from exc
        if y_arr.ndim != 1:
            raise InvalidInputError(
                f"`labels` must be 1-D (one label per sample); got shape {y_arr.shape}."
            )
        if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
            i = int(np.flatnonzero(~np.isfinite(y_arr))[0])
            raise InvalidInputError(f"`labels` must not hold NaN or inf; got {y_arr[i]} at {i}.")
        if y_arr.dtype == object and any(v is None for v in y_arr):
            raise InvalidInputError("`labels` must not hold None (a missing label).")
        n = _n_rows(X)
        if y_arr.shape[0] != n:
            raise InvalidInputError(
                f"`X` must have one row per label ({y_arr.shape[0]}); got {n} rows."
            )
        classes, y_enc = np.unique(y_arr, return_inverse=True)
        if classes.size < 2:
            raise InvalidInputError(
                f"`labels` must hold at least 2 classes; got only {classes.tolist()}."
            )
        self.classes_ = classes
        self.n_classes_ = int(classes.size)
        return X, y_enc.astype(np.int64)

    # ------------------------------------------------------------------ fit

    def fit(self, X: Any, y: Any, *, detection_features: Any = None) -> NoiseAwareClassifier:
        """Find the wrong labels among ``y``, fix them by ``policy`` and train the final model.

        Args:
            X: (n, ...) features: vectors or images for a network, anything the scikit-learn
                model takes otherwise.
            y: (n,) given (noisy) labels, of any sortable type.
            detection_features: what ``detection="embeddings"`` judges instead of ``X``
                (the final model still trains on ``X``): (n, d') fixed features of the same
                samples, or (n, v, d') with ``v`` views (their mean is judged), e.g. more
                layers of the backbone that gave ``X``. With a ``backbone``,
                ``detect_layers`` says what the detection judges instead.
        """
        prepared = self._detect(X, y, detection_features)
        t1 = time.perf_counter()
        if self._sklearn:
            self._train_sklearn(*prepared)
        else:
            self._train_torch(*prepared)
        self.seconds_["train"] = time.perf_counter() - t1
        return self

    def find(self, X: Any, y: Any, *, detection_features: Any = None) -> NoiseAwareClassifier:
        """Only the detection step (what ``mislabel find`` runs): sets ``classes_``,
        ``issues_`` and ``pred_probs_``, trains no final model. Arguments as in :meth:`fit`."""
        self._detect(X, y, detection_features)
        return self

    @property
    def _sklearn(self) -> bool:
        return self.model is not None and _is_sklearn(self.model)

    def _detect(self, X: Any, y: Any, judged: Any = None) -> tuple[Any, np.ndarray, Any, Any]:
        """Check, encode, detect; return (network or model input, encoded labels, factory,
        the input of every view (n, v, ...) or None)."""
        from mislabel.detect import cross_val_pred_probs, embedding_pred_probs, find_label_issues

        t0 = time.perf_counter()
        self._check_params()
        X, y_enc = self._encode(X, y)
        detection = self._resolved_detection()
        self.detection_ = detection
        if judged is not None:
            judged = self._check_judged(judged, y_enc.shape[0], detection)
        X, judged_by_backbone = self._embed_for_fit(X, detection)
        if judged_by_backbone is not None:
            judged = judged_by_backbone
        seed = as_seed(self.random_state)
        forget = 0.0  # the small-loss share the detection's network leaves out
        views = None
        if np.ndim(X) == 3 and (detection == "embeddings" or self.backbone is not None):
            X, views = split_views(X, "X")  # (n, v, d): v views of every sample
            if detection != "embeddings":
                views = None
        self.n_views_ = 1 if views is None else int(views.shape[1])
        if self._sklearn:
            if detection == "one-run":
                raise InvalidParameterError(
                    "`detection='one-run'` records a network during its training; a "
                    f"scikit-learn model ({type(self.model).__name__}) needs detection='kfold'."
                )
            self._scaler = None
            x, factory = X, None
        else:
            optional_import("torch", "torch", "NoiseAwareClassifier with a network")
            from mislabel.train._networks import InputScaler, default_network

            if self.model is None:
                self._scaler = InputScaler.fit(X)
                x = self._scaler.transform(X)
                factory = functools.partial(
                    default_network, self._scaler.network_input_shape(), self.n_classes_
                )
            else:
                self._scaler = None
                x, factory = X, self.model
        if views is not None and self._scaler is not None:
            flat = self._scaler.transform(views.reshape(-1, views.shape[2]))
            views = flat.reshape(views.shape[0], views.shape[1], -1)
        if detection == "embeddings":
            if np.ndim(X) != 2:
                raise InvalidInputError(
                    "`detection='embeddings'` judges fixed feature vectors, (n_samples, "
                    "n_features), or several views of each, (n_samples, n_views, n_features); "
                    f"got shape {np.shape(views if views is not None else X)}. Pass "
                    "backbone='timm:NAME' to embed images first."
                )
            k = vote_neighbors(max(int(self.neighbors), 1), y_enc.shape[0])
            probs = embedding_pred_probs(
                X if judged is None else judged,
                y_enc,
                n_neighbors=k,
                cv=int(self.cv),
                noise_rate=self.noise_rate,
                n_classes=self.n_classes_,
                random_state=seed,
            )
            self.n_neighbors_ = k
            issues = find_label_issues(y_enc, probs, noise_rate=self.noise_rate)
        else:
            judge = self.model if self._sklearn else self._detector(factory, x)
            fixed = _forget_choice(self.detect_forget_rate, "detect_forget_rate")
            if fixed and not self._sklearn:
                forget = fixed
                judge = judge.set_params(mixup=0.0, forget_rate=forget)
            if detection == "one-run":
                k = vote_neighbors(int(self.neighbors), y_enc.shape[0])
                probs = one_run_pred_probs(judge, x, y_enc, neighbors=k)
                issues = one_run_issues(y_enc, probs, noise_rate=self.noise_rate)
                if fixed is None and np.ndim(x) == 4:  # images: the mixup run decides
                    forget = _small_loss_share(issues, self.noise_rate, epochs=judge.epochs)
                    if forget > 0:
                        judge = judge.set_params(mixup=0.0, forget_rate=forget)
                        probs = one_run_pred_probs(judge, x, y_enc, neighbors=k)
                        issues = one_run_issues(y_enc, probs, noise_rate=self.noise_rate)
                self.n_neighbors_ = k
            else:
                probs = cross_val_pred_probs(judge, x, y_enc, cv=int(self.cv), random_state=seed)
                issues = find_label_issues(y_enc, probs, noise_rate=self.noise_rate)
        self.issues_ = issues
        self.pred_probs_ = probs
        self.detect_forget_rate_ = forget
        self.seconds_ = {"detect": time.perf_counter() - t0}
        self.n_features_in_ = int(np.prod(np.shape(X)[1:])) if hasattr(X, "shape") else None
        return x, y_enc, factory, views

    def _resolved_detection(self) -> str:
        if self.detection != "auto":
            return str(self.detection)
        if self.backbone is not None:
            return "embeddings"
        return "kfold" if self._sklearn else "one-run"

    def _resolved_policy(self) -> str:
        if self.policy != "auto":
            return str(self.policy)
        return "remove" if self.detection_ == "embeddings" else "reweight"

    def _embed(self, X: Any) -> Any:
        """``X`` itself, or with a ``backbone`` its embeddings (float32, (n, d) for one view,
        (n, v, d) for several)."""
        return self._embed_layers(X, (self.backbone_layers,))[0]

    def _embed_for_fit(self, X: Any, detection: str) -> tuple[Any, Any]:
        """(``X`` or its embeddings, what the detection judges or None): with a ``backbone``
        and ``"embeddings"`` detection both come from one forward pass."""
        if self.backbone is None or detection != "embeddings":
            return self._embed(X), None
        return self._embed_layers(X, (self.backbone_layers, self.detect_layers))

    def _embed_layers(self, X: Any, layers: tuple[str, ...]) -> tuple[Any, ...]:
        if self.backbone is None:
            return (X,)
        from mislabel.data._embed import embed_image_layers, join_layers

        parts = embed_image_layers(
            X,
            layers=layers,
            model=self.backbone,
            weights=self.backbone_weights,
            device=self.device,
            cache_dir=self.cache_dir,
            views=self.views,
            progress=self.progress,
        )
        return tuple(join_layers(parts, choice) for choice in layers)

    def _check_judged(self, judged: Any, n: int, detection: str) -> np.ndarray:
        """``detection_features`` checked: fixed features of the ``n`` samples, for the
        embeddings detection."""
        if detection != "embeddings":
            raise InvalidParameterError(
                "`detection_features` are judged by detection='embeddings'; the detection "
                f"here is {detection!r}. Pass detection='embeddings', or leave them out."
            )
        if self.backbone is not None:
            raise InvalidParameterError(
                "`detection_features` goes with features as X; with a backbone, "
                f"detect_layers (here {self.detect_layers!r}) says what the detection judges."
            )
        mean, _ = split_views(judged, "detection_features")
        z = check_features(mean, "detection_features")
        if z.shape[0] != n:
            raise InvalidInputError(
                f"`detection_features` must have one row per label ({n}); got {z.shape[0]}."
            )
        return np.asarray(judged)

    def _detector(self, factory: Any, x: Any) -> Any:
        """The network trained by the one-run or k-fold detection."""
        epochs = self.detect_epochs if self.detect_epochs is not None else self.epochs
        detector = self._torch_estimator(factory, x, epochs=epochs, mixup=self.mixup)
        return detector.set_params(require_all_classes=False)

    def _torch_estimator(self, factory: Any, x: Any, **kwargs: Any) -> Any:
        from mislabel.integrations.torch import TorchClassifier

        return TorchClassifier(
            factory,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            device=self.device,
            random_state=as_seed(self.random_state),
            progress=self.progress,
            channels_last=np.ndim(x) == 4,
            n_classes=self.n_classes_,
            **kwargs,
        )

    def _policy(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, Any]:
        """(labels, keep rows or None, weights or None) of the final training."""
        issues = self.issues_
        policy = self._resolved_policy()
        self.policy_ = policy
        if policy == "remove":
            keep = ~np.asarray(issues.mask)
            if np.count_nonzero(np.bincount(y[keep], minlength=self.n_classes_)) < 2:
                raise InvalidInputError(
                    "removing the flagged samples would leave fewer than 2 classes; use "
                    "policy='reweight'."
                )
            return y, keep, None
        if policy == "relabel":
            return np.where(issues.mask, issues.suggested, y).astype(np.int64), None, None
        return y, None, issues.weights

    def _train_torch(self, x: Any, y: np.ndarray, factory: Any, views: Any) -> None:
        from mislabel.train._capacity import can_memorize

        n = y.shape[0]
        memorizes = can_memorize(factory, n)
        embeddings = self.detection_ == "embeddings"
        loss_kwargs = None
        if self.final_loss != "auto":
            loss = str(self.final_loss)
        elif embeddings:
            loss, loss_kwargs = "label_smoothing", {"smoothing": _EMBEDDINGS_SMOOTHING}
        else:
            loss = "elr" if memorizes else "ce"
        if self.final_loss == "auto" and not memorizes and not embeddings:
            labels, keep, weight = y, None, None
            self.policy_ = "none"
            logger.info("the network cannot memorise %d samples: plain CE on all labels", n)
        else:
            labels, keep, weight = self._policy(y)
        x_fit, y_fit, w_fit = x, labels, weight
        if views is not None:
            x_fit, y_fit, w_fit = view_rows(views, labels, keep, weight)
        elif keep is not None:
            x_fit, y_fit = np.asarray(x)[keep], labels[keep]
        forget = _EMBEDDINGS_FORGET_RATE if embeddings and self.final_loss == "auto" else 0.0
        final = self._torch_estimator(
            factory,
            x,
            loss=loss,
            loss_kwargs=loss_kwargs,
            epochs=self.epochs,
            forget_rate=forget,
            lr_schedule="cosine" if embeddings else "constant",
        )
        final.fit(x_fit, y_fit, sample_weight=w_fit)
        self.model_ = final
        self.sample_weight_ = weight
        self.memorizes_: bool | None = bool(memorizes)
        self.final_loss_: str = loss

    def _train_sklearn(self, X: Any, y: np.ndarray, _: Any, views: Any) -> None:
        from sklearn.utils.validation import has_fit_parameter

        labels, keep, weight = self._policy(y)
        est = clone(self.model)
        if "random_state" in est.get_params() and est.get_params()["random_state"] is None:
            est.set_params(random_state=as_seed(self.random_state))
        x_fit, y_fit, w_fit = X, labels, weight
        if views is not None:
            x_fit, y_fit, w_fit = view_rows(views, labels, keep, weight)
        elif keep is not None:
            x_fit, y_fit = _take(X, keep), labels[keep]
        if w_fit is not None:
            if not has_fit_parameter(est, "sample_weight"):
                raise InvalidParameterError(
                    "policy='reweight' trains with sample_weight, which "
                    f"{type(est).__name__}.fit does not take; use policy='remove' or 'relabel'."
                )
            est.fit(x_fit, y_fit, sample_weight=w_fit)
        else:
            est.fit(x_fit, y_fit)
        self.model_ = est
        self.sample_weight_ = weight
        self.memorizes_ = None
        self.final_loss_ = "sklearn"

    # ------------------------------------------------------------------ predict

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "This NoiseAwareClassifier is not fitted yet; call fit(X, labels) first."
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in the order of ``classes_``."""
        self._check_fitted()
        scaler = getattr(self, "_scaler", None)
        x = self._embed(X)
        if np.ndim(x) == 3 and (self.detection_ == "embeddings" or self.backbone is not None):
            x = split_views(x, "X")[0]  # several views of each sample: their mean
        x = scaler.transform(x) if scaler is not None else x
        p = np.asarray(self.model_.predict_proba(x), dtype=np.float64)
        seen = np.asarray(getattr(self.model_, "classes_", np.arange(p.shape[1])), dtype=np.int64)
        if p.shape[1] == self.n_classes_ and np.array_equal(seen, np.arange(self.n_classes_)):
            return p
        out = np.zeros((p.shape[0], self.n_classes_))
        out[:, seen] = p  # a class removed entirely gets probability 0
        return out

    def predict(self, X: Any) -> np.ndarray:
        """(n,) the most probable class, as a value of ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError as exc:
        raise InvalidInputError(
            f"`X` must be an array-like with one row per sample; got {type(X).__name__}."
        ) from exc


def view_rows(
    views: np.ndarray, labels: np.ndarray, keep: np.ndarray | None, weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Every view of every kept sample as a row of its own (sample-major), with the sample's
    label and weight."""
    rows = np.arange(views.shape[0]) if keep is None else np.flatnonzero(keep)
    v = views.shape[1]
    x = views[rows].reshape(rows.size * v, *views.shape[2:])
    w = None if weight is None else np.repeat(np.asarray(weight)[rows], v)
    return x, np.repeat(labels[rows], v), w


def _take(X: Any, keep: np.ndarray) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[np.flatnonzero(keep)]
    if isinstance(X, list):
        return [x for x, k in zip(X, keep, strict=True) if k]
    return X[keep]
