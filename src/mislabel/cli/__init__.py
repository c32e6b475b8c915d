"""The ``mislabel`` command line: a thin shell over the library.

Each command parses its options, calls one library function, writes its files (atomically)
and exits. Errors from the library (:class:`~mislabel.exceptions.MislabelError`) and from the
file system become one red line on stderr and exit code 2; ``mislabel --debug ...`` shows the
traceback too.

=====================  ============================================================
``mislabel find``      :func:`mislabel.data.find_issues_in` → ``issues.csv`` & co.
``mislabel clean``     :func:`mislabel.fix.apply_policy` → cleaned labels + change log
``mislabel train``     :func:`mislabel.train.train_on_data` → ``model.pt`` & co.
``mislabel predict``   :func:`mislabel.train.load_model` → ``predictions.csv``
``mislabel report``    :func:`mislabel.report.write_report` → one self-contained HTML
``mislabel review``    the review web page (when :mod:`mislabel.review` is there)
``mislabel demo``      :func:`mislabel.demo.main`
=====================  ============================================================
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mislabel import __version__
from mislabel.cli._common import (
    EXIT_ERROR,
    OneLineErrorsGroup,
    fail,
    handle_errors,
    out_console,
    progress_callback,
    set_debug,
)
from mislabel.data._embed import DEFAULT_DETECT_LAYERS, DEFAULT_IMAGE_LAYERS
from mislabel.exceptions import InvalidParameterError, MislabelError

__all__ = ["app", "main"]

app = typer.Typer(
    name="mislabel",
    help=(
        "Find, fix and train through wrong labels.\n\n"
        "Typical run: `mislabel find DATA -o out` (writes out/issues.csv), then "
        "`mislabel report out`, `mislabel clean out --policy relabel`, "
        "`mislabel train DATA --labels out/labels_clean.csv --loss gce -o model`, "
        "`mislabel predict model NEW`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    cls=OneLineErrorsGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mislabel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    set_debug(debug)


# --------------------------------------------------------------------------- options shared

LabelColumn = Annotated[
    str, typer.Option("--label-column", help="Table column holding the given labels.")
]
TextColumn = Annotated[
    str | None,
    typer.Option(
        "--text-column", help="Table column holding texts (default: detected).", show_default=False
    ),
]
PathColumn = Annotated[
    str | None,
    typer.Option(
        "--path-column",
        help="Table column holding image paths, relative to the table (default: detected).",
        show_default=False,
    ),
]
ImageSize = Annotated[
    str | None,
    typer.Option(
        "--image-size",
        help="Resize every image to this size, e.g. 32 or 48x32 (width x height). Without it "
        "all images must have the same size.",
        show_default=False,
    ),
]
Kind = Annotated[str, typer.Option("--kind", help="Data kind: auto, images, tabular or text.")]
BackboneWeights = Annotated[
    Path | None,
    typer.Option(
        "--backbone-weights",
        help="A local weights file for --model timm:NAME (one model; no download).",
        show_default=False,
    ),
]
BackboneLayers = Annotated[
    str,
    typer.Option(
        "--backbone-layers",
        help="What of the timm backbone the network trains on: stages (its last three "
        "stages, each averaged over the image), pooled (its pooled output) or stages+pooled "
        "(both side by side).",
    ),
]
DetectLayers = Annotated[
    str,
    typer.Option(
        "--detect-layers",
        help="What of the timm backbone the detection judges: stages+pooled (its last three "
        "stages, each averaged over the image, beside its pooled output; one forward pass "
        "gives both), stages or pooled.",
    ),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache of folds and embeddings, shared by `mislabel find` and `mislabel train` "
        "into the same OUT; a rerun recomputes only what is missing "
        "(default: OUT/.mislabel-cache).",
        show_default=False,
    ),
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Cache nothing.")]
Device = Annotated[str, typer.Option("--device", help="auto (a GPU when present), cpu, cuda, ...")]


def _load(
    data: Path,
    *,
    label_column: str,
    text_column: str | None,
    path_column: str | None,
    image_size: str | None,
    kind: str,
    progress: Any = None,
    annotator_column: str | None = None,
    item_column: str | None = None,
    require_labels: bool = True,
) -> Any:
    from mislabel.data import load_dataset

    return load_dataset(
        data,
        label_column=label_column,
        text_column=text_column,
        path_column=path_column,
        image_size=image_size,
        kind=kind,
        progress=progress,
        annotator_column=annotator_column,
        item_column=item_column,
        require_labels=require_labels,
    )


def _pct(x: float) -> str:
    return f"{x:.1%}"


# --------------------------------------------------------------------------- find


@app.command()
@handle_errors
def find(
    data: Annotated[
        Path | None,
        typer.Argument(
            help="A folder with one subfolder of images per class, or a CSV / Parquet table "
            "(image paths, texts or feature columns) with a label column; with "
            "--annotator-column, one row per (item, annotator, label).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for issues.csv and the files beside it.")
    ] = Path("."),
    noise_rate: Annotated[
        float | None,
        typer.Option(
            "--noise-rate",
            help="The known share of wrong labels, e.g. 0.1 (default: estimated).",
            show_default=False,
        ),
    ] = None,
    cv: Annotated[
        int, typer.Option("--cv", help="Number of cross-validation folds (k-fold models).")
    ] = 5,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="auto (colour images: timm:efficientnet_lite0+timm:efficientnet_lite2, two "
            "pretrained backbones side by side, when their weights are installed; other "
            "images: cnn from 1,000 images on, else linear; tables and texts: their default "
            "k-fold model), cnn (one mixup training run of a small CNN + nearest-neighbour "
            "label vote), linear (images: k folds of pixels → PCA → logistic regression; fast, "
            "weak), timm:NAME (images: a pretrained timm backbone's embeddings, e.g. "
            "timm:efficientnet_lite0, a third of the default pair's time on a CPU; several "
            "joined by '+').",
        ),
    ] = "auto",
    backbone_weights: BackboneWeights = None,
    detect_layers: DetectLayers = DEFAULT_DETECT_LAYERS,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs",
            help="Epochs of the cnn run (default: about 100,000 image passes, 8-24 epochs, "
            "and at least 200 steps).",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="Detection method (see find_label_issues).")
    ] = "noise_posterior",
    seed: Annotated[int, typer.Option("--seed", help="Seeds the folds and the models.")] = 0,
    label_column: LabelColumn = "label",
    text_column: TextColumn = None,
    path_column: PathColumn = None,
    image_size: ImageSize = None,
    kind: Kind = "auto",
    annotator_column: Annotated[
        str | None,
        typer.Option(
            "--annotator-column",
            help="DATA is a long annotation table, one row per (item, annotator, label) with "
            "the item's features on each row: this column names the annotator. Issues are "
            "found on the consensus of the votes; issues.csv shows every vote and "
            "annotators.csv each annotator's quality.",
            show_default=False,
        ),
    ] = None,
    item_column: Annotated[
        str | None,
        typer.Option(
            "--item-column",
            help="With --annotator-column: the column naming each item (default: 'item', "
            "else the image-path or text column).",
            show_default=False,
        ),
    ] = None,
    text_embedding: Annotated[
        str,
        typer.Option(
            "--text-embedding",
            help="Text features: auto (sentence-transformers if installed, else TF-IDF), "
            "tfidf or sentence-transformers.",
        ),
    ] = "auto",
    pred_probs: Annotated[
        Path | None,
        typer.Option(
            "--pred-probs",
            help="Out-of-fold probabilities (.npy, n x classes) you already have; skips training.",
            show_default=False,
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Given labels (.npy) to go with --pred-probs when there is no DATA.",
            show_default=False,
        ),
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option(
            "--classes",
            help="Class names, one a line, in the column order of --pred-probs.",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    top: Annotated[int, typer.Option("--top", help="Suspects to print.")] = 10,
) -> None:
    """Find the likely wrong labels and write **issues.csv**: every sample, most suspect
    first."""
    from mislabel.data import find_issues_in, load_predictions

    with progress_callback() as progress:
        if data is not None:
            dataset = _load(
                data,
                label_column=label_column,
                text_column=text_column,
                path_column=path_column,
                image_size=image_size,
                kind=kind,
                progress=progress,
                annotator_column=annotator_column,
                item_column=item_column,
            )
            if pred_probs is not None:
                dataset = dataset.with_pred_probs(pred_probs)
        elif pred_probs is not None and labels is not None:
            dataset = load_predictions(pred_probs, labels, classes=classes)
        else:
            raise InvalidParameterError(
                "give DATA (an image folder or a table), or --pred-probs P.npy with --labels L.npy."
            )
        result = find_issues_in(
            dataset,
            cv=cv,
            noise_rate=noise_rate,
            method=method,
            random_state=seed,
            cache_dir=None if no_cache else (cache_dir or out / ".mislabel-cache"),
            text_embedding=text_embedding,  # type: ignore[arg-type]
            progress=progress,
            model=model,
            epochs=epochs,
            backbone_weights=backbone_weights,
            detect_layers=detect_layers,
        )
    files = result.save(out)
    _print_find_summary(result, files, out, top)


def _print_find_summary(result: Any, files: dict[str, Path], out: Path, top: int) -> None:
    from rich.table import Table

    console = out_console()
    d = result.data
    s = result.summary()
    what = {"images": "images", "text": "texts", "tabular": "rows"}.get(d.kind, "samples")
    console.print(
        f"[bold]{result.issues.n_issues}[/] likely label issues in {d.n_samples} {what} "
        f"({d.n_classes} classes): {_pct(result.issues.n_issues / d.n_samples)}."
    )
    if result.detection == "k-fold":
        cached = f", {result.folds_cached} from cache" if result.folds_cached else ""
        console.print(
            f"  model: {result.model} on {result.features}; {result.cv} folds{cached}; "
            f"{result.seconds:.1f} s"
        )
    elif result.detection == "one-run":
        cached = " (from cache)" if result.folds_cached else ""
        console.print(
            f"  model: {result.model} on {result.features}{cached}; {result.seconds:.1f} s"
        )
    agreement = "out-of-fold" if result.detection == "k-fold" else "in-sample"
    console.print(
        f"  {agreement} accuracy {_pct(s['oof_accuracy'])}; estimated noise rate "
        f"{_pct(s['estimated_noise_rate'])}"
        + (f" (given {_pct(result.noise_rate)})" if result.noise_rate is not None else "")
    )
    if d.annotations is not None:
        console.print(
            f"  labels: consensus of {s['n_annotations']} votes by {s['n_annotators']} "
            f"annotators; mean agreement with the consensus {_pct(s['mean_agreement'])}"
        )
    frame = result.to_frame()
    shown = frame[frame["is_issue"] == "true"].head(top)
    if len(shown):
        table = Table(title=f"Top {len(shown)} suspects", title_justify="left")
        first = "path" if d.paths is not None else ("text" if d.kind == "text" else None)
        cols = ["id", *([first] if first else []), "given", "suggested", "p(sugg.)", "score"]
        for col in cols:
            table.add_column(col, justify="right" if col in ("id", "p(sugg.)", "score") else "left")
        for _, r in shown.iterrows():
            cells = [str(r["id"])]
            if first:
                text = str(r[first])
                cells.append(text if len(text) <= 48 else text[:47] + "…")
            cells += [
                str(r["given_label"]),
                str(r["suggested_label"]),
                f"{r['suggested_prob']:.2f}",
                f"{r['score']:.3f}",
            ]
            table.add_row(*cells)
        console.print(table)
    names = ", ".join(files)
    console.print(f"Wrote {names} to {out}/")
    console.print(
        f"Next: mislabel report {out}  ·  mislabel clean {out} --policy relabel",
        style="dim",
    )


# --------------------------------------------------------------------------- clean


@app.command()
@handle_errors
def clean(
    issues: Annotated[
        Path,
        typer.Argument(
            help="The issues.csv of `mislabel find`, or its folder.", show_default=False
        ),
    ],
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="remove: drop flagged samples; relabel: give them the suggested label; "
            "reweight: keep every sample, with a `weight` column (the estimated probability "
            "that its label is right, prob_right) that `mislabel train` uses; keep: change "
            "nothing.",
        ),
    ] = "remove",
    min_confidence: Annotated[
        float,
        typer.Option(
            "--min-confidence",
            help="Act only on flagged samples whose suggested label has at least this "
            "probability (0-1).",
        ),
    ] = 0.0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for labels_clean.csv and changes.csv (default: beside issues.csv).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Apply a policy to the issues: **labels_clean.csv** (id, path, label[, weight]) +
    **changes.csv**."""
    from mislabel.data import read_issues
    from mislabel.fix import apply_policy

    frame = read_issues(issues)
    cleaned = apply_policy(frame, policy, min_confidence=min_confidence)  # type: ignore[arg-type]
    folder = out if out is not None else (issues if issues.is_dir() else issues.parent)
    labels_path, log_path = cleaned.save(folder / "labels_clean.csv", folder / "changes.csv")
    n = cleaned.ids.shape[0]
    if cleaned.weight is not None:
        done = (
            f"policy {policy}: kept all {n}, weights from {cleaned.weight.min():.3g} to "
            f"{cleaned.weight.max():.3g} (mean {cleaned.weight.mean():.3g})."
        )
    else:
        done = (
            f"policy {policy} (min confidence {min_confidence:g}): removed {cleaned.n_removed}, "
            f"relabelled {cleaned.n_relabelled}, kept {n - cleaned.n_removed} of {n}."
        )
    out_console().print(f"{done}\nWrote {labels_path} and {log_path}.")


