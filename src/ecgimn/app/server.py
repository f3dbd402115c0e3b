"""The explanation web app: load an ECG, see the model's exact evidence, test it with a what-if.

Why FastAPI and one static page (not Gradio / Streamlit): few dependencies (fastapi, uvicorn, python-multipart)
and full control of what the server accepts. The upload is parsed as a stream and cut off at the size limit
while it arrives; only known ECG extensions are accepted; uploaded files live in a per-request temporary folder
that is always removed; no user input ever names a server path (PTB-XL records are chosen by a validated
``ecg_id``, stored recordings by a random id); nothing is unpickled; every error reaches the page as one readable
message (``{"error": "..."}`` with a 4xx status) and unexpected ones as a generic message, the stack trace going
to the server log only. The page is plain HTML/CSS/JS shipped in the package: no build step, no CDN, so it works
offline (a hospital workstation). Gradio is heavier and its file handling (own upload routes and temp caches) is
harder to lock down.

Many users: each browser gets a session cookie and its own store of recordings (at most
:data:`RECORDS_PER_SESSION` and a byte quota; only its own oldest are dropped, never another client's); sessions
idle for :data:`SESSION_TTL_S` expire. Work runs in bounded lanes (reading, model, pictures), each with a few
slots and a short waiting queue: a request that cannot start within its wait time gets ``503`` "server busy,
retry in N s" (``Retry-After``) instead of stalling everyone; pictures are drawn off the model lane. Every input
passes the cost budget (:mod:`ecgimn.io.budget`) before it is parsed; uploads that stall or end without their
closing boundary are refused and their temporary files removed. Optional access token (``token=``): required on
every request, given once as ``/?token=...`` (then kept in an HttpOnly cookie) or as ``Authorization: Bearer``.
One audit line per request (logger ``ecgimn.audit``): time, client, request, status, session digest, input and
model SHA-256.
Endpoints: ``GET /api/info``; ``POST /api/upload`` (multipart: ``files``, optional ``fs``, ``units``,
``lead_names``); ``GET /api/ptbxl/records``, ``POST /api/ptbxl/load`` ``{"ecg_id": ...}``; ``POST /api/demo``;
``GET /api/explain``, ``/api/figure`` (PNG/PDF), ``/api/report`` (JSON download) with ``id``, ``class_name``,
``window_s``, ``stride_s``, ``top_k``, ``layout``; ``POST /api/whatif``. The ``load`` calls answer like
``/api/explain`` with the default options.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecgimn import __version__
from ecgimn.constants import SAMPLING_RATES, TEST_FOLD
from ecgimn.errors import CheckpointError, EcgImnError, InputError
from ecgimn.io.archive import ArchiveTooLarge, arrange, extract_zip
from ecgimn.io.archive import Member as _Upload
from ecgimn.io.archive import basename as _basename
from ecgimn.io.budget import DEFAULT_BUDGET, Budget
from ecgimn.io.formats import SUPPORTED, UPLOAD_SUFFIXES, ZIP_MEMBER_SUFFIXES
from ecgimn.io.recording import Recording
from ecgimn.provenance import model_sha256, sha256_file, sha256_files, utc_now

try:  # python-multipart >= 0.0.13 installs as ``python_multipart``
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # pragma: no cover - older python-multipart
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]

log = logging.getLogger("ecgimn.app")
audit_log = logging.getLogger("ecgimn.audit")

STATIC_DIR = Path(__file__).parent / "static"
#: recordings one session holds (its own oldest dropped first)
RECORDS_PER_SESSION = 8
#: bytes one session may hold (signals, model outputs, cached pictures)
SESSION_QUOTA_MB = 64
#: sessions held at once (a new one beyond this gets 503 until an idle one expires)
MAX_SESSIONS = 256
#: all sessions together (a load over this gets 503; nobody's records are dropped for it)
MEMORY_MB = 2048
#: a session unused for this long is dropped with its recordings
SESSION_TTL_S = 1800
#: cached pictures per recording
MAX_FIGURES = 8
SESSION_COOKIE = "ecgimn_session"
TOKEN_COOKIE = "ecgimn_token"
_SID = re.compile(r"^[A-Za-z0-9_-]{32}$")
#: files in one upload (a WFDB .hea with its .dat files, or one file / one .zip)
MAX_FILES = 8
MAX_FIELD_BYTES = 1024
#: extensions accepted in an upload (the format table of ``ecgimn.io``: what ``read_ecg`` reads, and .zip)
ECG_EXTENSIONS = ZIP_MEMBER_SUFFIXES
UPLOAD_EXTENSIONS = UPLOAD_SUFFIXES
_RID = re.compile(r"^[0-9a-f]{32}$")
_SAFE_STEM = re.compile(r"[^A-Za-z0-9_.+-]+")
GENERIC_ERROR = "unexpected server error; the details were written to the server log"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class AppError(HTTPException):
    """A message for the user with its HTTP status (rendered as ``{"error": message}``).

    A FastAPI ``HTTPException``, so that raising it while FastAPI reads a JSON body (the size limit) keeps its
    status instead of becoming a generic "error parsing the body".
    """

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)


def _busy(what: str, seconds: float) -> AppError:
    n = max(1, min(300, math.ceil(seconds)))
    return AppError(503, f"server busy ({what}); retry in {n} s", headers={"retry-after": str(n)})


def _too_large(limit_mb: float) -> AppError:
    return AppError(
        413,
        f"upload too large: this server accepts at most {limit_mb:g} MB per upload (--max-upload-mb); "
        "a 10 s 12-lead ECG is well under 1 MB, so check that you picked the right file",
    )


# ------------------------------------------------------------------------------------------------ ASGI guard


def _host_name(host: str) -> str:
    """``"127.0.0.1:8000"`` -> ``"127.0.0.1"``, ``"[::1]:8000"`` -> ``"::1"`` (lower case)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cookie(headers: dict[bytes, str], name: str) -> str | None:
    for part in headers.get(b"cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class _Guard:
    """App middleware: access token, body size limit (checked while the body arrives), security headers,
    Host / Origin checks (DNS rebinding, cross-site posts), one audit line per request, and a last-resort
    handler that logs unexpected errors and answers with a generic message (no stack trace)."""

    def __init__(
        self,
        app: Any,
        limit_bytes: int,
        limit_mb: float,
        allowed_hosts: tuple[str, ...] | None = None,
        token: str | None = None,
        model_digest: str | None = None,
    ) -> None:
        self.app = app
        self.limit = limit_bytes
        self.limit_mb = limit_mb
        self.allowed_hosts = None if allowed_hosts is None else {_host_name(h) for h in allowed_hosts}
        self.token = token
        self.model_digest = model_digest

    def _authorised(self, scope: dict, headers: dict[bytes, str]) -> bool | str:
        """True when no token is set or the request carries it; ``"set"`` for ``/?token=<right token>``."""
        if self.token is None:
            return True
        given = [headers.get(b"authorization", "").removeprefix("Bearer ").strip(), _cookie(headers, TOKEN_COOKIE)]
        if any(g and secrets.compare_digest(g.encode(), self.token.encode()) for g in given):
            return True
        if scope.get("path") == "/":
            from urllib.parse import parse_qs

            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if query and secrets.compare_digest(query.encode(), self.token.encode()):
                return "set"
        return False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        status = 0
        t0 = time.perf_counter()
        is_api = scope.get("path", "").startswith("/api/")
        audit: dict[str, Any] = {}
        scope["ecgimn.audit"] = audit

        async def guarded_send(message: dict) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", CSP.encode()),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                if is_api:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._handle(scope, receive, guarded_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _json(500, GENERIC_ERROR)(scope, receive, guarded_send)
        finally:
            client = scope.get("client") or ("-", 0)
            audit_log.info(
                "time=%s client=%s:%s request=%s %s status=%s ms=%.0f session=%s input_sha256=%s model_sha256=%s",
                utc_now(), client[0], client[1], scope.get("method"), scope.get("path"), status or "-",
                1000 * (time.perf_counter() - t0), audit.get("session", "-"), audit.get("input_sha256", "-"),
                self.model_digest or "-",
            )  # fmt: skip

    async def _handle(self, scope: dict, receive: Any, guarded_send: Any) -> None:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get(b"host", "")
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            await _json(400, "unexpected Host header; open the app at the address it printed (or --allowed-hosts)")(
                scope, receive, guarded_send
            )
            return
        auth = self._authorised(scope, headers)
        if auth == "set":  # the link with ?token=: keep it in a cookie, then drop it from the address bar
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.token or "", httponly=True, samesite="strict",
                                secure=scope.get("scheme") == "https")  # fmt: skip
            await response(scope, receive, guarded_send)
            return
        if not auth:
            await _json(
                401,
                "access token required: open the address `ecgimn app` printed (ending in ?token=...) or send "
                "'Authorization: Bearer <token>'",
            )(scope, receive, guarded_send)
            return
        origin = headers.get(b"origin")
        if (
            scope.get("method") not in ("GET", "HEAD")
            and origin
            and urlsplit(origin).netloc.lower() != host.lower()
        ):
            await _json(403, "cross-site request refused")(scope, receive, guarded_send)
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _json(400, "invalid Content-Length header")(scope, receive, guarded_send)
                return
            if declared > self.limit:  # refuse before reading a byte of it
                err = _too_large(self.limit_mb)
                await _json(err.status_code, err.detail)(scope, receive, guarded_send)
                return
        received = 0

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _too_large(self.limit_mb)
            return message

        await self.app(scope, counted_receive, guarded_send)


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# ------------------------------------------------------------------------------------------------ state


