"""Uploads: a streaming multipart parser and the vetting of what arrives (names, types, counts, archives).

The upload is parsed as a stream; the size limit is enforced by :class:`ecgimn.app.security.Guard` while the
body arrives. Only known ECG extensions are accepted (the format table of :mod:`ecgimn.io.formats`); uploaded
files are written under internal names in a per-request temporary folder that the caller removes; file names
with control or invisible characters are refused; a .zip is vetted by :mod:`ecgimn.io.archive`.
"""

from __future__ import annotations

import asyncio
import os
import time
import unicodedata
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecgimn.app.errors import AppError, too_large
from ecgimn.errors import InputError
from ecgimn.io.archive import ArchiveTooLarge, arrange, basename, extract_zip
from ecgimn.io.archive import Member as Upload
from ecgimn.io.formats import SUPPORTED, UPLOAD_SUFFIXES, ZIP_MEMBER_SUFFIXES

try:  # python-multipart >= 0.0.13 installs as ``python_multipart``
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # pragma: no cover - older python-multipart
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]

__all__ = [
    "ECG_EXTENSIONS",
    "UPLOAD_EXTENSIONS",
    "Upload",
    "arrange_upload",
    "extract_upload",
    "receive_files",
]

#: files in one upload (a WFDB .hea with its .dat files, or one file / one .zip)
MAX_FILES = 8
#: small text fields (fs, units, lead_names) in one upload, and the bytes of each
MAX_FIELDS = 8
MAX_FIELD_BYTES = 1024
#: extensions accepted in an upload (the format table of ``ecgimn.io``: what ``read_ecg`` reads, and .zip)
ECG_EXTENSIONS = ZIP_MEMBER_SUFFIXES
UPLOAD_EXTENSIONS = UPLOAD_SUFFIXES


def check_name(name: str) -> str:
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


def extension(name: str) -> str:
    """The lower-case extension of ``name`` (``""`` when it has none)."""
    return os.path.splitext(name.lower())[1]


def check_extension(name: str) -> str:
    """The extension of ``name`` when the app accepts it; else 415 naming the accepted formats."""
    ext = extension(name)
    if ext not in UPLOAD_EXTENSIONS:
        raise AppError(
            415,
            f"{name or 'the file'}: unsupported file type {ext or '(no extension)'}; accepted: {SUPPORTED} "
            "(a WFDB record: select the .hea and .dat together)",
        )
    return ext


class _Parts:
    """The callbacks of the multipart parser: files go to ``folder`` under internal names, small text fields to
    ``fields``; counts, sizes and extensions are checked as soon as each part's headers are seen."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Upload] = []
        self.fields: dict[str, str] = {}
        self.ended = False
        self._begin()

    def _begin(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.hname = b""
        self.hvalue = b""
        self.field: str | None = None
        #: the open file of a file part, False for an empty file input, None for a text field
        self.file: IO[bytes] | bool | None = None
        self.data = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin, "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field, "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end, "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }  # fmt: skip

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.hvalue += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.hname.lower()] = self.hvalue
        self.hname, self.hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.field = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts:
            self._open_file(opts[b"filename"].decode("utf-8", "replace"))
        elif len(self.fields) >= MAX_FIELDS:
            raise AppError(400, "too many form fields")

    def _open_file(self, given: str) -> None:
        name = check_name(basename(given))
        if not name:  # an empty file input
            self.file = False
            return
        if len(self.files) >= MAX_FILES:
            raise AppError(400, f"too many files in one upload (at most {MAX_FILES}); upload one recording")
        ext = check_extension(name)
        path = self.folder / f"part{len(self.files)}{ext}"
        self.files.append(Upload(name, path, ext))
        self.file = path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file:
            self.file.write(data[start:end])  # type: ignore[union-attr]
        elif self.file is None:
            self.data += data[start:end]
            if len(self.data) > MAX_FIELD_BYTES:
                raise AppError(400, f"form field {self.field!r} is too long")

    def on_part_end(self) -> None:
        if self.file:
            self.file.close()  # type: ignore[union-attr]
        elif self.file is None and self.field:
            self.fields[self.field] = self.data.decode("utf-8", "replace").strip()
        self.file = None

    def on_end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.file:
            self.file.close()  # type: ignore[union-attr]


async def receive_files(
    request: Request, folder: Path, idle_s: float = 30.0, total_s: float = 300.0
) -> tuple[list[Upload], dict[str, str]]:
    """Stream a multipart body into ``folder``: files under internal names, small text fields returned.

    A body that pauses for ``idle_s`` or takes longer than ``total_s`` is refused (408), as is one that ends
    before its closing boundary (a cut-off upload).
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise AppError(400, "send the ECG as a multipart/form-data upload (field 'files')")
    parts = _Parts(folder)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    try:
        await _feed(request, parser, idle_s, total_s)
    except StarletteHTTPException:
        raise
    except Exception as exc:  # python-multipart raises its own parse errors on malformed bodies
        raise AppError(
            400, f"malformed upload ({type(exc).__name__}); send the file from the page's form"
        ) from exc
    finally:
        parts.close()
    if not parts.ended:
        raise AppError(
            400, "incomplete upload: the body ended before its closing boundary; send the file again"
        )
    if not parts.files:
        raise AppError(400, "no file received; choose an ECG file (or a WFDB .hea together with its .dat)")
    return parts.files, parts.fields


async def _feed(request: Request, parser: Any, idle_s: float, total_s: float) -> None:
    """Write the request body into ``parser`` as it arrives (408 when it stalls or takes too long)."""
    deadline = time.monotonic() + total_s
    stream = request.stream().__aiter__()
    while True:
        wait = min(idle_s, deadline - time.monotonic())
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=max(wait, 0.001))
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise AppError(
                408,
                f"upload stalled or too slow (no data for {idle_s:g} s, or over {total_s:g} s); try again",
            ) from None
        parser.write(chunk)
    parser.finalize()


def extract_upload(upload: Upload, folder: Path, limit: int, limit_mb: float) -> list[Upload]:
    """The files of a .zip, vetted by ``ecgimn.io.archive`` (zip-slip, zip-bomb, member types)."""
    try:
        return extract_zip(upload.path, folder, shown=upload.name, limit_bytes=limit,
                           check_suffix=lambda name: check_extension(check_name(name)))  # fmt: skip
    except ArchiveTooLarge:
        raise too_large(limit_mb) from None
    except InputError as exc:
        raise AppError(400, str(exc)) from None


def arrange_upload(uploads: list[Upload], folder: Path) -> tuple[Path, str]:
    """Place the uploaded record's files for :func:`read_ecg`; returns (path to read, name to show)."""
    try:
        return arrange(uploads, folder, missing="was not uploaded")
    except InputError as exc:
        raise AppError(400, str(exc)) from None


def scrub(text: str, folder: Path, shown: str, internal: Path) -> str:
    """Replace server-side temporary paths in a message by the user's file name."""
    text = text.replace(str(internal), shown)
    return text.replace(str(folder) + os.sep, "").replace(str(folder), "upload")