# --------------------------------------------------------------------------- train


def _parse_loss_args(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise InvalidParameterError(
                f"--loss-arg must look like NAME=VALUE, e.g. q=0.7; got {item!r}."
            )
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


@app.command()
@handle_errors
def train(
    data: Annotated[
        Path,
        typer.Argument(help="Training data, as for `mislabel find`.", show_default=False),
    ],
    recipe: Annotated[
        str,
        typer.Option(
            "--recipe",
            help="robust: find the wrong labels, weight them down, train through the rest "
            "(ELR when the network can memorise); plain: one --loss, as given.",
        ),
    ] = "robust",
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            help="Loss of --recipe plain: ce (default), gce, sce, elr, forward_correction, ... "
            "(mislabel.losses.available()).",
            show_default=False,
        ),
    ] = None,
    loss_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--loss-arg",
            help="Loss parameter NAME=VALUE, repeatable (e.g. --loss-arg q=0.7).",
            show_default=False,
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Cleaned labels (labels_clean.csv of `mislabel clean`, or a review export); "
            "absent ids are left out; a `weight` column (--policy reweight) weights the "
            "samples (--recipe plain).",
            show_default=False,
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="Output folder of `mislabel find`: weight each sample by the estimated "
            "probability that its label is right (its prob_right; --recipe plain, any loss).",
            show_default=False,
        ),
    ] = None,
    noise_rate: Annotated[
        float | None,
        typer.Option(
            "--noise-rate",
            help="Known share of wrong labels: the robust recipe's count of suspects; the "
            "noise matrix of correction losses.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 20,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Mini-batch size.")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Seeds every random step.")] = 0,
    device: Device = "auto",
    test: Annotated[
        Path | None,
        typer.Option(
            "--test", help="Labelled test data (same kind) for test accuracy.", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the model: model.pt, preprocess.pkl and metrics.json "
            "(`mislabel predict OUT DATA` reads it).",
        ),
    ] = Path("."),
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="auto (colour images: an MLP on the embeddings of "
            "timm:efficientnet_lite0+timm:efficientnet_lite2 when their weights are "
            "installed, as `mislabel find` does; other images: the small CNN), cnn (images: "
            "the small CNN on the pixels), timm:NAME (images: an MLP on that pretrained timm "
            "backbone's embeddings; several joined by '+').",
        ),
    ] = "auto",
    backbone_weights: BackboneWeights = None,
    backbone_layers: BackboneLayers = DEFAULT_IMAGE_LAYERS,
    detect_layers: DetectLayers = DEFAULT_DETECT_LAYERS,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    label_column: LabelColumn = "label",
    text_column: TextColumn = None,
    path_column: PathColumn = None,
    image_size: ImageSize = None,
    kind: Kind = "auto",
) -> None:
    """Train the default network through the wrong labels (an MLP on pretrained embeddings
    for colour photos, the small CNN for other images, an MLP for tables and texts):
    **model.pt** (state_dict), **preprocess.pkl** (what new data goes through first) and
    **metrics.json** (which names the backbone, if any), for `mislabel predict`."""
    from mislabel.train import train_on_data

    load_kw: dict[str, Any] = {
        "label_column": label_column,
        "text_column": text_column,
        "path_column": path_column,
        "image_size": image_size,
        "kind": kind,
    }
    with progress_callback() as progress:
        dataset = _load(data, progress=progress, **load_kw)
        test_data = None if test is None else _load(test, **load_kw)
        y, keep, sample_weight = None, None, None
        if labels is not None:
            from mislabel.fix import load_cleaned

            cleaned = load_cleaned(labels, classes=dataset.classes, n_samples=dataset.n_samples)
            y, keep, sample_weight = cleaned.labels, cleaned.keep, cleaned.weight
        if weights is not None:
            if sample_weight is not None:
                raise InvalidParameterError(
                    f"--labels {labels} already carries a weight column; drop --weights."
                )
            from mislabel.data import load_find_outputs

            sample_weight = load_find_outputs(weights).weights_by_id()
        if recipe == "robust" and (loss is not None or loss_arg):
            raise InvalidParameterError(
                "--loss and --loss-arg choose the loss of --recipe plain; the robust recipe "
                "picks its own (ELR or CE). Add --recipe plain."
            )
        if sample_weight is not None and recipe == "robust":
            raise InvalidParameterError(
                "the robust recipe makes its own per-sample weights; to train with the given "
                "weights use --recipe plain --loss NAME."
            )
        result = train_on_data(
            dataset,
            recipe=recipe,  # type: ignore[arg-type]
            labels=y,
            keep=keep,
            sample_weight=sample_weight,
            loss=loss or "ce",
            loss_kwargs=_parse_loss_args(loss_arg),
            noise_rate=noise_rate,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            random_state=seed,
            device=device,
            test=test_data,
            progress=progress,
            model=model,
            backbone_weights=backbone_weights,
            backbone_layers=backbone_layers,
            detect_layers=detect_layers,
            cache_dir=None if no_cache else (cache_dir or out / ".mislabel-cache"),
        )
    files = result.save(out)
    m = result.metrics
    console = out_console()
    acted = "removed" if m.get("policy") == "remove" else "weighted down"
    what = (
        f"robust recipe ({m['n_flagged']} suspects {acted}, final loss {m['loss']})"
        if recipe == "robust"
        else f"loss {m['loss']}" + (", weighted" if m["weighted"] else "")
    )
    on = f" on {m['backbone']} embeddings" if m.get("backbone") else ""
    # the robust recipe's removals come on top of the rows --labels left out
    n_fit = m["n_train"] - (m["n_flagged"] if m.get("policy") == "remove" else 0)
    console.print(
        f"trained on {n_fit} of {m['n_samples']} samples{on}, {what}, {m['epochs']} "
        f"epochs, {m['seconds']:.1f} s"
    )
    line = (
        f"  train accuracy {_pct(m['train_accuracy'])} (on the given labels "
        f"{_pct(m['train_accuracy_given'])})"
    )
    if "test_accuracy" in m:
        line += f"; test accuracy {_pct(m['test_accuracy'])}"
    console.print(line)
    console.print(f"Wrote {', '.join(files)} to {out}/")


