"""Shared by the app benchmarks: serve ``ecgimn app`` on loopback in a child process, upload real PTB-XL records.

The server is the real uvicorn + FastAPI app (``create_app``) with the bundled default model, in its own process so
its RSS is measured alone (``/proc/<pid>/status``). Inputs are WFDB records of the PTB-XL subset in
``../shared/ptbxl`` (Wagner et al., Sci Data 2020), read from disk (never copied into the repo); without it a
synthetic 10 s record is used (said in the output).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SERVER = """
import sys, uvicorn
from ecgimn.app.server import create_app, Limits
app = create_app(sys.argv[1], temp_root=sys.argv[3], limits=Limits(max_sessions=int(sys.argv[4])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: str, temp_root: Path, max_sessions: int = 256) -> tuple[subprocess.Popen, str]:
    """The app in a child process (niced) on a free loopback port; waits until it answers."""
    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [
            "nice",
            "-n",
            "10",
            sys.executable,
            "-c",
            SERVER,
            model,
            str(port),
            str(temp_root),
            str(max_sessions),
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/info", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the app did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def inputs(n: int) -> tuple[list[list[tuple[str, bytes]]], str]:
    """``n`` uploads (each a list of (file name, bytes)): PTB-XL WFDB pairs when present, else synthetic .npy."""
    folder = SHARED / "ptbxl" / "records100" / "00000"
    heads = sorted(folder.glob("*.hea"))[:n] if folder.is_dir() else []
    if heads:
        files = [[(h.name, h.read_bytes()), (h.with_suffix(".dat").name, h.with_suffix(".dat").read_bytes())]
                 for h in heads]  # fmt: skip
        return files, f"PTB-XL records100 WFDB pairs ({len(files)} distinct records, 10 s, 100 Hz)"
    import io

    t = np.arange(1000) / 100
    out = []
    for i in range(max(n, 1)):
        x = (0.5 + 0.01 * i) * np.sin(2 * np.pi * 1.2 * t)[None] * np.linspace(0.5, 1.5, 12)[:, None]
        buf = io.BytesIO()
        np.save(buf, x.astype(np.float32))
        out.append([(f"synthetic{i}.npy", buf.getvalue())])
    return out, "synthetic 10 s 100 Hz .npy (PTB-XL subset not found)"


def write_plot(path: Path, draw) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    draw(fig)
    fig.savefig(path, dpi=120)
