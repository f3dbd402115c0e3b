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

The parts, by job: :mod:`ecgimn.app.security` (token, Host / Origin, size limit, headers, audit log),
:mod:`ecgimn.app.uploads` (streaming multipart parser, upload vetting), :mod:`ecgimn.app.sessions` (per-session
stores, bounded work lanes), :mod:`ecgimn.app.service` (the work behind the endpoints, PTB-XL listing),
:mod:`ecgimn.app.routes` (the endpoints). This module builds the app (:func:`create_app`) and its log set-up.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ecgimn import __version__
from ecgimn.app.errors import GENERIC_ERROR, AppError
from ecgimn.app.routes import add_error_handlers, add_routes
from ecgimn.app.security import Guard
from ecgimn.app.service import Limits, Options, PtbxlIndex, Service
from ecgimn.app.sessions import RECORDS_PER_SESSION, SESSION_TTL_S
from ecgimn.app.uploads import ECG_EXTENSIONS, UPLOAD_EXTENSIONS
from ecgimn.errors import CheckpointError, InputError
from ecgimn.io.budget import DEFAULT_BUDGET, Budget

__all__ = [
    "ECG_EXTENSIONS", "GENERIC_ERROR", "RECORDS_PER_SESSION", "SESSION_TTL_S", "UPLOAD_EXTENSIONS", "AppError",
    "Limits", "Options", "create_app", "log_config",
]  # fmt: skip


def _check_settings(max_upload_mb: Any, token: str | None) -> None:
    if not isinstance(max_upload_mb, (int, float)) or not math.isfinite(max_upload_mb) or max_upload_mb <= 0:
        raise InputError(f"max_upload_mb must be a positive finite number of MB, got {max_upload_mb!r}")
    if token is not None and len(token) < 16:
        raise InputError("the access token must be at least 16 characters (e.g. `openssl rand -hex 16`)")


def _predictor(model: Any) -> Any:
    """A loaded interpretable predictor for ``model`` (a name, a checkpoint path, or a Predictor)."""
    from ecgimn.api import Predictor, load

    predictor = model if isinstance(model, Predictor) else load(model)
    if not predictor.interpretable:
        raise CheckpointError(
            f"{predictor.source}: model {predictor.name!r} is a black box; the app needs an interpretable "
            "ECG-IMN checkpoint"
        )
    return predictor


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
        token: access token every request must carry (``None``: no token; see :mod:`ecgimn.app.security`).
        budget: the input cost budget (rates, duration, declared sizes) of :mod:`ecgimn.io.budget`.
        limits: sessions, per-session quota, work lanes and timeouts (:class:`Limits`).
    """
    _check_settings(max_upload_mb, token)
    predictor = _predictor(model)
    limit = int(max_upload_mb * 1024 * 1024)
    ptbxl = None if data_dir is None else PtbxlIndex(data_dir, predictor.fs)
    svc = Service(predictor, ptbxl, limit, float(max_upload_mb), None if temp_root is None else Path(temp_root),
                  budget=budget, limits=limits or Limits())  # fmt: skip

    app = FastAPI(title="ECG-IMN explanations", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.service = svc
    add_error_handlers(app)
    add_routes(app, svc)
    app.add_middleware(Guard, limit_bytes=limit, limit_mb=float(max_upload_mb), allowed_hosts=allowed_hosts,
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
