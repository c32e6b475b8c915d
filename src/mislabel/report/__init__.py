"""The HTML report of a find run (needs the ``report`` extra: matplotlib and Pillow).

:func:`write_report` turns the folder written by ``mislabel find`` into one self-contained
HTML file: the estimated noise matrix, score histograms (flagged vs not), issues per class and
the top suspects with image thumbnails, texts or feature values. Figures and thumbnails are
embedded as base64 PNGs; nothing is fetched from elsewhere.
"""

from __future__ import annotations

from mislabel.report._html import render_report, write_report

__all__ = ["render_report", "write_report"]
