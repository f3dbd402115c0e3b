"""Provenance of a result: when it was made, by which package version, which model file and which input.

Every JSON / PDF report and every audit line of the app carries the same four facts, so a result can be traced
back to the exact model checkpoint and input bytes (SHA-256) that produced it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ecgimn import __version__

_MODEL_CACHE: dict[tuple[str, int, int], str] = {}


def utc_now() -> str:
    """The current time, ISO 8601 in UTC with seconds (``2026-11-30T20:15:03Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (read in blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def sha256_files(named: Iterable[tuple[str, str]]) -> str:
    """One digest for an input of several files: ``(name, sha256)`` pairs; a single file keeps its own digest
    (so it matches ``sha256sum FILE``), several hash ``name:digest`` lines in name order."""
    pairs = sorted(named)
    if len(pairs) == 1:
        return pairs[0][1]
    return sha256_bytes("".join(f"{n}:{d}\n" for n, d in pairs).encode())


def record_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files an ECG input consists of: a WFDB record's ``.hea`` and ``.dat`` files, else the file itself."""
    p = Path(path)
    if p.suffix.lower() in (".hea", ".dat") or (not p.suffix and Path(f"{p}.hea").exists()):
        stem = p.with_suffix("") if p.suffix else p
        return sorted(f for f in (Path(f"{stem}.hea"), Path(f"{stem}.dat")) if f.is_file())
    return [p] if p.is_file() else []


def input_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of an ECG input file (a WFDB record: of its files, see :func:`sha256_files`); None if absent."""
    files = record_files(path)
    return sha256_files((f.name, sha256_file(f)) for f in files) if files else None


def model_sha256(predictor: Any) -> str | None:
    """SHA-256 of the checkpoint file a predictor was loaded from (cached by path, size and mtime); a wrapper
    that hides the path may give it as ``checkpoint_sha256``."""
    known = getattr(predictor, "checkpoint_sha256", None)
    if isinstance(known, str):
        return known
    source = getattr(predictor, "source", None)
    if not source or not Path(source).is_file():
        return None
    st = Path(source).stat()
    key = (str(Path(source).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = sha256_file(source)
    return _MODEL_CACHE[key]


def provenance(predictor: Any, input_digest: str | None, *, input_kind: str = "file") -> dict[str, Any]:
    """``{"time", "ecgimn_version", "model_sha256", "input_sha256", "input_hashed"}`` for a report."""
    return {
        "time": utc_now(),
        "ecgimn_version": __version__,
        "model_sha256": model_sha256(predictor),
        "input_sha256": input_digest,
        "input_hashed": input_kind,
    }
