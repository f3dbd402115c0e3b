"""Long records: time and peak memory of explaining a 12-lead file of 15, 30 and 60 minutes at 250 Hz.

The file is real PTB-XL: consecutive 500 Hz records (ecg_id 1-500 have them) resampled to 250 Hz and joined
into one WFDB record (written to a temporary folder, never to the repository). Each duration is measured in a
fresh child process (so its peak RSS is its own): read with ``ecgimn.io.read_ecg``, explained with
``Predictor.explain_windows`` (sliding windows streamed ``--max-windows`` at a time, evidence per window).

    python benchmarks/bench_long_record.py --data ../shared/ptbxl --minutes 15 30 60 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_long_record(data: Path, minutes: float, folder: Path, fs: int = 250) -> Path:
    import wfdb
    from scipy.signal import resample_poly

    from ecgimn.data.ptbxl import LEADS, read_wfdb_record

    heads = sorted(data.glob("records500/*/*_hr.hea"))
    need = int(np.ceil(minutes * 6))
    if not heads:
        raise SystemExit(f"error: no 500 Hz PTB-XL records under {data}/records500")
    parts = [
        resample_poly(read_wfdb_record(heads[i % len(heads)].with_suffix(""), 500), 1, 2, axis=-1)
        for i in range(need)
    ]
    signal = np.concatenate(parts, axis=-1)[:, : int(minutes * 60 * fs)].T.astype(np.float64)
    stem = folder / f"long_{minutes:g}min".replace(".", "_")  # WFDB record names cannot hold a dot
    wfdb.wrsamp(
        stem.name,
        fs=fs,
        units=["mV"] * 12,
        sig_name=list(LEADS),
        p_signal=signal,
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        write_dir=str(folder),
    )
    return stem.with_suffix(".hea")


def measure(path: str, threads: int, max_windows: int) -> dict:
    """In this process: read + explain_windows; wall time, peak RSS."""
    import torch

    import ecgimn
    from ecgimn.io import read_ecg

    torch.set_num_threads(threads)
    p = ecgimn.load("default", device="cpu")
    t0 = time.perf_counter()
    rec = read_ecg(path)
    t1 = time.perf_counter()
    out = p.explain_windows(rec.signal, fs=rec.fs, max_windows=max_windows)
    t2 = time.perf_counter()
    return {
        "seconds_read": t1 - t0,
        "seconds_explain": t2 - t1,
        "windows": len(out.window_starts_s),
        "samples_250hz": int(rec.signal.shape[-1]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "probabilities": dict(zip(out.class_names, np.round(out.probabilities, 3).tolist())),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/ptbxl"))
    ap.add_argument("--minutes", type=float, nargs="+", default=[15, 30, 60])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-windows", type=int, default=256, help="windows per forward (bounds memory)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.threads, args.max_windows)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = write_long_record(args.data, minutes, Path(tmp))
            res = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(path),
                    "--threads",
                    str(args.threads),
                    "--max-windows",
                    str(args.max_windows),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append((minutes, json.loads(res.stdout.strip().splitlines()[-1])))
    print(
        f"threads={args.threads} max_windows={args.max_windows} model=default (3 x imn-1d-dual, 2.5 s windows)"
    )
    print(
        "| minutes | samples at 250 Hz | windows | read s | explain s | explain s per minute | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for minutes, r in rows:
        print(
            f"| {minutes:g} | {r['samples_250hz']:,} | {r['windows']:,} | {r['seconds_read']:.1f} | "
            f"{r['seconds_explain']:.1f} | {r['seconds_explain'] / minutes:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    print("probabilities (60 min):", rows[-1][1]["probabilities"])


if __name__ == "__main__":
    main()
