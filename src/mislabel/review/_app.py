"""The FastAPI app behind ``mislabel review``.

Routes::

    GET  /                     the page (the per-server CSRF token is in a <meta> tag)
    GET  /static/...           its JS and CSS
    GET  /api/meta             classes, counts, progress
    GET  /api/queue            ids to review under the filters, most suspect first, with status
    GET  /api/samples/{id}     one sample: labels, score, top-3, file URL, text/features, history
    POST /api/decisions        {id, action, label?}  → committed before the answer
    POST /api/undo             {seq?}                → cancels that decision, or the newest one
    GET  /api/changes?since=N  samples changed after event N (other tabs poll this)
    GET  /api/export.csv       the corrected labels
    GET  /files/{path}         a sample's file; only paths of the issues file, under the root

Protection: on loopback the Host header must name a loopback host (DNS rebinding). Every
mutating request needs the ``X-Mislabel-Token`` header (a random token per server start,
embedded in the page; cross-site pages cannot read it nor send the header without a CORS
preflight that we never allow), a same-origin ``Origin`` when the browser sends one,
``Sec-Fetch-Site`` same-origin when sent, and a JSON body. With an access token (required
off loopback) every request needs the token as ``?token=`` (then kept in a cookie) or cookie.
"""

from __future__ import annotations

import hmac
import html
import mimetypes
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, StrictInt

from mislabel.exceptions import InvalidInputError
from mislabel.review._data import IssuesTable, Sample, resolve_under
from mislabel.review._db import DECISIONS, State, Store
from mislabel.review._export import export_csv_text

__all__ = ["ACCESS_COOKIE", "CSRF_HEADER", "STATIC_DIR", "build_app"]

STATIC_DIR = Path(__file__).parent / "static"
CSRF_HEADER = "X-Mislabel-Token"
ACCESS_COOKIE = "mislabel_access"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


#: The largest integer SQLite stores (ids and sequence numbers above it are refused).
_MAX_INT = 2**63 - 1


class DecisionIn(BaseModel):
    """Body of ``POST /api/decisions``."""

    id: StrictInt = Field(ge=0, le=_MAX_INT)
    action: Literal["accepted", "kept", "relabeled", "removed", "skipped"]
    label: str | None = Field(default=None, max_length=1000)
    client: str | None = Field(default=None, max_length=64)


class UndoIn(BaseModel):
    """Body of ``POST /api/undo``; without ``seq`` the newest decision is undone."""

    seq: StrictInt | None = Field(default=None, ge=0, le=_MAX_INT)
    client: str | None = Field(default=None, max_length=64)


@dataclass(frozen=True)
class _Ctx:
    table: IssuesTable
    root: Path
    store: Store
    csrf_token: str
    access_token: str | None


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _hostname(host_header: str) -> str | None:
    try:
        return urlsplit("//" + host_header).hostname
    except ValueError:
        return None


def _secure(resp: Response, *, csp: str = _PAGE_CSP) -> Response:
    resp.headers.setdefault("Content-Security-Policy", csp)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return resp


def _refuse(status: int, message: str) -> Response:
    return _secure(PlainTextResponse(message, status_code=status))


def _status(st: State | None) -> str:
    return "pending" if st is None else st.action


def _item(sample_id: int, st: State | None) -> dict[str, Any]:
    return {"id": sample_id, "status": _status(st), "label": None if st is None else st.label}


def _progress(table: IssuesTable, states: Mapping[int, State]) -> dict[str, Any]:
    by_action = dict.fromkeys(DECISIONS, 0)
    reviewed_all = 0
    for sid, st in states.items():
        sample = table.by_id.get(sid)
        if sample is None:
            continue
        if st.action != "skipped":
            reviewed_all += 1
        if sample.is_issue:
            by_action[st.action] += 1
    skipped = by_action["skipped"]
    return {
        "reviewed": sum(by_action.values()) - skipped,
        "total": table.n_issues,
        "skipped": skipped,
        "by_action": by_action,
        "reviewed_all": reviewed_all,
        "total_all": len(table.samples),
    }


def _sample_json(ctx: _Ctx, s: Sample) -> dict[str, Any]:
    st = ctx.store.state(s.id)
    file_ok = bool(s.path) and resolve_under(ctx.root, s.path) is not None
    return {
        "id": s.id,
        "path": s.path,
        "file_url": f"/files/{quote(s.path, safe='/')}" if file_ok else None,
        "text": s.text,
        "features": dict(s.features) if s.features is not None else None,
        "votes": (
            [{"annotator": who, "label": lab} for who, lab in s.votes.items()]
            if s.votes is not None
            else None
        ),
        "agreement": s.agreement,
        "given_label": s.given_label,
        "suggested_label": s.suggested_label,
        "suggested_prob": s.suggested_prob,
        "score": s.score,
        "is_issue": s.is_issue,
        "top": [{"label": lab, "prob": p} for lab, p in s.top],
        "status": _status(st),
        "label": None if st is None else st.label,
        "history": [
            {
                "seq": e.seq,
                "action": e.action,
                "label": e.label,
                "target_seq": e.target_seq,
                "undone": e.undone,
                "created_at": e.created_at,
            }
            for e in ctx.store.history(s.id)
        ],
    }


