"""``ecgimn data``: PTB-XL task statistics (``summary``) and download (``download``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ecgimn.cli.common import add_command
from ecgimn.constants import BINARY_TASKS, SAMPLING_RATES, TASKS
from ecgimn.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data summary`` and ``data download``."""
    parser = add_command(
        subparsers,
        "data",
        lambda args: parser.print_help() or 1,
        help="PTB-XL: task statistics, download",
        description=__doc__,
    )
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    summary = add_command(
        sub, "summary", run_summary, help="records, classes, positives and splits per task (metadata only)"
    )
    summary.add_argument("--root", required=True, help="PTB-XL folder (holds ptbxl_database.csv)")
    summary.add_argument(
        "--fs", type=int, default=100, choices=SAMPLING_RATES, help="rate whose files are counted"
    )
    summary.add_argument("--task", action="append", choices=TASKS, help="only this task (repeatable)")
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")

    download = add_command(
        sub, "download", run_download, help="download PTB-XL from PhysioNet, verifying SHA256SUMS.txt"
    )
    download.add_argument(
        "--dest", required=True, help="folder to download into (resumes an earlier download)"
    )
    download.add_argument(
        "--fs", type=int, default=100, choices=SAMPLING_RATES, help="which records to fetch"
    )
    download.add_argument("--base-url", default=None, help="release URL (default: PhysioNet PTB-XL 1.0.3)")
    download.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")


def summarize(root: str, fs: int = 100, tasks: list[str] | None = None) -> dict[str, Any]:
    """Per task: records, classes, positives per class, records per split, absent classes; files on disk at ``fs``."""
    from ecgimn.data.ptbxl import PTBXL

    dataset = PTBXL(root)
    ids = dataset.metadata.index.to_numpy(np.int64)
    out: dict[str, Any] = {
        "root": str(dataset.root),
        "records": len(ids),
        "fs": fs,
        "records_on_disk": len(ids) - len(dataset.missing(ids, fs)),
        "tasks": {},
    }
    for task in tasks or TASKS:
        labels = dataset.labels(task)
        out["tasks"][task] = {
            "records": len(labels.ecg_ids),
            "classes": len(labels.classes),
            "positives": labels.positives(),
            "splits": labels.split_counts(),
            "absent_classes": labels.absent_classes,
        }
    return out


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarize`."""
    lines = [
        f"PTB-XL at {s['root']}: {s['records']:,} records in the metadata, "
        f"{s['records_on_disk']:,} with {s['fs']} Hz files on disk",
    ]
    for task, t in s["tasks"].items():
        splits = " / ".join(f"{k} {v:,}" for k, v in t["splits"].items())
        k = t["classes"]
        lines.append(f"\n{task}: {t['records']:,} records, {k} class{'es' if k != 1 else ''} ({splits})")
        positives = ", ".join(f"{c} {n:,}" for c, n in t["positives"].items())
        if task in BINARY_TASKS:
            positives += f" vs NORM only {t['records'] - sum(t['positives'].values()):,}"
        lines.append("  " + positives)
        if t["absent_classes"]:
            lines.append(f"  absent from this data: {', '.join(t['absent_classes'])}")
    return "\n".join(lines)


def run_summary(args: argparse.Namespace) -> int:
    s = summarize(args.root, args.fs, args.task)
    print(json.dumps(s, indent=2) if args.json else format_summary(s))
    return 0


def run_download(args: argparse.Namespace) -> int:
    from ecgimn.data.download import DEFAULT_BASE_URL, download_ptbxl

    report = download_ptbxl(
        args.dest, args.fs, base_url=args.base_url or DEFAULT_BASE_URL, workers=args.workers
    )
    print(
        f"{len(report.downloaded):,} downloaded, {len(report.skipped):,} already present and verified, "
        f"{len(report.corrupt):,} corrupt, {len(report.failed):,} failed -> {args.dest}"
    )
    for name in report.corrupt:
        print(
            f"corrupt: {name}: sha256 does not match SHA256SUMS.txt (removed; rerun to retry)",
            file=sys.stderr,
        )
    for name, why in report.failed.items():
        print(f"failed: {name}: {why}", file=sys.stderr)
    if not report.ok:
        bad = [*report.corrupt, *report.failed]
        raise DataError(
            f"{len(bad)} file(s) not downloaded correctly (first: {bad[0]}); rerun the same command to retry"
        )
    return 0