# --------------------------------------------------------------------------- predict


@app.command()
@handle_errors
def predict(
    model_dir: Annotated[
        Path,
        typer.Argument(help="The folder `mislabel train -o` wrote.", show_default=False),
    ],
    data: Annotated[
        Path,
        typer.Argument(
            help="Data of the kind the model was trained on: laid out as for `mislabel "
            "find`, or without labels (a folder of images, a table without the label column). "
            "Labels that are class names of the model give the accuracy.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The CSV to write (default: predictions.csv in MODEL_DIR).",
            show_default=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Cache of the new images' embeddings (default: MODEL_DIR/.mislabel-cache).",
            show_default=False,
        ),
    ] = None,
    no_cache: NoCache = False,
    device: Device = "auto",
    label_column: LabelColumn = "label",
    text_column: TextColumn = None,
    path_column: PathColumn = None,
    image_size: ImageSize = None,
    kind: Kind = "auto",
) -> None:
    """**Predict** new data with a model of `mislabel train`: predictions.csv (every sample,
    its predicted class, that class's probability and every class's probability)."""
    from mislabel.train import load_model
    from mislabel.train._dataset import predictions_frame

    result = load_model(
        model_dir,
        cache_dir=None if no_cache else (cache_dir or model_dir / ".mislabel-cache"),
        device=device,
    )
    with progress_callback() as progress:
        dataset = _load(
            data,
            progress=progress,
            label_column=label_column,
            text_column=text_column,
            path_column=path_column,
            image_size=image_size,
            kind=kind,
            require_labels=False,
        )
        frame, accuracy = predictions_frame(result, dataset)
    from mislabel._atomic import write_csv_atomic

    path = write_csv_atomic(out or model_dir / "predictions.csv", frame)
    console = out_console()
    on = f" on {result.backbone.model} embeddings" if result.backbone is not None else ""
    console.print(f"predicted {len(frame)} samples with the model in {model_dir}{on}")
    if accuracy is not None:
        console.print(f"  accuracy on their labels {_pct(accuracy)}")
    console.print(f"Wrote {path}")