@dataclass
class _Entry:
    """One recording held by the server, with its model output and rendered pictures cached."""

    recording: Recording
    label: str
    kind: Literal["upload", "ptbxl", "synthetic"]
    input_sha256: str | None = None  # of the uploaded / read file(s); None: of the signal
    reference: list[str] | None = None  # PTB-XL ground-truth labels (shown for reference only)
    explanation: Any = None
    figures: dict[tuple, bytes] = field(default_factory=dict)
    #: one drawing at a time per recording: the picture and heatmap requests of one view share one render
    drawing: threading.Lock = field(default_factory=threading.Lock)

    def nbytes(self) -> int:
        """Memory held: signal, model output arrays, cached pictures."""
        n = self.recording.signal.nbytes + sum(len(b) for b in list(self.figures.values()))
        if self.explanation is not None:
            n += sum(v.nbytes for v in vars(self.explanation).values() if isinstance(v, np.ndarray))
        return n


class _Store:
    """One session's recordings under random ids: at most ``size`` and ``quota`` bytes; its own oldest go first."""

    def __init__(self, size: int = RECORDS_PER_SESSION, quota: int = SESSION_QUOTA_MB << 20) -> None:
        self.size = size
        self.quota = quota
        self.used = time.monotonic()
        self._items: OrderedDict[str, _Entry] = OrderedDict()

    def nbytes(self) -> int:
        return sum(e.nbytes() for e in list(self._items.values()))

    def trim(self, keep: str | None = None) -> None:
        while len(self._items) > 1 and (len(self._items) > self.size or self.nbytes() > self.quota):
            oldest = next(iter(self._items))
            if oldest == keep:
                self._items.move_to_end(oldest)
                oldest = next(iter(self._items))
            self._items.pop(oldest)

    def add(self, entry: _Entry) -> str:
        rid = secrets.token_hex(16)
        self._items[rid] = entry
        self.trim(keep=rid)
        return rid

    def get(self, rid: str) -> _Entry:
        entry = self._items.get(rid) if _RID.match(rid or "") else None
        if entry is None:
            raise AppError(
                404,
                f"this recording is no longer held by the server (each browser session keeps its "
                f"{self.size} most recent ones for {SESSION_TTL_S // 60} minutes); load it again",
            )
        self._items.move_to_end(rid)
        return entry


