"""The fused C++ kernel of ELR, built at first use with torch's JIT extension loader.

``_elr_fused.cpp`` (shipped beside this file) is compiled once per machine, torch version and
source version, into torch's extension folder (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``), with ``-O3 -march=native`` so that the compiler vectorizes
its loops (exp included: the kernel has its own, inlined). That needs a C++ compiler and
ninja (``pip install 'mislabel[fused]'``). A process loads the built library when it is
there; two processes that would build at once take turns through an OS file lock, and torch's
own ``lock`` file, which a killed build (and torch 2.14 after any build) leaves behind, is
cleared by the process holding that lock. When the build fails (no compiler, no ninja,
anything else) the reason is logged once and :func:`elr_op` returns ``None``: ELR then runs
its eager path.

``MISLABEL_NO_FUSED=1`` makes the automatic choice (``fused=None``) the eager path, without
building anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ENV_NO_FUSED", "elr_op", "elr_unavailable_reason", "fused_disabled"]

logger = logging.getLogger(__name__)

#: Environment variable: ``1`` turns the automatic choice of the fused kernels off.
ENV_NO_FUSED = "MISLABEL_NO_FUSED"

_SOURCE = Path(__file__).with_name("_elr_fused.cpp")
_CFLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd")
#: torch's at::parallel_for is an OpenMP pragma in a header: without -fopenmp the kernel runs on
#: one thread. The library it links, libgomp.so.1, is the one torch has loaded (same soname).
_OPENMP = ("-fopenmp",) if sys.platform.startswith("linux") else ()
#: About how long the build takes (2-core VM, GCC 12), for the log line.
_BUILD_SECONDS = 10

_lock = threading.Lock()
_tried = False
_op: Any = None
_reason: str | None = None


def fused_disabled() -> bool:
    """Whether ``MISLABEL_NO_FUSED`` asks the automatic choice for the eager path."""
    return os.environ.get(ENV_NO_FUSED, "").strip().lower() in {"1", "true", "yes", "on"}


def elr_op() -> Any:
    """``torch.ops.mislabel.elr_forward``, built or loaded once a process; ``None`` if it fails.

    The first failure is logged (WARNING) with its reason, kept for
    :func:`elr_unavailable_reason`; later calls return ``None`` at once.
    """
    global _tried, _op, _reason
    if _tried:
        return _op
    with _lock:
        if not _tried:
            try:
                _op = _build()
            except Exception as exc:  # no compiler, no ninja, a compile error, ...
                _reason = _summary(exc)
                logger.warning(
                    "the fused ELR kernel could not be built; ELR uses its eager path (same "
                    "numbers, 2-3x slower on the CPU). Reason: %s",
                    _reason,
                )
            _tried = True
    return _op


def elr_unavailable_reason() -> str | None:
    """Why :func:`elr_op` returned ``None`` (``None`` when it has not failed)."""
    return _reason


def _build_folder() -> Path:
    """The kernel's folder in torch's extension folder, named for all the build depends on."""
    import torch
    from torch.utils import cpp_extension

    source = _SOURCE.read_text(encoding="utf-8")
    key = "\0".join(
        (source, *_CFLAGS, *_OPENMP, torch.__version__, sys.version.split()[0], _cpu_fingerprint())
    )
    name = "mislabel_fused_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()
    return Path(root) / name


def _build() -> Any:
    """Load the built kernel, or build it first (one process at a time) and load it.

    What decides is whether the built library loads, not torch's ``lock`` file: torch (from
    2.14) leaves that file behind after a successful build, and a build killed mid-way leaves
    it too. Builds by this library take turns through an OS lock (:func:`_build_lock`, released
    by the OS even when its holder is killed), so a ``lock`` file found while holding it is
    left over and is removed before building.
    """
    build = _build_folder()
    build.mkdir(parents=True, exist_ok=True)
    library = build / f"{build.name}.so"
    op = _load_built(library)
    if op is not None:
        return op
    with _build_lock(build):
        op = _load_built(library)  # built by another process while this one waited
        if op is not None:
            return op
        for leftover in (build / "lock", library):
            if leftover.exists():
                logger.info("removing %s, left by an earlier build", leftover)
                leftover.unlink(missing_ok=True)
        logger.info(
            "building the fused ELR kernel, once (about %d s), in %s", _BUILD_SECONDS, build
        )
        return _compile(build)


def _load_built(library: Path) -> Any:
    """``torch.ops.mislabel.elr_forward`` from an already built library, or None."""
    if not library.is_file():
        return None
    import torch

    try:
        torch.ops.load_library(str(library))
        return torch.ops.mislabel.elr_forward
    except Exception as exc:  # truncated by a killed build, built for another torch, ...
        logger.info("the built ELR kernel %s does not load (%s); building it again", library, exc)
        return None


def _compile(build: Path) -> Any:
    import torch
    from torch.utils import cpp_extension

    with _ninja_on_path():
        cpp_extension.load(
            name=build.name,
            sources=[str(_SOURCE)],
            extra_cflags=[*_CFLAGS, *_OPENMP],
            extra_ldflags=list(_OPENMP),
            build_directory=str(build),
            is_python_module=False,
            verbose=False,
        )
    return torch.ops.mislabel.elr_forward


@contextmanager
def _build_lock(build: Path) -> Any:
    """Hold an exclusive OS lock on ``build/mislabel-build.lock`` (waits for another holder).

    ``flock`` locks are released when their process ends, however it ends, so a killed build
    never leaves this lock held. Where ``fcntl`` is missing (Windows) there is no lock.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(build / "mislabel-build.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _summary(exc: Exception) -> str:
    """One line from a failed build: its first compiler errors, else the end of the message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
    errors = [line for line in lines if "error:" in line.lower()]
    return f"{type(exc).__name__}: {' / '.join(errors[:3] or lines[-3:])}"[:600]


def _cpu_fingerprint() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags."""
    parts = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            parts += [line for line in f if line.startswith(("flags", "model name"))][:2]
    except OSError:
        pass
    return "|".join(parts)


@contextmanager
def _ninja_on_path() -> Any:
    """Torch runs ``ninja`` from ``PATH``; a pip-installed one may sit in an inactive venv."""
    if shutil.which("ninja") is not None:
        yield
        return
    try:
        import ninja

        folder = str(ninja.BIN_DIR)
    except Exception:  # not installed: torch's own error says "pip install ninja"
        yield
        return
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = folder + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old
