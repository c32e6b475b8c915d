"""Detection that holds on noise it has not seen: the robustness suite.

For every setting of :mod:`benchmarks._robustness_sets` (simulated CIFAR-10 noise of every
sparsity, imbalance, pair and look-alike swaps, models of several strengths; out-of-fold
probabilities of real models on Fashion-MNIST, CIFAR-10 embeddings and text, with ten classes
or two; human errors of RT-snippets and CIFAR-10N), on the same probabilities:

- **ours**: ``mislabel.find_label_issues(labels, pred_probs)``, its defaults;
- **cleanlab**: ``cleanlab.filter.find_label_issues(labels, pred_probs)``, its defaults (ranked,
  as ``cleanlab.rank.get_label_quality_scores`` does by default, by self-confidence);
- **the best simple score**: self-confidence and normalized margin, each cut at cleanlab's
  count (``method="low_self_confidence"`` / ``"low_normalized_margin"``), the better F1 shown.

F1 of the flags and average precision (AP) of the scores against the true wrong labels. The
three rules checked: ours' F1 ≥ cleanlab's − 0.005 on every setting; the mean F1 on the six
shared CIFAR-10 files ≥ 0.85; on every real-error set ours' AP ≥ max(self-confidence, normalized
margin).

    python -m benchmarks.robustness                    # → benchmarks/results/robustness.md
    python -m benchmarks.robustness --only simulated   # one kind
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

import mislabel
from benchmarks import _robustness_sets as sets
from benchmarks._common import shared_data
from mislabel.metrics import precision_recall_f1

RESULTS = Path(__file__).resolve().parent / "results" / "robustness.md"
KINDS = ("simulated", "trained", "two-class", "real")
Detector = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    n: int
    n_wrong: int
    ours: tuple[int, float, float]  # flagged, F1, AP
    cleanlab: tuple[int, float, float]
    self_confidence: tuple[int, float, float]
    normalized_margin: tuple[int, float, float]

    @property
    def gap(self) -> float:
        return self.ours[1] - self.cleanlab[1]

    @property
    def ap_gap(self) -> float:
        return self.ours[2] - max(self.self_confidence[2], self.normalized_margin[2])


def ours(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    issues = mislabel.find_label_issues(labels, pred_probs)
    return issues.mask, issues.scores


def _score(mask: np.ndarray, scores: np.ndarray, wrong: np.ndarray) -> tuple[int, float, float]:
    f1 = precision_recall_f1(mask, wrong)[2]
    ap = float(average_precision_score(wrong, -scores)) if wrong.any() else float("nan")
    return int(mask.sum()), float(f1), ap


def evaluate(case: sets.Case, detector: Detector = ours) -> Row:
    """Ours, cleanlab's default and the two simple scores on one case."""
    from cleanlab.filter import find_label_issues as cleanlab_find

    labels, p = case.labels, case.pred_probs
    wrong = labels != case.true_labels
    mask, scores = detector(labels, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl_mask = cleanlab_find(labels, p, n_jobs=1)
        simple = {}
        for name in ("self_confidence", "normalized_margin"):
            m = mislabel.find_label_issues(labels, p, method=f"low_{name}")  # type: ignore[arg-type]
            simple[name] = _score(
                m.mask, mislabel.label_quality_scores(labels, p, method=name), wrong
            )  # type: ignore[arg-type]
    sc_scores = mislabel.label_quality_scores(labels, p, method="self_confidence")
    return Row(
        kind=case.kind,
        name=case.name,
        n=labels.size,
        n_wrong=int(wrong.sum()),
        ours=_score(mask, scores, wrong),
        cleanlab=_score(cl_mask, sc_scores, wrong),
        self_confidence=simple["self_confidence"],
        normalized_margin=simple["normalized_margin"],
    )


def cases(root: Path, kinds: Iterable[str]) -> Iterable[sets.Case]:
    for kind in kinds:
        yield from getattr(sets, kind.replace("-", "_"))(root)


def six_files(root: Path) -> Iterable[sets.Case]:
    for path in sorted((root / "cl-cifar10-oof").glob("*.npz")):
        with np.load(path) as z:
            yield sets.Case(
                "cl-cifar10-oof",
                path.stem,
                z["noisy_labels"].astype(np.int64),
                z["pred_probs"],
                z["true_labels"].astype(np.int64),
            )


def render(rows: list[Row], seconds: float) -> str:
    out = [
        "# Robustness of the default detector",
        "",
        "Command: `python -m benchmarks.robustness` (numpy simulations and cached out-of-fold "
        f"probabilities; {seconds:.0f} s on the 2-core machine).",
        "",
        "F1 of the flags and average precision (AP, low score = wrong) against the true wrong "
        "labels. *ours*: `mislabel.find_label_issues` defaults; *cleanlab*: "
        "`cleanlab.filter.find_label_issues` defaults (AP: its default ranking, "
        "self-confidence); *best simple*: self-confidence or normalized margin cut at "
        "cleanlab's count, the better F1 (AP: the better of the two). gap = ours − cleanlab.",
        "",
    ]
    for kind in (*KINDS, "cl-cifar10-oof"):
        part = [r for r in rows if r.kind == kind]
        if not part:
            continue
        out += [f"## {kind}", ""]
        out.append(
            "| setting | n | wrong | ours flagged / F1 / AP | cleanlab flagged / F1 / AP | "
            "best simple F1 / AP | F1 gap | AP − best simple |"
        )
        out.append("|---|---:|---:|---|---|---|---:|---:|")
        for r in part:
            simple_f1 = max(r.self_confidence[1], r.normalized_margin[1])
            simple_ap = max(r.self_confidence[2], r.normalized_margin[2])
            out.append(
                f"| {r.name} | {r.n} | {r.n_wrong} | {r.ours[0]} / **{r.ours[1]:.3f}** / "
                f"{r.ours[2]:.3f} | {r.cleanlab[0]} / {r.cleanlab[1]:.3f} / {r.cleanlab[2]:.3f} "
                f"| {simple_f1:.3f} / {simple_ap:.3f} | {r.gap:+.3f} | {r.ap_gap:+.3f} |"
            )
        f1 = np.array([r.ours[1] for r in part])
        cl = np.array([r.cleanlab[1] for r in part])
        out += ["", f"Mean F1: ours {f1.mean():.3f}, cleanlab {cl.mean():.3f}.", ""]
    out += ["## The three rules", ""]
    suite = [r for r in rows if r.kind in KINDS]
    if suite:
        worst = min(suite, key=lambda r: r.gap)
        n_fail = sum(r.gap < -0.005 for r in suite)
        out.append(
            f"- F1 ≥ cleanlab − 0.005 on every setting: worst gap {worst.gap:+.3f} "
            f"({worst.kind}: {worst.name}); {n_fail} of {len(suite)} settings below the bar."
        )
    files = [r for r in rows if r.kind == "cl-cifar10-oof"]
    if files:
        mean = np.mean([r.ours[1] for r in files])
        out.append(f"- Mean F1 on the six CIFAR-10 files ≥ 0.85: {mean:.3f}.")
    for r in (r for r in rows if r.kind == "real"):
        simple_ap = max(r.self_confidence[2], r.normalized_margin[2])
        out.append(
            f"- {r.name}: AP ours {r.ours[2]:.4f} vs best simple {simple_ap:.4f} "
            f"({'holds' if r.ap_gap >= 0 else 'below'})."
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=KINDS, action="append", help="run only this kind")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    root = shared_data()
    start = time.perf_counter()
    rows = []
    for case in [*cases(root, args.only or KINDS), *six_files(root)]:
        row = evaluate(case)
        rows.append(row)
        print(
            f"{row.kind:15s} {row.name[:60]:60s} F1 {row.ours[1]:.3f} cl {row.cleanlab[1]:.3f} "
            f"gap {row.gap:+.3f} AP-simple {row.ap_gap:+.3f}",
            flush=True,
        )
    text = render(rows, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
