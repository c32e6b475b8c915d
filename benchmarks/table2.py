"""Table 2: accuracy on clean test labels after training on noisy labels, every setting.

Four parts, each a built-in config run by the harness (resumable: a rerun skips the rows already
in its ``results.csv``), then one consolidated table judged against two targets — at least
90 % of the CE → oracle gap closed on average over the settings where CE loses at least 3
points, and above cleanlab on every set:

- ``fmnist``: Fashion-MNIST, MLP 40 epochs, 10,000 training images (config
  ``table2_fmnist_long``, results in ``benchmarks/results/table2_long/``);
- ``cnn``: Fashion-MNIST (3,000 images) and CIFAR-10N ``aggre`` / ``worst`` (4,000), small CNN
  25 epochs (``table2_cnn_long``);
- ``text``: RT-snippets with its real errors, logistic regression on MiniLM embeddings
  (``table2_text``);
- ``scaled``: the same networks and schedules on larger subsets, MLP 30,000, CNN 10,000,
  CIFAR-10N 10,000 images (``table2_scaled``), judged with the RT-snippets rows as a second
  table.

    python -m benchmarks.table2 fmnist --jobs 2    # one part (~1 h wall on 2 shared cores)
    python -m benchmarks.table2 cnn --smoke        # seconds
    python -m benchmarks.table2 dev-check          # the recipes on other Fashion-MNIST images
    python -m benchmarks.table2 final              # benchmarks/results/table2_final.md

``--jobs N`` runs the (noise setting, seed) units in N processes (torch 1 thread each) that
append to the same ``results.csv``; the table is rendered once they have all finished.
``final`` reads the parts' CSVs and trains nothing.
"""

from __future__ import annotations

import argparse
import copy
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._tables import RESULTS, _rel
from benchmarks.harness.config import builtin_config, smoke_config, validate_config
from benchmarks.harness.render import gap_closed
from benchmarks.harness.run import RESULT_COLUMNS, read_rows, run_benchmark

#: name → (built-in config, results folder)
PARTS: dict[str, tuple[str, str]] = {
    "fmnist": ("table2_fmnist_long", "table2_long"),
    "cnn": ("table2_cnn_long", "table2_cnn_long"),
    "text": ("table2_text", "table2_text"),
    "scaled": ("table2_scaled", "table2_scaled"),
}
#: The headline: :class:`mislabel.NoiseAwareClassifier` with its defaults.
HEADLINE = "mislabel_dynknn_gated"
#: The recipe the headline runs when the network can memorise its training set.
GATED_FROM = "mislabel_dynknn_weight_elr"
BASELINE = "cleanlab"
TARGET_GAP = 0.90
GAP_THRESHOLD = 0.03
#: Every recipe shown beside the headline, with its own gap closed and sets above cleanlab.
OTHERS = (
    GATED_FROM,
    "mislabel_dynknn_select",
    "mislabel_dynoof_weight_elr",
    "mislabel_dyn_weight_elr",
    "mislabel_dyn_select",
    "mislabel_dyn_remove",
    "mislabel_2dyn_weight_elr",
    "mislabel_2round_mixoof_elr",
    "mislabel_2round",
)
JUDGED = (HEADLINE, *OTHERS, "mislabel_best", "elr", BASELINE, "oracle_remove")
COLUMNS = (
    "ce",
    BASELINE,
    "elr",
    "mislabel_best",
    *OTHERS[::-1],
    HEADLINE,
    "oracle_remove",
    "oracle",
)
SCALED_JUDGED = (HEADLINE, GATED_FROM, "mislabel_dynknn_select", BASELINE, "oracle_remove")
SCALED_COLUMNS = (
    "ce",
    BASELINE,
    "mislabel_dynknn_select",
    GATED_FROM,
    HEADLINE,
    "oracle_remove",
    "oracle",
)
#: The recipes compared on the dev check (every one of them is a row of the tables too).
DEV_METHODS = ("ce", BASELINE, *OTHERS[::-1], HEADLINE, "elr", "oracle_remove", "oracle")