# --------------------------------------------------------------------------- report


@app.command()
@handle_errors
def report(
    find_dir: Annotated[
        Path,
        typer.Argument(
            help="The output folder of `mislabel find` (or its issues.csv).", show_default=False
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The HTML file (default: report.html beside issues.csv).",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Suspects to show.")] = 30,
    title: Annotated[
        str | None, typer.Option("--title", help="Page title.", show_default=False)
    ] = None,
) -> None:
    """Write one self-contained **HTML report**: noise matrix, score histograms, per-class
    issue counts, top suspects with thumbnails or text."""
    from mislabel.report import write_report

    path = write_report(find_dir, out, top=top, title=title)
    out_console().print(f"Wrote {path} ({path.stat().st_size / 1024:.0f} KiB).")


# --------------------------------------------------------------------------- demo


@app.command()
@handle_errors
def demo(
    noise_rate: Annotated[
        float, typer.Option("--noise-rate", help="Share of digits labels to flip.")
    ] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Find deliberately flipped labels in scikit-learn's digits (offline, about a minute)."""
    from mislabel.demo import main as demo_main

    code = demo_main(["--noise-rate", str(noise_rate), "--seed", str(seed)])
    raise typer.Exit(code or 0)


# --------------------------------------------------------------------------- review


def _register(name: str, module: str, attr: str) -> None:
    """Register a command that lives in another module, when that module is there (its own
    import errors are not swallowed)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return
    app.command(name)(handle_errors(getattr(mod, attr)))


_register("review", "mislabel.cli.review_cmd", "review_command")
_register("consensus", "mislabel.cli.consensus_cmd", "consensus_command")


# --------------------------------------------------------------------------- entry point


def _hoist_debug(args: list[str]) -> list[str]:
    """Let ``--debug`` stand anywhere (before a ``--``): move it in front of the command."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:end]:
        rest = [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
        return ["--debug", *rest]
    return args


def main(argv: list[str] | None = None) -> None:
    """The console-script entry point (``mislabel``)."""
    args = _hoist_debug(list(sys.argv[1:] if argv is None else argv))
    if "--debug" in args:
        set_debug(True)
    try:
        app(args=args, prog_name="mislabel")
    except (MislabelError, OSError) as exc:  # raised outside a command (should not happen)
        code = fail(exc).exit_code
        raise SystemExit(code if code is not None else EXIT_ERROR) from None
