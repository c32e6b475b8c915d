"""The demo: find deliberately flipped labels in scikit-learn's handwritten digits.

Run ``make demo`` (or ``python -m mislabel.demo``). Offline: the digits ship with scikit-learn.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--noise-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--make-folder",
        metavar="DIR",
        help="instead of the demo, write the digits as PNGs into DIR/<class>/, with "
        "--noise-rate of them in a wrong class folder (the getting-started walkthrough)",
    )
    args = parser.parse_args(argv)
    if args.make_folder:
        return make_folder(args.make_folder, args.noise_rate, args.seed)

    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import mislabel
    from mislabel.metrics import detection_report

    t0 = time.perf_counter()
    digits = load_digits()
    x, true = digits.data, digits.target
    rng = np.random.default_rng(args.seed)
    n = true.shape[0]
    flip = rng.choice(n, size=round(args.noise_rate * n), replace=False)
    given = true.copy()
    given[flip] = (true[flip] + rng.integers(1, 10, size=flip.size)) % 10
    print(
        f"scikit-learn digits: {n} images 8x8, 10 classes; flipped {flip.size} labels "
        f"({args.noise_rate:.0%}) to another digit at random (seed {args.seed})."
    )

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    pred_probs = mislabel.cross_val_pred_probs(model, x, given, cv=5, random_state=args.seed)
    print(
        f"5-fold out-of-fold probabilities: accuracy against the given labels "
        f"{np.mean(pred_probs.argmax(1) == given):.1%}."
    )

    health = mislabel.health_summary(given, pred_probs)
    print(f"Estimated noise rate: {health.estimated_noise_rate:.1%} (true {flip.size / n:.1%}).")
    issues = mislabel.find_label_issues(given, pred_probs)
    print(f"\nTop {args.top} suspects of {issues.n_issues} flagged (most suspect first):")
    header = f"{'index':>6} {'given':>5} {'suggested':>9} {'p(sugg.)':>8} {'score':>6}"
    print(header + "  truly wrong?")
    for i in issues.ranked[: args.top]:
        truth = f"yes, was {true[i]}" if given[i] != true[i] else "no"
        print(
            f"{i:>6} {given[i]:>5} {issues.suggested[i]:>9} {issues.suggested_prob[i]:>8.2f} "
            f"{issues.scores[i]:>6.3f}  {truth}"
        )
    rep = detection_report(issues.mask, given, true)
    fixed = int(np.sum(issues.suggested[issues.mask] == true[issues.mask]))
    print(
        f"\nFound {rep.tp} of {flip.size} flipped labels; {rep.fp} false alarms. "
        f"Precision {rep.precision:.2f}, recall {rep.recall:.2f}, F1 {rep.f1:.2f}."
    )
    print(f"The suggested label is the true one for {fixed} of {issues.n_issues} flagged.")
    known = mislabel.find_label_issues(given, pred_probs, noise_rate=args.noise_rate)
    rk = detection_report(known.mask, given, true)
    print(
        f"Telling it the noise rate ({args.noise_rate:.0%}): found {rk.tp} of {flip.size}, "
        f"F1 {rk.f1:.2f}."
    )
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


def make_folder(folder: str, noise_rate: float, seed: int) -> int:
    """Write scikit-learn's digits as 32x32 PNGs in ``folder/<digit name>/``, a share of
    them in a wrong folder, and ``truth.csv`` (path, true label) to check the results."""
    import csv
    import os
    from pathlib import Path

    from sklearn.datasets import load_digits

    from mislabel._validation import optional_import

    image = optional_import("PIL.Image", "report", "writing PNG files")
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    digits = load_digits()
    rng = np.random.default_rng(seed)
    n = digits.target.size
    given = digits.target.copy()
    flip = rng.choice(n, size=round(noise_rate * n), replace=False)
    given[flip] = (given[flip] + rng.integers(1, 10, size=flip.size)) % 10
    root = Path(folder)
    rows = []
    for i in range(n):
        rel = Path(names[given[i]]) / f"digit_{i:04d}.png"
        (root / rel.parent).mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[i] * (255 / 16)).astype(np.uint8)
        image.fromarray(pixels).resize((32, 32), image.NEAREST).save(root / rel)
        rows.append((rel.as_posix(), names[digits.target[i]]))
    tmp = root / "truth.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "true_label"), *rows])
    os.replace(tmp, root / "truth.csv")
    print(
        f"Wrote {n} PNGs to {root}/<digit>/, {flip.size} of them ({noise_rate:.0%}) in a "
        f"wrong folder; the truth is in {root}/truth.csv."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
