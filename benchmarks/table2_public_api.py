"""Table 2's headline rows through the public estimator, beside the published rows.

Every headline row of Table 2 (both training-subset sizes) rerun as ONE call of
:class:`mislabel.NoiseAwareClassifier` on the raw training features and the noisy labels, with
the table's schedule: ``epochs`` = the final training's epochs, ``detect_epochs`` = the
out-of-fold epochs × (folds − 1) (one detection budget), ``random_state`` = the seed; then
``.score`` on the clean test set and detection precision / recall / F1 of ``.issues_.mask``
against the known wrong labels. The networks are the estimator's defaults (the MLP on
flattened pixels, the small CNN on images); RT-snippets' logistic regression is
``model=functools.partial(nn.Linear, d, K)``.

Resumable: each finished (setting, seed) appends one row to
``benchmarks/results/table2_public_api/results.csv`` and a rerun skips the rows already there.
``--worker i --workers n`` runs every n-th unit (start n processes to share the queue); the
small subsets come first. ``--render`` writes ``benchmarks/results/table2_public_api.md``
(published mean ± std, public-API mean ± std, difference) from that CSV and the published
``benchmarks/results/table2*/results.csv``.

    python -m benchmarks.table2_public_api --worker 0 --workers 2 &
    python -m benchmarks.table2_public_api --worker 1 --workers 2 &
    python -m benchmarks.table2_public_api --render
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import functools
import logging
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.config import builtin_config, experiments
from benchmarks.harness.splits import Data, Split

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "table2_public_api"
HEADLINE = "mislabel_dynknn_gated"
#: (subset size, built-in config, folder of its published results.csv)
PARTS = (
    ("small", "table2_text", "table2_text"),
    ("small", "table2_fmnist_long", "table2_long"),
    ("small", "table2_cnn_long", "table2_cnn_long"),
    ("larger", "table2_scaled", "table2_scaled"),
)
SEEDS = (0, 1, 2)
COLUMNS = (
    "size",
    "experiment",
    "noise",
    "seed",
    "test_acc",
    "precision",
    "recall",
    "f1",
    "n_flagged",
    "final_loss",
    "seconds",
    "finished_at",
)

logger = logging.getLogger("table2_public_api")

#: What explains a setting that moved by more than its seed spread, by (experiment, noise).
NOTES: dict[tuple[str, str], str] = {
    ("fashion-mnist-cnn-25ep", "symmetric 60%"): (
        "−0.5 points against seed spreads of 0.5 / 0.4, with the same detection (F1 0.926 "
        "against 0.925): the library's training loop draws batch order, initialisation and "
        "mixup λ from other random streams than the benchmark's own trainer did, so the three "
        "seeds are three other draws of the training randomness; both far above cleanlab "
        "(76.2)."
    ),
    ("fashion-mnist-cnn-25ep-10k", "pair 40% (fashion_mnist)"): (
        "+1.3 points with a better detection (F1 0.791 against 0.766) and three other draws "
        "of the training randomness; both far above cleanlab (75.6)."
    ),
    ("cifar10n-cnn-25ep", "real (worst)"): (
        "+1.2 points with a slightly better detection (F1 0.665 against 0.651) and three "
        "other draws of the training randomness; both above cleanlab (47.5)."
    ),
}


def units() -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Any], str, int]]:
    """(size, config, experiment, noise, noise label, seed) of every row, small sizes first."""
    for size, name, _ in PARTS:
        for exp, noise, label in experiments(builtin_config(name)):
            for seed in SEEDS:
                yield size, name, exp, noise, label, seed


def headline(exp: Mapping[str, Any], split: Split, seed: int) -> dict[str, Any]:
    """One call of the public estimator, scored on the clean test set."""
    from mislabel import NoiseAwareClassifier
    from mislabel.metrics import precision_recall_f1

    train, oof = exp["train"], exp["oof"]
    model: Any = None
    if train["model"] == "logreg":
        import torch

        model = functools.partial(torch.nn.Linear, split.X_raw.shape[1], split.n_classes)
    clf = NoiseAwareClassifier(
        model,
        epochs=train["epochs"],
        detect_epochs=oof["epochs"] * (oof["folds"] - 1),
        batch_size=train["batch_size"],
        lr=train["lr"],
        weight_decay=train.get("weight_decay", 0.0),
        device="cpu",
        random_state=seed,
    ).fit(split.X_raw, split.labels)
    mask = np.asarray(clf.issues_.mask)
    p, r, f = precision_recall_f1(mask, split.wrong)
    return {
        "test_acc": float(clf.score(split.X_test_raw, split.y_test)),
        "precision": p,
        "recall": r,
        "f1": f,
        "n_flagged": int(mask.sum()),
        "final_loss": clf.final_loss_,
    }


def _done(path: Path) -> set[tuple[str, str, str]]:
    if not path.is_file():
        return set()
    with path.open(encoding="utf-8") as fh:
        return {(r["experiment"], r["noise"], r["seed"]) for r in csv.DictReader(fh)}


def _append(path: Path, row: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", newline="") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        if fh.tell() == 0:
            writer.writeheader()
        writer.writerow({c: row.get(c, "") for c in COLUMNS})
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_UN)


def run(worker: int, workers: int, path: Path) -> None:
    """Run this worker's share of the rows not yet in ``path``."""
    import torch

    torch.set_num_threads(1)
    data = Data()
    done = _done(path)
    for i, (size, _, exp, noise, label, seed) in enumerate(units()):
        if i % workers != worker or (exp["id"], label, str(seed)) in done:
            continue
        t0 = time.perf_counter()
        out = headline(exp, data.split(exp, noise, seed), seed)
        row = {
            "size": size,
            "experiment": exp["id"],
            "noise": label,
            "seed": seed,
            **out,
            "seconds": round(time.perf_counter() - t0, 1),
            "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        }
        _append(path, row)
        logger.info(
            "%s %s seed %d: %.4f (%.0f s)", exp["id"], label, seed, out["test_acc"], row["seconds"]
        )


# --------------------------------------------------------------------------- render


def _published(method: str = HEADLINE) -> dict[tuple[str, str], list[dict[str, str]]]:
    """The published rows of ``method``, by (experiment, noise)."""
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    for _, _, folder in PARTS:
        with (RESULTS / folder / "results.csv").open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["method"] == method and int(r["seed"]) in SEEDS:
                    out.setdefault((r["experiment"], r["noise"]), []).append(r)
    return out


def _verdict(
    size: str,
    new: Mapping[tuple[str, str], list[float]],
    pub: Mapping[tuple[str, str], list[float]],
) -> str:
    """Both headlines against the published ce / cleanlab / oracle rows of one subset size:
    average share of the CE → oracle gap closed (settings where CE loses ≥ 3 points), and on
    how many settings each is above cleanlab."""
    base = {m: _published(m) for m in ("ce", "cleanlab", "oracle")}

    def acc(m: str, key: tuple[str, str]) -> float:
        return statistics.fmean(float(r["test_acc"]) for r in base[m][key])

    parts = []
    for name, got in (("published", pub), ("public API", new)):
        keys = [k for k in got if got[k] and all(k in base[m] for m in base)]
        gaps = [
            (statistics.fmean(got[k]) - acc("ce", k)) / (acc("oracle", k) - acc("ce", k))
            for k in keys
            if acc("oracle", k) - acc("ce", k) >= 0.03
        ]
        above = sum(statistics.fmean(got[k]) > acc("cleanlab", k) for k in keys)
        avg = f"{100 * statistics.fmean(gaps):.0f} %" if gaps else "–"
        parts.append(
            f"{name} {avg} of the gap over {len(gaps)} settings, above cleanlab on {above} of "
            f"{len(keys)}"
        )
    return f"- {size} subsets (settings with all 3 seeds): " + "; ".join(parts) + "."


def _mean(rows: Sequence[Mapping[str, str]], key: str) -> str:
    vals = [float(r[key]) for r in rows if r.get(key)]
    return f"{statistics.fmean(vals):.3f}" if vals else "–"


def _pm(values: Sequence[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * sd:.1f}"


def render(path: Path) -> str:
    """The comparison table (markdown) from ``path`` and the published results."""
    published = _published()
    rows: dict[tuple[str, str], list[dict[str, str]]] = {}
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.setdefault((r["experiment"], r["noise"]), []).append(r)
    lines = [
        "# Table 2's headline through the public estimator",
        "",
        "Command (resumable; two processes share the queue, then render):",
        "",
        "```",
        "python -m benchmarks.table2_public_api --worker 0 --workers 2 &",
        "python -m benchmarks.table2_public_api --worker 1 --workers 2 &",
        "python -m benchmarks.table2_public_api --render",
        "```",
        "",
        "`published`: the `mislabel_dynknn_gated` rows of `benchmarks/results/table2_final.md` "
        "(the harness's own training stack). `public API`: the same settings, splits, noise "
        "draws, networks and schedules as ONE call of `mislabel.NoiseAwareClassifier("
        "epochs=<final epochs>, detect_epochs=<out-of-fold epochs × (folds − 1)>, "
        "random_state=seed).fit(X_train, noisy_labels)` on the raw features, then "
        "`.score(X_test, y_test)` on the clean test labels. Test accuracy (%), mean ± std over "
        "seeds 0, 1, 2; detection F1 of `.issues_.mask` against the known wrong labels. "
        "`moved` marks a setting whose difference of means is larger than the larger of the "
        "two seed standard deviations.",
        "",
        "| size | experiment | noise | published | public API | difference | seeds | "
        "detection F1: published | public API | final loss | moved |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for size, name, _ in PARTS:
        for exp, _, label in experiments(builtin_config(name)):
            key = (exp["id"], label)
            pub_rows = published.get(key, [])
            pub = [float(r["test_acc"]) for r in pub_rows]
            new_rows = sorted(rows.get(key, []), key=lambda r: r["seed"])
            new = [float(r["test_acc"]) for r in new_rows]
            diff = moved = "–"
            if pub and new:
                d = statistics.fmean(new) - statistics.fmean(pub)
                diff = f"{100 * d:+.1f}"
                spread = max(
                    statistics.stdev(pub) if len(pub) > 1 else 0.0,
                    statistics.stdev(new) if len(new) > 1 else 0.0,
                )
                moved = "**yes**" if abs(d) > spread and len(new) == len(SEEDS) else "no"
            losses = ", ".join(sorted({r["final_loss"] for r in new_rows})) or "–"
            lines.append(
                f"| {size} | {exp['id']} | {label} | {_pm(pub)} | {_pm(new)} | {diff} | "
                f"{len(new)} | {_mean(pub_rows, 'f1')} | {_mean(new_rows, 'f1')} | {losses} | "
                f"{moved} |"
            )
    verdicts = []
    for size in dict.fromkeys(size for size, _, _ in PARTS):
        new_acc: dict[tuple[str, str], list[float]] = {}
        pub_acc: dict[tuple[str, str], list[float]] = {}
        for s_, name, _ in PARTS:
            if s_ != size and name != "table2_text":
                continue
            for exp, _, label in experiments(builtin_config(name)):
                got = [float(r["test_acc"]) for r in rows.get((exp["id"], label), [])]
                if len(got) == len(SEEDS):
                    new_acc[(exp["id"], label)] = got
                    pub_acc[(exp["id"], label)] = [
                        float(r["test_acc"]) for r in published.get((exp["id"], label), [])
                    ]
        if new_acc:
            verdicts.append(_verdict(size, new_acc, pub_acc))
    lines += ["", "Against the published `ce`, `cleanlab` and `oracle` rows:", "", *verdicts]
    n_done = sum(len(v) for v in rows.values())
    n_all = sum(1 for _ in units())
    lines += ["", f"Rows done: {n_done} of {n_all} (setting × seed); `–`: not run yet."]
    notes = [f"- {exp} {noise}: {text}" for (exp, noise), text in NOTES.items()]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--render", action="store_true", help="only write the markdown table")
    parser.add_argument("--out", type=Path, default=OUT / "results.csv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.render:
        run(args.worker, args.workers, args.out)
    md = render(args.out)
    (RESULTS / "table2_public_api.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
