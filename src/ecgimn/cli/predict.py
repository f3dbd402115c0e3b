"""``ecgimn predict``: many ECG files -> one CSV (probabilities, top evidence, input checks, provenance), resumable."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ecgimn.cli.common import add_command, add_model_arguments
from ecgimn.errors import ConfigError, InputError

HELP = "predict a folder / file list of ECGs into one CSV (streamed, resumable, bad files skipped)"
DESCRIPTION = (
    "Predict many ECG files into one CSV row each: probabilities, the strongest evidence per "
    "class, input checks and provenance (package version, model and input SHA-256). Rows are appended per "
    "batch; rerunning with the same --out skips the files already there, so an interrupted run resumes. "
    "A file that cannot be read is recorded with its error and skipped (exit status 1 at the end)."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "predict", run_predict, help=HELP, description=DESCRIPTION)
    p.add_argument("inputs", nargs="*", metavar="FILE_OR_DIR_OR_GLOB", help="ECG files, folders or globs")
    p.add_argument(
        "--list",
        dest="file_list",
        type=Path,
        default=None,
        help="a text file with one ECG path per line (in addition to the inputs)",
    )
    p.add_argument("--out", required=True, type=Path, help="results CSV (appended to; resumes a run)")
    add_model_arguments(p)
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16"],
        help="bf16: autocast (faster on GPUs; probabilities carry bf16 rounding)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="records per forward (default 64)")
    p.add_argument("--workers", type=int, default=2, help="reader processes (0: read in this process)")
    p.add_argument("--recursive", action="store_true", help="also look in sub-folders of folder inputs")
    p.add_argument("--fs", type=float, default=None, help="sampling rate for files that do not store it")
    p.add_argument(
        "--units", default=None, help="signal units: mV, uV or V (default: from the file or guessed)"
    )
    p.add_argument("--leads", default=None, metavar="I,II,...", help="channel names in file order")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _files(args: argparse.Namespace) -> list[str]:
    from ecgimn.cli.explain import collect_inputs

    files: list[str] = []
    if args.inputs:
        found, _ = collect_inputs(args.inputs, recursive=args.recursive, exclude=[args.out])
        files += [str(f) for f in found]
    if args.file_list is not None:
        if not args.file_list.is_file():
            raise InputError(f"{args.file_list}: file list not found")
        files += [
            line.strip() for line in args.file_list.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    if not files:
        raise InputError("no inputs: give ECG files, folders or globs, or --list FILE")
    return list(dict.fromkeys(files))


def run_predict(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.workers < 0:
        raise ConfigError("--batch-size must be >= 1 and --workers >= 0")
    if args.out.exists() and args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; pass a .csv file")
    files = _files(args)
    import ecgimn
    from ecgimn.batch import run_batch

    predictor = ecgimn.load(args.model, device=args.device, precision=args.precision)
    reader = {"fs": args.fs, "units": args.units, "lead_names": args.leads}
    t0 = time.perf_counter()
    counts = run_batch(
        predictor,
        files,
        args.out,
        reader_kwargs=reader,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=not args.no_progress,
    )
    dt = time.perf_counter() - t0
    new = counts["ok"] + counts["error"]
    rate = f", {new / dt:.1f} files/s" if new and dt > 0 else ""
    print(
        f"{args.out}: {counts['ok']} predicted, {counts['error']} failed (listed with status=error), "
        f"{counts['skipped']} already there (skipped){rate}"
    )
    return 1 if counts["error"] else 0
