"""Write a folder of output files as one set, and check the set when reading it back.

:func:`write_file_set` writes every data file to a hidden staging name first (each atomically,
hashing it on the way), then moves them onto their names, and writes the manifest (a JSON
file listing the run id and each file's SHA-256) last. An interrupted write leaves the previous
set in place; a kill within the short moving phase leaves files that disagree with the
manifest, which :func:`check_file_set` refuses, naming the file. Readers thus see one whole run
or an error, never a silent mix of two runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from mislabel._atomic import atomic_write, write_json_atomic
from mislabel.exceptions import InvalidInputError

__all__ = [
    "check_file_set",
    "decode_class_names",
    "encode_class_names",
    "file_digest",
    "write_file_set",
]

PathLike = str | os.PathLike[str]
_STAGED = ".staged"


class _Hashing:
    """A binary file wrapper that hashes what is written through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.sha = hashlib.sha256()

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        return self._fh.write(view)

    def flush(self) -> None:
        self._fh.flush()

    def __getattr__(self, name: str) -> Any:  # tell, seek, ... for writers that ask
        return getattr(self._fh, name)


def file_digest(path: PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_file_set(
    folder: PathLike,
    writers: Mapping[str, Callable[[Any], Any]],
    manifest_name: str,
    manifest: dict[str, Any],
) -> tuple[dict[str, Path], str]:
    """Write ``writers`` (file name → ``write(fh)``) into ``folder`` as one set.

    The manifest (``manifest`` plus ``run_id`` and ``files``: name → SHA-256) is written last.
    Returns the paths written (manifest included) and the run id.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex
    for name in writers:  # staging files left by an interrupted run
        for old in out.glob(f".{name}.*{_STAGED}"):
            with contextlib.suppress(OSError):
                old.unlink()
    staged: dict[str, Path] = {}
    digests: dict[str, str] = {}
    try:
        for name, write in writers.items():
            tmp = out / f".{name}.{run_id}{_STAGED}"
            hashing: list[_Hashing] = []

            def through(
                fh: IO[bytes],
                write: Callable[[Any], Any] = write,
                hashing: list[_Hashing] = hashing,
            ) -> None:
                hashing.append(_Hashing(fh))
                write(hashing[-1])

            atomic_write(tmp, through)
            staged[name] = tmp
            digests[name] = hashing[-1].sha.hexdigest()
        paths: dict[str, Path] = {}
        for name, tmp in staged.items():
            os.replace(tmp, out / name)
            paths[name] = out / name
        staged.clear()
    finally:
        for tmp in staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
    paths[manifest_name] = write_json_atomic(
        out / manifest_name, {**manifest, "run_id": run_id, "files": digests}
    )
    return paths, run_id


def check_file_set(
    folder: Path,
    manifest: Mapping[str, Any],
    names: tuple[str, ...],
    *,
    manifest_name: str = "find.json",
    rerun: str = "mislabel find",
) -> None:
    """Check that the files ``names`` in ``folder`` are those the manifest lists (the command
    ``rerun`` writes them all again).

    A manifest without a ``files`` entry (written by hand, or by an older version) is not
    checked.
    """
    files = manifest.get("files")
    if not isinstance(files, Mapping):
        return
    for name in names:
        expected = files.get(name)
        path = folder / name
        if expected is None or not path.is_file():
            continue
        if file_digest(path) != expected:
            raise InvalidInputError(
                f"'{path}' does not belong to the run that wrote '{folder / manifest_name}' "
                "(an interrupted or concurrent run, or an edit by hand); the folder mixes "
                f"outputs of different runs. Run `{rerun}` again into this folder."
            )


def encode_class_names(classes: Any) -> str:
    """``classes.txt``: one class name a line; backslashes, newlines and carriage returns
    inside a name are written ``\\\\``, ``\\n``, ``\\r``."""
    return "".join(
        str(c).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r") + "\n"
        for c in classes
    )


def decode_class_names(text: str) -> tuple[str, ...]:
    """The inverse of :func:`encode_class_names` (blank lines skipped)."""
    out = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line:
            continue
        chars: list[str] = []
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\" and i + 1 < len(line):
                nxt = line[i + 1]
                chars.append({"n": "\n", "r": "\r", "\\": "\\"}.get(nxt, "\\" + nxt))
                i += 2
            else:
                chars.append(ch)
                i += 1
        out.append("".join(chars))
    return tuple(out)


def read_manifest(path: Path) -> dict[str, Any]:
    """A JSON manifest, or {} when absent."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read '{path}': {exc}") from exc
    if not isinstance(meta, dict):
        raise InvalidInputError(f"'{path}' must hold a JSON object; got {type(meta).__name__}.")
    return meta
