"""The rows of the benchmark tables, each a call of the public API.

Every recipe trains the same network (:func:`network`: the MLP or small CNN of
:func:`mislabel.train.default_network`, or one ``nn.Linear`` for ``"logreg"``) with the same
:class:`~mislabel.integrations.torch.TorchClassifier` settings (epochs, batch size, Adam
learning rate, seed) and differs only in what it is given: labels, kept rows, per-sample
weights, a loss. Out-of-fold probabilities come from
:func:`mislabel.cross_val_pred_probs` on the same network with the config's ``oof`` budget;
one-run probabilities from :func:`mislabel.integrations.torch.temporal_pred_probs` with the
sample passes of one out-of-fold round ((folds − 1) × its epochs).

Rows (``task = "train"``):

- ``ce`` / ``oracle``: the network on the noisy / true labels; ``oracle_remove``: the known
  wrong labels removed (perfect detection, the ceiling of detect-then-remove);
- ``cleanlab``: cleanlab's ``find_label_issues`` (defaults) on the out-of-fold probabilities,
  the flagged samples removed (what ``CleanLearning`` does);
- ``mislabel_remove``: :func:`mislabel.find_label_issues` on the same probabilities, flags
  removed; ``mislabel_best``: every sample weighted by its label-quality score, GCE;
  ``mislabel_2round``: the same after a second out-of-fold round weighted by the first's
  scores; ``mislabel_2round_mixoof_elr``: both rounds' models on mixup batches (α = 1), ELR;
- one-run recipes: ``mislabel_dyn_remove`` / ``mislabel_dyn_weight_elr`` (mixup α = 1, no
  neighbour vote; flags removed + CE / weights + ELR), ``mislabel_2dyn_weight_elr`` (a second
  run weighted by the first's scores), ``mislabel_dynoof_weight_elr`` (the mean of the run's
  and one mixup out-of-fold round's probabilities), ``mislabel_dyn_select`` /
  ``mislabel_dynknn_select`` (the ELR model or plain CE, whichever a noisy held-out 10 %
  estimates more accurate on clean labels, retrained on all samples);
- :class:`mislabel.NoiseAwareClassifier`, one call on the raw features:
  ``mislabel_dynknn_gated`` (its defaults: the headline), ``mislabel_dynknn_weight_elr``
  (``final_loss="elr"``), ``mislabel_dynknn_weight`` (``final_loss="ce"``);
- a loss by registry name (``gce``, ``elr``, ``nce_rce@<tag>`` with the config's
  ``loss_kwargs``), ``forward_correction_true`` / ``forward_correction_est`` (the true / the
  estimated noise matrix).

``task = "detect"``: ``mislabel[:<method>]`` and ``cleanlab[:<filter_by>]`` on the
out-of-fold probabilities, scored by precision / recall / F1 against the known wrong labels.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.splits import Split

__all__ = ["Context", "network", "run_detect_method", "run_train_method"]

#: Beta(α, α) of the one-run detection of the ``dyn`` recipes and of the mixup out-of-fold
#: models.
MIXUP_ALPHA = 1.0
#: Share of the training samples held out (with their noisy labels) by the ``select`` recipes.
SELECT_HOLDOUT = 0.1


def network(model: str, input_shape: tuple[int, ...], n_classes: int) -> Callable[[], Any]:
    """A picklable factory of a fresh network for inputs of ``input_shape``."""
    if model == "logreg":
        from torch import nn

        return functools.partial(nn.Linear, int(np.prod(input_shape)), n_classes)
    from mislabel.train._networks import default_network

    return functools.partial(default_network, tuple(input_shape), n_classes)


@dataclass
class Context:
    """What a recipe sees: the split, the schedule and lazily computed shared pieces."""

    exp: Mapping[str, Any]
    split: Split
    seed: int
    cache: Path
    loss_kwargs: Mapping[str, Mapping[str, Any]]
    _oof: dict[tuple[int, float], tuple[np.ndarray, Any]] = field(default_factory=dict)
    _runs: dict[tuple[int, float, int], np.ndarray] = field(default_factory=dict)

    def estimator(self, *, epochs: int | None = None, **kwargs: Any) -> Any:
        """The table's :class:`TorchClassifier` (``kwargs``: loss, loss_kwargs, mixup)."""
        from mislabel.integrations.torch import TorchClassifier

        t, s = self.exp["train"], self.split
        assert s.X is not None
        return TorchClassifier(
            network(t["model"], tuple(s.X.shape[1:]), s.n_classes),
            epochs=t["epochs"] if epochs is None else epochs,
            batch_size=t["batch_size"],
            lr=t["lr"],
            weight_decay=t["weight_decay"],
            random_state=self.seed,
            progress=False,
            channels_last=s.X.ndim == 4,
            n_classes=s.n_classes,
            require_all_classes=False,
            **kwargs,
        )

    @property
    def detect_epochs(self) -> int:
        """The epochs of one-run detection: the sample passes of one out-of-fold round."""
        oof = self.exp["oof"]
        return int(oof["epochs"] * (oof["folds"] - 1))

    # ------------------------------------------------------------------ detection

    def oof(self, rounds: int = 1, mixup: float = 0.0) -> tuple[np.ndarray, Any]:
        """(out-of-fold probabilities, :func:`mislabel.find_label_issues` on them). Round r > 1
        weights every training sample by round r − 1's label-quality score; ``mixup``: the
        models train on mixup batches. Folds are cached under ``cache``."""
        s = self.split
        if s.pred_probs is not None:
            rounds, mixup = 1, 0.0
        if (rounds, mixup) not in self._oof:
            import mislabel

            if s.pred_probs is not None:
                probs = s.pred_probs
            else:
                weight = None if rounds <= 1 else _scores(self.oof(rounds - 1, mixup)[1])
                name = f"oof_r{rounds}_mixup{mixup:g}"
                folder = self.cache / name / self.exp["id"]
                folder.mkdir(parents=True, exist_ok=True)
                est = self.estimator(epochs=self.exp["oof"]["epochs"], mixup=mixup)
                probs = np.asarray(
                    mislabel.cross_val_pred_probs(
                        est,
                        s.X,
                        s.labels,
                        cv=self.exp["oof"]["folds"],
                        random_state=self.seed,
                        n_classes=s.n_classes,
                        cache_dir=folder,
                        sample_weight=weight,
                    ),
                    dtype=np.float32,
                )
            self._oof[(rounds, mixup)] = (probs, mislabel.find_label_issues(s.labels, probs))
        return self._oof[(rounds, mixup)]

    def one_run(self, rounds: int = 1, mixup: float = MIXUP_ALPHA, neighbors: int = 0) -> Any:
        """(probabilities, issues) of one mixup training run on all samples
        (:func:`~mislabel.integrations.torch.temporal_pred_probs`, cut by
        :func:`mislabel.train.one_run_issues`); round r > 1 weights the samples by round
        r − 1's scores."""
        from mislabel.integrations.torch import temporal_pred_probs
        from mislabel.train import one_run_issues

        key = (rounds, mixup, neighbors)
        if key not in self._runs:
            weight = None if rounds <= 1 else _scores(self.one_run(rounds - 1, mixup)[1])
            est = self.estimator(epochs=self.detect_epochs, mixup=mixup)
            self._runs[key] = temporal_pred_probs(
                est, self.split.X, self.split.labels, sample_weight=weight, neighbors=neighbors
            )
        probs = self._runs[key]
        return probs, one_run_issues(self.split.labels, probs)

    # ------------------------------------------------------------------ training

    def fit_eval(
        self,
        labels: np.ndarray,
        *,
        keep: np.ndarray | None = None,
        loss: str = "ce",
        loss_kwargs: Mapping[str, Any] | None = None,
        sample_weight: np.ndarray | None = None,
        predict: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Train on ``labels`` (the rows ``keep``), score on the clean test set; ``predict``:
        also the predicted classes of these training rows (``"pred"``)."""
        s = self.split
        assert s.X is not None and s.X_test is not None and s.y_test is not None
        X, y, w = s.X, labels, sample_weight
        if keep is not None:
            X, y = X[keep], y[keep]
            w = None if w is None else w[keep]
        kwargs = dict(loss_kwargs) if loss_kwargs else None
        est = self.estimator(loss=loss, loss_kwargs=kwargs).fit(X, y, sample_weight=w)
        out: dict[str, Any] = {
            "test_acc": float(np.mean(est.predict(s.X_test) == s.y_test)),
            "n_used": int(y.shape[0]),
            "epoch_kept": self.exp["train"]["epochs"] - 1,
        }
        if predict is not None:
            out["pred"] = est.predict(s.X[predict])
        return out

    def noise_aware(self, **params: Any) -> dict[str, Any]:
        """One call of :class:`mislabel.NoiseAwareClassifier` on the raw training features
        (its default network for ``mlp`` / ``cnn``), with the table's schedule."""
        from mislabel import NoiseAwareClassifier

        t, s = self.exp["train"], self.split
        assert s.X_raw is not None and s.X_test_raw is not None
        model = None
        if t["model"] == "logreg":
            model = network("logreg", tuple(s.X_raw.shape[1:]), s.n_classes)
        clf = NoiseAwareClassifier(
            model,
            epochs=t["epochs"],
            detect_epochs=self.detect_epochs,
            batch_size=t["batch_size"],
            lr=t["lr"],
            weight_decay=t["weight_decay"],
            device="cpu",
            random_state=self.seed,
            **params,
        ).fit(s.X_raw, s.labels)
        out = {
            "test_acc": float(clf.score(s.X_test_raw, s.y_test)),
            "n_used": int(s.labels.shape[0]),
            "epoch_kept": t["epochs"] - 1,
        }
        return {**out, **detection(np.asarray(clf.issues_.mask), s)}


def _scores(issues: Any) -> np.ndarray:
    """Per-sample weights from a detection: each label-quality score (P(label is right))."""
    return np.clip(np.asarray(issues.scores, dtype=np.float64), 0.0, 1.0)


def detection(flagged: np.ndarray, split: Split) -> dict[str, Any]:
    """Precision / recall / F1 of ``flagged`` against the known wrong labels."""
    from mislabel.metrics import precision_recall_f1

    p, r, f = precision_recall_f1(flagged, split.wrong)
    return {"precision": p, "recall": r, "f1": f, "n_flagged": int(flagged.sum())}


def cleanlab_mask(labels: np.ndarray, pred_probs: np.ndarray, filter_by: str | None) -> np.ndarray:
    """cleanlab's ``find_label_issues`` (its defaults, or ``filter_by``) as a boolean mask."""
    from cleanlab.filter import find_label_issues as cl_find

    kwargs: dict[str, Any] = {"n_jobs": 1}
    if filter_by is not None:
        kwargs["filter_by"] = filter_by
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(cl_find(labels, pred_probs, **kwargs), dtype=bool)


# --------------------------------------------------------------------------- the recipes


def _ce(ctx: Context) -> dict[str, Any]:
    return ctx.fit_eval(ctx.split.labels)


def _oracle(ctx: Context) -> dict[str, Any]:
    return ctx.fit_eval(ctx.split.true_labels)


def _oracle_remove(ctx: Context) -> dict[str, Any]:
    wrong = ctx.split.wrong
    return {**ctx.fit_eval(ctx.split.labels, keep=~wrong), **detection(wrong, ctx.split)}


def _cleanlab(ctx: Context) -> dict[str, Any]:
    mask = cleanlab_mask(ctx.split.labels, ctx.oof()[0], None)
    return {**ctx.fit_eval(ctx.split.labels, keep=~mask), **detection(mask, ctx.split)}


def _remove(ctx: Context) -> dict[str, Any]:
    mask = np.asarray(ctx.oof()[1].mask)
    return {**ctx.fit_eval(ctx.split.labels, keep=~mask), **detection(mask, ctx.split)}


def _weighted(
    issues_of: Callable[[Context], Any], loss: str
) -> Callable[[Context], dict[str, Any]]:
    """Every sample weighted by its label-quality score under ``issues_of``, then ``loss``."""

    def run(ctx: Context) -> dict[str, Any]:
        issues = issues_of(ctx)
        out = ctx.fit_eval(ctx.split.labels, loss=loss, sample_weight=_scores(issues))
        return {**out, **detection(np.asarray(issues.mask), ctx.split)}

    return run


def _dyn_remove(ctx: Context) -> dict[str, Any]:
    mask = np.asarray(ctx.one_run()[1].mask)
    return {**ctx.fit_eval(ctx.split.labels, keep=~mask), **detection(mask, ctx.split)}


def _dynoof_issues(ctx: Context) -> Any:
    from mislabel.train import one_run_issues

    probs = (ctx.one_run()[0] + ctx.oof(1, MIXUP_ALPHA)[0]) / 2
    return one_run_issues(ctx.split.labels, probs)


def _select(mixup: float, neighbors: int) -> Callable[[Context], dict[str, Any]]:
    """The one-run detection's ELR model or plain CE, whichever has the higher clean accuracy
    estimated on a noisy held-out 10 % (:func:`mislabel.metrics.estimate_clean_accuracy` with
    the detection's noise matrix; both trained on the other 90 %), retrained on all samples."""

    def run(ctx: Context) -> dict[str, Any]:
        from sklearn.model_selection import train_test_split

        from mislabel.metrics import estimate_clean_accuracy

        s = ctx.split
        issues = ctx.one_run(1, mixup, neighbors)[1]
        candidates = {"elr": ("elr", _scores(issues)), "ce": ("ce", None)}
        fit_rows, held = train_test_split(
            np.arange(s.labels.shape[0]),
            test_size=SELECT_HOLDOUT,
            stratify=s.labels,
            random_state=ctx.seed,
        )
        keep = np.isin(np.arange(s.labels.shape[0]), fit_rows)
        estimates = {}
        for name, (loss, w) in candidates.items():
            pred = ctx.fit_eval(s.labels, keep=keep, loss=loss, sample_weight=w, predict=held)
            estimates[name] = estimate_clean_accuracy(
                s.labels[held], pred["pred"], issues.noise_matrix
            ).accuracy
        loss, w = candidates[max(estimates, key=lambda n: estimates[n])]
        out = ctx.fit_eval(s.labels, loss=loss, sample_weight=w)
        return {**out, **detection(np.asarray(issues.mask), s)}

    return run


def _forward(true: bool) -> Callable[[Context], dict[str, Any]]:
    def run(ctx: Context) -> dict[str, Any]:
        import mislabel

        s = ctx.split
        t = s.noise_matrix if true else mislabel.estimate_noise(s.labels, ctx.oof()[0]).noise_matrix
        return ctx.fit_eval(s.labels, loss="forward_correction", loss_kwargs={"noise_matrix": t})

    return run


#: Every named recipe of ``task = "train"`` (any registered loss name also works).
RECIPES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "ce": _ce,
    "oracle": _oracle,
    "oracle_remove": _oracle_remove,
    "cleanlab": _cleanlab,
    "mislabel_remove": _remove,
    "mislabel_best": _weighted(lambda c: c.oof()[1], "gce"),
    "mislabel_2round": _weighted(lambda c: c.oof(2)[1], "gce"),
    "mislabel_2round_mixoof_elr": _weighted(lambda c: c.oof(2, MIXUP_ALPHA)[1], "elr"),
    "mislabel_dyn_remove": _dyn_remove,
    "mislabel_dyn_weight_elr": _weighted(lambda c: c.one_run()[1], "elr"),
    "mislabel_2dyn_weight_elr": _weighted(lambda c: c.one_run(2)[1], "elr"),
    "mislabel_dynoof_weight_elr": _weighted(_dynoof_issues, "elr"),
    "mislabel_dyn_select": _select(MIXUP_ALPHA, 0),
    "mislabel_dynknn_select": _select(4.0, 30),
    "mislabel_dynknn_weight_elr": lambda c: c.noise_aware(final_loss="elr"),
    "mislabel_dynknn_weight": lambda c: c.noise_aware(final_loss="ce"),
    "mislabel_dynknn_gated": lambda c: c.noise_aware(),
    "forward_correction_true": _forward(True),
    "forward_correction_est": _forward(False),
}


def run_train_method(method: str, ctx: Context) -> dict[str, Any]:
    """One row of a ``task = "train"`` table."""
    fn = RECIPES.get(method)
    if fn is not None:
        return fn(ctx)
    base = method.partition("@")[0]  # a loss, possibly under a tag for its own loss_kwargs
    return ctx.fit_eval(ctx.split.labels, loss=base, loss_kwargs=ctx.loss_kwargs.get(method))


def run_detect_method(method: str, ctx: Context) -> dict[str, Any]:
    """One row of a ``task = "detect"`` table."""
    import mislabel

    prefix, _, sub = method.partition(":")
    labels, probs = ctx.split.labels, ctx.oof()[0]
    if prefix == "mislabel":
        name: Any = sub or mislabel.detect.DEFAULT_METHOD
        mask = mislabel.find_label_issues(labels, probs, method=name).mask
    else:
        mask = cleanlab_mask(labels, probs, sub or None)
    return detection(np.asarray(mask, dtype=bool), ctx.split)
