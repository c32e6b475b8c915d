"""``mislabel consensus``: one label per item from a long table of annotations.

Registered by :mod:`mislabel.cli` as ``app.command("consensus")(consensus_command)``. Reads a
CSV with one row per annotation (item, annotator, label), calls
:func:`mislabel.multiannotator.consensus` once, writes the consensus and the annotators'
quality, prints a summary. Library errors propagate; the CLI layer turns them into one red
line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from mislabel.exceptions import InvalidInputError

__all__ = ["consensus_command"]


def _read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    return pd.read_csv(path, sep=sep)


def consensus_command(
    table: Annotated[
        Path,
        typer.Argument(
            help="CSV / TSV / parquet with one row per annotation: item, annotator, label.",
            show_default=False,
        ),
    ],
    annotator_column: Annotated[
        str, typer.Option("--annotator-column", help="Column naming who gave the label.")
    ] = "annotator",
    item_column: Annotated[
        str, typer.Option("--item-column", help="Column naming the labelled item.")
    ] = "item",
    label_column: Annotated[
        str, typer.Option("--label-column", help="Column holding the given label.")
    ] = "label",
    probs: Annotated[
        Path | None,
        typer.Option(
            "--probs",
            help="Optional .npy of out-of-fold probabilities, one row per item in sorted item "
            "order, one column per class in sorted class-name order.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output folder (consensus.csv, annotators.csv)."),
    ] = Path("mislabel-consensus"),
    top: Annotated[int, typer.Option("--top", help="Items to show in the summary.")] = 10,
) -> None:
    """Consensus label of every item, its quality, and every annotator's quality."""
    import pandas as pd
    from rich.table import Table

    from mislabel.cli._common import out_console
    from mislabel.multiannotator import consensus

    frame = _read_table(table)
    missing = [c for c in (annotator_column, label_column) if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"`table` must have the columns {annotator_column!r} and {label_column!r}; "
            f"{missing[0]!r} not found in {table.name} (columns: "
            f"{', '.join(map(str, frame.columns))}). Use --annotator-column / --label-column."
        )
    given = frame[label_column]
    codes, classes = pd.factorize(given, sort=True)
    data = frame.assign(**{label_column: np.where(codes < 0, np.nan, codes)})
    pred_probs = None if probs is None else np.load(probs)
    if pred_probs is not None and pred_probs.ndim == 2 and pred_probs.shape[1] != len(classes):
        raise InvalidInputError(
            f"`--probs` must have one column per class ({len(classes)}: "
            f"{', '.join(map(str, classes[:5]))}{'...' if len(classes) > 5 else ''}); got "
            f"{pred_probs.shape[1]} columns."
        )
    result = consensus(
        data,
        pred_probs=pred_probs,
        item_column=item_column,
        annotator_column=annotator_column,
        label_column=label_column,
    )
    names = np.asarray(classes)
    items = result.to_frame().rename(columns={"item": item_column})
    items["consensus_label"] = names[result.labels]
    annotators = result.annotators_frame().rename(columns={"annotator": annotator_column})
    out.mkdir(parents=True, exist_ok=True)
    items.to_csv(out / "consensus.csv", index=False)
    annotators.to_csv(out / "annotators.csv", index=False)

    console = out_console()
    weight = "" if result.model_weight is None else f", model weight {result.model_weight:.2f}"
    console.print(
        f"{len(items)} items, {len(annotators)} annotators, {len(classes)} classes{weight}; "
        f"mean agreement with the consensus {np.nanmean(result.agreement):.1%}."
    )
    view = Table(title=f"Items that most need another look (top {top})")
    for col in (item_column, "consensus", "quality", "agreement", "labels"):
        view.add_column(col)
    for i in result.ranked[:top]:
        view.add_row(
            str(result.items[i]),
            str(names[result.labels[i]]),
            f"{result.quality[i]:.3f}",
            f"{result.agreement[i]:.0%}",
            str(int(result.n_annotations[i])),
        )
    console.print(view)
    console.print(f"Wrote {out / 'consensus.csv'} and {out / 'annotators.csv'}.")
