"""Forward + backward time of every registered loss next to ``F.cross_entropy``, as ratios.

Run: ``python benchmarks/loss_overhead.py [--n 4096] [--k 1000] [--repeats 15]``

Each loss and ``F.cross_entropy`` are timed in the same process on the same (n, K) float32
logits (CPU, torch's default thread count). Every round times each of them once, after a
few untimed calls of the same function (so the memory allocator is in that function's steady
state, as in training); rounds interleave all functions so that drifts in machine load hit
all alike. The table reports the median over rounds and the ratio of medians (the ratio of the
best times is shown too: on a busy machine it is the steadier of the two). Target: every
median ratio ≤ 1.3. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import mislabel.losses as ml

TARGET = 1.3


def build_losses(n: int, k: int) -> dict[str, tuple[torch.nn.Module, dict[str, torch.Tensor]]]:
    """One instance per registered name, with the extra inputs its forward needs."""
    g = torch.Generator().manual_seed(1)
    eye = torch.eye(k)
    noise = 0.8 * eye + 0.2 * torch.softmax(torch.randn(k, k, generator=g), dim=1)
    index = torch.randperm(n, generator=g)
    extra: dict[str, dict[str, object]] = {
        "weighted_ce": {"sample_weights": torch.rand(n, generator=g)},
        "truncated_gce": {"n_samples": n},
        "elr": {"n_samples": n, "n_classes": k},
        "forward_correction": {"noise_matrix": noise},
        "backward_correction": {"noise_matrix": noise},
    }
    out = {}
    for name in ml.available():
        loss = ml.get(name, **extra.get(name, {}))
        kwargs = {"index": index} if loss.takes_index else {}
        out[name] = (loss, kwargs)
    # the two other forms of label smoothing
    eps = torch.rand(k, generator=g) * 0.2
    out["label_smoothing[vector]"] = (ml.LabelSmoothingLoss(smoothing=eps), {})
    smooth = 0.9 * eye + 0.1 * torch.softmax(torch.randn(k, k, generator=g), dim=1)
    out["label_smoothing[matrix]"] = (ml.LabelSmoothingLoss(smoothing=smooth), {})
    return out


def time_once(fn: Callable[[torch.Tensor], torch.Tensor], logits: torch.Tensor) -> float:
    z = logits.detach().clone().requires_grad_(True)
    start = time.perf_counter()
    fn(z).backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    logits = torch.randn(args.n, args.k) * 3
    target = torch.randint(0, args.k, (args.n,))
    losses = build_losses(args.n, args.k)

    def reference(z: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(z, target)

    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"F.cross_entropy": reference}
    for name, (loss, kwargs) in losses.items():
        fns[name] = lambda z, loss=loss, kwargs=kwargs: loss(z, target, **kwargs)

    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            # A few untimed calls first: the allocator settles into the pattern of this loss
            # (as in training, where the same loss runs every step), then one timed call.
            for _ in range(args.warmup):
                time_once(fn, logits)
            times[name].append(time_once(fn, logits))

    base = statistics.median(times["F.cross_entropy"])
    base_min = min(times["F.cross_entropy"])
    print(
        f"Forward + backward, N={args.n}, K={args.k}, float32, CPU "
        f"({torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{platform.machine()}), median of {args.repeats} rounds; "
        f"F.cross_entropy = {base * 1e3:.2f} ms.\n"
    )
    print("| loss | median ms | × F.cross_entropy | best ms | × (best) | ≤ 1.3× |")
    print("|---|---:|---:|---:|---:|:---:|")
    for name in fns:
        if name == "F.cross_entropy":
            continue
        med, best = statistics.median(times[name]), min(times[name])
        ratio = med / base
        ok = "yes" if ratio <= TARGET else "NO"
        print(
            f"| {name} | {med * 1e3:.2f} | {ratio:.2f} | {best * 1e3:.2f} | "
            f"{best / base_min:.2f} | {ok} |"
        )


if __name__ == "__main__":
    main()