NOTE = (
    "Test accuracy (%) on clean test labels, mean ± std over seeds 0, 1, 2; the last epoch "
    "of every run (no early stopping, no selection on clean labels); every method trains the "
    "same network for the same epochs. gap closed = (method − CE) / (oracle − CE) on the means. "
    f"`{HEADLINE}` (the headline) is one call of `mislabel.NoiseAwareClassifier` with its "
    "defaults: one training run of the network on mixup batches (α = 4) for the sample passes "
    "of one out-of-fold round ((folds − 1) × its epochs), its probabilities averaged over the "
    "epochs and with the given labels' vote among each sample's 30 nearest others in the "
    "network's penultimate features, cut at the confident-joint count; then every sample "
    "weighted by its label-quality score and ELR when the network can memorise its training "
    "set (`mislabel.train.can_memorize`: every network here), plain CE on the given labels "
    f"otherwise (RT-snippets' logistic regression). `{GATED_FROM}`: the same with ELR forced. "
    "`elr`: plain ELR, no detection. `mislabel_best`: our detection on out-of-fold "
    "probabilities, every sample weighted by its score, GCE; `mislabel_2round`: the same after "
    "a second out-of-fold round weighted by the first's scores; `mislabel_2round_mixoof_elr`: "
    "both rounds' models on mixup batches (α = 1), ELR. `mislabel_dyn_*`: the one-run detection "
    "at mixup α = 1 without the neighbour vote — flags removed + CE (`dyn_remove`), weights + "
    "ELR (`dyn_weight_elr`), a second run weighted by the first's scores (`2dyn_weight_elr`), "
    "the mean with one mixup out-of-fold round (`dynoof_weight_elr`, two detection budgets). "
    "`*_select`: the ELR model or plain CE, whichever has the higher clean accuracy estimated "
    "on a noisy held-out 10 % (`mislabel.metrics.estimate_clean_accuracy`), retrained on all "
    "samples. `oracle_remove` is not a method: the known wrong labels removed (perfect "
    "detection), CE on the rest."
)
SCALED_NOTE = (
    "The same networks, schedules, detection budget and recipes as the table above, on larger "
    "fixed training subsets: Fashion-MNIST MLP 30,000 images (above: 10,000), Fashion-MNIST "
    "small CNN 10,000 (3,000), CIFAR-10N small CNN 10,000 (4,000); RT-snippets as above. "
    "Mean ± std over seeds 0, 1, 2, last epoch, gap closed = (method − CE) / (oracle − CE) on "
    "the means."
)


# --------------------------------------------------------------------------- running a part


