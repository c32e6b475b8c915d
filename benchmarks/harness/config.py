"""Benchmark configs: a declarative dict (or TOML file) of experiments × noise × methods ×
seeds with the training schedule every method shares; :func:`validate_config` checks it and
fills in defaults, naming the offending key on a mistake (``experiments[0].noise[1].rate``).

The built-in configs are the TOML files of ``benchmarks/configs/`` (:func:`builtin_config`);
:func:`experiments` walks a config's (experiment, noise, label) settings.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mislabel.exceptions import InvalidParameterError, MissingDependencyError

__all__ = [
    "BUILTIN_CONFIGS",
    "DETECT_METHODS",
    "MODELS",
    "TRAIN_METHODS",
    "builtin_config",
    "experiments",
    "load_config",
    "noise_label",
    "smoke_config",
    "validate_config",
]

PathLike = str | os.PathLike[str]
CONFIGS = Path(__file__).resolve().parent.parent / "configs"

#: Networks a config can name: ``mlp`` (flatten → 256 → 256 → K), ``cnn`` (the small CNN),
#: ``logreg`` (one linear layer, on embeddings).
MODELS: tuple[str, ...] = ("mlp", "cnn", "logreg")
#: The recipes of :mod:`benchmarks.harness.recipes` (any registered loss name also works).
TRAIN_METHODS: tuple[str, ...] = (
    "ce",
    "oracle",
    "oracle_remove",
    "cleanlab",
    "mislabel_remove",
    "mislabel_best",
    "mislabel_2round",
    "mislabel_2round_mixoof_elr",
    "mislabel_dyn_remove",
    "mislabel_dyn_weight_elr",
    "mislabel_2dyn_weight_elr",
    "mislabel_dynoof_weight_elr",
    "mislabel_dyn_select",
    "mislabel_dynknn_weight_elr",
    "mislabel_dynknn_select",
    "mislabel_dynknn_gated",
    "mislabel_dynknn_weight",
    "forward_correction_true",
    "forward_correction_est",
)
#: Detection-task method names (``mislabel:<method>`` and ``cleanlab:<filter_by>`` also work).
DETECT_METHODS: tuple[str, ...] = ("mislabel", "cleanlab")
_LOSS_METHODS_EXTRA = ("forward_correction_true", "forward_correction_est")


_DATASETS = (
    "fashion-mnist",
    "mnist",
    "cifar10n",
    "rt-snippets",
    "trec",
    "sms-spam",
    "digits",
    "cl-cifar10-oof",
)
_NOISE_KINDS = ("none", "symmetric", "pair", "real")
_SELECTIONS = ("last",)
_TASKS = ("train", "detect")
# Losses the benchmark trainer cannot drive (they need per-sample arguments); ELR is given the
# batch's dataset indices by the trainer.
_UNSUPPORTED_LOSSES = ("truncated_gce", "weighted_ce", "backward_correction")

_TOP_KEYS = (
    "name",
    "title",
    "description",
    "task",
    "seeds",
    "methods",
    "selection",
    "threads",
    "ours",
    "baseline",
    "gap_threshold",
    "train",
    "oof",
    "loss_kwargs",
    "experiments",
)
_TRAIN_KEYS = ("model", "epochs", "batch_size", "lr", "weight_decay")
_OOF_KEYS = ("folds", "epochs")
_EXPERIMENT_KEYS = (
    "id",
    "dataset",
    "n_train",
    "n_test",
    "test_fraction",
    "subset_seed",
    "test_from_train",
    "noise",
    "train",
    "oof",
)
_NOISE_KEYS = ("kind", "rate", "mapping", "labels")

# --------------------------------------------------------------------------- config


def _fail(path: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(f"config key `{path}` {message}")


def _check_keys(d: Any, allowed: Sequence[str], path: str) -> None:
    if not isinstance(d, Mapping):
        raise _fail(path or "<root>", f"must be a table (dict); got {type(d).__name__}.")
    for key in d:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            where = f"{path}.{key}" if path else str(key)
            raise _fail(where, f"is not a known key; known keys here: {', '.join(allowed)}.{hint}")


def _int(value: Any, path: str, min_val: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < min_val:
        raise _fail(path, f"must be an integer >= {min_val}; got {value!r}.")
    return int(value)


def _float(value: Any, path: str, lo: float, hi: float) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not (lo <= float(value) <= hi):
        raise _fail(path, f"must be a number in [{lo}, {hi}]; got {value!r}.")
    return float(value)


def _option(value: Any, path: str, options: Sequence[str]) -> str:
    if value not in options:
        close = [o for o in options if value and o.startswith(str(value))][:1]
        close = close or difflib.get_close_matches(str(value), list(options), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise _fail(path, f"must be one of {', '.join(options)}; got {value!r}.{hint}")
    return str(value)


def _check_train(d: Any, path: str) -> dict[str, Any]:
    _check_keys(d, _TRAIN_KEYS, path)
    out: dict[str, Any] = {}
    if "model" in d:
        out["model"] = _option(d["model"], f"{path}.model", MODELS)
    if "epochs" in d:
        out["epochs"] = _int(d["epochs"], f"{path}.epochs", 1)
    if "batch_size" in d:
        out["batch_size"] = _int(d["batch_size"], f"{path}.batch_size", 2)
    if "lr" in d:
        out["lr"] = _float(d["lr"], f"{path}.lr", 1e-12, 10.0)
    if "weight_decay" in d:
        out["weight_decay"] = _float(d["weight_decay"], f"{path}.weight_decay", 0.0, 10.0)
    return out


def _check_oof(d: Any, path: str) -> dict[str, Any]:
    _check_keys(d, _OOF_KEYS, path)
    out: dict[str, Any] = {}
    if "folds" in d:
        out["folds"] = _int(d["folds"], f"{path}.folds", 2)
    if "epochs" in d:
        out["epochs"] = _int(d["epochs"], f"{path}.epochs", 1)
    return out


def _check_method(name: Any, task: str, path: str) -> str:
    if not isinstance(name, str):
        raise _fail(path, f"must be a method name (str); got {name!r}.")
    if task == "detect":
        if name in DETECT_METHODS:
            return name
        prefix, _, sub = name.partition(":")
        if prefix == "mislabel" and sub:
            from mislabel.detect import METHODS

            _option(sub, path, METHODS)
            return name
        if prefix == "cleanlab" and sub:
            _option(
                sub,
                path,
                (
                    "prune_by_noise_rate",
                    "prune_by_class",
                    "both",
                    "confident_learning",
                    "predicted_neq_given",
                    "low_normalized_margin",
                    "low_self_confidence",
                ),
            )
            return name
        _option(name, path, (*DETECT_METHODS, "mislabel:<method>", "cleanlab:<filter_by>"))
    if name in TRAIN_METHODS:
        return name
    if "@" in name:  # a loss under another name, for its own loss_kwargs: "nce_rce@beta10"
        base, _, tag = name.partition("@")
        if not tag or base in ("ce", "oracle", "cleanlab") or base.startswith("mislabel"):
            raise _fail(
                path,
                f"must be '<loss>@<tag>' with a loss name before '@' (e.g. 'nce_rce@beta10'); "
                f"got {name!r}.",
            )
        _check_method(base, task, path)
        return name
    known = [*TRAIN_METHODS]
    try:
        from mislabel import losses
    except MissingDependencyError:  # torch missing: run_benchmark says so before training
        pass
    else:
        avail = [n for n in losses.available() if n not in _UNSUPPORTED_LOSSES]
        known += avail
        if name in avail:
            return name
    return _option(name, path, known)


def _check_noise(d: Any, path: str, dataset: str) -> dict[str, Any]:
    if isinstance(d, str):
        d = {"kind": d}
    _check_keys(d, _NOISE_KEYS, path)
    if "kind" not in d:
        raise _fail(f"{path}.kind", "is required (one of " + ", ".join(_NOISE_KINDS) + ").")
    kind = _option(d["kind"], f"{path}.kind", _NOISE_KINDS)
    out: dict[str, Any] = {"kind": kind}
    real_sets = {"cifar10n": None, "cl-cifar10-oof": None, "rt-snippets": None}
    if kind in ("symmetric", "pair"):
        if "rate" not in d:
            raise _fail(f"{path}.rate", f"is required for noise kind {kind!r}.")
        out["rate"] = _float(d["rate"], f"{path}.rate", 0.0, 1.0)
        if dataset in real_sets and dataset != "rt-snippets":
            raise _fail(f"{path}.kind", f"must be 'real' for dataset {dataset!r}; got {kind!r}.")
    if kind == "pair":
        out["mapping"] = d.get("mapping", "pairflip")
        if not isinstance(out["mapping"], str):
            raise _fail(f"{path}.mapping", f"must be a mapping name; got {out['mapping']!r}.")
    elif "mapping" in d:
        raise _fail(f"{path}.mapping", f"applies to kind 'pair' only; got kind {kind!r}.")
    if kind == "real":
        if dataset not in real_sets:
            raise _fail(
                f"{path}.kind",
                f"'real' needs a dataset with real noisy labels ({', '.join(real_sets)}); "
                f"got dataset {dataset!r}.",
            )
        if dataset == "cifar10n":
            from benchmarks.harness.datasets import CIFAR10N_LABEL_SETS

            out["labels"] = _option(d.get("labels"), f"{path}.labels", tuple(CIFAR10N_LABEL_SETS))
        elif dataset == "cl-cifar10-oof":
            from benchmarks.harness.datasets import CL_CIFAR10_OOF_SETTINGS

            out["labels"] = _option(d.get("labels"), f"{path}.labels", CL_CIFAR10_OOF_SETTINGS)
    elif "labels" in d:
        raise _fail(f"{path}.labels", f"applies to kind 'real' only; got kind {kind!r}.")
    if dataset in ("cifar10n", "cl-cifar10-oof") and kind != "real":
        raise _fail(f"{path}.kind", f"must be 'real' for dataset {dataset!r}; got {kind!r}.")
    return out


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a config and return it normalised (defaults filled in, a deep copy).

    Raises:
        InvalidParameterError: naming the offending key, e.g. ``experiments[0].noise[1].rate``.
    """
    _check_keys(config, _TOP_KEYS, "")
    cfg: dict[str, Any] = {}
    cfg["name"] = str(config.get("name", "benchmark"))
    cfg["title"] = str(config.get("title", cfg["name"]))
    cfg["description"] = str(config.get("description", ""))
    cfg["task"] = _option(config.get("task", "train"), "task", _TASKS)
    task = cfg["task"]
    seeds = config.get("seeds", [0])
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise _fail("seeds", f"must be a non-empty list of integers; got {seeds!r}.")
    cfg["seeds"] = [_int(s, f"seeds[{i}]", 0) for i, s in enumerate(seeds)]
    if len(set(cfg["seeds"])) != len(cfg["seeds"]):
        raise _fail("seeds", f"must not repeat a seed; got {list(seeds)!r}.")
    methods = config.get("methods")
    if not isinstance(methods, (list, tuple)) or not methods:
        raise _fail("methods", f"must be a non-empty list of method names; got {methods!r}.")
    checked = [_check_method(m, task, f"methods[{i}]") for i, m in enumerate(methods)]
    if task == "train":  # a CE row and an oracle row, always
        checked = ["ce", *[m for m in checked if m not in ("ce", "oracle")], "oracle"]
    seen: list[str] = []
    for m in checked:
        if m not in seen:
            seen.append(m)
    cfg["methods"] = seen
    cfg["selection"] = _option(config.get("selection", "last"), "selection", _SELECTIONS)
    cfg["threads"] = _int(config.get("threads", 1), "threads", 1)
    ours_default = [m for m in seen if m.startswith("mislabel")]
    ours = config.get("ours", ours_default)
    if not isinstance(ours, (list, tuple)) or any(m not in seen for m in ours):
        raise _fail("ours", f"must list methods of `methods` ({', '.join(seen)}); got {ours!r}.")
    cfg["ours"] = list(ours)
    baseline = config.get("baseline", "cleanlab" if "cleanlab" in seen else None)
    if baseline is not None and baseline not in seen:
        raise _fail("baseline", f"must be one of `methods` ({', '.join(seen)}); got {baseline!r}.")
    cfg["baseline"] = baseline
    cfg["gap_threshold"] = _float(config.get("gap_threshold", 0.03), "gap_threshold", 0.0, 1.0)
    cfg["train"] = {
        "model": "mlp",
        "epochs": 5,
        "batch_size": 256,
        "lr": 1e-3,
        "weight_decay": 0.0,
        **_check_train(config.get("train", {}), "train"),
    }
    cfg["oof"] = {"folds": 3, "epochs": 3, **_check_oof(config.get("oof", {}), "oof")}
    lk = config.get("loss_kwargs", {})
    _check_keys(lk, [m for m in seen], "loss_kwargs")
    for k, v in lk.items():
        if not isinstance(v, Mapping):
            raise _fail(f"loss_kwargs.{k}", f"must be a table of arguments; got {v!r}.")
    cfg["loss_kwargs"] = {k: dict(v) for k, v in lk.items()}
    exps = config.get("experiments")
    if not isinstance(exps, (list, tuple)) or not exps:
        raise _fail("experiments", f"must be a non-empty list of tables; got {exps!r}.")
    cfg["experiments"] = []
    ids: set[str] = set()
    for i, e in enumerate(exps):
        p = f"experiments[{i}]"
        _check_keys(e, _EXPERIMENT_KEYS, p)
        if "dataset" not in e:
            raise _fail(f"{p}.dataset", "is required (one of " + ", ".join(_DATASETS) + ").")
        ds = _option(e["dataset"], f"{p}.dataset", _DATASETS)
        if ds == "cl-cifar10-oof" and task != "detect":
            raise _fail(
                f"{p}.dataset", "'cl-cifar10-oof' has no images: use it with task 'detect'."
            )
        exp: dict[str, Any] = {"dataset": ds}
        exp["train"] = {**cfg["train"], **_check_train(e.get("train", {}), f"{p}.train")}
        exp["oof"] = {**cfg["oof"], **_check_oof(e.get("oof", {}), f"{p}.oof")}
        exp["id"] = str(e.get("id", f"{ds}-{exp['train']['model']}"))
        if exp["id"] in ids:
            raise _fail(f"{p}.id", f"must be unique; {exp['id']!r} is used twice.")
        ids.add(exp["id"])
        exp["n_train"] = (
            None if e.get("n_train") is None else _int(e["n_train"], f"{p}.n_train", 10)
        )
        exp["n_test"] = None if e.get("n_test") is None else _int(e["n_test"], f"{p}.n_test", 10)
        exp["test_fraction"] = _float(e.get("test_fraction", 0.3), f"{p}.test_fraction", 0.05, 0.9)
        exp["subset_seed"] = _int(e.get("subset_seed", 0), f"{p}.subset_seed", 0)
        held = e.get("test_from_train")
        exp["test_from_train"] = None if held is None else _int(held, f"{p}.test_from_train", 10)
        if exp["test_from_train"] is not None and ds not in ("fashion-mnist", "mnist", "cifar10n"):
            raise _fail(
                f"{p}.test_from_train",
                f"needs a dataset with its own test set (fashion-mnist, mnist, cifar10n); got "
                f"{ds!r}.",
            )
        noise = e.get("noise", [{"kind": "real"}] if ds in ("cifar10n", "rt-snippets") else None)
        if isinstance(noise, (Mapping, str)):
            noise = [noise]
        if not isinstance(noise, (list, tuple)) or not noise:
            raise _fail(f"{p}.noise", f"must be a non-empty list of noise settings; got {noise!r}.")
        exp["noise"] = [_check_noise(n, f"{p}.noise[{j}]", ds) for j, n in enumerate(noise)]
        labels = [noise_label(n) for n in exp["noise"]]
        if len(set(labels)) != len(labels):
            raise _fail(f"{p}.noise", f"must not repeat a setting; got {labels}.")
        cfg["experiments"].append(exp)
    return cfg


