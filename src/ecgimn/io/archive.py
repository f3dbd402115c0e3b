"""A ``.zip`` holding one record (a WFDB ``.hea`` with its ``.dat`` files, or one ECG file), unpacked safely.

Shared by :func:`ecgimn.io.read_ecg` (hence the command line) and the app's uploads. Protections:
member names are flattened to their base name (no zip-slip: nothing is written outside the target folder),
hidden / ``__MACOSX`` entries are skipped, at most :data:`MAX_MEMBERS` files, only ECG suffixes, no nested
``.zip``, no encrypted members, and the unpacked size is limited while unpacking (the sizes in the zip
directory can lie: zip bombs). A WFDB header may only name signal files that are in the archive.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgimn.errors import InputError
from ecgimn.io.formats import ZIP_MEMBER_SUFFIXES

#: files in one .zip (a WFDB .hea with its .dat files, or one file)
MAX_MEMBERS = 8
#: unpacked bytes of a .zip read from disk (the app passes its own upload limit)
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
WFDB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$")


class ArchiveTooLarge(InputError):
    """The unpacked contents of a .zip exceed the size limit."""


@dataclass
class Member:
    """A file unpacked from the archive."""

    name: str  # base name inside the archive, for messages and WFDB file names
    path: Path  # where it was written
    ext: str  # lower-case suffix


def basename(name: str) -> str:
    """The last component of a path written with ``/`` or ``\\``."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def check_member_suffix(name: str, shown: str = "") -> str:
    """The lower-case suffix of an archive member, refused unless an ECG file suffix."""
    ext = os.path.splitext(name.lower())[1]
    if ext == ".zip":
        raise InputError(f"{shown}: a .zip inside the .zip is not accepted")
    if ext not in ZIP_MEMBER_SUFFIXES:
        raise InputError(
            f"{shown}: {name}: unsupported file type {ext or '(no extension)'} in the .zip; accepted: "
            f"{', '.join(ZIP_MEMBER_SUFFIXES)}"
        )
    return ext


