"""Download PTB-XL from PhysioNet (or a mirror), resumable, every file verified against the release's SHA256SUMS.txt.

Files whose sha256 already matches are skipped; partial downloads (``*.part``) are resumed with an HTTP Range request
when the server honours it (else fetched again). A file whose checksum does not match after download is reported by
name and left out (its ``.part`` removed, so the next run fetches it afresh); the others are still downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPResponse
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ecgimn.data.ptbxl import check_fs
from ecgimn.errors import DataError

DEFAULT_BASE_URL = "https://physionet.org/files/ptb-xl/1.0.3/"
SUMS_FILE = "SHA256SUMS.txt"
_RECORD_DIRS = {100: "records100", 500: "records500"}
_BLOCK = 1 << 20


@dataclass
class DownloadReport:
    """Outcome per file (relative paths): downloaded, already present, corrupt (checksum mismatch), failed."""

    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.failed


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_sums(text: str) -> dict[str, str]:
    """``{relative path: sha256}`` from SHA256SUMS.txt lines ``<hex>  <path>``; unsafe paths are refused."""
    sums: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        pure = PurePosixPath(name)
        if len(digest) != 64 or not name or pure.is_absolute() or ".." in pure.parts:
            raise DataError(f"{SUMS_FILE} line {n} is not '<sha256>  <relative path>': {line!r}")
        sums[name] = digest.lower()
    return sums


def select_files(sums: dict[str, str], fs: int) -> dict[str, str]:
    """The release files needed at ``fs``: every file outside the record folders plus that rate's records."""
    wanted = _RECORD_DIRS[check_fs(fs)]
    return {
        name: digest
        for name, digest in sums.items()
        if PurePosixPath(name).parts[0] == wanted or PurePosixPath(name).parts[0] not in _RECORD_DIRS.values()
    }


def _open(url: str, timeout: float, start: int = 0) -> HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "ecgimn-download"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _fetch(url: str, part: Path, timeout: float) -> bool:
    """Download ``url`` into ``part``, resuming from its current size if the server supports ranges (-> resumed)."""
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, timeout, start)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not start:  # 416: the partial file is already complete (or longer): start over
            raise
        part.unlink()
        start, response = 0, _open(url, timeout)
    with response:
        resumed = start > 0 and response.status == 206
        with open(part, "ab" if resumed else "wb") as f:
            shutil.copyfileobj(response, f, _BLOCK)
    return resumed


def _download_one(base_url: str, dest: Path, name: str, digest: str, timeout: float) -> str:
    """Return ``"skipped"``, ``"downloaded"`` or ``"corrupt"``; network errors propagate."""
    target = dest / name
    if target.is_file() and sha256_file(target) == digest:
        return "skipped"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    url = base_url + urllib.parse.quote(name)
    if part.is_file() and sha256_file(part) == digest:  # complete but not yet renamed (interrupted run)
        os.replace(part, target)
        return "downloaded"
    if _fetch(url, part, timeout) and sha256_file(part) != digest:
        part.unlink()  # the resumed bytes may be stale: fetch once more from scratch
        _fetch(url, part, timeout)
    if sha256_file(part) != digest:
        part.unlink()
        return "corrupt"
    os.replace(part, target)
    return "downloaded"


def download_ptbxl(
    dest: str | os.PathLike[str],
    fs: int = 100,
    *,
    base_url: str = DEFAULT_BASE_URL,
    workers: int = 8,
    timeout: float = 60.0,
    progress: bool = True,
) -> DownloadReport:
    """Download the PTB-XL release at ``base_url`` into ``dest`` (metadata + the ``fs`` Hz records).

    Raises :class:`DataError` if ``SHA256SUMS.txt`` cannot be fetched; per-file problems are collected in the report.
    """
    dest = Path(dest).expanduser()
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _open(base_url + SUMS_FILE, timeout) as response:
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(
            f"cannot fetch {base_url}{SUMS_FILE} ({exc}); check the network and --base-url"
        ) from exc
    files = select_files(parse_sums(text), fs)
    if not files:
        raise DataError(f"{base_url}{SUMS_FILE} lists no PTB-XL files for {fs} Hz; check --base-url")
    (dest / SUMS_FILE).write_text(text)
    report = DownloadReport()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            name: pool.submit(_download_one, base_url, dest, name, d, timeout) for name, d in files.items()
        }
        for name, future in tqdm(futures.items(), desc="PTB-XL files", unit="file", disable=not progress):
            try:
                outcome = future.result()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                report.failed[name] = str(exc)
                continue
            {"skipped": report.skipped, "downloaded": report.downloaded, "corrupt": report.corrupt}[
                outcome
            ].append(name)
    return report