class _Sessions:
    """Per-client stores keyed by a session cookie (thread-safe). A client's records are only ever dropped for
    its own quota or its own expiry; when the server is full, new work gets 503 instead."""

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        per_session: int = RECORDS_PER_SESSION,
        quota_mb: float = SESSION_QUOTA_MB,
        memory_mb: float = MEMORY_MB,
        ttl_s: float = SESSION_TTL_S,
    ) -> None:
        self.max_sessions = max_sessions
        self.per_session = per_session
        self.quota = int(quota_mb * 2**20)
        self.memory = int(memory_mb * 2**20)
        self.ttl_s = ttl_s
        self._stores: dict[str, _Store] = {}
        self._lock = threading.Lock()

    def _expire(self, empty_after_s: float | None = None) -> None:
        """Drop sessions idle for the TTL (and, with ``empty_after_s``, those holding nothing idle that long:
        nobody loses a record, and cookie-less clients cannot fill the table with empty sessions)."""
        now = time.monotonic()
        for sid in [
            k for k, st in self._stores.items()
            if now - st.used > self.ttl_s or (empty_after_s is not None and not st._items and now - st.used > empty_after_s)
        ]:  # fmt: skip
            del self._stores[sid]

    def _retry_s(self) -> float:
        oldest = min((st.used for st in self._stores.values()), default=time.monotonic())
        return max(1.0, self.ttl_s - (time.monotonic() - oldest))

    def open(self, sid: str | None) -> str:
        """The session id to use: ``sid`` when it is held, else a new one (503 when the server is full)."""
        with self._lock:
            if sid and sid in self._stores:
                self._stores[sid].used = time.monotonic()
                return sid
            self._expire()
            if len(self._stores) >= self.max_sessions:
                self._expire(empty_after_s=5.0)
            if len(self._stores) >= self.max_sessions:
                raise _busy(f"{self.max_sessions} sessions open", min(self._retry_s(), 60))
            new = secrets.token_urlsafe(24)
            self._stores[new] = _Store(self.per_session, self.quota)
            return new

    def add(self, sid: str, entry: _Entry) -> str:
        with self._lock:
            store = self._stores.get(sid)
            if store is None:
                raise AppError(409, "your session expired; reload the page")
            store.used = time.monotonic()
            others = sum(st.nbytes() for k, st in self._stores.items() if k != sid)
            if others + entry.nbytes() > self.memory:
                self._expire()
                others = sum(st.nbytes() for k, st in self._stores.items() if k != sid)
                if others + entry.nbytes() > self.memory:
                    raise _busy("memory for held recordings is full", 60)
            return store.add(entry)

    def discard(self, sid: str, rid: str) -> None:
        with self._lock:
            store = self._stores.get(sid)
            if store is not None:
                store._items.pop(rid, None)

    def get(self, sid: str | None, rid: str) -> _Entry:
        with self._lock:
            store = self._stores.get(sid or "")
            if store is None:
                return _Store().get("")  # the 404 message
            store.used = time.monotonic()
            return store.get(rid)

    def after_figure(self, sid: str | None) -> None:
        with self._lock:
            store = self._stores.get(sid or "")
            if store is not None:
                store.trim()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"sessions": len(self._stores), "records": sum(len(st._items) for st in self._stores.values())}


