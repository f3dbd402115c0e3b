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

Recordings are held in memory only (the last :data:`MAX_RECORDINGS`), under a random id.
Endpoints: ``GET /api/info``; ``POST /api/upload`` (multipart: ``files``, optional ``fs``, ``units``,
``lead_names``); ``GET /api/ptbxl/records``, ``POST /api/ptbxl/load`` ``{"ecg_id": ...}``; ``POST /api/demo``;
``GET /api/explain``, ``/api/figure`` (PNG/PDF), ``/api/report`` (JSON download) with ``id``, ``class_name``,
``window_s``, ``stride_s``, ``top_k``, ``layout``; ``POST /api/whatif``. The ``load`` calls answer like
``/api/explain`` with the default options.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
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
from ecgimn.io.formats import SUPPORTED, UPLOAD_SUFFIXES, ZIP_MEMBER_SUFFIXES
from ecgimn.io.recording import Recording

try:  # python-multipart >= 0.0.13 installs as ``python_multipart``
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # pragma: no cover - older python-multipart
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]

log = logging.getLogger("ecgimn.app")

STATIC_DIR = Path(__file__).parent / "static"
#: recordings held in memory (oldest dropped first)
MAX_RECORDINGS = 16
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

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)


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


class _Guard:
    """App middleware: body size limit (checked while the body arrives), security headers, Host / Origin
    checks (DNS rebinding, cross-site posts), and a last-resort handler that logs unexpected errors and
    answers with a generic message (no stack trace)."""

    def __init__(
        self, app: Any, limit_bytes: int, limit_mb: float, allowed_hosts: tuple[str, ...] | None = None
    ) -> None:
        self.app = app
        self.limit = limit_bytes
        self.limit_mb = limit_mb
        self.allowed_hosts = None if allowed_hosts is None else {_host_name(h) for h in allowed_hosts}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        is_api = scope.get("path", "").startswith("/api/")

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
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

        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get(b"host", "")
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            await _json(400, "unexpected Host header; open the app at the address it printed")(
                scope, receive, guarded_send
            )
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

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _json(500, GENERIC_ERROR)(scope, receive, guarded_send)


def _json(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ------------------------------------------------------------------------------------------------ state


@dataclass
class _Entry:
    """One recording held by the server, with its model output and rendered pictures cached."""

    recording: Recording
    label: str
    kind: Literal["upload", "ptbxl", "synthetic"]
    explanation: Any = None
    figures: dict[tuple, bytes] = field(default_factory=dict)


class _Store:
    """The last ``size`` recordings under random ids (thread-safe)."""

    def __init__(self, size: int = MAX_RECORDINGS) -> None:
        self.size = size
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, entry: _Entry) -> str:
        rid = secrets.token_hex(16)
        with self._lock:
            self._items[rid] = entry
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return rid

    def get(self, rid: str) -> _Entry:
        with self._lock:
            entry = self._items.get(rid) if _RID.match(rid or "") else None
            if entry is None:
                raise AppError(
                    404,
                    "this recording is no longer held by the server (it keeps the most recent ones); load it again",
                )
            self._items.move_to_end(rid)
            return entry


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


