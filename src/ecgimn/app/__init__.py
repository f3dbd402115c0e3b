"""Interactive explanation web app (``ecgimn app``) and the what-if experiment behind it.

``create_app`` needs the ``app`` extra (fastapi, uvicorn, python-multipart); :mod:`ecgimn.app.whatif` does not.
"""

from __future__ import annotations

from typing import Any

from ecgimn.app.whatif import WhatIfResult, remove_leads, remove_segments, what_if

__all__ = ["WhatIfResult", "create_app", "remove_leads", "remove_segments", "what_if"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # imported lazily: FastAPI is an optional dependency
        from ecgimn.app.server import create_app

        return create_app
    raise AttributeError(f"module 'ecgimn.app' has no attribute {name!r}")
