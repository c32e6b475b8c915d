"""Only files under the data root that the issues file names are served.

Twenty traversal attempts, each sent three ways: as uvicorn hands a raw request path to the
app (percent-decoded once, no dot-segment normalisation), over real HTTP to a uvicorn
server with a raw request line, and straight to :func:`resolve_under`. The issues file
itself lists the malicious paths, so the refusals cannot come from the "listed paths only"
rule alone.
"""

from __future__ import annotations

import asyncio
import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from review_helpers import draw_png, issue_row, start_server, write_issues

from mislabel.review import create_app
from mislabel.review._data import resolve_under

SECRET = b"TOP SECRET do not serve"

# 20 request paths after /files/, as they would appear on the wire.
ATTACKS = [
    "../secret.txt",
    "../../../../../../etc/passwd",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "..%2fsecret.txt",
    "..%5csecret.txt",
    ".%2e/secret.txt",
    "%252e%252e/secret.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "sub/../../secret.txt",
    "sub/%2e%2e/%2e%2e/secret.txt",
    "link.png",
    "linkdir/secret.txt",
    "./../secret.txt",
    "ok.png%00../../secret.txt",
    "C:%5cWindows%5cwin.ini",
    "....//secret.txt",
    "%c0%ae%c0%ae/secret.txt",
    "{ABS}",
]
assert len(ATTACKS) == 20


def _layout(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    draw_png(root / "ok.png", "cat", 0)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    (outside / "secret.txt").write_bytes(SECRET)
    os.symlink(secret, root / "link.png")
    os.symlink(outside, root / "linkdir")
    # the issues file names the malicious paths too
    listed = [
        "ok.png",
        "../secret.txt",
        "sub/../../secret.txt",
        "link.png",
        "linkdir/secret.txt",
        "/etc/passwd",
        str(secret),
        "./../secret.txt",
        "..\\secret.txt",
    ]
    rows = [
        issue_row(i, path=p, given="cat", suggested="dog", score=i / 20, is_issue=True)
        for i, p in enumerate(listed)
    ]
    write_issues(tmp_path / "issues.csv", rows)
    return root, secret, listed


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Any]]:
    tmp_path = tmp_path_factory.mktemp("traversal")
    root, secret, _ = _layout(tmp_path)
    app = create_app(tmp_path / "issues.csv", root)
    yield root, secret, app
    app.state.store.close()


def _wire(attack: str, secret: Path) -> str:
    return "/files/" + (str(secret) if attack == "{ABS}" else attack)


async def _asgi_get(app: Any, raw_path: str) -> tuple[int, bytes]:
    """GET through the ASGI interface exactly as uvicorn builds the scope."""
    split = urlsplit(raw_path)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(split.path),
        "raw_path": split.path.encode(),
        "query_string": split.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8765")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8765),
    }
    status = 0
    body = b""
    requested = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # like a server: disconnect only once the response is out
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
            if not message.get("more_body", False):
                finished.set()

    await app(scope, receive, send)
    return status, body


def test_the_control_file_is_served(layout: tuple[Path, Path, Any]) -> None:
    _, _, app = layout
    status, body = asyncio.run(_asgi_get(app, "/files/ok.png"))
    assert status == 200 and body.startswith(b"\x89PNG")


@pytest.mark.parametrize("attack", ATTACKS)
def test_traversal_is_refused_by_the_app(layout: tuple[Path, Path, Any], attack: str) -> None:
    _, secret, app = layout
    status, body = asyncio.run(_asgi_get(app, _wire(attack, secret)))
    assert status in (400, 404), (attack, status)
    assert SECRET not in body and b"root:" not in body


@pytest.mark.parametrize("attack", ATTACKS)
def test_resolve_under_refuses(layout: tuple[Path, Path, Any], attack: str) -> None:
    root, secret, _ = layout
    decoded = unquote(_wire(attack, secret)[len("/files/") :])
    assert resolve_under(root, decoded) is None
    assert resolve_under(root, "ok.png") == (root / "ok.png").resolve()


def test_samples_with_unsafe_paths_get_no_file_url(layout: tuple[Path, Path, Any]) -> None:
    from fastapi.testclient import TestClient

    _, _, app = layout
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    urls = [client.get(f"/api/samples/{i}").json()["file_url"] for i in range(9)]
    assert urls[0] == "/files/ok.png"
    assert urls[1:] == [None] * 8


def test_traversal_is_refused_by_a_real_server(tmp_path: Path) -> None:
    root, secret, _ = _layout(tmp_path)
    server = start_server(tmp_path / "issues.csv", root)
    try:
        parts = urlsplit(server.url)
        assert parts.hostname is not None and parts.port is not None
        for attack in ATTACKS:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            try:
                # http.client sends the path verbatim: no normalisation, no re-encoding
                conn.request("GET", _wire(attack, secret))
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
            assert resp.status in (400, 404), (attack, resp.status)
            assert SECRET not in body and b"root:" not in body
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("GET", "/files/ok.png")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        server.stop()