async def _receive_files(request: Request, folder: Path) -> tuple[list[_Upload], dict[str, str]]:
    """Stream a multipart body into ``folder``: files under internal names, small text fields returned.

    The size limit is enforced by :class:`_Guard` while the body arrives; here the number of parts, the field
    sizes and the file extensions are checked as soon as each part's headers are seen.
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
            name = _basename(opts[b"filename"].decode("utf-8", "replace"))
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

    callbacks = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
    }  # fmt: skip
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
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
    if not files:
        raise AppError(400, "no file received; choose an ECG file (or a WFDB .hea together with its .dat)")
    return files, fields


def _extract_zip(upload: _Upload, folder: Path, limit: int, limit_mb: float) -> list[_Upload]:
    """The files of a .zip, vetted by ``ecgimn.io.archive`` (zip-slip, zip-bomb, member types)."""
    try:
        return extract_zip(upload.path, folder, shown=upload.name, limit_bytes=limit, check_suffix=_check_ext)
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


class _Service:
    """Everything behind the endpoints (no FastAPI types)."""

    def __init__(
        self,
        predictor: Any,
        ptbxl: _PtbxlIndex | None,
        limit_bytes: int,
        limit_mb: float,
        temp_root: Path | None,
    ) -> None:
        self.predictor = predictor
        self.ptbxl = ptbxl
        self.limit = limit_bytes
        self.limit_mb = limit_mb
        self.temp_root = temp_root
        self.store = _Store()
        self.work = threading.Lock()  # one model / picture job at a time (a small, local server)

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
            },
            "max_upload_mb": self.limit_mb,
            "extensions": list(UPLOAD_EXTENSIONS),
            "ptbxl": None if self.ptbxl is None else {"count": len(self.ptbxl.rows), "fs": self.ptbxl.fs},
            "defaults": {"window_s": 0.5, "stride_s": 0.25, "top_k": 3, "layout": "3x4"},
        }  # fmt: skip

    # -- loading
    def load_upload(self, uploads: list[_Upload], fields: dict[str, str], folder: Path) -> dict[str, Any]:
        from ecgimn.io import read_ecg

        if len(uploads) == 1 and uploads[0].ext == ".zip":
            uploads = _extract_zip(uploads[0], folder, self.limit, self.limit_mb)
        path, shown = _arrange(uploads, folder)
        fs = fields.get("fs") or None
        units = fields.get("units") or None
        lead_names = fields.get("lead_names") or None
        try:
            rec = read_ecg(path, fs=fs, units=None if units == "auto" else units, lead_names=lead_names)
        except EcgImnError as exc:
            raise AppError(400, _scrub(str(exc), folder, shown, path)) from None
        stem = shown[: -len(_ext(shown))] if _ext(shown) else shown
        rec.record_id = stem or "upload"
        rec.source = f"uploaded file {shown}"
        rec.notes = [_scrub(n, folder, shown, path) for n in rec.notes]
        return self.add(rec, f"{shown} (uploaded)", "upload")

    def load_ptbxl(self, ecg_id: int) -> dict[str, Any]:
        if self.ptbxl is None:
            raise AppError(404, "no PTB-XL folder was given when the app started (ecgimn app --data DIR)")
        rec = self.ptbxl.recording(ecg_id)
        return self.add(rec, f"PTB-XL ecg_id {ecg_id} (fold {TEST_FOLD})", "ptbxl")

    def load_demo(self) -> dict[str, Any]:
        from ecgimn.io import synthetic_ecg

        rec = synthetic_ecg()
        rec.record_id = "SYNTHETIC demo"
        return self.add(rec, "SYNTHETIC demo ECG (simulated, not a real recording)", "synthetic")

    def add(
        self, rec: Recording, label: str, kind: Literal["upload", "ptbxl", "synthetic"]
    ) -> dict[str, Any]:
        entry = _Entry(rec, label, kind)
        with self.work:  # run the model now: a record it refuses (too short...) fails here, not later
            _Memo(self.predictor, entry).explain(rec.signal, rec.fs)
        rid = self.store.add(entry)
        return self.explain(rid, Options())

    # -- explaining
    def _result(self, entry: _Entry, opts: Options) -> Any:
        from ecgimn.explain.report import explain_recording

        memo = _Memo(self.predictor, entry)
        with self.work:
            ex = memo.explain(entry.recording.signal, entry.recording.fs)
            name = opts.class_name or ex.class_names[int(np.argmax(ex.probabilities[0]))]
            return explain_recording(
                memo, entry.recording, classes=[name], window_s=opts.window_s, stride_s=opts.stride_s,
                top_k=opts.top_k,
            )  # fmt: skip

    def explain(self, rid: str, opts: Options) -> dict[str, Any]:
        entry = self.store.get(rid)
        result = self._result(entry, opts)
        report = result.report()
        ev = report["explanations"][0]
        opts = Options(ev["class"], opts.window_s, opts.stride_s, opts.top_k, opts.layout)
        query = {"id": rid, **{k: v for k, v in vars(opts).items()}}
        rec = entry.recording
        keep = ("logit", "probability", "bias", "sum_lead_shares", "residual", "total_positive", "total_negative",
                "lead_shares", "lead_ranking", "top_positive", "top_negative", "window_s", "stride_s")  # fmt: skip
        return {
            "id": rid,
            "record": {
                "label": entry.label, "kind": entry.kind, "synthetic": entry.kind == "synthetic",
                "record_id": rec.record_id, "source": rec.source, "duration_s": rec.duration, "fs_file": rec.fs,
                "fs_model": report["input_checks"]["fs_model"],
                "flat_or_missing_leads": report["input_checks"]["flat_or_missing_leads"],
                "notes": report["input_checks"]["notes"],
            },
            "model": report["model"],
            "probabilities": [
                {"class": c, "probability": p, "predicted": c in report["predicted"]}
                for c, p in report["probabilities"].items()
            ],
            "explained": ev["class"],
            "options": vars(opts),
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

    def report(self, rid: str, opts: Options) -> tuple[dict[str, Any], str]:
        entry = self.store.get(rid)
        result = self._result(entry, opts)
        return result.report(), _download_stem(entry, result.evidence[0].class_name)

    def figure(self, rid: str, opts: Options, fmt: str, kind: str) -> tuple[bytes, str]:
        from ecgimn.explain.report import render

        entry = self.store.get(rid)
        result = self._result(entry, opts)
        cls = result.evidence[0].class_name
        key = (cls, opts.window_s, opts.stride_s, opts.top_k, opts.layout, fmt)
        if (key, kind) not in entry.figures:
            with self.work, self.tempdir("ecgimn-render-") as tmp:
                paths = render(result, tmp, formats=(fmt,), layout=opts.layout, heatmap=True, stem="figure")
                if len(entry.figures) > 24:
                    entry.figures.clear()
                for p in paths:
                    entry.figures[(key, "heatmap" if p.stem.endswith("_heatmap") else "ecg")] = p.read_bytes()
        suffix = "_heatmap" if kind == "heatmap" else ""
        return entry.figures[(key, kind)], f"{_download_stem(entry, cls)}{suffix}.{fmt}"

    def what_if(self, req: WhatIfRequest) -> dict[str, Any]:
        from ecgimn.app.whatif import what_if

        entry = self.store.get(req.id)
        with self.work:
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
) -> FastAPI:
    """The FastAPI app.

    Args:
        model: a bundled model name, a checkpoint path, or a loaded :class:`ecgimn.api.Predictor`.
        data_dir: a PTB-XL folder whose fold-10 (test) records the page lists (optional).
        max_upload_mb: largest request body accepted (checked while it arrives; larger -> 413).
        temp_root: where per-request temporary folders are made (default: the system's); always emptied.
        allowed_hosts: host names the ``Host`` header may carry (``None``: any); ``ecgimn app`` bound to a
            loopback address allows only loopback names, which stops DNS-rebinding pages from reading it.
    """
    from ecgimn.api import Predictor, load

    predictor = model if isinstance(model, Predictor) else load(model)
    if not predictor.interpretable:
        raise CheckpointError(
            f"{predictor.source}: model {predictor.name!r} is a black box; the app needs an interpretable "
            "ECG-IMN checkpoint"
        )
    if not max_upload_mb or max_upload_mb <= 0:
        raise InputError(f"max_upload_mb must be positive, got {max_upload_mb}")
    limit = int(max_upload_mb * 1024 * 1024)
    ptbxl = None if data_dir is None else _PtbxlIndex(data_dir, predictor.fs)
    svc = _Service(
        predictor, ptbxl, limit, float(max_upload_mb), None if temp_root is None else Path(temp_root)
    )

    app = FastAPI(title="ECG-IMN explanations", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.service = svc

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, str(exc.detail))

    @app.exception_handler(EcgImnError)
    async def _user_error(request: Request, exc: EcgImnError) -> JSONResponse:
        return _json(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(422, _validation_message(exc))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        return svc.info()

    @app.post("/api/upload")
    async def upload(request: Request) -> dict[str, Any]:
        with svc.tempdir("ecgimn-upload-") as tmp:
            folder = Path(tmp)
            files, fields = await _receive_files(request, folder)
            return await run_in_threadpool(svc.load_upload, files, fields, folder)

    @app.get("/api/ptbxl/records")
    async def ptbxl_records() -> dict[str, Any]:
        if svc.ptbxl is None:
            raise AppError(404, "no PTB-XL folder was given when the app started (ecgimn app --data DIR)")
        return {"fold": TEST_FOLD, "fs": svc.ptbxl.fs, "records": svc.ptbxl.rows}

    @app.post("/api/ptbxl/load")
    def ptbxl_load(req: PtbxlRequest) -> dict[str, Any]:
        return svc.load_ptbxl(req.ecg_id)

    @app.post("/api/demo")
    def demo() -> dict[str, Any]:
        return svc.load_demo()

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
    def explain(id: str = Query(..., max_length=64), opts: Options = Depends(explain_options)) -> dict[str, Any]:
        return svc.explain(id, opts)

    @app.get("/api/figure")
    def figure(
        id: str = Query(..., max_length=64),
        opts: Options = Depends(explain_options),
        fmt: Literal["png", "pdf"] = Query("png"),
        kind: Literal["ecg", "heatmap"] = Query("ecg"),
        download: bool = Query(False),
    ) -> Response:
        data, filename = svc.figure(id, opts, fmt, kind)
        headers = {"content-disposition": f'attachment; filename="{filename}"'} if download else {}
        return Response(data, media_type="image/png" if fmt == "png" else "application/pdf", headers=headers)

    @app.get("/api/report")
    def report(id: str = Query(..., max_length=64), opts: Options = Depends(explain_options)) -> JSONResponse:
        data, stem = svc.report(id, opts)
        return JSONResponse(
            data, headers={"content-disposition": f'attachment; filename="{stem}_report.json"'}
        )

    @app.post("/api/whatif")
    def whatif(req: WhatIfRequest) -> dict[str, Any]:
        return svc.what_if(req)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_Guard, limit_bytes=limit, limit_mb=float(max_upload_mb), allowed_hosts=allowed_hosts)
    return app
