"""Interactive explanation web app (``ecgimn app``); the what-if behind it is :mod:`ecgimn.explain.whatif`.

``create_app`` needs the ``app`` extra (fastapi, uvicorn, python-multipart). Modules: :mod:`.security` (host,
origin, token, size limit, audit log), :mod:`.uploads` (streaming multipart parser, upload vetting),
:mod:`.sessions` (per-session stores, bounded work lanes), :mod:`.service` (the work behind the endpoints),
:mod:`.routes` (the FastAPI endpoints), :mod:`.server` (``create_app``, logging set-up).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # imported lazily: FastAPI is an optional dependency
        from ecgimn.app.server import create_app

        return create_app
    raise AttributeError(f"module 'ecgimn.app' has no attribute {name!r}")
