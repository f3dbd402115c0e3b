"""``ecgimn data download`` against a local HTTP mirror built from a few real records of ../shared/ptbxl."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ecgimn.cli import main
from ecgimn.data.download import download_ptbxl, parse_sums, sha256_file
from ecgimn.errors import DataError

MIRROR_FILES = [
    "LICENSE.txt",
    "scp_statements.csv",
    "records100/00000/00001_lr.hea",
    "records100/00000/00001_lr.dat",
    "records100/00000/00002_lr.hea",
    "records100/00000/00002_lr.dat",
    "records100/00000/00003_lr.hea",
    "records100/00000/00003_lr.dat",
    "records500/00000/00001_hr.hea",
    "records500/00000/00001_hr.dat",
]
CORRUPT = "records100/00000/00002_lr.dat"


class MirrorHandler(SimpleHTTPRequestHandler):
    """Static files; honours ``Range: bytes=N-`` when the server's ``ranges`` flag is set; records requests."""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not (rng and server.ranges and path.is_file()):  # type: ignore[attr-defined]
            return super().do_GET()
        data = path.read_bytes()
        start = int(rng.removeprefix("bytes=").split("-")[0])
        if start >= len(data):
            return self.send_error(416)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def mirror(shared_ptbxl: Path, tmp_path: Path) -> Path:
    """A release folder with a few real files, their official SHA256SUMS lines, and one corrupted file."""
    root = tmp_path / "mirror"
    sums = {
        name: digest
        for digest, name in (
            line.split() for line in (shared_ptbxl / "SHA256SUMS.txt").read_text().splitlines()
        )
    }
    for name in MIRROR_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_ptbxl / name, root / name)
    bad = bytearray((root / CORRUPT).read_bytes())
    bad[100] ^= 0xFF
    (root / CORRUPT).write_bytes(bytes(bad))
    (root / "SHA256SUMS.txt").write_text("".join(f"{sums[n]}  {n}\n" for n in MIRROR_FILES))
    return root


@contextlib.contextmanager
def serve(mirror: Path, ranges: bool) -> Iterator[ThreadingHTTPServer]:
    """Serve ``mirror`` on 127.0.0.1 (free port) from a thread."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(MirrorHandler, directory=str(mirror)))
    httpd.ranges, httpd.requests = ranges, []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(params=[True, False], ids=["range", "no-range"])
def server(request: pytest.FixtureRequest, mirror: Path) -> Iterator[ThreadingHTTPServer]:
    """The mirror served with and without HTTP Range support."""
    with serve(mirror, request.param) as httpd:
        yield httpd


def url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/"


@pytest.mark.integration
def test_download_verifies_and_resumes(
    server: ThreadingHTTPServer, shared_ptbxl: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    report = download_ptbxl(dest, 100, base_url=url(server), workers=3, progress=False)
    assert report.corrupt == [CORRUPT] and not report.failed and not report.ok
    assert sorted(report.downloaded) == sorted(
        n for n in MIRROR_FILES if not n.startswith("records500") and n != CORRUPT
    )
    for name in report.downloaded:
        assert sha256_file(dest / name) == sha256_file(shared_ptbxl / name)
    assert (
        not (dest / CORRUPT).exists()
        and not list(dest.rglob("*.part"))
        and not (dest / "records500").exists()
    )

    # second run: verified files are skipped (not fetched again), the corrupt one is retried and reported again
    server.requests.clear()  # type: ignore[attr-defined]
    again = download_ptbxl(dest, 100, base_url=url(server), workers=2, progress=False)
    assert sorted(again.skipped) == sorted(report.downloaded) and again.corrupt == [CORRUPT]
    fetched = {path for path, _ in server.requests}  # type: ignore[attr-defined]
    assert fetched == {"/SHA256SUMS.txt", "/" + CORRUPT}

    # a partial file is resumed with a Range request when the server supports it, fetched whole otherwise
    name = "records500/00000/00001_hr.dat"
    full = (shared_ptbxl / name).read_bytes()
    (dest / name).parent.mkdir(parents=True)
    (dest / (name + ".part")).write_bytes(full[: len(full) // 3])
    server.requests.clear()  # type: ignore[attr-defined]
    hr = download_ptbxl(dest, 500, base_url=url(server), workers=2, progress=False)
    assert hr.ok and sorted(hr.downloaded) == [name, "records500/00000/00001_hr.hea"]
    assert (dest / name).read_bytes() == full
    ranged = [r for p, r in server.requests if p == "/" + name]  # type: ignore[attr-defined]
    assert ranged == [f"bytes={len(full) // 3}-"]  # the client always asks; the no-range server answers 200


@pytest.mark.integration
def test_stale_partial_and_corrupt_existing_file(
    server: ThreadingHTTPServer, shared_ptbxl: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    name, other = "records100/00000/00001_lr.dat", "records100/00000/00003_lr.dat"
    for n in (name, other):
        (dest / n).parent.mkdir(parents=True, exist_ok=True)
    (dest / (name + ".part")).write_bytes(b"garbage that is not the start of the file")
    (dest / other).write_bytes(b"an old, damaged copy")
    report = download_ptbxl(dest, 100, base_url=url(server), workers=1, progress=False)
    assert name in report.downloaded and other in report.downloaded and report.corrupt == [CORRUPT]
    assert sha256_file(dest / name) == sha256_file(shared_ptbxl / name)
    assert sha256_file(dest / other) == sha256_file(shared_ptbxl / other)


@pytest.mark.integration
def test_cli_download_reports_corrupt_file(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(mirror, ranges=True) as server:
        code = main(
            ["data", "download", "--dest", str(tmp_path / "d"), "--base-url", url(server).rstrip("/")]
        )
    out, err = capsys.readouterr()
    assert code == 2
    assert "7 downloaded, 0 already present and verified, 1 corrupt, 0 failed" in out
    assert f"corrupt: {CORRUPT}: sha256 does not match SHA256SUMS.txt" in err
    assert f"error: 1 file(s) not downloaded correctly (first: {CORRUPT})" in err


def test_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot fetch http://127\.0\.0\.1:9/SHA256SUMS\.txt.*--base-url"):
        download_ptbxl(tmp_path, base_url="http://127.0.0.1:9/", timeout=5, progress=False)


def test_parse_sums_refuses_unsafe_paths() -> None:
    good = "a" * 64
    assert parse_sums(f"{good}  records100/x.dat\n\n{good} *LICENSE.txt\n") == {
        "records100/x.dat": good,
        "LICENSE.txt": good,
    }
    for bad in (f"{good}  ../etc/passwd", f"{good}  /abs/path", "short  file.txt"):
        with pytest.raises(DataError, match="SHA256SUMS.txt line 1"):
            parse_sums(bad)
