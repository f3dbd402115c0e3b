"""The app's guard (ASGI middleware): access token, Host / Origin checks, body size limit, security headers,
one audit line per request, and a last-resort handler that answers unexpected errors with a generic message.

Optional access token: required on every request, given once as ``/?token=...`` (then kept in an HttpOnly
cookie) or as ``Authorization: Bearer``. The audit line (logger ``ecgimn.audit``) holds time, client, request,
status, session digest, input and model SHA-256.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.responses import RedirectResponse, Response

from ecgimn.app.errors import GENERIC_ERROR, json_error, too_large
from ecgimn.provenance import utc_now

log = logging.getLogger("ecgimn.app")
audit_log = logging.getLogger("ecgimn.audit")

TOKEN_COOKIE = "ecgimn_token"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def host_name(host: str) -> str:
    """``"127.0.0.1:8000"`` -> ``"127.0.0.1"``, ``"[::1]:8000"`` -> ``"::1"`` (lower case)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def cookie(headers: dict[bytes, str], name: str) -> str | None:
    """The value of cookie ``name`` in the request headers (``None`` when absent)."""
    for part in headers.get(b"cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class Guard:
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
        self.allowed_hosts = None if allowed_hosts is None else {host_name(h) for h in allowed_hosts}
        self.token = token
        self.model_digest = model_digest

    def _matches(self, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(str(given).encode(), (self.token or "").encode())

    def _authorised(self, scope: dict, headers: dict[bytes, str]) -> bool | str:
        """True when no token is set or the request carries it; ``"set"`` for ``/?token=<right token>``."""
        if self.token is None:
            return True
        given = [
            headers.get(b"authorization", "").removeprefix("Bearer ").strip(),
            cookie(headers, TOKEN_COOKIE),
        ]
        if any(self._matches(g) for g in given):
            return True
        if scope.get("path") == "/":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if self._matches(query):
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
                headers = list(message.get("headers", [])) + _SECURITY_HEADERS
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
            await json_error(500, GENERIC_ERROR)(scope, receive, guarded_send)
        finally:
            self._audit(scope, status, t0, audit)

    def _audit(self, scope: dict, status: int, t0: float, audit: dict[str, Any]) -> None:
        client = scope.get("client") or ("-", 0)
        audit_log.info(
            "time=%s client=%s:%s request=%s %s status=%s ms=%.0f session=%s input_sha256=%s model_sha256=%s",
            utc_now(), client[0], client[1], scope.get("method"), scope.get("path"), status or "-",
            1000 * (time.perf_counter() - t0), audit.get("session", "-"), audit.get("input_sha256", "-"),
            self.model_digest or "-",
        )  # fmt: skip

    def _refusal(self, scope: dict, headers: dict[bytes, str]) -> Response | None:
        """The answer for a request refused before it reaches the app (``None``: let it through)."""
        host = headers.get(b"host", "")
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            return json_error(
                400, "unexpected Host header; open the app at the address it printed (or --allowed-hosts)"
            )
        auth = self._authorised(scope, headers)
        if auth == "set":  # the link with ?token=: keep it in a cookie, then drop it from the address bar
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.token or "", httponly=True, samesite="strict",
                                secure=scope.get("scheme") == "https")  # fmt: skip
            return response
        if not auth:
            return json_error(
                401,
                "access token required: open the address `ecgimn app` printed (ending in ?token=...) or send "
                "'Authorization: Bearer <token>'",
            )
        origin = headers.get(b"origin")
        if (
            scope.get("method") not in ("GET", "HEAD")
            and origin
            and urlsplit(origin).netloc.lower() != host.lower()
        ):
            return json_error(403, "cross-site request refused")
        return self._length_refusal(headers.get(b"content-length"))

    def _length_refusal(self, length: str | None) -> Response | None:
        """400 for an unreadable Content-Length, 413 for one over the limit (before reading a byte of the body)."""
        if length is None:
            return None
        try:
            declared = int(length)
        except ValueError:
            return json_error(400, "invalid Content-Length header")
        if declared > self.limit:
            err = too_large(self.limit_mb)
            return json_error(err.status_code, err.detail)
        return None

    async def _handle(self, scope: dict, receive: Any, guarded_send: Any) -> None:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, guarded_send)
            return
        received = 0

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large(self.limit_mb)
            return message

        await self.app(scope, counted_receive, guarded_send)
