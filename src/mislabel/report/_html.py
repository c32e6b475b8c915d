"""One self-contained HTML file about a find run: figures and top suspects, nothing external.

Every figure is a matplotlib PNG and every thumbnail a Pillow PNG, embedded as base64 ``data:``
URIs; the style sheet is inline. The file opens offline and can be mailed as it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mislabel._validation import check_scalar, optional_import
from mislabel.data._atomic import write_text_atomic
from mislabel.data._find import FindOutputs, load_find_outputs
from mislabel.detect import estimate_noise

__all__ = ["render_report", "write_report"]

PathLike = str | os.PathLike[str]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.3rem}
.sub{color:#666;margin-top:0}.facts{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.fact{background:#f4f6f8;border-radius:6px;padding:.6rem .9rem;min-width:8rem}
.fact b{display:block;font-size:1.3rem}.figs{display:flex;flex-wrap:wrap;gap:1rem}
.figs figure{margin:0;flex:1 1 320px}h3{font-size:1rem;margin:.5rem 0}
.figs img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #e5e5e5;padding:.35rem .5rem;text-align:left;vertical-align:middle}
th{background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.thumb img{image-rendering:pixelated;border:1px solid #ccc}
.flag{color:#b00020;font-weight:600}.text{max-width:32rem;white-space:pre-wrap}.given{color:#b00020}.sugg{color:#0a7d28}
code{font-size:.8rem;color:#555}
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Any:
    figure = optional_import("matplotlib.figure", "report", "the HTML report")
    return figure.Figure(figsize=(width, height), layout="constrained")


def _short(names: tuple[str, ...], limit: int = 14) -> list[str]:
    return [n if len(n) <= limit else n[: limit - 1] + "…" for n in names]


def noise_matrix_figure(noise_matrix: np.ndarray, classes: tuple[str, ...]) -> str:
    """Heatmap of P(given | true), rows = true class; a base64 PNG data URI."""
    k = len(classes)
    side = float(min(9.0, 2.5 + 0.45 * k))
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    im = ax.imshow(noise_matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    names = _short(classes)
    ax.set_xticks(range(k), names, rotation=60 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("given label")
    ax.set_ylabel("true class")
    ax.set_title("Estimated noise matrix P(given | true)")
    if k <= 15:
        for i in range(k):
            for j in range(k):
                v = noise_matrix[i, j]
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _png(fig)


def score_histogram_figure(scores: np.ndarray, flagged: np.ndarray) -> str:
    """Histograms of label quality scores, flagged vs not flagged; a base64 PNG data URI."""
    fig = _figure(6.0, 3.6)
    ax = fig.add_subplot()
    finite = scores[np.isfinite(scores)]
    lo = float(min(0.0, finite.min())) if finite.size else 0.0
    hi = float(max(1.0, finite.max())) if finite.size else 1.0
    bins = np.linspace(lo, hi, 31)
    ax.hist(
        scores[~flagged & np.isfinite(scores)],
        bins=bins,
        color="#4c78a8",
        alpha=0.8,
        label=f"not flagged ({int((~flagged).sum())})",
    )
    ax.hist(
        scores[flagged & np.isfinite(scores)],
        bins=bins,
        color="#e45756",
        alpha=0.8,
        label=f"flagged ({int(flagged.sum())})",
    )
    ax.set_xlabel("label quality score (low = suspect)")
    ax.set_ylabel("samples")
    ax.set_yscale("log" if flagged.size > 200 else "linear")
    ax.legend()
    ax.set_title("Scores: flagged vs not")
    return _png(fig)


def class_counts_figure(
    classes: tuple[str, ...], flagged_per_class: np.ndarray, per_class: np.ndarray
) -> str:
    """Bar chart of flagged samples per given label; a base64 PNG data URI."""
    k = len(classes)
    fig = _figure(float(min(12.0, 3.0 + 0.5 * k)), 3.6)
    ax = fig.add_subplot()
    x = np.arange(k)
    bars = ax.bar(x, flagged_per_class, color="#e45756")
    for b, f, n in zip(bars, flagged_per_class, per_class, strict=True):
        if n:
            ax.annotate(
                f"{f / n:.0%}",
                (b.get_x() + b.get_width() / 2, b.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_xticks(
        x, _short(classes), rotation=60 if k > 4 else 0, ha="right" if k > 4 else "center"
    )
    ax.set_ylabel("flagged samples")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Issues per given label (share of the class)")
    return _png(fig)


def _thumbnail(path: Path, size: int) -> str | None:
    image_mod = optional_import("PIL.Image", "report", "image thumbnails")
    try:
        with image_mod.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = size / max(w, h)
            target = (max(1, round(w * scale)), max(1, round(h * scale)))
            resample = image_mod.Resampling.NEAREST if scale > 1 else image_mod.Resampling.LANCZOS
            im = im.resize(target, resample)
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except Exception:
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _suspect_rows(out: FindOutputs, top: int, thumb_size: int) -> tuple[str, str]:
    rows = out.issues.head(top)
    root = out.image_root
    has_images = bool(rows["path"].astype(str).str.len().gt(0).any())
    has_text = "text" in rows.columns
    has_features = "features" in rows.columns
    head = "<th>#</th><th>id</th><th>flagged</th>"
    if has_images:
        head += "<th>image</th>"
    if has_text:
        head += "<th>text</th>"
    if has_features:
        head += "<th>features</th>"
    head += "<th>given</th><th>suggested</th><th>p(suggested)</th><th>score</th><th>top-3</th>"
    body = []
    for rank, (_, r) in enumerate(rows.iterrows(), start=1):
        cells = [
            f"<td class='num'>{rank}</td>",
            f"<td class='num'>{int(r['id'])}</td>",
            "<td class='flag'>yes</td>" if bool(r["is_issue"]) else "<td>no</td>",
        ]
        if has_images:
            p = str(r["path"])
            uri = None
            if p and root is not None:
                full = Path(p) if os.path.isabs(p) else root / p
                uri = _thumbnail(full, thumb_size)
            img = (
                f"<img src='{uri}' width='{thumb_size}' alt='{html.escape(p)}'>"
                if uri
                else "<em>image not found</em>"
            )
            cells.append(f"<td class='thumb'>{img}<br><code>{html.escape(p)}</code></td>")
        if has_text:
            cells.append(f"<td class='text'>{html.escape(str(r['text']))}</td>")
        if has_features:
            cells.append(f"<td><code>{html.escape(_features_text(r['features']))}</code></td>")
        top3 = ", ".join(
            f"{html.escape(str(r[f'top{i}_label']))} {float(r[f'top{i}_prob']):.2f}"
            for i in (1, 2, 3)
            if str(r[f"top{i}_label"]) and np.isfinite(float(r[f"top{i}_prob"]))
        )
        changed = bool(r["is_issue"]) and r["given_label"] != r["suggested_label"]
        given_cls, sugg_cls = (" class='given'", " class='sugg'") if changed else ("", "")
        cells += [
            f"<td{given_cls}>{html.escape(str(r['given_label']))}</td>",
            f"<td{sugg_cls}>{html.escape(str(r['suggested_label']))}</td>",
            f"<td class='num'>{float(r['suggested_prob']):.3f}</td>",
            f"<td class='num'>{float(r['score']):.3f}</td>",
            f"<td>{top3}</td>",
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return head, "\n".join(body)


def _features_text(value: Any, limit: int = 160) -> str:
    text = str(value)
    try:
        obj = json.loads(text)
        text = ", ".join(f"{k}={_fmt(v)}" for k, v in obj.items())
    except (ValueError, AttributeError):
        pass
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_report(
    outputs: FindOutputs, *, top: int = 30, thumb_size: int = 72, title: str | None = None
) -> str:
    """The HTML report of a find run as a string (see :func:`write_report`)."""
    check_scalar(top, "top", kind=int, min_val=1)
    out = outputs
    frame = out.issues
    k = len(out.classes)
    noise = estimate_noise(out.labels, out.pred_probs)
    flagged_mask = np.zeros(out.labels.shape[0], dtype=bool)
    flagged_mask[frame["id"].to_numpy()[frame["is_issue"].to_numpy()]] = True
    per_class = np.bincount(out.labels, minlength=k)
    flagged_per_class = np.bincount(out.labels[flagged_mask], minlength=k)
    scores = frame["score"].to_numpy(dtype=np.float64)
    is_issue = frame["is_issue"].to_numpy(dtype=bool)
    figs = [
        (
            "Estimated noise matrix",
            noise_matrix_figure(noise.noise_matrix, out.classes),
            "P(given label | true class): rows = true class, columns = given label. "
            "Off-diagonal mass is label noise.",
        ),
        (
            "Score histograms",
            score_histogram_figure(scores, is_issue),
            "Label quality score of every sample (low = suspect); flagged ones in red.",
        ),
        (
            "Issues per class",
            class_counts_figure(out.classes, flagged_per_class, per_class),
            "Flagged samples per given label, with their share of the class.",
        ),
    ]
    meta = out.meta
    n = out.labels.shape[0]
    n_flagged = int(flagged_mask.sum())
    oof_acc = float(np.mean(out.pred_probs.argmax(axis=1) == out.labels))
    facts = [
        ("samples", f"{n:,}"),
        ("classes", str(k)),
        ("flagged", f"{n_flagged:,} ({n_flagged / max(n, 1):.1%})"),
        ("estimated noise rate", f"{noise.noise_rate:.1%}"),
        (
            "in-sample accuracy" if meta.get("detection") == "one-run" else "out-of-fold accuracy",
            f"{oof_acc:.1%}",
        ),
    ]
    if meta.get("seconds") is not None:
        facts.append(("seconds to find", f"{float(meta['seconds']):,.0f}"))
    source = meta.get("source") or str(out.folder)
    details = ", ".join(
        f"{html.escape(str(key))}: {html.escape(str(meta[key]))}"
        for key in ("kind", "model", "detection", "features", "cv", "method", "noise_rate")
        if meta.get(key) is not None
    )
    pairs = _confused_pairs(noise.confident_joint, out.classes)
    head, body = _suspect_rows(out, top, thumb_size)
    heading = html.escape(title or f"Label issues in {Path(source).name}")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{heading}</title><style>{_CSS}</style></head><body>",
        f"<h1>{heading}</h1>",
        f"<p class='sub'>{html.escape(source)} · {details} · made {when} by mislabel</p>",
        "<div class='facts'>",
        *(f"<div class='fact'><b>{v}</b>{html.escape(lbl)}</div>" for lbl, v in facts),
        "</div>",
        "<h2>Most confused classes (given ← true)</h2>",
        f"<p>{pairs}</p>",
        "<h2>Figures</h2><div class='figs'>",
        *(
            f"<figure><h3>{html.escape(name)}</h3><img src='{uri}' alt='{html.escape(name)}'>"
            f"<figcaption>{html.escape(cap)}</figcaption></figure>"
            for name, uri, cap in figs
        ),
        "</div>",
        f"<h2>Top {min(top, n)} suspects, most suspect first ({n_flagged} flagged in all)</h2>",
        "<table><thead><tr>" + head + "</tr></thead><tbody>",
        body,
        "</tbody></table>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _confused_pairs(joint: np.ndarray, classes: tuple[str, ...], limit: int = 8) -> str:
    off = joint.astype(float).copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:limit]
    items = []
    for flat in order:
        t, g = np.unravel_index(flat, off.shape)
        if off[t, g] <= 0:
            break
        items.append(f"{html.escape(classes[g])} ← {html.escape(classes[t])} ({int(off[t, g])})")
    return ", ".join(items) if items else "none estimated"


def write_report(
    find_dir: PathLike,
    out: PathLike | None = None,
    *,
    top: int = 30,
    thumb_size: int = 72,
    title: str | None = None,
) -> Path:
    """Write the HTML report of a ``mislabel find`` run, atomically.

    Args:
        find_dir: the folder holding ``issues.csv``, ``pred_probs.npy``, ``labels.npy``,
            ``classes.txt`` (and ``find.json``), or the ``issues.csv`` itself.
        out: the HTML file; default ``report.html`` beside ``issues.csv``.
        top: how many suspects to show.
        thumb_size: thumbnail size in pixels (longer side).
        title: page title.

    Returns:
        The path written.
    """
    outputs = load_find_outputs(find_dir)
    target = Path(out) if out is not None else outputs.folder / "report.html"
    text = render_report(outputs, top=top, thumb_size=thumb_size, title=title)
    return write_text_atomic(target, text)