def part_config(name: str, smoke: bool, unit: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """A part's config (``name`` a built-in config); ``unit = (experiment, noise, seed)``: only
    that one."""
    cfg = builtin_config(name, smoke=smoke)
    if unit is not None:
        cfg = copy.deepcopy(cfg)
        cfg["seeds"] = [unit[2]]
        exp = cfg["experiments"][unit[0]]
        exp["noise"] = [exp["noise"][unit[1]]]
        cfg["experiments"] = [exp]
    return cfg


def dev_check_config(name: str) -> dict[str, Any]:
    """A part's schedule on *other* Fashion-MNIST images (``subset_seed = 1``), scored on
    10,000 more training images with their true labels, seed 0: choosing a recipe here never
    reads the test set. CIFAR-10N is left out."""
    cfg = builtin_config(name)
    cfg.update(
        name=f"{name}-dev-check",
        title="Dev check (other Fashion-MNIST images, seed 0): recipes compared off the test",
        description=(
            "The schedule of the table on a different stratified subset of the Fashion-MNIST "
            "training set (subset seed 1), scored against 10,000 further training images with "
            "their true labels (not the test set), seed 0."
        ),
        seeds=[0],
        methods=list(DEV_METHODS),
        ours=[m for m in DEV_METHODS if m.startswith("mislabel") or m == "elr"],
    )
    cfg["experiments"] = [
        {**exp, "id": f"{exp['id']}-dev", "subset_seed": 1, "test_from_train": 10000}
        for exp in cfg["experiments"]
        if exp["dataset"] == "fashion-mnist"
    ]
    return cfg


def _spawn(part: str, cfg: Mapping[str, Any], n_jobs: int, out: Path, smoke: bool) -> None:
    """Run the (noise setting, seed) units round-robin in ``n_jobs`` child processes that
    append to one results.csv (each row is one small ``O_APPEND`` write)."""
    csv_path = out / "results.csv"
    out.mkdir(parents=True, exist_ok=True)
    if not csv_path.exists() or csv_path.stat().st_size == 0:  # header once, before the race
        csv_path.write_text(",".join(RESULT_COLUMNS) + "\n", encoding="utf-8")
    units = [
        f"{e}:{i}:{s}"
        for e, exp in enumerate(cfg["experiments"])
        for i in range(len(exp["noise"]))
        for s in cfg["seeds"]
    ]
    procs = []
    for j in range(n_jobs):
        part_units = units[j::n_jobs]
        if not part_units:
            continue
        cmd = [sys.executable, "-m", "benchmarks.table2", part, "--only", ",".join(part_units)]
        cmd += ["--out", str(out)] + ["--smoke"] * smoke
        log = (out / f"job{j}.log").open("w")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a job failed (exit codes {codes}); see {out}/job*.log")


def run_part(part: str, args: argparse.Namespace) -> None:
    """Run one part (all its rows, or a child's ``--only`` units) and write its markdown."""
    name, folder = PARTS[part]
    out = args.out or (
        Path(tempfile.mkdtemp(prefix=f"{folder}-smoke-")) if args.smoke else RESULTS / folder
    )
    if args.only is not None:  # a child process: its units, no table
        for unit in args.only.split(","):
            e, i, s = (int(v) for v in unit.split(":"))
            run_benchmark(part_config(name, args.smoke, (e, i, s)), out, progress=False)
        return
    command = f"python -m benchmarks.table2 {part}" + " --smoke" * args.smoke
    command += f" --jobs {args.jobs}" if args.jobs > 1 else ""
    t0 = time.perf_counter()
    cfg = part_config(name, args.smoke)
    before = len(read_rows(out / "results.csv"))
    if args.jobs > 1:
        _spawn(part, validate_config(cfg), args.jobs, out, args.smoke)
    result = run_benchmark(cfg, out, progress=not args.no_progress, command=command)
    total = sum(float(r["seconds"] or 0) for r in result.rows)
    resumed = min(before, len(result.rows))
    md = result.markdown.rstrip() + (
        f"\n\nCSV: `{_rel(result.csv_path)}`. Sum of the per-row training times: "
        f"{total / 60:.1f} min (out-of-fold probabilities are counted in the first row that "
        f"needed them); this call computed {len(result.rows) - resumed} rows and resumed "
        f"{resumed}, in {(time.perf_counter() - t0) / 60:.1f} min wall, {args.jobs} "
        "process(es), torch 1 thread each.\n"
    )
    if not args.smoke:
        (RESULTS / f"{folder}.md").write_text(md, encoding="utf-8")
    print(md)


# --------------------------------------------------------------------------- the final table


def _by_setting(rows: Sequence[Mapping[str, str]]) -> dict[tuple[str, str], dict[str, list[float]]]:
    out: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in rows:
        key = (r["experiment"], r["noise"])
        out.setdefault(key, {}).setdefault(r["method"], []).append(100 * float(r["test_acc"]))
    return out


def _cell(values: Sequence[float] | None) -> str:
    if not values:
        return "–"
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.1f} ± {std:.1f}"


