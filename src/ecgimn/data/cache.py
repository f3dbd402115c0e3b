"""On-disk signal cache: one float32 ``.npy`` per (PTB-XL root, sampling rate), memory-mapped on later loads.

Layout of ``<cache_dir>/ptbxl-<hash of root>-<fs>hz/``: ``signals-<token>.npy`` (N, 12, L) float32 mV,
``ids-<token>.npy`` (N,) ecg_ids and ``meta.json`` (fingerprint + token). Every file is written under a temporary name
and renamed; ``meta.json`` is replaced last, so a reader sees either the old or the new complete cache. The fingerprint
(resolved root, size and mtime of ``ptbxl_database.csv``, fs, format) invalidates the cache when the root changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ecgimn.constants import N_LEADS

#: bump when the cache layout or the signal conversion changes
CACHE_FORMAT = 1
CACHE_ENV = "ECGIMN_CACHE"


def default_cache_dir() -> Path:
    """``$ECGIMN_CACHE`` if set, else ``~/.cache/ecgimn``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ecgimn"


def fingerprint(root: Path, fs: int, database_csv: str = "ptbxl_database.csv") -> dict[str, object]:
    """What identifies the signals of ``root`` at ``fs``: changes when the metadata file changes."""
    root = Path(root).resolve()
    stat = (root / database_csv).stat()
    return {
        "format": CACHE_FORMAT,
        "root": str(root),
        "csv_size": stat.st_size,
        "csv_mtime_ns": stat.st_mtime_ns,
        "fs": int(fs),
    }


class SignalCache:
    """The cache of one (root, fs); ``load`` returns ``None`` when absent, stale or unreadable."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None, root: Path, fs: int) -> None:
        base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.fingerprint = fingerprint(root, fs)
        digest = hashlib.sha1(str(self.fingerprint["root"]).encode()).hexdigest()[:12]
        self.directory = base / f"ptbxl-{digest}-{int(fs)}hz"

    @property
    def meta_path(self) -> Path:
        return self.directory / "meta.json"

    def load(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(read-only memory map (N, 12, L), ecg_ids (N,)) if the cache matches the fingerprint."""
        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("fingerprint") != self.fingerprint:
                return None
            token = meta["token"]
            ids = np.load(self.directory / f"ids-{token}.npy")
            X = np.load(self.directory / f"signals-{token}.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if X.ndim != 3 or X.shape[0] != len(ids) or X.dtype != np.float32:
            return None
        return X, ids

    def build(
        self,
        ecg_ids: np.ndarray,
        read: Callable[[int], np.ndarray],
        n_samples: int,
        *,
        progress: bool = True,
        desc: str = "reading records",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read every record with ``read(ecg_id) -> (12, L)`` into a new cache, then load it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        ids = np.asarray(ecg_ids, dtype=np.int64)
        signals, ids_file = self.directory / f"signals-{token}.npy", self.directory / f"ids-{token}.npy"
        tmp = signals.with_name(signals.name + ".tmp")
        try:
            out = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.float32, shape=(len(ids), N_LEADS, n_samples)
            )
            for i, ecg_id in enumerate(tqdm(ids, desc=desc, unit="rec", disable=not progress)):
                out[i] = read(int(ecg_id))
            out.flush()
            del out
            os.replace(tmp, signals)
            _atomic_write(ids_file, lambda f: np.save(f, ids))
            meta = {
                "fingerprint": self.fingerprint,
                "token": token,
                "n_records": len(ids),
                "n_samples": n_samples,
            }
            _atomic_write(self.meta_path, lambda f: f.write(json.dumps(meta, indent=1).encode()))
        finally:
            tmp.unlink(missing_ok=True)
        self._remove_stale(token)
        loaded = self.load()
        if (
            loaded is None
        ):  # pragma: no cover - only if another process replaced it meanwhile with a stale one
            raise OSError(f"signal cache {self.directory} could not be read back")
        return loaded

    def _remove_stale(self, keep: str) -> None:
        for path in self.directory.glob("*.npy"):  # complete files only, not tmp files of a concurrent build
            if keep not in path.name:
                try:
                    path.unlink()
                except OSError:  # pragma: no cover - e.g. another process removed it first
                    pass


def _atomic_write(path: Path, write: Callable[[object], object]) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
