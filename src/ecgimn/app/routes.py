"""The FastAPI endpoints of the app: thin wrappers over :class:`ecgimn.app.service.Service`.

Endpoints: ``GET /api/info``; ``POST /api/upload`` (multipart: ``files``, optional ``fs``, ``units``,
``lead_names``); ``GET /api/ptbxl/records``, ``POST /api/ptbxl/load`` ``{"ecg_id": ...}``; ``POST /api/demo``;
``GET /api/explain``, ``/api/figure`` (PNG/PDF), ``/api/report`` (JSON download) with ``id``, ``class_name``,
``window_s``, ``stride_s``, ``top_k``, ``layout``; ``POST /api/whatif``. The ``load`` calls answer like
``/api/explain`` with the default options. Every error is one readable ``{"error": "..."}``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecgimn.app.errors import json_error
from ecgimn.app.service import Options, PtbxlRequest, Service, WhatIfRequest
from ecgimn.app.sessions import SESSION_COOKIE, SESSION_ID
from ecgimn.app.uploads import receive_files
from ecgimn.errors import EcgImnError
from ecgimn.explain.defaults import STRIDE_S, TOP_K, WINDOW_S

STATIC_DIR = Path(__file__).parent / "static"


def validation_message(exc: RequestValidationError) -> str:
    """One line naming up to three invalid fields of a request."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": "..."}``: HTTP errors with their status, user errors 400, invalid requests 422."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return json_error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(EcgImnError)
    async def _user_error(request: Request, exc: EcgImnError) -> JSONResponse:
        return json_error(400, " ".join(str(exc).split()))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return json_error(422, validation_message(exc))


def audit(request: Request) -> dict[str, Any]:
    """The audit fields of this request (filled by the endpoints, written by the guard)."""
    return request.scope.setdefault("ecgimn.audit", {})


def _session_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()[:12]


def current_session(request: Request) -> str | None:
    """The caller's session id for reading its records (no new session is made)."""
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        audit(request)["session"] = _session_digest(sid)
    return sid


def explain_options(
    class_name: str | None = Query(None, max_length=64),
    window_s: float = Query(WINDOW_S, ge=0.02, le=10),
    stride_s: float = Query(STRIDE_S, ge=0.01, le=10),
    top_k: int = Query(TOP_K, ge=1, le=20),
    layout: Literal["3x4", "12x1"] = Query("3x4"),
) -> Options:
    """The explanation options shared by /api/explain, /api/figure and /api/report (validated)."""
    return Options(class_name or None, window_s, stride_s, top_k, layout)


@dataclass(frozen=True)
class View:
    """What /api/explain, /api/figure and /api/report are asked for: a stored recording and the options."""

    sid: str | None
    id: str
    opts: Options
    audit: dict[str, Any]


def view(
    request: Request,
    id: str = Query(..., max_length=64),
    opts: Options = Depends(explain_options),
    sid: str | None = Depends(current_session),
) -> View:
    return View(sid, id, opts, audit(request))


def add_routes(app: FastAPI, svc: Service) -> None:
    """The page, its static files and the ``/api`` endpoints, served by ``svc``."""

    def session(request: Request, response: Response) -> str:
        """The caller's session id (a new one, sent as an HttpOnly cookie, when it has none or it expired)."""
        given = request.cookies.get(SESSION_COOKIE)
        sid = svc.sessions.open(given if given and SESSION_ID.match(given) else None)
        if sid != given:
            response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")  # fmt: skip
        audit(request)["session"] = _session_digest(sid)
        return sid

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        return svc.info()

    @app.post("/api/upload")
    async def upload(request: Request, sid: str = Depends(session)) -> dict[str, Any]:
        lim = svc.limits
        with svc.tempdir("ecgimn-upload-") as tmp:
            folder = Path(tmp)
            files, fields = await receive_files(request, folder, lim.upload_idle_s, lim.upload_total_s)
            return await run_in_threadpool(svc.load_upload, sid, files, fields, folder, audit(request))

    @app.get("/api/ptbxl/records")
    async def ptbxl_records() -> dict[str, Any]:
        return svc.ptbxl_records()

    @app.post("/api/ptbxl/load")
    def ptbxl_load(req: PtbxlRequest, sid: str = Depends(session)) -> dict[str, Any]:
        return svc.load_ptbxl(sid, req.ecg_id)

    @app.post("/api/demo")
    def demo(sid: str = Depends(session)) -> dict[str, Any]:
        return svc.load_demo(sid)

    @app.get("/api/explain")
    def explain(v: View = Depends(view)) -> dict[str, Any]:
        return svc.explain(v.sid, v.id, v.opts, v.audit)

    @app.get("/api/figure")
    def figure(
        v: View = Depends(view),
        fmt: Literal["png", "pdf"] = Query("png"),
        kind: Literal["ecg", "heatmap"] = Query("ecg"),
        download: bool = Query(False),
    ) -> Response:
        data, filename = svc.figure(v.sid, v.id, v.opts, fmt, kind, v.audit)
        headers = {"content-disposition": f'attachment; filename="{filename}"'} if download else {}
        return Response(data, media_type="image/png" if fmt == "png" else "application/pdf", headers=headers)

    @app.get("/api/report")
    def report(v: View = Depends(view)) -> JSONResponse:
        data, stem = svc.report(v.sid, v.id, v.opts, v.audit)
        return JSONResponse(
            data, headers={"content-disposition": f'attachment; filename="{stem}_report.json"'}
        )

    @app.post("/api/whatif")
    def whatif(
        request: Request, req: WhatIfRequest, sid: str | None = Depends(current_session)
    ) -> dict[str, Any]:
        return svc.what_if(sid, req, audit(request))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