def _avg(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def render(
    rows: Sequence[Mapping[str, str]],
    commands: Sequence[str],
    *,
    title: str,
    note: str = NOTE,
    columns: Sequence[str] = COLUMNS,
    judged: Sequence[str] = JUDGED,
) -> str:
    """The consolidated markdown: per setting, the means ± std of ``columns``, the gap closed
    by each of ``judged`` and the verdict on the two targets."""
    settings = _by_setting(rows)
    head = [*columns, *(f"gap closed: {m}" for m in judged)]
    lines = [title, "", "Commands (each part resumable):", "", "```", *commands, "```", ""]
    lines += [note, "", "| experiment | noise | " + " | ".join(head) + " |"]
    lines += ["|" + "---|" * (len(head) + 2)]
    gaps: dict[str, list[float]] = {m: [] for m in judged}
    margins: dict[str, list[tuple[str, float]]] = {m: [] for m in judged if m != BASELINE}
    n_counted = 0
    for (exp, noise), by in settings.items():
        mean = {m: float(np.mean(v)) for m, v in by.items()}
        known = "oracle" in mean and "ce" in mean
        counted = known and mean["oracle"] - mean["ce"] >= 100 * GAP_THRESHOLD
        n_counted += counted
        why = "–" if not known or counted else "– (CE within 3 points)"
        cells = [_cell(by.get(m)) for m in columns]
        for m in judged:
            if m in mean and counted:
                g = gap_closed(mean[m], mean["ce"], mean["oracle"])
                gaps[m].append(g)
                cells.append(f"{100 * g:.0f} %")
            else:
                cells.append(why)
            if m in margins and m in mean and BASELINE in mean:
                margins[m].append((f"{exp} {noise}", mean[m] - mean[BASELINE]))
        lines.append(f"| {exp} | {noise} | " + " | ".join(cells) + " |")
    lines += ["", "## Against the targets", ""]
    lines += ["| recipe | average gap closed | settings | above cleanlab |", "|---|---:|---:|---:|"]
    for m, g in gaps.items():
        mg = margins.get(m, [])
        above = "–" if m == BASELINE else f"{sum(d > 0 for _, d in mg)} of {len(mg)}"
        lines.append(f"| {m} | {100 * _avg(g):.0f} % | {len(g)} | {above} |")
    avg = _avg(gaps[HEADLINE])
    mine = margins[HEADLINE]
    n_above = sum(d > 0 for _, d in mine)
    met_1 = avg >= TARGET_GAP and len(gaps[HEADLINE]) == n_counted
    lines += [
        "",
        f"Target 1, ≥ {100 * TARGET_GAP:.0f} % on average over the settings where CE loses ≥ "
        f"{100 * GAP_THRESHOLD:.0f} points: `{HEADLINE}` {100 * avg:.0f} % over "
        f"{len(gaps[HEADLINE])} of {n_counted} settings — {'met' if met_1 else 'NOT met'}.",
        f"Target 2, above {BASELINE} on every set: {n_above} of {len(settings)} — "
        f"{'met' if n_above == len(settings) else 'NOT met'} (margins: "
        + ", ".join(f"{name} {d:+.1f}" for name, d in mine)
        + " points).",
    ]
    every = [
        m
        for m, mg in margins.items()
        if m != "oracle_remove" and len(mg) == len(settings) and all(d > 0 for _, d in mg)
    ]
    described = [
        f"`{m}` ({100 * _avg(gaps[m]):.0f} % of the gap; margins "
        + ", ".join(f"{d:+.1f}" for _, d in margins[m])
        + ")"
        for m in every
    ]
    lines.append("Recipes above cleanlab on every set: " + (", ".join(described) or "none") + ".")
    return "\n".join(lines) + "\n"


def _rows(part: str) -> list[dict[str, str]]:
    """The rows of a part's current config found in its ``results.csv``."""
    name, folder = PARTS[part]
    cfg = validate_config(builtin_config(name))
    ids = {e["id"] for e in cfg["experiments"]}
    methods = set(cfg["methods"])
    rows = read_rows(RESULTS / folder / "results.csv")
    return [r for r in rows if r["experiment"] in ids and r["method"] in methods]


def final() -> str:
    """``benchmarks/results/table2_final.md`` from the parts' CSVs (nothing is trained)."""
    cmd = "python -m benchmarks.table2 {} --jobs 2"
    md = render(
        _rows("fmnist") + _rows("cnn") + _rows("text"),
        [
            cmd.format("fmnist"),
            cmd.format("cnn"),
            cmd.format("text"),
            "python -m benchmarks.table2 final",
        ],
        title="# Table 2 — every setting, against the targets",
    )
    md += "\n" + render(
        _rows("scaled") + _rows("text"),
        [cmd.format("scaled"), "python -m benchmarks.table2 final"],
        title="# Table 2 at larger training subsets — against the targets",
        note=SCALED_NOTE,
        columns=SCALED_COLUMNS,
        judged=SCALED_JUDGED,
    )
    (RESULTS / "table2_final.md").write_text(md, encoding="utf-8")
    return md


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.table2", description=__doc__.splitlines()[0]
    )
    parser.add_argument("what", choices=[*PARTS, "dev-check", "final"])
    parser.add_argument("--smoke", action="store_true", help="seconds-long variant")
    parser.add_argument("--jobs", type=int, default=1, help="processes (units split)")
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)  # a child's units
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.what == "final":
        print(final())
        return
    if args.what == "dev-check":
        for part in ("fmnist", "cnn"):
            name, folder = PARTS[part]
            cfg = dev_check_config(name)
            res = run_benchmark(
                smoke_config(cfg) if args.smoke else cfg,
                args.out or RESULTS / folder / "dev_check",
                progress=not args.no_progress,
                command="python -m benchmarks.table2 dev-check",
            )
            print(res.markdown)
        return
    run_part(args.what, args)


if __name__ == "__main__":
    main()
