"""Time PTB-XL loading: first load (reads every WFDB record, builds the cache) vs cached load.

Measured on a PTB-XL folder (default ``../shared/ptbxl``, 1,999 records) with a fresh temporary cache, then
extrapolated to the full release (21,799 records): the metadata part is timed on the full metadata when
``../shared/ptbxl-metadata`` exists, the signal part is scaled by the number of records.

    python benchmarks/bench_data_load.py [--root DIR] [--fs 100] [--task superdiagnostic] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from ecgimn.data import PTBXL, load_task

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FULL_RECORDS = 21_799  # PTB-XL v1.0.3


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=SHARED / "ptbxl")
    parser.add_argument("--fs", type=int, default=100)
    parser.add_argument("--task", default="superdiagnostic")
    parser.add_argument("--repeat", type=int, default=3, help="cached loads timed (best is kept)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # absent classes / missing records are not the point here

    n_records = len(PTBXL(args.root).metadata)
    with tempfile.TemporaryDirectory(prefix="ecgimn-bench-") as cache:
        kw = {"only_present": True, "cache_dir": cache, "progress": False}
        first = timed(lambda: load_task(args.root, args.task, args.fs, **kw))
        cached = timed(lambda: load_task(args.root, args.task, args.fs, **kw), args.repeat)
        n_loaded = len(load_task(args.root, args.task, args.fs, **kw))
        cache_mb = sum(p.stat().st_size for p in Path(cache).rglob("*.npy")) / 1e6

    meta_sub = timed(lambda: PTBXL(args.root).labels(args.task), args.repeat)
    full_meta = SHARED / "ptbxl-metadata"
    meta_full = (
        timed(lambda: PTBXL(full_meta).labels(args.task), args.repeat)
        if full_meta.is_dir()
        else meta_sub * FULL_RECORDS / n_records
    )
    scale = FULL_RECORDS / n_records
    result = {
        "root": str(args.root),
        "fs": args.fs,
        "task": args.task,
        "records_in_metadata": n_records,
        "records_loaded": n_loaded,
        "cache_mb": round(cache_mb, 1),
        "first_load_s": round(first, 3),
        "cached_load_s": round(cached, 3),
        "speedup": round(first / cached, 1),
        "full_first_load_s_est": round(meta_full + (first - meta_sub) * scale, 1),
        "full_cached_load_s_est": round(meta_full + (cached - meta_sub) * scale, 2),
        "full_cache_gb_est": round(cache_mb * scale / 1e3, 2),
    }
    print(f"PTB-XL load, {args.task} at {args.fs} Hz, {n_loaded:,} of {n_records:,} records ({args.root})")
    print(f"  first load (reads WFDB, builds cache): {first:8.2f} s")
    print(f"  cached load (best of {args.repeat}):           {cached:8.3f} s   ({result['speedup']}x faster)")
    print(
        f"  full release ({FULL_RECORDS:,} records), estimated: first {result['full_first_load_s_est']} s, "
        f"cached {result['full_cached_load_s_est']} s (of which metadata {meta_full:.2f} s), "
        f"cache {result['full_cache_gb_est']} GB"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