def load_config(path: PathLike) -> dict[str, Any]:
    """Read a TOML config file (not yet validated: :func:`run_benchmark` validates it)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as exc:
            raise MissingDependencyError("tomli", "dev", "reading TOML on Python 3.10") from exc
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterError(
            f"`config` must be a TOML file or a built-in name ({', '.join(BUILTIN_CONFIGS)}); "
            f"{p} does not exist."
        )
    try:
        with p.open("rb") as fh:
            return dict(tomllib.load(fh))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"`config` {p} is not valid TOML: {exc}.") from exc


#: Built-in configs, by name (``benchmarks/configs/<name>.toml``).
BUILTIN_CONFIGS: tuple[str, ...] = (
    "table1",
    "table2",
    "table3",
    "table2_fmnist_long",
    "table2_cnn_long",
    "table2_text",
    "table2_scaled",
    "capacity_gate",
)


def builtin_config(name: str, *, smoke: bool = False) -> dict[str, Any]:
    """A built-in config (one of :data:`BUILTIN_CONFIGS`), or its smoke variant."""
    _option(name, "name", BUILTIN_CONFIGS)
    cfg = load_config(CONFIGS / f"{name}.toml")
    return smoke_config(cfg) if smoke else cfg


def smoke_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A seconds-long variant of ``config``: one seed, one epoch, tiny subsets.

    Keeps the first noise setting of each experiment, drops CIFAR-10N (decoding its JPEGs
    alone takes longer than a smoke run), trains on at most 400 samples (tests on 200) for one
    epoch and computes out-of-fold probabilities with 2 folds of one epoch; ``cl-cifar10-oof``
    keeps one file and 5,000 of its rows.
    """
    cfg = copy.deepcopy(dict(config))
    cfg["name"] = f"{cfg.get('name', 'benchmark')}-smoke"
    cfg["seeds"] = list(cfg.get("seeds", [0]))[:1]
    cfg["train"] = {**cfg.get("train", {}), "epochs": 1}
    cfg["oof"] = {**cfg.get("oof", {}), "folds": 2, "epochs": 1}
    exps = []
    for e in cfg.get("experiments", []):
        if not isinstance(e, Mapping) or e.get("dataset") == "cifar10n":
            continue
        e = dict(e)
        if isinstance(e.get("noise"), list):
            e["noise"] = e["noise"][:1]
        if e.get("dataset") == "cl-cifar10-oof":
            e["n_train"] = min(int(e.get("n_train") or 5000), 5000)
        else:
            e["n_train"] = min(int(e.get("n_train") or 400), 400)
            e["n_test"] = min(int(e.get("n_test") or 200), 200)
        e["train"] = {**e.get("train", {}), "epochs": 1}
        e["oof"] = {**e.get("oof", {}), "folds": 2, "epochs": 1}
        exps.append(e)
    cfg["experiments"] = exps
    return cfg


def noise_label(noise: Mapping[str, Any]) -> str:
    kind = noise["kind"]
    if kind in ("symmetric", "pair"):
        label = f"{kind} {round(100 * noise['rate'])}%"
        if kind == "pair" and noise.get("mapping", "pairflip") != "pairflip":
            label += f" ({noise['mapping']})"
        return label
    if kind == "real":
        return f"real ({noise['labels']})" if noise.get("labels") else "real"
    return "none"


def experiments(
    config: Mapping[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    """(experiment, noise setting, noise label) of every setting of ``config`` (validated
    here), in the config's order."""
    cfg = validate_config(config)
    for exp in cfg["experiments"]:
        for noise in exp["noise"]:
            yield exp, noise, noise_label(noise)
