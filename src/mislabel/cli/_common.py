"""What every command shares: error lines, warnings, progress bars, the --debug switch."""

from __future__ import annotations

import functools
import importlib
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from mislabel.exceptions import MislabelError

__all__ = [
    "EXIT_ERROR",
    "OneLineErrorsGroup",
    "err_console",
    "fail",
    "handle_errors",
    "out_console",
    "progress_callback",
    "set_debug",
]

#: Exit code of a command that failed on bad input (same as a usage error).
EXIT_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    debug = False


_STATE = _State()

_STAGES = {"images": "reading images", "folds": "training folds", "epochs": "training epochs"}


def set_debug(value: bool) -> None:
    _STATE.debug = bool(value)


def is_debug() -> bool:
    return _STATE.debug


def err_console() -> Any:
    """A rich console on the current ``sys.stderr`` (looked up at each call, for tests)."""
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, soft_wrap=True, highlight=False)


def out_console() -> Any:
    """A rich console on the current ``sys.stdout`` (120 columns when it is not a terminal)."""
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console.width = 120
    return console


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: '{exc.filename}'"
    return text or type(exc).__name__


def fail(exc: BaseException) -> typer.Exit:
    """Print ``exc`` as one red line on stderr (after its traceback under --debug) and return
    the ``typer.Exit`` to raise."""
    from rich.text import Text

    console = err_console()
    if _STATE.debug:
        console.print(Text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    console.print(Text(f"error: {_one_line(exc)}", style="bold red"))
    return typer.Exit(EXIT_ERROR)


class OneLineErrorsGroup(TyperGroup):
    """The command group of the CLI: usage errors (a bad option value, a missing argument, an
    unknown command) are one red line on stderr and exit code 2, like every other error."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: Any = None,
        *,
        standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        kwargs.update(args=args, prog_name=prog_name)
        if not standalone_mode:
            return super().main(standalone_mode=False, **kwargs)
        # typer's click (vendored or not) is where its BadParameter lives
        errors = importlib.import_module(typer.BadParameter.__module__)
        try:
            code = super().main(standalone_mode=False, **kwargs)
        except errors.NoArgsIsHelpError as exc:
            err_console().print(exc.format_message(), highlight=False, markup=False)
            sys.exit(EXIT_ERROR)
        except errors.ClickException as exc:
            message = exc.format_message()
            ctx = getattr(exc, "ctx", None)
            if ctx is not None and isinstance(exc, errors.UsageError):
                message = f"{message} (see `{ctx.command_path} --help`)"
            fail(_Message(message))
            sys.exit(EXIT_ERROR)
        except typer.Abort:
            err_console().print("Aborted.", highlight=False, markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class _Message(Exception):
    """A message shown by :func:`fail` as it is."""


def _show_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    from rich.text import Text

    err_console().print(Text(f"warning: {' '.join(str(message).split())}", style="yellow"))


def handle_errors(fn: F) -> F:
    """Decorate a command: library errors and file errors become one red line on stderr and
    exit code 2 (with the traceback under --debug); warnings become yellow lines."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            try:
                return fn(*args, **kwargs)
            except (MislabelError, OSError) as exc:
                raise fail(exc) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_callback() -> Iterator[Callable[[str, int, int], None] | None]:
    """A ``progress(stage, done, total)`` callback drawing rich progress bars on stderr, or
    None when stderr is not a terminal (pipes, CI, tests)."""
    console = err_console()
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(_STAGES.get(stage, stage), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update
