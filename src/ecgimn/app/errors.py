"""How the app answers with an error: one readable message as ``{"error": ...}`` with its HTTP status."""

from __future__ import annotations

import math

from fastapi import HTTPException
from fastapi.responses import JSONResponse

#: what the user sees for an unexpected error (the stack trace goes to the server log only)
GENERIC_ERROR = "unexpected server error; the details were written to the server log"


class AppError(HTTPException):
    """A message for the user with its HTTP status (rendered as ``{"error": message}``).

    A FastAPI ``HTTPException``, so that raising it while FastAPI reads a JSON body (the size limit) keeps its
    status instead of becoming a generic "error parsing the body".
    """

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)


def busy(what: str, seconds: float) -> AppError:
    """503 "server busy" with a ``Retry-After`` of ``seconds`` (1-300)."""
    n = max(1, min(300, math.ceil(seconds)))
    return AppError(503, f"server busy ({what}); retry in {n} s", headers={"retry-after": str(n)})


def too_large(limit_mb: float) -> AppError:
    """413 for a body over the upload limit."""
    return AppError(
        413,
        f"upload too large: this server accepts at most {limit_mb:g} MB per upload (--max-upload-mb); "
        "a 10 s 12-lead ECG is well under 1 MB, so check that you picked the right file",
    )


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The response for an error: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)
