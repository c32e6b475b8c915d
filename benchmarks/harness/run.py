"""The benchmark run loop: every (experiment, noise, method, seed) row of a config, appended
to ``results.csv`` as it finishes (flushed and fsynced, so a killed run loses at most the row in
progress, and a rerun skips the rows already there), then ``results.md``
(:mod:`benchmarks.harness.render`).

    python -m benchmarks.harness.run table2_text --out benchmarks/results/table2_text
    python -m benchmarks.harness.run table2 --smoke --out /tmp/smoke
    python -m benchmarks.harness.run my_config.toml --out runs/mine --no-resume
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import shlex
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.config import (
    BUILTIN_CONFIGS,
    builtin_config,
    load_config,
    noise_label,
    smoke_config,
    validate_config,
)
from benchmarks.harness.recipes import Context, run_detect_method, run_train_method
from benchmarks.harness.render import render_markdown
from benchmarks.harness.splits import Data
from mislabel.exceptions import InvalidParameterError, MissingDependencyError

__all__ = ["RESULT_COLUMNS", "BenchmarkResult", "main", "resolve_config", "run_benchmark"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Columns of ``results.csv``, in order.
RESULT_COLUMNS = (
    "experiment",
    "dataset",
    "model",
    "noise",
    "noise_rate",
    "method",
    "seed",
    "test_acc",
    "precision",
    "recall",
    "f1",
    "n_flagged",
    "n_train",
    "n_used",
    "epochs",
    "epoch_kept",
    "seconds",
    "config_hash",
    "finished_at",
)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def read_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of ``results.csv``; a torn last line (killed mid-write) is cut off."""
    if not path.is_file():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        logger.warning("dropping a partial last row of %s (a run was killed mid-write)", path)
        with path.open("r+b") as fh:
            fh.truncate(cut)
        raw = raw[:cut]
    text = raw.decode("utf-8")
    if not text.strip():
        return []
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or list(reader.fieldnames) != list(RESULT_COLUMNS):
        raise InvalidParameterError(
            f"{path} has columns {reader.fieldnames}, not those of this runner "
            f"({', '.join(RESULT_COLUMNS)}). Use another output folder or pass resume=False."
        )
    return list(reader)


def _append_row(path: Path, row: Mapping[str, Any]) -> None:
    new = not path.is_file() or path.stat().st_size == 0
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(RESULT_COLUMNS), lineterminator="\n")
    if new:
        writer.writeheader()
    writer.writerow({c: _fmt_cell(row.get(c)) for c in RESULT_COLUMNS})
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())


def _fmt_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class BenchmarkResult:
    """What :func:`run_benchmark` wrote.

    Attributes:
        csv_path: ``results.csv``, one row per (experiment, noise, method, seed).
        markdown_path: ``results.md``.
        markdown: the text of ``results.md``.
        n_run: rows computed by this call.
        n_skipped: rows found done in ``results.csv`` and not recomputed.
        seconds: wall time of this call.
        rows: the rows of the table (the current config's rows of ``results.csv``).
    """

    csv_path: Path
    markdown_path: Path
    markdown: str
    n_run: int
    n_skipped: int
    seconds: float
    rows: tuple[Mapping[str, str], ...] = field(repr=False, default=())


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("bench", total=total)

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=text)
        logger.info("running %s", text)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _row_hash(cfg: Mapping[str, Any], exp: Mapping[str, Any], noise: Any, method: str) -> str:
    """What a row's result depends on in the config (not the code: after changing the trainer,
    rerun with ``resume=False``). A finished row is reused only under the same hash."""
    uses_oof = (
        cfg["task"] == "detect"
        or method.partition("@")[0] in ("cleanlab", "forward_correction_est")
        or method.startswith("mislabel")
    )
    payload = {
        "task": cfg["task"],
        "dataset": exp["dataset"],
        "n_train": exp["n_train"],
        "n_test": exp["n_test"],
        **{
            key: exp[key]
            for key in ("subset_seed", "test_from_train")
            if exp.get(key)  # only when set: the rows of the tables keep their hashes
        },
        "test_fraction": exp["test_fraction"],
        "train": exp["train"],
        "oof": exp["oof"] if uses_oof else None,
        "noise": None if method == "oracle" else noise,
        "selection": cfg["selection"],
        "method": method,
        "loss_kwargs": cfg["loss_kwargs"].get(method),
    }
    if method == "mislabel_best":  # kept: the published rows keep their hashes
        payload["recipe"] = ["reweight", "gce"]
    return _hash(payload)


