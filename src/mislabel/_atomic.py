"""Atomic file writes: write a temporary file beside the target, fsync, then ``os.replace``.

A reader never sees a half-written ``issues.csv``, and an interrupted run leaves the previous
file (or none) in place. Every file the library writes goes through :func:`atomic_write`.

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are written with a leading ``'`` (:func:`escape_cell`), and
the library's CSV readers take it off again (:func:`unescape_cell`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "atomic_write",
    "escape_cell",
    "escape_frame",
    "unescape_cell",
    "unescape_frame",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_npy_atomic",
    "write_text_atomic",
]

PathLike = str | os.PathLike[str]


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, then move it onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; give the usual 0666 & ~umask
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_npy_atomic(path: PathLike, array: np.ndarray) -> Path:
    """Save ``array`` in ``.npy`` format to ``path`` atomically (no pickles)."""
    return atomic_write(path, lambda fh: np.save(fh, np.asarray(array), allow_pickle=False))


def write_csv_atomic(path: PathLike, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV (no index) to ``path`` atomically, text cells that a
    spreadsheet would run as formulas escaped (:func:`escape_cell`)."""
    buf = io.StringIO()
    escape_frame(frame).to_csv(buf, index=False)
    return write_text_atomic(path, buf.getvalue())


#: Text a spreadsheet reads as a formula, possibly behind quotes added by this module.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def escape_cell(value: Any) -> Any:
    """``'`` + ``value`` when ``value`` is text a spreadsheet would run as a formula (or such
    text already escaped, so that :func:`unescape_cell` inverts it exactly); else ``value``."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """The inverse of :func:`escape_cell`."""
    if isinstance(value, str) and value.startswith("'") and _FORMULA.match(value[1:]):
        return value[1:]
    return value


def escape_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with :func:`escape_cell` applied to its text columns."""
    cols = [c for c in frame.columns if _is_text(frame[c])]
    if not cols:
        return frame
    out = frame.copy()
    for c in cols:
        out[c] = out[c].map(escape_cell)
    return out


def unescape_frame(frame: Any) -> Any:
    """A pandas DataFrame read from a CSV written here, with :func:`unescape_cell` applied to
    its text columns (in place; returned for chaining)."""
    for c in frame.columns:
        if _is_text(frame[c]):
            frame[c] = frame[c].map(unescape_cell)
    return frame


def _is_text(column: Any) -> bool:
    from pandas.api.types import is_object_dtype, is_string_dtype

    return bool(is_object_dtype(column.dtype) or is_string_dtype(column.dtype))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