def _install_guard(app: FastAPI, ctx: _Ctx) -> None:
    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = request.headers.get("host", "")
        if ctx.access_token is None and _hostname(host) not in LOOPBACK_HOSTS:
            return _refuse(400, "Unexpected Host header; open the page at 127.0.0.1.")
        if ctx.access_token is not None:
            query_token = request.query_params.get("token")
            if _same(query_token, ctx.access_token):
                if request.method == "GET" and request.url.path == "/":
                    redirect = RedirectResponse("/", status_code=303)
                    redirect.set_cookie(
                        ACCESS_COOKIE, ctx.access_token, httponly=True, samesite="strict"
                    )
                    return _secure(redirect)
            elif not _same(request.cookies.get(ACCESS_COOKIE), ctx.access_token):
                return _refuse(
                    401, "Missing or wrong access token; open the URL `mislabel review` printed."
                )
        if request.method not in _SAFE_METHODS:
            if not _same(request.headers.get(CSRF_HEADER), ctx.csrf_token):
                return _refuse(
                    403,
                    f"Missing or stale {CSRF_HEADER} header; reload the page (the server "
                    "may have restarted).",
                )
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
                return _refuse(403, "Cross-origin request refused.")
            site = request.headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return _refuse(403, "Cross-site request refused.")
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return _refuse(415, "Mutating requests must send application/json.")
        resp = await call_next(request)
        if request.url.path.startswith("/files/"):
            return _secure(resp, csp=_FILE_CSP)
        return _secure(resp)


def build_app(
    table: IssuesTable,
    root: Path,
    store: Store,
    *,
    csrf_token: str,
    access_token: str | None,
) -> FastAPI:
    """The app over a loaded issues table and an open store (see :func:`create_app`)."""
    ctx = _Ctx(table, root, store, csrf_token, access_token)
    app = FastAPI(title="mislabel review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.table = table
    app.state.csrf_token = csrf_token
    _install_guard(app, ctx)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default echoes the input back, and an input such as NaN cannot be
        # written as JSON: answer with where and what, never the value.
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return _secure(JSONResponse({"detail": errors}, status_code=422))

    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = template.replace("__MISLABEL_TOKEN__", html.escape(csrf_token)).replace(
        "__MISLABEL_TITLE__", html.escape(table.path.name)
    )
    download_name = re.sub(r"[^A-Za-z0-9._-]", "_", table.path.stem) + ".corrected.csv"

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/api/meta")
    def meta() -> dict[str, Any]:
        return {
            "title": table.path.name,
            "classes": list(table.classes),
            "n_samples": len(table.samples),
            "n_issues": table.n_issues,
            "kinds": {
                "image": bool(table.file_paths),
                "text": any(s.text is not None for s in table.samples),
                "features": any(s.features is not None for s in table.samples),
            },
            "seq": store.last_seq(),
            "progress": _progress(table, store.states()),
        }

    @app.get("/api/queue")
    def queue(
        scope: Literal["issues", "all"] = "issues",
        given: str | None = None,
        suggested: str | None = None,
        min_score: float = Query(0.0, ge=0.0, le=1.0),
        max_score: float = Query(1.0, ge=0.0, le=1.0),
    ) -> dict[str, Any]:
        seq = store.last_seq()
        states = store.states()
        items = []
        for sid in table.review_order:
            s = table.by_id[sid]
            if scope == "issues" and not s.is_issue:
                continue
            if given and s.given_label != given:
                continue
            if suggested and s.suggested_label != suggested:
                continue
            if not min_score <= s.score <= max_score:
                continue
            items.append(_item(sid, states.get(sid)))
        return {"items": items, "seq": seq, "progress": _progress(table, states)}

    @app.get("/api/samples/{sample_id}")
    def sample(sample_id: int) -> dict[str, Any]:
        s = table.by_id.get(sample_id)
        if s is None:
            raise HTTPException(404, f"No sample with id {sample_id}.")
        return _sample_json(ctx, s)

    @app.post("/api/decisions")
    def decide(body: DecisionIn) -> dict[str, Any]:
        s = table.by_id.get(body.id)
        if s is None:
            raise HTTPException(404, f"No sample with id {body.id}.")
        action = body.action
        label: str | None
        if action == "accepted":
            label = s.suggested_label
        elif action == "kept":
            label = s.given_label
        elif action == "relabeled":
            if body.label is None or body.label not in table.classes:
                raise HTTPException(
                    422, f"`label` must be one of the classes for a relabel; got {body.label!r}."
                )
            label = body.label
            if label == s.given_label:
                action = "kept"
            elif label == s.suggested_label:
                action = "accepted"
        else:
            label = None
        st = store.record(s.id, action, label, client=body.client)
        return {**_item(s.id, st), "seq": st.seq, "progress": _progress(table, store.states())}

    @app.post("/api/undo")
    def undo(body: UndoIn) -> dict[str, Any]:
        try:
            done = store.undo(body.seq, client=body.client)
        except InvalidInputError as exc:
            raise HTTPException(409, str(exc)) from None
        if done is None:
            raise HTTPException(409, "Nothing to undo.")
        cancelled, st, seq = done
        return {
            **_item(cancelled.sample_id, st),
            "seq": seq,
            "undone": {
                "seq": cancelled.seq,
                "id": cancelled.sample_id,
                "action": cancelled.action,
                "label": cancelled.label,
            },
            "progress": _progress(table, store.states()),
        }

    @app.get("/api/changes")
    def changes(since: int = Query(0, ge=0, le=_MAX_INT)) -> dict[str, Any]:
        last, changed = store.changes(since)
        return {
            "seq": last,
            "changes": [_item(sid, st) for sid, st in sorted(changed.items())],
            "progress": _progress(table, store.states()),
        }

    @app.get("/api/export.csv")
    def export_csv() -> Response:
        return Response(
            export_csv_text(table, store.states()),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{download_name}"',
                "Cache-Control": "no-store",
            },
        )

    @app.api_route("/files/{relpath:path}", methods=["GET", "HEAD"])
    def files(relpath: str) -> Response:
        target = resolve_under(root, relpath)
        if target is None or relpath not in table.file_paths:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=media_type, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