def extract_zip(
    path: Path,
    folder: Path,
    *,
    shown: str,
    limit_bytes: int = MAX_UNPACKED_BYTES,
    check_suffix: Callable[[str], str] | None = None,
) -> list[Member]:
    """Unpack the files of ``path`` into ``folder`` under internal names ``zip<i><ext>`` (module docstring).

    ``check_suffix(name) -> suffix`` vets each member's name (default :func:`check_member_suffix`).
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{shown}: not a readable .zip file") from exc
    out: list[Member] = []
    with zf:
        members = [
            m for m in zf.infolist()
            if not m.is_dir() and not basename(m.filename).startswith(".") and "__MACOSX" not in m.filename
        ]  # fmt: skip
        if not members:
            raise InputError(f"{shown}: the .zip holds no files")
        if len(members) > MAX_MEMBERS:
            raise InputError(f"{shown}: the .zip holds {len(members)} files; it must hold one record")
        if sum(m.file_size for m in members) > limit_bytes:
            raise ArchiveTooLarge(f"{shown}: unpacks to more than {limit_bytes / 2**20:g} MB")
        total = 0
        for i, m in enumerate(members):
            name = basename(m.filename)
            ext = check_suffix(name) if check_suffix else check_member_suffix(name, shown)
            if ext == ".zip":
                raise InputError(f"{shown}: a .zip inside the .zip is not accepted")
            if m.flag_bits & 0x1:
                raise InputError(f"{shown}: encrypted .zip files are not accepted")
            target = folder / f"zip{i}{ext}"
            try:
                with zf.open(m) as src, target.open("wb") as dst:
                    while chunk := src.read(1 << 16):
                        total += len(chunk)
                        if total > limit_bytes:  # the sizes in the zip directory can lie
                            raise ArchiveTooLarge(f"{shown}: unpacks to more than {limit_bytes / 2**20:g} MB")
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise InputError(f"{shown}: damaged .zip ({name}: {type(exc).__name__})") from exc
            out.append(Member(name, target, ext))
    return out


def check_wfdb_header(
    hea: Path, shown: str, available: set[str], *, missing: str = "is not in the .zip"
) -> None:
    """Refuse multi-segment records and signal files the header names that are not among ``available`` (a
    header may name any path: ``/etc/passwd`` would otherwise be read as signal data)."""
    import wfdb

    try:
        header = wfdb.rdheader(str(hea.with_suffix("")))
    except Exception as exc:
        raise InputError(f"{shown}: unreadable WFDB header ({type(exc).__name__}: {exc})") from exc
    if getattr(header, "seg_name", None) is not None:
        raise InputError(
            f"{shown}: multi-segment WFDB records are not supported; use a single-segment record"
        )
    for name in header.file_name or []:
        if name != os.path.basename(name) or name not in available:
            raise InputError(
                f"{shown}: the header's signal file {name!r} {missing}; select the .hea together with its "
                ".dat file(s), or a .zip holding both"
            )


def arrange(
    members: list[Member], folder: Path, *, shown: str = "", missing: str = "is not in the .zip"
) -> tuple[Path, str]:
    """Place one record's files in ``folder/record`` for the readers; returns (path to read, name to show).

    A WFDB record keeps its file names (the header refers to them), checked against :data:`WFDB_NAME`.
    """
    wfdb_files = [m for m in members if m.ext in (".hea", ".dat")]
    names = ", ".join(m.name for m in members)
    got = f"{shown}: got {names}" if shown else f"got {names}"
    if wfdb_files and len(wfdb_files) != len(members):
        raise InputError(f"{got}: one recording is needed (a WFDB .hea + .dat, or one other file)")
    record = folder / "record"
    record.mkdir()
    if not wfdb_files:
        if len(members) != 1:
            raise InputError(f"{got}: one recording at a time, not {len(members)} files")
        m = members[0]
        target = record / f"upload{m.ext}"
        m.path.replace(target)
        return target, m.name
    heads = [m for m in members if m.ext == ".hea"]
    if len(heads) != 1:
        what = "no .hea header" if not heads else f"{len(heads)} .hea headers"
        raise InputError(
            f"{got}: a WFDB record needs exactly one .hea header with its .dat file(s); found {what}"
        )
    if len({m.name for m in members}) != len(members):
        raise InputError(f"{got}: the same file name twice")
    for m in members:
        if not WFDB_NAME.match(m.name):
            raise InputError(
                f"{m.name}: WFDB file names may only use letters, digits and _ . + - (rename the record)"
            )
        m.path.replace(record / m.name)
    hea = record / heads[0].name
    check_wfdb_header(hea, heads[0].name, {m.name for m in members if m.ext == ".dat"}, missing=missing)
    return hea, heads[0].name


def read_zip(path: Path, src: str, read: Any, **kwargs: Any) -> Any:
    """Unpack ``path`` into a temporary folder and ``read(inner_path, **kwargs)`` the record it holds.

    Messages and notes name ``src`` and the member instead of temporary paths.
    """
    with tempfile.TemporaryDirectory(prefix="ecgimn-zip-") as tmp:
        folder = Path(tmp)
        inner, member = arrange(extract_zip(path, folder, shown=src), folder, shown=src)
        shown = f"{src}:{member}"
        try:
            rec = read(inner, **kwargs)
        except InputError as exc:
            raise InputError(scrub(str(exc), folder, shown, inner)) from None
    rec.source = shown
    rec.record_id = Path(src).stem
    rec.notes = [scrub(n, folder, shown, inner) for n in rec.notes]
    return rec


def scrub(text: str, folder: Path, shown: str, internal: Path) -> str:
    """Replace temporary paths in a message by the name the user knows."""
    text = text.replace(str(internal), shown)
    return text.replace(str(folder) + os.sep, "").replace(str(folder), "archive")