def run_benchmark(
    config: Mapping[str, Any] | PathLike,
    out_dir: PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
    command: str | None = None,
) -> BenchmarkResult:
    """Run every (experiment, noise, method, seed) row of ``config``; write CSV and markdown.

    Args:
        config: a config dict, or the path of a TOML file (see the module docstring and
            ``benchmarks/configs/*.toml``).
        out_dir: folder for ``results.csv``, ``results.md`` and a ``.cache/`` of out-of-fold
            probabilities (per fold, so a killed run resumes mid-way).
        resume: keep the rows already in ``results.csv`` and compute only the missing ones;
            False starts a fresh ``results.csv``.
        progress: show a progress bar (rich) over the rows to compute.
        command: the command line to print at the top of ``results.md``.

    Returns:
        :class:`BenchmarkResult`.

    Raises:
        InvalidParameterError: a bad config (the message names the key).
        MissingDependencyError: torch (training) or cleanlab (the ``cleanlab`` baseline) missing.
    """
    t_start = time.perf_counter()
    raw = load_config(config) if isinstance(config, (str, os.PathLike)) else config
    cfg = validate_config(raw)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    if not resume and csv_path.exists():
        csv_path.unlink()
    done_rows = read_rows(csv_path)
    done = {
        (r["experiment"], r["noise"], r["method"], r["seed"], r["config_hash"]): r
        for r in done_rows
    }

    plan = []
    for exp in cfg["experiments"]:
        for noise in exp["noise"]:
            label = noise_label(noise)
            for seed in cfg["seeds"]:
                for method in cfg["methods"]:
                    h = _row_hash(cfg, exp, noise, method)
                    plan.append((exp, noise, label, seed, method, h))
    todo = [p for p in plan if (p[0]["id"], p[2], p[4], str(p[3]), p[5]) not in done]
    trains = cfg["task"] == "train" or any(
        e["dataset"] != "cl-cifar10-oof" for e in cfg["experiments"]
    )
    if trains and todo:
        from mislabel._validation import optional_import

        optional_import("torch", "torch", "training the benchmark models")
    if any(m.startswith("cleanlab") for m in cfg["methods"]) and todo:
        try:
            import cleanlab  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                "cleanlab", "dev", "the 'cleanlab' comparison baseline of the benchmarks"
            ) from exc
    logger.info(
        "%d rows planned, %d already done, %d to run", len(plan), len(plan) - len(todo), len(todo)
    )

    data = Data()
    bar = _Progress(len(todo), progress)
    oracle_cache: dict[tuple[str, int, str], dict[str, Any]] = {}
    for r in done_rows:  # the oracle does not depend on the noise: reuse a finished one
        if r["method"] == "oracle":
            oracle_cache[(r["experiment"], int(r["seed"]), r["config_hash"])] = {
                k: r[k] for k in ("test_acc", "n_used", "epoch_kept", "seconds")
            }
    n_run = 0
    try:
        with _torch_threads(cfg["threads"]):
            current: tuple[Any, ...] | None = None
            ctx: Context | None = None
            for exp, noise, label, seed, method, h in todo:
                key = (exp["id"], label, seed)
                bar.describe(f"{exp['id']} · {label} · seed {seed} · {method}")
                if current != key or ctx is None:  # cheap: a noise draw and a feature copy
                    split = data.split(exp, noise, seed)
                    ctx = Context(exp, split, seed, out / ".cache", cfg["loss_kwargs"])
                    current = key
                t0 = time.perf_counter()
                if method == "oracle" and (exp["id"], seed, h) in oracle_cache:
                    result: dict[str, Any] = dict(oracle_cache[(exp["id"], seed, h)])
                    seconds = float(result.pop("seconds"))
                else:
                    if cfg["task"] == "detect":
                        result = run_detect_method(method, ctx)
                    else:
                        result = run_train_method(method, ctx)
                    seconds = time.perf_counter() - t0
                    if method == "oracle":
                        oracle_cache[(exp["id"], seed, h)] = {**result, "seconds": seconds}
                s = ctx.split
                row = {
                    "experiment": exp["id"],
                    "dataset": exp["dataset"],
                    "model": exp["train"]["model"] if s.X is not None else "",
                    "noise": label,
                    "noise_rate": float(np.mean(s.labels != s.true_labels)),
                    "method": method,
                    "seed": seed,
                    "n_train": int(s.labels.shape[0]),
                    "epochs": exp["train"]["epochs"] if cfg["task"] == "train" else "",
                    "seconds": seconds,
                    "config_hash": h,
                    "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    **result,
                }
                _append_row(csv_path, row)
                done[(exp["id"], label, method, str(seed), h)] = {
                    c: _fmt_cell(row.get(c)) for c in RESULT_COLUMNS
                }
                n_run += 1
                bar.advance()
    finally:
        bar.close()

    wanted = {(p[0]["id"], p[2], p[4], str(p[3]), p[5]) for p in plan}
    rows = tuple(r for k, r in done.items() if k in wanted)
    md = render_markdown(cfg, rows, command=command)
    # a temporary name of this process's own: parallel runs (``--jobs``) render into the same
    # folder, and a shared temporary file would be renamed away under another process
    tmp = md_path.with_name(f".{md_path.name}.{os.getpid()}.tmp")
    tmp.write_text(md, encoding="utf-8")
    os.replace(tmp, md_path)
    return BenchmarkResult(
        csv_path=csv_path,
        markdown_path=md_path,
        markdown=md,
        n_run=n_run,
        n_skipped=len(plan) - len(todo),
        seconds=time.perf_counter() - t_start,
        rows=rows,
    )


