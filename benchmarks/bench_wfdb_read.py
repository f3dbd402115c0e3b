"""Time reading PTB-XL WFDB records: ``wfdb.rdsamp`` (baseline) vs the NumPy format-16 reader, same records, same process.

Round-robin rounds, best kept; every record's two arrays are compared bit for bit.

    python benchmarks/bench_wfdb_read.py [--root ../shared/ptbxl] [--fs 100] [--n 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import wfdb

from ecgimn.io.wfdb16 import read_format16

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=SHARED / "ptbxl", help="PTB-XL folder")
    parser.add_argument("--fs", type=int, default=100, choices=(100, 500))
    parser.add_argument("--n", type=int, default=500, help="records read per round (the first n)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = args.root / ("records100" if args.fs == 100 else "records500")
    stems = [h.with_suffix("") for h in sorted(folder.glob("*/*.hea"))[: args.n]]
    if not stems:
        print(f"error: no WFDB records under {folder}; pass --root (a PTB-XL folder)", file=sys.stderr)
        return 2
    best = {"wfdb.rdsamp": float("inf"), "read_format16": float("inf")}
    for _ in range(args.rounds):
        start = time.perf_counter()
        ref = [wfdb.rdsamp(str(s), return_res=32)[0] for s in stems]
        best["wfdb.rdsamp"] = min(best["wfdb.rdsamp"], time.perf_counter() - start)
        start = time.perf_counter()
        fast = [read_format16(s) for s in stems]
        best["read_format16"] = min(best["read_format16"], time.perf_counter() - start)
    same = all(f is not None and np.array_equal(f[0], r, equal_nan=True) for f, r in zip(fast, ref))
    print(f"{len(stems)} records at {args.fs} Hz from {folder}, best of {args.rounds} rounds")
    print("| reader | ms per record | records/s |\n|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds / len(stems) * 1e3:.3f} | {len(stems) / seconds:,.0f} |")
    print(f"speed-up: {best['wfdb.rdsamp'] / best['read_format16']:.1f}x; identical arrays: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
