"""The markdown of a benchmark's ``results.csv``: mean ± std over seeds per method, the share
of the CE → oracle gap each method closes, and, for detection, precision / recall / F1 (with
the published confident-learning numbers beside the ``cl-cifar10-oof`` rows)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.harness.config import noise_label, validate_config

__all__ = ["gap_closed", "render_markdown", "stats"]

# Published confident-learning P / R / F1 on the cl-cifar10-oof files (shared/data/README.md).
_PUBLISHED_CL: dict[str, dict[str, tuple[float, float, float]]] = {
    "sparsity0.0_noise0.2": {
        "argmax ≠ label": (0.56, 0.98, 0.71),
        "C_confusion": (0.67, 0.86, 0.75),
        "prune by class": (0.63, 0.96, 0.76),
        "prune by noise rate": (0.65, 0.93, 0.77),
        "both": (0.67, 0.93, 0.78),
    },
    "sparsity0.0_noise0.4": {
        "argmax ≠ label": (0.74, 0.97, 0.84),
        "prune by noise rate": (0.82, 0.88, 0.85),
        "both": (0.82, 0.87, 0.84),
    },
    "sparsity0.0_noise0.6": {
        "argmax ≠ label": (0.82, 0.84, 0.83),
        "prune by noise rate": (0.84, 0.63, 0.72),
        "both": (0.84, 0.61, 0.70),
    },
}


def gap_closed(method: float, ce: float, oracle: float) -> float:
    """Share of the CE → oracle accuracy gap that ``method`` closes: (m − CE) / (oracle − CE).

    1.0 means as good as the oracle, 0.0 no better than CE, negative worse than CE. NaN when
    the oracle is not better than CE (there is no gap to close).
    """
    gap = oracle - ce
    if not gap > 0:
        return float("nan")
    return (method - ce) / gap


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def stats(values: Sequence[float]) -> tuple[float, float, int]:
    arr = np.array([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std, int(arr.size)


def _pm(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{100 * v:.0f} %"


@dataclass(frozen=True)
class _Cell:
    mean: float
    std: float
    n: int


def _aggregate(
    cfg: Mapping[str, Any], rows: Sequence[Mapping[str, str]], metric: str
) -> dict[tuple[str, str, str], _Cell]:
    groups: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["experiment"], r["noise"], r["method"]), []).append(_num(r[metric]))
    return {k: _Cell(*stats(v)) for k, v in groups.items()}


def render_markdown(
    config: Mapping[str, Any], rows: Sequence[Mapping[str, str]], *, command: str | None = None
) -> str:
    """The markdown table of ``rows`` (as read from ``results.csv``) for ``config``."""
    cfg = config if "ours" in config else validate_config(config)
    out = [f"# {cfg['title']}", ""]
    if command:
        out += ["Command:", "", "```", command, "```", ""]
    if cfg["description"]:
        out += [cfg["description"].strip(), ""]
    seeds = ", ".join(str(s) for s in cfg["seeds"])
    if cfg["task"] == "detect":
        out += _render_detect(cfg, rows, seeds)
    else:
        out += _render_train(cfg, rows, seeds)
    return "\n".join(out).rstrip() + "\n"


def _settings(cfg: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], str]]:
    for exp in cfg["experiments"]:
        for noise in exp["noise"]:
            yield exp, noise_label(noise)


def _realized(rows: Sequence[Mapping[str, str]], exp_id: str, noise: str) -> float:
    vals = [
        _num(r["noise_rate"]) for r in rows if r["experiment"] == exp_id and r["noise"] == noise
    ]
    return stats(vals)[0]


def _render_detect(
    cfg: Mapping[str, Any], rows: Sequence[Mapping[str, str]], seeds: str
) -> list[str]:
    p = _aggregate(cfg, rows, "precision")
    r = _aggregate(cfg, rows, "recall")
    f = _aggregate(cfg, rows, "f1")
    out = [
        f"Precision / recall / F1 of the flagged set against the known wrong labels "
        f"(seeds {seeds}).",
        "",
        "| experiment | setting | wrong | method | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for exp, noise in _settings(cfg):
        eid = exp["id"]
        rate = _realized(rows, eid, noise)
        for m in cfg["methods"]:
            key = (eid, noise, m)
            if key not in f:
                continue
            out.append(
                f"| {eid} | {noise} | {_pct1(rate)} | {m} | {p[key].mean:.3f} | "
                f"{r[key].mean:.3f} | **{f[key].mean:.3f}** |"
                if m.startswith("mislabel") and ":" not in m
                else f"| {eid} | {noise} | {_pct1(rate)} | {m} | {p[key].mean:.3f} | "
                f"{r[key].mean:.3f} | {f[key].mean:.3f} |"
            )
        setting = noise.removeprefix("real (").removesuffix(")")
        if exp["dataset"] == "cl-cifar10-oof" and exp["n_train"] is None:
            for name, (pp, rr, ff) in _PUBLISHED_CL.get(setting, {}).items():
                out.append(
                    f"| {eid} | {noise} | {_pct1(rate)} | published CL: {name} | {pp:.2f} | "
                    f"{rr:.2f} | {ff:.2f} |"
                )
    out += ["", "Mean over the settings:", ""]
    for m in cfg["methods"]:
        means = [f[(e["id"], n, m)] for e, n in _settings(cfg) if (e["id"], n, m) in f]
        if means:
            mp = float(
                np.mean(
                    [p[(e["id"], n, m)].mean for e, n in _settings(cfg) if (e["id"], n, m) in p]
                )
            )
            mr = float(
                np.mean(
                    [r[(e["id"], n, m)].mean for e, n in _settings(cfg) if (e["id"], n, m) in r]
                )
            )
            mf = float(np.mean([c.mean for c in means]))
            out.append(f"- {m}: P {mp:.3f} / R {mr:.3f} / F1 {mf:.3f} ({len(means)} settings)")
    out += [
        "",
        "Published: Northcutt et al., JAIR 2021 (shared/data/README.md); "
        "only the sparsity-0 files have published numbers.",
    ]
    return out


def _pct1(v: float) -> str:
    return "–" if math.isnan(v) else f"{100 * v:.1f} %"


def _render_train(
    cfg: Mapping[str, Any], rows: Sequence[Mapping[str, str]], seeds: str
) -> list[str]:
    acc = _aggregate(cfg, rows, "test_acc")
    f1 = _aggregate(cfg, rows, "f1")
    used = _aggregate(cfg, rows, "n_used")
    methods = list(cfg["methods"])
    highlighted = [m for m in [*cfg["ours"], cfg["baseline"]] if m]
    thr = cfg["gap_threshold"]
    sel = "the last epoch"
    out = [
        f"Test accuracy (%) on clean test labels, mean ± std over seeds {seeds} (std with "
        f"ddof=1). Every method trains the same model with the same epochs, batch size and "
        f"optimiser; the reported model is {sel}. gap closed = (method − CE) / (oracle − CE) "
        f"on the means.",
        "",
        "## Summary",
        "",
        "| "
        + " | ".join(
            ["experiment", "noise (realized)", *methods, *(f"gap closed: {m}" for m in highlighted)]
        )
        + " |",
        "|---|---|" + "---|" * (len(methods) + len(highlighted)),
    ]
    gaps: dict[str, list[float]] = {m: [] for m in methods}
    beats: dict[str, list[bool]] = {m: [] for m in cfg["ours"]}
    n_counted = n_uncounted = 0
    for exp, noise in _settings(cfg):
        eid = exp["id"]
        ce = acc.get((eid, noise, "ce"))
        oracle = acc.get((eid, noise, "oracle"))
        cells = []
        for m in methods:
            c = acc.get((eid, noise, m))
            cells.append("–" if c is None else _pm(c.mean, c.std))
        gcell: dict[str, str] = {}
        counted = ce is not None and oracle is not None and oracle.mean - ce.mean >= thr
        n_counted += int(counted)
        base = acc.get((eid, noise, cfg["baseline"])) if cfg["baseline"] else None
        for m in methods:
            c = acc.get((eid, noise, m))
            g = (
                float("nan")
                if c is None or ce is None or oracle is None
                else gap_closed(c.mean, ce.mean, oracle.mean)
            )
            if counted:
                gaps[m].append(g)
            if m in beats and c is not None and base is not None:
                beats[m].append(c.mean > base.mean)
            if m in highlighted:
                gcell[m] = _pct(g)
        rate = _realized(rows, eid, noise)
        mark = "" if counted else " ¹"
        n_uncounted += int(not counted)
        out.append(
            "| "
            + " | ".join([eid, f"{noise} ({_pct1(rate)}){mark}", *cells])
            + "".join(f" | {gcell[m]}" for m in highlighted)
            + " |"
        )
    out += [""]
    if n_uncounted:
        out += [
            f"¹ CE loses less than {100 * thr:.0f} points to the oracle here: not counted in "
            "the average gap closed below.",
            "",
        ]
    out += [
        f"Average gap closed over the {n_counted} settings where CE loses at least "
        f"{100 * thr:.0f} points to the oracle:",
        "",
    ]
    for m in methods:
        if m in ("ce", "oracle"):
            continue
        vals = [g for g in gaps[m] if not math.isnan(g)]
        avg = float(np.mean(vals)) if vals else float("nan")
        line = f"- {m}: {_pct(avg)}"
        if beats.get(m):
            line += f"; above {cfg['baseline']} on {sum(beats[m])} of {len(beats[m])} settings"
        out.append(line)
    out += [
        "",
        "## Detail",
        "",
        "| experiment | noise | method | test acc % | n seeds | gap closed | samples trained on "
        "| detection F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for exp, noise in _settings(cfg):
        eid = exp["id"]
        ce = acc.get((eid, noise, "ce"))
        oracle = acc.get((eid, noise, "oracle"))
        for m in methods:
            c = acc.get((eid, noise, m))
            if c is None:
                continue
            g = (
                float("nan")
                if ce is None or oracle is None
                else gap_closed(c.mean, ce.mean, oracle.mean)
            )
            u = used.get((eid, noise, m))
            fc = f1.get((eid, noise, m))
            out.append(
                f"| {eid} | {noise} | {m} | {_pm(c.mean, c.std)} | {c.n} | {_pct(g)} | "
                f"{'–' if u is None or math.isnan(u.mean) else f'{u.mean:.0f}'} | "
                f"{'–' if fc is None or math.isnan(fc.mean) else f'{fc.mean:.3f}'} |"
            )
    out += ["", "## Settings", ""]
    for exp in cfg["experiments"]:
        t, o = exp["train"], exp["oof"]
        out.append(
            f"- **{exp['id']}**: dataset {exp['dataset']}, "
            f"{'all' if exp['n_train'] is None else exp['n_train']} training samples, "
            f"{'all' if exp['n_test'] is None else exp['n_test']} test samples; model "
            f"{t['model']}, {t['epochs']} epochs, batch {t['batch_size']}, Adam lr {t['lr']:g}, "
            f"weight decay {t['weight_decay']:g}; out-of-fold probabilities for detection: "
            f"{o['folds']} folds × {o['epochs']} epochs of the same model."
        )
    return out