class _Lane:
    """A bounded work queue: ``slots`` jobs at once, at most ``max_waiting`` waiting, each for at most
    ``wait_s``; otherwise 503 with an estimate of when to retry (from the recent job times)."""

    def __init__(self, name: str, slots: int, max_waiting: int, wait_s: float) -> None:
        self.name = name
        self.slots = slots
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self._sem = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.waiting = 0
        self.avg_s = 0.5

    def _retry(self) -> AppError:
        return _busy(f"{self.name} queue full", self.avg_s * (self.waiting + 1) / self.slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self.waiting >= self.max_waiting:
                raise self._retry()
            self.waiting += 1
        try:
            ok = self._sem.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not ok:
            raise self._retry()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sem.release()
            with self._lock:
                self.avg_s = 0.8 * self.avg_s + 0.2 * (time.perf_counter() - t0)


class _Memo:
    """Predictor proxy that computes the model output of a stored recording once (the evidence options --
    class, window, stride, top-k -- do not change it); any other signal goes to the real predictor."""

    def __init__(self, predictor: Any, entry: _Entry) -> None:
        self.predictor = predictor
        self.entry = entry

    @property
    def name(self) -> str:
        return self.predictor.name

    @property
    def source(self) -> str:
        return Path(self.predictor.source).name  # no server paths in reports

    @property
    def checkpoint_sha256(self) -> str | None:
        return model_sha256(self.predictor)

    def explain(self, x: np.ndarray, fs: float = 100) -> Any:
        rec = self.entry.recording
        if x is rec.signal and float(fs) == rec.fs:
            if self.entry.explanation is None:
                self.entry.explanation = self.predictor.explain(x, fs=fs)
            return self.entry.explanation
        return self.predictor.explain(x, fs=fs)


@dataclass(frozen=True)
class Options:
    """Evidence and picture options (validated by the endpoints)."""

    class_name: str | None = None
    window_s: float = 0.5
    stride_s: float = 0.25
    top_k: int = 3
    layout: Literal["3x4", "12x1"] = "3x4"


class WhatIfRequest(BaseModel):
    """Body of ``POST /api/whatif``."""

    id: str = Field(max_length=64)
    class_name: str = Field(max_length=64)
    k: int = Field(3, ge=1, le=20)
    what: Literal["segments", "leads"] = "segments"
    mode: Literal["interpolate", "zero"] | None = None
    window_s: float = Field(0.5, ge=0.02, le=10)
    stride_s: float = Field(0.25, ge=0.01, le=10)


class PtbxlRequest(BaseModel):
    """Body of ``POST /api/ptbxl/load``."""

    ecg_id: int


# ------------------------------------------------------------------------------------------------ PTB-XL listing


class _PtbxlIndex:
    """The fold-10 (test) records of a PTB-XL folder that are on disk, with superdiagnostic labels, age, sex."""

    def __init__(self, root: str | os.PathLike[str], model_fs: int) -> None:
        from ecgimn.data import PTBXL

        self.dataset = PTBXL(root)
        meta = self.dataset.metadata
        ids = meta.index[meta["strat_fold"] == TEST_FOLD].to_numpy(np.int64)
        rates = [model_fs] if model_fs in SAMPLING_RATES else []
        rates += [r for r in sorted(SAMPLING_RATES, reverse=True) if r not in rates]
        present, self.fs = np.zeros(0, np.int64), rates[0]
        for fs in rates:
            present = ids[~np.isin(ids, self.dataset.missing(ids, fs))] if len(ids) else ids
            if len(present):
                self.fs = fs
                break
        try:
            labels = self.dataset.labels("superdiagnostic")
            by_id = {
                int(i): [c for c, y in zip(labels.classes, row) if y]
                for i, row in zip(labels.ecg_ids, labels.Y)
            }
        except EcgImnError as exc:
            log.warning("PTB-XL labels unavailable: %s", exc)
            by_id = {}
        self.rows = [self._row(meta, int(i), by_id.get(int(i), [])) for i in present]
        self.ids = {r["ecg_id"] for r in self.rows}

    @staticmethod
    def _row(meta: Any, ecg_id: int, labels: list[str]) -> dict[str, Any]:
        rec = meta.loc[ecg_id]
        age = rec.get("age")
        sex = rec.get("sex")
        age_txt = None if age is None or not np.isfinite(age) else ("90+" if age >= 90 else str(int(age)))
        sex_txt = {0: "M", 1: "F"}.get(int(sex)) if sex is not None and np.isfinite(sex) else None
        return {"ecg_id": ecg_id, "labels": labels, "age": age_txt, "sex": sex_txt}

    def recording(self, ecg_id: int) -> Recording:
        if ecg_id not in self.ids:
            raise AppError(404, f"ecg_id {ecg_id} is not one of the fold-10 records listed by this server")
        signal = self.dataset.read_record(ecg_id, self.fs)
        return Recording(
            signal, self.fs, record_id=f"PTB-XL {ecg_id}",
            source=f"PTB-XL fold {TEST_FOLD}, ecg_id {ecg_id} ({self.fs} Hz)",
        )  # fmt: skip


# ------------------------------------------------------------------------------------------------ uploads


def _check_name(name: str) -> str:
    """Refuse file names with control characters (NUL ...) or invisible format characters (bidi overrides such as
    U+202E, which make ``gpj.exe`` look like ``exe.jpg``); the name is never echoed back raw."""
    bad = sorted({c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad[:4])
        raise AppError(
            400, f"a file name contains control or invisible formatting characters ({codes}); rename the file"
        )
    if len(name) > 255:
        raise AppError(400, "a file name is longer than 255 characters; rename the file")
    return name


def _ext(name: str) -> str:
    lower = name.lower()
    return os.path.splitext(lower)[1]


def _check_ext(name: str) -> str:
    ext = _ext(name)
    if ext not in UPLOAD_EXTENSIONS:
        raise AppError(
            415,
            f"{name or 'the file'}: unsupported file type {ext or '(no extension)'}; accepted: {SUPPORTED} "
            "(a WFDB record: select the .hea and .dat together)",
        )
    return ext


async def _receive_files(
    request: Request, folder: Path, idle_s: float = 30.0, total_s: float = 300.0
) -> tuple[list[_Upload], dict[str, str]]:
    """Stream a multipart body into ``folder``: files under internal names, small text fields returned.

    The size limit is enforced by :class:`_Guard` while the body arrives; here the number of parts, the field
    sizes and the file extensions are checked as soon as each part's headers are seen. A body that pauses for
    ``idle_s`` or takes longer than ``total_s`` is refused (408), as is one that ends before its closing
    boundary (a cut-off upload).
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise AppError(400, "send the ECG as a multipart/form-data upload (field 'files')")
    files: list[_Upload] = []
    fields: dict[str, str] = {}
    state: dict[str, Any] = {
        "headers": {},
        "hname": b"",
        "hvalue": b"",
        "field": None,
        "file": None,
        "data": b"",
        "ended": False,
    }

    def on_part_begin() -> None:
        state.update(headers={}, hname=b"", hvalue=b"", field=None, file=None, data=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hvalue"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["hname"].lower()] = state["hvalue"]
        state["hname"], state["hvalue"] = b"", b""

    def on_headers_finished() -> None:
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["field"] = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts:
            name = _check_name(_basename(opts[b"filename"].decode("utf-8", "replace")))
            if not name:  # an empty file input
                state["file"] = False
                return
            if len(files) >= MAX_FILES:
                raise AppError(
                    400, f"too many files in one upload (at most {MAX_FILES}); upload one recording"
                )
            ext = _check_ext(name)
            path = folder / f"part{len(files)}{ext}"
            files.append(_Upload(name, path, ext))
            state["file"] = path.open("wb")
        elif len(fields) >= 8:
            raise AppError(400, "too many form fields")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["file"]:
            state["file"].write(data[start:end])
        elif state["file"] is None:
            state["data"] += data[start:end]
            if len(state["data"]) > MAX_FIELD_BYTES:
                raise AppError(400, f"form field {state['field']!r} is too long")

    def on_part_end() -> None:
        if state["file"]:
            state["file"].close()
        elif state["file"] is None and state["field"]:
            fields[state["field"]] = state["data"].decode("utf-8", "replace").strip()
        state["file"] = None

    def on_end() -> None:
        state["ended"] = True

    callbacks = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_end": on_end,
    }  # fmt: skip
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    deadline = time.monotonic() + total_s
    stream = request.stream().__aiter__()
    try:
        while True:
            wait = min(idle_s, deadline - time.monotonic())
            try:
                chunk = await asyncio.wait_for(stream.__anext__(), timeout=max(wait, 0.001))
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                raise AppError(
                    408, f"upload stalled or too slow (no data for {idle_s:g} s, or over {total_s:g} s); try again"
                ) from None
            parser.write(chunk)
        parser.finalize()
    except StarletteHTTPException:
        raise
    except Exception as exc:  # python-multipart raises its own parse errors on malformed bodies
        raise AppError(
            400, f"malformed upload ({type(exc).__name__}); send the file from the page's form"
        ) from exc
    finally:
        if state["file"]:
            state["file"].close()
    if not state["ended"]:
        raise AppError(400, "incomplete upload: the body ended before its closing boundary; send the file again")
    if not files:
        raise AppError(400, "no file received; choose an ECG file (or a WFDB .hea together with its .dat)")
    return files, fields


def _extract_zip(upload: _Upload, folder: Path, limit: int, limit_mb: float) -> list[_Upload]:
    """The files of a .zip, vetted by ``ecgimn.io.archive`` (zip-slip, zip-bomb, member types)."""
    try:
        return extract_zip(upload.path, folder, shown=upload.name, limit_bytes=limit, check_suffix=lambda name: _check_ext(_check_name(name)))
    except ArchiveTooLarge:
        raise _too_large(limit_mb) from None
    except InputError as exc:
        raise AppError(400, str(exc)) from None


def _arrange(uploads: list[_Upload], folder: Path) -> tuple[Path, str]:
    """Place the uploaded record's files for :func:`read_ecg`; returns (path to read, name to show)."""
    try:
        return arrange(uploads, folder, missing="was not uploaded")
    except InputError as exc:
        raise AppError(400, str(exc)) from None


def _scrub(text: str, folder: Path, shown: str, internal: Path) -> str:
    """Replace server-side temporary paths in a message by the user's file name."""
    text = text.replace(str(internal), shown)
    return text.replace(str(folder) + os.sep, "").replace(str(folder), "upload")


# ------------------------------------------------------------------------------------------------ the app


@dataclass(frozen=True)
class Limits:
    """Concurrency and memory limits of the app (see the module docstring)."""

    max_sessions: int = MAX_SESSIONS
    records_per_session: int = RECORDS_PER_SESSION
    session_quota_mb: float = SESSION_QUOTA_MB
    memory_mb: float = MEMORY_MB
    session_ttl_s: float = SESSION_TTL_S
    #: jobs at once per lane (reading files, running the model, drawing pictures)
    read_slots: int = 2
    model_slots: int = 1
    render_slots: int = 1
    #: requests waiting per lane, and how long each may wait before a 503
    max_waiting: int = 32
    wait_s: float = 20.0
    #: an upload pausing this long, or taking longer in total, is refused (408)
    upload_idle_s: float = 30.0
    upload_total_s: float = 300.0


class _Service:
    """Everything behind the endpoints (no FastAPI types)."""

    def __init__(
        self,
        predictor: Any,
        ptbxl: _PtbxlIndex | None,
        limit_bytes: int,
        limit_mb: float,
        temp_root: Path | None,
        budget: Budget = DEFAULT_BUDGET,
        limits: Limits = Limits(),
    ) -> None:
        self.predictor = predictor
        self.ptbxl = ptbxl
        self.limit = limit_bytes
        self.limit_mb = limit_mb
        self.temp_root = temp_root
        self.budget = budget
        self.limits = limits
        self.sessions = _Sessions(limits.max_sessions, limits.records_per_session, limits.session_quota_mb,
                                  limits.memory_mb, limits.session_ttl_s)  # fmt: skip
        self.read_lane = _Lane("file reading", limits.read_slots, limits.max_waiting, limits.wait_s)
        self.model_lane = _Lane("model", limits.model_slots, limits.max_waiting, limits.wait_s)
        self.render_lane = _Lane("pictures", limits.render_slots, limits.max_waiting, limits.wait_s)
        self.model_sha256 = model_sha256(predictor)

    def tempdir(self, prefix: str) -> tempfile.TemporaryDirectory[str]:
        if self.temp_root is not None:
            self.temp_root.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=prefix, dir=self.temp_root)

    def info(self) -> dict[str, Any]:
        p = self.predictor
        return {
            "version": __version__,
            "model": {
                "name": p.name, "source": Path(p.source).name, "task": p.task, "classes": list(p.class_names),
                "fs": p.fs, "window_s": p.window / p.fs, "stride_s": p.stride / p.fs, "min_seconds": p.min_seconds,
                "sha256": self.model_sha256,
            },
            "max_upload_mb": self.limit_mb,
            "max_seconds": self.budget.max_seconds,
            "fs_range": [self.budget.fs_min, self.budget.fs_max],
            "extensions": list(UPLOAD_EXTENSIONS),
            "ptbxl": None if self.ptbxl is None else {"count": len(self.ptbxl.rows), "fs": self.ptbxl.fs},
            "defaults": {"window_s": 0.5, "stride_s": 0.25, "top_k": 3, "layout": "3x4"},
        }  # fmt: skip

    # -- loading
    def load_upload(
        self, sid: str, uploads: list[_Upload], fields: dict[str, str], folder: Path, audit: dict[str, Any]
    ) -> dict[str, Any]:
        from ecgimn.io import read_ecg

        audit["input_sha256"] = digest = sha256_files((u.name, sha256_file(u.path)) for u in uploads)
        with self.read_lane.slot():
            if len(uploads) == 1 and uploads[0].ext == ".zip":
                uploads = _extract_zip(uploads[0], folder, self.limit, self.limit_mb)
            path, shown = _arrange(uploads, folder)
            fs = fields.get("fs") or None
            units = fields.get("units") or None
            lead_names = fields.get("lead_names") or None
            try:
                rec = read_ecg(path, fs=fs, units=None if units == "auto" else units, lead_names=lead_names,
                               budget=self.budget)  # fmt: skip
            except EcgImnError as exc:
                raise AppError(400, _scrub(str(exc), folder, shown, path)) from None
        stem = shown[: -len(_ext(shown))] if _ext(shown) else shown
        rec.record_id = stem or "upload"
        rec.source = f"uploaded file {shown}"
        rec.notes = [_scrub(n, folder, shown, path) for n in rec.notes]
        return self.add(sid, _Entry(rec, f"{shown} (uploaded)", "upload", input_sha256=digest))

    def load_ptbxl(self, sid: str, ecg_id: int) -> dict[str, Any]:
        if self.ptbxl is None:
            raise AppError(404, "no PTB-XL folder was given when the app started (ecgimn app --data DIR)")
        with self.read_lane.slot():
            rec = self.ptbxl.recording(ecg_id)
        labels = next((r["labels"] for r in self.ptbxl.rows if r["ecg_id"] == ecg_id), [])
        return self.add(sid, _Entry(rec, f"PTB-XL ecg_id {ecg_id} (fold {TEST_FOLD})", "ptbxl", reference=labels))

    def load_demo(self, sid: str) -> dict[str, Any]:
        from ecgimn.io import synthetic_ecg

        with self.read_lane.slot():
            rec = synthetic_ecg()
        rec.record_id = "SYNTHETIC demo"
        return self.add(sid, _Entry(rec, "SYNTHETIC demo ECG (simulated, not a real recording)", "synthetic"))

    def add(self, sid: str, entry: _Entry) -> dict[str, Any]:
        self._model_output(entry)  # run the model now: a record it refuses (too short...) fails here, not later
        rid = self.sessions.add(sid, entry)
        try:
            return self.explain(sid, rid, Options())
        except Exception:  # e.g. refused by the input check: nothing of it stays held
            self.sessions.discard(sid, rid)
            raise

    # -- explaining
    def _model_output(self, entry: _Entry) -> Any:
        if entry.explanation is None:
            with self.model_lane.slot():
                _Memo(self.predictor, entry).explain(entry.recording.signal, entry.recording.fs)
        return entry.explanation

    def _result(self, entry: _Entry, opts: Options) -> Any:
        from ecgimn.explain.report import explain_recording

        ex = self._model_output(entry)
        name = opts.class_name or ex.class_names[int(np.argmax(ex.probabilities[0]))]
        return explain_recording(
            _Memo(self.predictor, entry), entry.recording, classes=[name], window_s=opts.window_s,
            stride_s=opts.stride_s, top_k=opts.top_k, input_sha256=entry.input_sha256,
        )  # fmt: skip

    def explain(self, sid: str | None, rid: str, opts: Options, audit: dict[str, Any] | None = None) -> dict[str, Any]:
        entry = self.sessions.get(sid, rid)
        if audit is not None:
            audit["input_sha256"] = entry.input_sha256 or "-"
        result = self._result(entry, opts)
        report = result.report()
        ev = report["explanations"][0]
        opts = Options(ev["class"], opts.window_s, opts.stride_s, opts.top_k, opts.layout)
        query = {"id": rid, **{k: v for k, v in vars(opts).items()}}
        rec = entry.recording
        check = report.get("input_check")
        refused = bool(check) and check.get("status") == "refused"
        keep = ("logit", "probability", "bias", "sum_lead_shares", "residual", "total_positive", "total_negative",
                "lead_shares", "lead_ranking", "top_positive", "top_negative", "window_s", "stride_s")  # fmt: skip
        out = {
            "id": rid,
            "record": {
                "label": entry.label, "kind": entry.kind, "synthetic": entry.kind == "synthetic",
                "record_id": rec.record_id, "source": rec.source, "duration_s": rec.duration, "fs_file": rec.fs,
                "fs_model": report["input_checks"]["fs_model"],
                "flat_or_missing_leads": report["input_checks"]["flat_or_missing_leads"],
                "notes": report["input_checks"]["notes"],
                "reference_labels": entry.reference,
            },
            "input_check": check,
            "refused": refused,
            "provenance": report.get("provenance"),
            "model": report["model"],
            "options": vars(opts),
            "urls": {"report": "/api/report?" + urlencode(query)},
        }  # fmt: skip
        if refused:  # the input failed a plausibility check: no prediction is shown for it
            return {**out, "probabilities": [], "explained": None, "evidence": None}
        return {
            **out,
            "probabilities": [
                {"class": c, "probability": p, "predicted": c in report["predicted"]}
                for c, p in report["probabilities"].items()
            ],
            "explained": ev["class"],
            "evidence": {k: ev[k] for k in keep},
            "waves": report["waves"]["classes"].get(ev["class"]),
            "urls": {
                "png": "/api/figure?" + urlencode({**query, "fmt": "png"}),
                "heatmap": "/api/figure?" + urlencode({**query, "fmt": "png", "kind": "heatmap"}),
                "png_download": "/api/figure?" + urlencode({**query, "fmt": "png", "download": 1}),
                "pdf": "/api/figure?" + urlencode({**query, "fmt": "pdf", "download": 1}),
                "report": "/api/report?" + urlencode(query),
            },
        }  # fmt: skip

    def report(self, sid: str | None, rid: str, opts: Options, audit: dict[str, Any]) -> tuple[dict[str, Any], str]:
        entry = self.sessions.get(sid, rid)
        audit["input_sha256"] = entry.input_sha256 or "-"
        result = self._result(entry, opts)
        return result.report(), _download_stem(entry, result.evidence[0].class_name)

    def figure(
        self, sid: str | None, rid: str, opts: Options, fmt: str, kind: str, audit: dict[str, Any]
    ) -> tuple[bytes, str]:
        from ecgimn.explain.report import render

        entry = self.sessions.get(sid, rid)
        audit["input_sha256"] = entry.input_sha256 or "-"
        result = self._result(entry, opts)
        check = result.report().get("input_check") or {}
        if check.get("status") == "refused":
            raise AppError(409, "this input failed the plausibility check; no evidence picture is drawn for it")
        cls = result.evidence[0].class_name
        key = (cls, opts.window_s, opts.stride_s, opts.top_k, opts.layout, fmt)
        figures = entry.figures
        data = figures.get((key, kind))
        if data is None:
            with entry.drawing:  # the ecg and heatmap requests of one view share one drawing
                data = figures.get((key, kind))
                if data is None:
                    with self.render_lane.slot(), self.tempdir("ecgimn-render-") as tmp:  # off the model lane
                        paths = render(result, tmp, formats=(fmt,), layout=opts.layout, heatmap=True, stem="figure")
                        drawn = {(key, "heatmap" if p.stem.endswith("_heatmap") else "ecg"): p.read_bytes()
                                 for p in paths}  # fmt: skip
                    data = drawn[(key, kind)]
                    while len(figures) > MAX_FIGURES - len(drawn):
                        figures.pop(next(iter(figures)), None)
                    figures.update(drawn)
            self.sessions.after_figure(sid)
        suffix = "_heatmap" if kind == "heatmap" else ""
        return data, f"{_download_stem(entry, cls)}{suffix}.{fmt}"

    def what_if(self, sid: str | None, req: WhatIfRequest, audit: dict[str, Any]) -> dict[str, Any]:
        from ecgimn.app.whatif import what_if

        entry = self.sessions.get(sid, req.id)
        audit["input_sha256"] = entry.input_sha256 or "-"
        self._model_output(entry)
        with self.model_lane.slot():
            res = what_if(
                _Memo(self.predictor, entry), entry.recording, req.class_name, req.k, req.what, mode=req.mode,
                window_s=req.window_s, stride_s=req.stride_s,
            )  # fmt: skip
        return {"id": req.id, **res.to_dict()}


def _download_stem(entry: _Entry, class_name: str) -> str:
    stem = _SAFE_STEM.sub("_", entry.recording.record_id).strip("._") or "ecg"
    return f"{stem[:60]}_{_SAFE_STEM.sub('_', class_name)}"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def create_app(
    model: Any = "default",
    data_dir: str | os.PathLike[str] | None = None,
    max_upload_mb: float = 20,
    *,
    temp_root: str | os.PathLike[str] | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
    token: str | None = None,
    budget: Budget = DEFAULT_BUDGET,
    limits: Limits | None = None,
) -> FastAPI:
    """The FastAPI app.

    Args:
        model: a bundled model name, a checkpoint path, or a loaded :class:`ecgimn.api.Predictor`.
        data_dir: a PTB-XL folder whose fold-10 (test) records the page lists (optional).
        max_upload_mb: largest request body accepted (checked while it arrives; larger -> 413).
        temp_root: where per-request temporary folders are made (default: the system's); always emptied.
        allowed_hosts: host names the ``Host`` header may carry (``None``: any); ``ecgimn app`` bound to a
            loopback address allows only loopback names, which stops DNS-rebinding pages from reading it.
        token: access token every request must carry (``None``: no token; see the module docstring).
        budget: the input cost budget (rates, duration, declared sizes) of :mod:`ecgimn.io.budget`.
        limits: sessions, per-session quota, work lanes and timeouts (:class:`Limits`).
    """
    from ecgimn.api import Predictor, load

    if not isinstance(max_upload_mb, (int, float)) or not math.isfinite(max_upload_mb) or max_upload_mb <= 0:
        raise InputError(f"max_upload_mb must be a positive finite number of MB, got {max_upload_mb!r}")
    if token is not None and len(token) < 16:
        raise InputError("the access token must be at least 16 characters (e.g. `openssl rand -hex 16`)")
    predictor = model if isinstance(model, Predictor) else load(model)
    if not predictor.interpretable:
        raise CheckpointError(
            f"{predictor.source}: model {predictor.name!r} is a black box; the app needs an interpretable "
            "ECG-IMN checkpoint"
        )
    limit = int(max_upload_mb * 1024 * 1024)
    ptbxl = None if data_dir is None else _PtbxlIndex(data_dir, predictor.fs)
    svc = _Service(predictor, ptbxl, limit, float(max_upload_mb), None if temp_root is None else Path(temp_root),
                   budget=budget, limits=limits or Limits())  # fmt: skip

    app = FastAPI(title="ECG-IMN explanations", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.service = svc

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(EcgImnError)
    async def _user_error(request: Request, exc: EcgImnError) -> JSONResponse:
        return _json(400, " ".join(str(exc).split()))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(422, _validation_message(exc))

    def audit(request: Request) -> dict[str, Any]:
        return request.scope.setdefault("ecgimn.audit", {})

    def session(request: Request, response: Response) -> str:
        """The caller's session id (a new one, sent as an HttpOnly cookie, when it has none or it expired)."""
        given = request.cookies.get(SESSION_COOKIE)
        sid = svc.sessions.open(given if given and _SID.match(given) else None)
        if sid != given:
            response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")  # fmt: skip
        audit(request)["session"] = hashlib.sha256(sid.encode()).hexdigest()[:12]
        return sid

    def current_session(request: Request) -> str | None:
        """The caller's session id for reading its records (no new session is made)."""
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            audit(request)["session"] = hashlib.sha256(sid.encode()).hexdigest()[:12]
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
            files, fields = await _receive_files(request, folder, lim.upload_idle_s, lim.upload_total_s)
            return await run_in_threadpool(svc.load_upload, sid, files, fields, folder, audit(request))

    @app.get("/api/ptbxl/records")
    async def ptbxl_records() -> dict[str, Any]:
        if svc.ptbxl is None:
            raise AppError(404, "no PTB-XL folder was given when the app started (ecgimn app --data DIR)")
        return {"fold": TEST_FOLD, "fs": svc.ptbxl.fs, "records": svc.ptbxl.rows}

    @app.post("/api/ptbxl/load")
    def ptbxl_load(req: PtbxlRequest, sid: str = Depends(session)) -> dict[str, Any]:
        return svc.load_ptbxl(sid, req.ecg_id)

    @app.post("/api/demo")
    def demo(sid: str = Depends(session)) -> dict[str, Any]:
        return svc.load_demo(sid)

    def explain_options(
        class_name: str | None = Query(None, max_length=64),
        window_s: float = Query(0.5, ge=0.02, le=10),
        stride_s: float = Query(0.25, ge=0.01, le=10),
        top_k: int = Query(3, ge=1, le=20),
        layout: Literal["3x4", "12x1"] = Query("3x4"),
    ) -> Options:
        """The explanation options shared by /api/explain, /api/figure and /api/report (validated)."""
        return Options(class_name or None, window_s, stride_s, top_k, layout)

    @app.get("/api/explain")
    def explain(
        request: Request,
        id: str = Query(..., max_length=64),
        opts: Options = Depends(explain_options),
        sid: str | None = Depends(current_session),
    ) -> dict[str, Any]:
        return svc.explain(sid, id, opts, audit(request))

    @app.get("/api/figure")
    def figure(
        request: Request,
        id: str = Query(..., max_length=64),
        opts: Options = Depends(explain_options),
        fmt: Literal["png", "pdf"] = Query("png"),
        kind: Literal["ecg", "heatmap"] = Query("ecg"),
        download: bool = Query(False),
        sid: str | None = Depends(current_session),
    ) -> Response:
        data, filename = svc.figure(sid, id, opts, fmt, kind, audit(request))
        headers = {"content-disposition": f'attachment; filename="{filename}"'} if download else {}
        return Response(data, media_type="image/png" if fmt == "png" else "application/pdf", headers=headers)

    @app.get("/api/report")
    def report(
        request: Request,
        id: str = Query(..., max_length=64),
        opts: Options = Depends(explain_options),
        sid: str | None = Depends(current_session),
    ) -> JSONResponse:
        data, stem = svc.report(sid, id, opts, audit(request))
        return JSONResponse(
            data, headers={"content-disposition": f'attachment; filename="{stem}_report.json"'}
        )

    @app.post("/api/whatif")
    def whatif(request: Request, req: WhatIfRequest, sid: str | None = Depends(current_session)) -> dict[str, Any]:
        return svc.what_if(sid, req, audit(request))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_Guard, limit_bytes=limit, limit_mb=float(max_upload_mb), allowed_hosts=allowed_hosts,
                       token=token, model_digest=svc.model_sha256)  # fmt: skip
    return app


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime


def log_config() -> dict[str, Any]:
    """``logging.config.dictConfig`` for ``ecgimn app``: every line (server, access, audit) with a UTC timestamp."""
    fmt = {"()": _UTCFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
           "datefmt": "%Y-%m-%dT%H:%M:%SZ"}  # fmt: skip
    handler = {"class": "logging.StreamHandler", "formatter": "ts", "stream": "ext://sys.stderr"}
    loggers = ("uvicorn", "uvicorn.error", "uvicorn.access", "ecgimn.app", "ecgimn.audit")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ts": fmt},
        "handlers": {"stderr": handler},
        "loggers": {name: {"handlers": ["stderr"], "level": "INFO", "propagate": False} for name in loggers},
    }