def resolve_config(config: str | None, *, smoke: bool = False) -> dict[str, Any]:
    """A built-in name (:data:`BUILTIN_CONFIGS`) or a TOML path, as a config dict (``None``:
    ``table2``); ``smoke``: shrunk by :func:`smoke_config`."""
    name = "table2" if config is None else str(config)
    if name in BUILTIN_CONFIGS and not Path(name).is_file():
        return builtin_config(name, smoke=smoke)
    cfg = load_config(Path(name))
    return smoke_config(cfg) if smoke else cfg


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.harness.run CONFIG --out DIR``: run a config, write the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness.run",
        description="Run a benchmark: dataset × noise × method × seed → results.csv, results.md.",
    )
    parser.add_argument(
        "config", nargs="?", help=f"a TOML file or a built-in name ({', '.join(BUILTIN_CONFIGS)})"
    )
    parser.add_argument("--out", "-o", default="bench-results", help="folder for the results")
    parser.add_argument("--smoke", action="store_true", help="one seed, one epoch, tiny subsets")
    parser.add_argument("--no-resume", action="store_true", help="start results.csv afresh")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = resolve_config(args.config, smoke=args.smoke)
    parts = ["python", "-m", "benchmarks.harness.run", args.config or "table2", "--out", args.out]
    parts += ["--smoke"] * args.smoke + ["--no-resume"] * args.no_resume
    result = run_benchmark(
        cfg,
        args.out,
        resume=not args.no_resume,
        progress=not args.no_progress,
        command=" ".join(shlex.quote(p) for p in parts),
    )
    print(
        f"{result.n_run} rows run, {result.n_skipped} already done, {result.seconds:.0f} s: "
        f"{result.csv_path} and {result.markdown_path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
