"""Run the review app on uvicorn."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
import socket
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from mislabel._validation import check_scalar, optional_import
from mislabel.exceptions import InvalidParameterError

__all__ = ["is_loopback", "serve"]

logger = logging.getLogger("mislabel.review")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidParameterError(
            f"`host` must be an address or a name of this machine; cannot resolve {host!r} "
            f"({exc.strerror})."
        ) from None
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InvalidParameterError(
            f"Cannot listen on {host}:{port} ({exc.strerror}). Is another `mislabel review` "
            "running there? Pick another --port."
        ) from None
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int, token: str | None) -> str:
    shown = host.strip("[]")
    with contextlib.suppress(ValueError):
        ip = ipaddress.ip_address(shown)
        if ip.is_unspecified:
            shown = socket.gethostname()
        elif ip.version == 6:
            shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(
    issues_csv: Path,
    data_root: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    db_path: Path | None = None,
    classes: Path | Sequence[str] | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the review page until interrupted (Ctrl+C).

    Args:
        issues_csv: the issues file written by ``mislabel find``.
        data_root: the folder the ``path`` column is relative to (default: the issues
            file's folder). Only files under it that the issues file names are served.
        host: where to listen; loopback by default. Any other host warns (``UserWarning``)
            and requires an access token: ``token``, or a random one put in the URL passed
            to ``on_ready``.
        port: TCP port; 0 picks a free one.
        token: access token; when given, every request must carry it (``?token=`` once,
            then a cookie).
        db_path: decisions database (default: ``<issues stem>.review.sqlite`` beside it).
        classes: class names in display order, or a file with one a line.
        on_ready: called with the page's URL once the port is bound.
    """
    uvicorn = optional_import("uvicorn", "ui", "mislabel review")
    from mislabel.review import create_app

    check_scalar(port, "port", kind=int, min_val=0, max_val=65535)
    if not is_loopback(host):
        if token is None:
            token = secrets.token_urlsafe(24)
        warnings.warn(
            f"Serving on {host}, which is not loopback: anyone who can reach it and has the "
            "access token can read the data and change decisions. Prefer an SSH tunnel to "
            "127.0.0.1.",
            UserWarning,
            stacklevel=2,
        )
    sock = _bind(host, port)  # first: a host or port that fails leaves no database behind
    try:
        app = create_app(issues_csv, data_root, token=token, db_path=db_path, classes=classes)
    except BaseException:
        sock.close()
        raise
    try:
        url = _url(host, int(sock.getsockname()[1]), token)
        logger.info("mislabel review at %s", url)
        if on_ready is not None:
            on_ready(url)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        # uvicorn shuts down gracefully on Ctrl+C, then re-raises it; stopping is not an error.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        app.state.store.close()
