"""The atomic writers of :mod:`mislabel._atomic`, under the name the data package used."""

from __future__ import annotations

from mislabel._atomic import (
    atomic_write,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_npy_atomic,
    write_text_atomic,
)

__all__ = [
    "atomic_write",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_npy_atomic",
    "write_text_atomic",
]
