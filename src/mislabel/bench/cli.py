"""``mislabel bench``: run a benchmark config and write ``results.csv`` + ``results.md``.

Meant to be registered by :mod:`mislabel.cli` as ``app.command("bench")(bench_command)``; it
only parses, calls :func:`mislabel.bench.run_benchmark` and prints where the tables went.
Library errors propagate (the CLI layer turns them into one red line and an exit code).

Examples::

    mislabel bench table2 --out benchmarks/results/table2           # a built-in config
    mislabel bench table2 --smoke --out /tmp/smoke                   # its seconds-long variant
    mislabel bench my_config.toml --out runs/mine --no-resume        # your own TOML config
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["bench_command", "resolve_config"]


def resolve_config(config: Path | str | None, *, smoke: bool = False) -> dict[str, Any]:
    """A built-in name (``table1``, ``table2``, ``table3``) or a TOML path, as a config dict.

    ``None`` means ``table2``. With ``smoke=True`` the config is shrunk by
    :func:`mislabel.bench.smoke_config`.
    """
    from mislabel.bench.runner import BUILTIN_CONFIGS, builtin_config, load_config, smoke_config

    name = "table2" if config is None else str(config)
    if name in BUILTIN_CONFIGS and not Path(name).is_file():
        return builtin_config(name, smoke=smoke)
    cfg = load_config(Path(name))
    return smoke_config(cfg) if smoke else cfg


def bench_command(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="A TOML config file, or a built-in name: table1 (detection), table2 (training "
            "on noisy labels), table3 (robust losses). Default: table2.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for results.csv, results.md and the cache."),
    ] = Path("bench-results"),
    smoke: Annotated[
        bool,
        typer.Option("--smoke", help="Seconds-long variant: one seed, one epoch, tiny subsets."),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--no-resume",
            help="Skip the rows already in results.csv (default) or start it afresh.",
        ),
    ] = True,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Run a benchmark: dataset × noise × method × seed → results.csv and results.md."""
    from mislabel.bench.runner import run_benchmark

    cfg = resolve_config(config, smoke=smoke)
    parts = ["mislabel", "bench", "table2" if config is None else str(config), "--out", str(out)]
    parts += ["--smoke"] * smoke + ["--no-resume"] * (not resume)
    command = " ".join(shlex.quote(p) for p in parts)
    result = run_benchmark(cfg, out, resume=resume, progress=progress, command=command)
    typer.echo(
        f"{result.n_run} rows run, {result.n_skipped} already done, {result.seconds:.0f} s: "
        f"{result.csv_path} and {result.markdown_path}"
    )
