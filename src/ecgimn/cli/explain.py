"""``ecgimn explain``: explain the user's own ECG files; ``ecgimn demo``: the same on a synthetic ECG, no data needed."""

from __future__ import annotations

import argparse
import csv
import glob
import json
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecgimn.cli.common import add_command, add_model_arguments
from ecgimn.errors import CheckpointError, ConfigError, EcgImnError, InputError
from ecgimn.explain.defaults import STRIDE_S, TOP_K, WINDOW_S
from ecgimn.io.formats import SCAN_SUFFIXES, SUPPORTED

if TYPE_CHECKING:
    from ecgimn.inference.predictor import Predictor

#: suffixes picked up from folders and glob patterns (a WFDB record counts once, by its ``.hea``)
ECG_SUFFIXES = SCAN_SUFFIXES
FORMATS = ("png", "svg", "pdf")
LAYOUTS = ("3x4", "12x1")
_GLOB_CHARS = frozenset("*?[")

POLICY = """\
inputs:
  FILE      {supported}
  DIR       every ECG file directly inside ({scan})
  "GLOB"    a quoted pattern such as "ecgs/*.csv" or "data/**/*.hea"
  More than one file is a batch: a progress bar, one line per file, summary.csv in --out; a bad file is
  recorded there and does not stop the others.

record length:
  The model's input window (10 s for models trained on whole PTB-XL records, shorter for models trained on
  crops) is the minimum: shorter records are refused with their duration and the minimum. Longer records are
  explained with sliding windows (stride from the checkpoint): the average of the window models is itself one
  exact linear model over the whole record, so attributions still add up to the logit.

input check (before the model; "input_check" in the report, first line of the summary, picture titles):
  - status ok / warning / refused with named findings: implausible units (µV or V read as mV), ADC counts
    without gain, values beyond any ECG -> refused (exit 2; --allow-implausible explains it anyway, except
    values beyond float range); possible LA/RA or RA/LL reversal, inverted precordial lead, flat, clipped or
    noisy leads, baseline wander -> warning; a signal-quality score per lead
  - DC offset and baseline wander are removed by the model's baseline filter (when its checkpoint has one)

conversions (every change is listed under "notes" in the report):
  - sampling rate from the file (or --fs); other rates are resampled to the model's rate
  - units from the file (or --units); otherwise guessed from the amplitude
  - gaps (NaN) of up to 1 s are filled by linear interpolation
  - up to 3 flat or missing leads are kept as zeros and listed as flat_or_missing_leads; more are refused
  - a file with only I, II, V1-V6 (8-lead storage) gets III, aVR, aVL, aVF derived exactly from I and II

outputs (in --out; existing files are never replaced without --overwrite):
  <stem>_report.json               probabilities, exact evidence per explained class, input checks
  <stem>_<class>_ecg.<format>      the ECG on paper, evidence for / against the class in colour
  <stem>_<class>_heatmap.<format>  leads x time evidence (--no-heatmap to skip)
  summary.csv                      batches only: file, status, error, predicted, p_<class>, report

classes: --class NAME (repeatable), else the predicted classes (p >= 0.5), else the most probable one.
exit status: 0 all explained; 1 some files of a batch failed (see summary.csv); 2 error (nothing explained).
""".format(
    supported=textwrap.fill(SUPPORTED, 96, subsequent_indent=" " * 12),
    scan=textwrap.fill(
        ", ".join(SCAN_SUFFIXES) + "; --recursive for sub-folders", 66, subsequent_indent=" " * 12
    ),
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``explain`` and ``demo``."""
    p = add_command(
        sub,
        "explain",
        run_explain,
        help="explain ECG files (WFDB, CSV, NumPy, EDF, vendor XML, DICOM, SCP-ECG, .zip): probabilities, exact "
        "evidence, pictures, JSON",
        description="Explain 12-lead ECG files with an ECG-IMN: for each file the class probabilities and the "
        "exact evidence (sum of W * x plus bias equals the logit) as pictures and a JSON report.",
        epilog=POLICY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs", nargs="+", metavar="FILE_OR_DIR_OR_GLOB", help="ECG file(s), folder(s) or glob(s)"
    )
    add_model_arguments(p, interpretable=True)
    p.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="NAME",
        help="class to explain (repeatable; default: the predicted classes)",
    )
    p.add_argument("--out", default="ecgimn-explain", help="output folder (default ./ecgimn-explain)")
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=FORMATS,
        help="picture format (repeatable; default png)",
    )
    p.add_argument("--layout", default="3x4", choices=LAYOUTS, help="ECG paper layout (default 3x4)")
    p.add_argument(
        "--window", type=float, default=WINDOW_S, help=f"evidence window in seconds (default {WINDOW_S:g})"
    )
    p.add_argument(
        "--stride",
        type=float,
        default=STRIDE_S,
        help=f"evidence window stride in seconds (default {STRIDE_S:g})",
    )
    p.add_argument(
        "--top-k", type=int, default=TOP_K, help=f"strongest windows listed per class (default {TOP_K})"
    )
    _reader_arguments(p)
    p.add_argument("--recursive", action="store_true", help="also look in sub-folders of folder inputs")
    p.add_argument("--json", action="store_true", help="print the report(s) as JSON instead of a summary")
    p.add_argument("--no-heatmap", action="store_true", help="skip the leads x time heatmap pictures")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for batches")

    d = add_command(
        sub,
        "demo",
        run_demo,
        help="explain a synthetic ECG (or FILE) end to end: no data needed",
        description="Explain a clearly labelled SYNTHETIC 12-lead ECG (or FILE) with the bundled model and write "
        "the pictures and the JSON report. Needs no data; reruns replace the demo's own earlier outputs.",
    )
    d.add_argument(
        "file", nargs="?", metavar="FILE", help="an ECG file to explain instead of the synthetic one"
    )
    add_model_arguments(d, interpretable=True)
    d.add_argument("--out", default="ecgimn-demo", help="output folder (default ./ecgimn-demo)")
    _reader_arguments(d)
    d.add_argument("--json", action="store_true", help="print the report as JSON instead of a summary")


def _reader_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fs", type=float, default=None, help="sampling rate in Hz (for files that do not store it)"
    )
    p.add_argument(
        "--units", default=None, help="signal units: mV, uV or V (default: from the file or guessed)"
    )
    p.add_argument(
        "--leads",
        "--lead-names",
        dest="leads",
        default=None,
        metavar="I,II,...",
        help="comma-separated channel names in file order (for files without lead names)",
    )
    p.add_argument(
        "--allow-implausible",
        action="store_true",
        help="explain inputs the input check refuses (implausible units, ADC counts); the status stays visible",
    )
    p.add_argument(
        "--max-seconds", type=float, default=None, metavar="S",
        help="longest recording accepted, in seconds (default 300; raise it for long recordings)",
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------------ inputs


def _ecg_files(paths: Iterable[Path], exclude: set[Path]) -> list[Path]:
    return sorted(
        p for p in paths if p.is_file() and p.suffix.lower() in ECG_SUFFIXES and p.resolve() not in exclude
    )


def collect_inputs(
    items: Sequence[str], *, recursive: bool = False, exclude: Iterable[str | Path] = ()
) -> tuple[list[Path], bool]:
    """Expand files, folders and glob patterns into ECG files; returns ``(files, is_batch)``.

    Folders and globs keep only ECG suffixes (:data:`ECG_SUFFIXES`; a WFDB record by its ``.hea``); files named
    explicitly are kept as given (the reader then says what is wrong with them). ``exclude``: files to skip
    there (our own ``summary.csv``).
    """
    skip = {Path(e).resolve() for e in exclude}
    files: list[Path] = []
    batch = len(items) > 1
    for item in items:
        p = Path(item)
        if p.is_dir():
            batch = True
            found = _ecg_files(p.rglob("*") if recursive else p.iterdir(), skip)
            if not found:
                raise InputError(
                    f"{item}: no ECG files in this folder (looked for {', '.join(ECG_SUFFIXES)}"
                    f"{'' if recursive else ', not in sub-folders: add --recursive'})"
                )
        elif not p.exists() and _GLOB_CHARS & set(item):
            batch = True
            found = _ecg_files((Path(m) for m in glob.glob(item, recursive=True)), skip)
            if not found:
                raise InputError(f"{item}: no ECG files match this pattern ({', '.join(ECG_SUFFIXES)})")
        else:
            found = [p]
        files += found
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve().with_suffix("") if f.suffix.lower() in (".hea", ".dat") else f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, batch


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "ecg"


def output_stems(files: Sequence[Path]) -> list[str]:
    """A distinct output file stem per input: the file name without its suffix, made unique where names clash."""
    base = [_safe(f.name[: -len(f.suffix)] if f.suffix else f.name) for f in files]
    counts = Counter(base)
    stems: list[str] = []
    for f, b in zip(files, base):
        stem = b if counts[b] == 1 else f"{b}_{f.suffix.lstrip('.').lower() or 'record'}"
        candidate, i = stem, 2
        while candidate in stems:
            candidate, i = f"{stem}_{i}", i + 1
        stems.append(candidate)
    return stems


# ------------------------------------------------------------------------------------------------ one file


@dataclass
class Options:
    """What to explain and how to write it (the ``explain`` options not about inputs or the model)."""

    out: Path
    classes: list[str] | None = None
    formats: tuple[str, ...] = ("png",)
    layout: str = "3x4"
    window_s: float = WINDOW_S
    stride_s: float = STRIDE_S
    top_k: int = TOP_K
    heatmap: bool = True
    overwrite: bool = False
    fs: float | None = None
    units: str | None = None
    leads: str | None = None
    allow_implausible: bool = False
    budget: Any = None  # ecgimn.io.budget.Budget (None: the default limits)


@dataclass
class FileResult:
    """The outcome of one input file."""

    file: str
    stem: str
    report: dict[str, Any] | None = None
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None


def _exists_error(path: Path) -> ConfigError:
    return ConfigError(f"{path} already exists; pass --overwrite to replace it, or choose another --out")


def load_predictor(model: str, device: str | None = None) -> Any:
    """Load ``model`` (name or path) and refuse models that cannot be explained exactly."""
    import ecgimn
    from ecgimn.inference.predict import resolve_device

    resolve_device(device)  # an unknown or unavailable device fails before the model loads
    predictor = ecgimn.load(model, device=device)
    if not predictor.interpretable:
        raise CheckpointError(
            f"{predictor.source}: model {predictor.name!r} is a black box with no exact explanation; "
            "`ecgimn explain` needs an ECG-IMN checkpoint (e.g. --model default or a run trained with --model imn-1d)"
        )
    return predictor


def check_classes(predictor: Predictor, classes: Sequence[str] | None) -> list[str] | None:
    """The model's own spelling of the requested classes (case-insensitive); unknown names list the valid ones."""
    if not classes:
        return None
    lookup = {c.lower(): c for c in predictor.class_names}
    unknown = [c for c in classes if c.lower() not in lookup]
    if unknown:
        raise ConfigError(
            f"unknown class {unknown[0]!r} (--class); model {predictor.name!r} ({predictor.source}) predicts: "
            f"{', '.join(predictor.class_names)}"
        )
    return list(dict.fromkeys(lookup[c.lower()] for c in classes))


def _check_options(opts: Options) -> None:
    if opts.window_s <= 0 or opts.stride_s <= 0:
        raise ConfigError(
            f"--window and --stride must be positive seconds (got {opts.window_s}, {opts.stride_s})"
        )
    if opts.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1 (got {opts.top_k})")
    if opts.out.exists() and not opts.out.is_dir():
        raise ConfigError(f"--out {opts.out} is a file; pass a folder")


def _with_source(exc: EcgImnError, src: str) -> EcgImnError:
    """The same error, prefixed with the file name when its message does not name it (one line)."""
    msg = " ".join(str(exc).split())
    if src in msg:
        return exc
    return type(exc)(f"{src}: {msg}")


def explain_file(
    path: str | Path, predictor: Predictor, opts: Options, *, stem: str | None = None, recording: Any = None
) -> FileResult:
    """Read, explain and render one file (or an in-memory ``recording``); writes the report and pictures."""
    from ecgimn.explain.report import explain_recording, figure_paths, render
    from ecgimn.io import read_ecg
    from ecgimn.provenance import input_sha256

    src = str(path)
    stem = stem or _safe(Path(src).stem)
    report_path = opts.out / f"{stem}_report.json"
    try:
        if report_path.exists() and not opts.overwrite:
            raise _exists_error(report_path)
        rec = (
            recording
            if recording is not None
            else read_ecg(path, fs=opts.fs, units=opts.units, lead_names=opts.leads, budget=opts.budget)
        )
        result = explain_recording(
            predictor,
            rec,
            classes=opts.classes,
            window_s=opts.window_s,
            stride_s=opts.stride_s,
            top_k=opts.top_k,
            allow_implausible=opts.allow_implausible,
            input_sha256=input_sha256(path),  # None when `path` names no file (then: of the signal)
        )
        planned = figure_paths(result, opts.out, formats=opts.formats, heatmap=opts.heatmap, stem=stem)
        if not opts.overwrite:
            for _, _, fig_path in planned:
                if fig_path.exists():
                    raise _exists_error(fig_path)
    except EcgImnError as exc:
        raise _with_source(exc, src) from None
    opts.out.mkdir(parents=True, exist_ok=True)
    figures = render(
        result, opts.out, formats=opts.formats, layout=opts.layout, heatmap=opts.heatmap, stem=stem
    )
    report = result.report(figures=figures)
    report_path.write_text(json.dumps(report, indent=2, allow_nan=False), encoding="utf-8")
    return FileResult(src, stem, report, [report_path, *figures])


# ---------------------------------------------------------------------------------------------------- output


def _p(v: float) -> str:
    return f"{v:.2f}"


def format_result(res: FileResult) -> str:
    """A short human summary of one explained file."""
    r = res.report
    assert r is not None
    checks = r["input_checks"]
    head = "SYNTHETIC \u2014 not a physiological ECG: " if r.get("synthetic") else ""
    lines = [
        f"input: {input_status(r)}",
        f"{head}{res.file}: {checks['duration_s']:.1f} s at {checks['fs_file']:g} Hz; model {r['model']['name']} "
        f"({r['model']['source']})",
        "  probabilities: "
        + "  ".join(f"{c} {_p(p)}{'*' if c in r['predicted'] else ''}" for c, p in r["probabilities"].items())
        + "   (* predicted, p >= 0.5)",
    ]
    for ex in r["explanations"]:
        shares = ex["lead_shares"]
        leads = ", ".join(f"{n} {shares[n]:+.2f}" for n in ex["lead_ranking"][:3])
        lines.append(
            f"  explained {ex['class']} (p {_p(ex['probability'])}): logit {ex['logit']:+.2f} = leads "
            f"{ex['sum_lead_shares']:+.2f} + bias {ex['bias']:+.2f}; strongest leads {leads}"
        )
        for label, key in (("for", "top_positive"), ("against", "top_negative")):
            segs = " | ".join(
                f"{s['lead']} {s['start_s']:.2f}-{s['end_s']:.2f} s {s['evidence']:+.2f}" for s in ex[key]
            )
            lines.append(f"    evidence {label + ':':9s}{segs or 'none'}")
        wave = (r.get("waves") or {}).get("classes", {}).get(ex["class"])
        if wave:
            lines.append(f"    by wave: {wave['summary']}")
    if checks["flat_or_missing_leads"]:
        lines.append(f"  flat or missing leads (kept as zeros): {', '.join(checks['flat_or_missing_leads'])}")
    for note in checks["notes"]:
        lines.append(f"  note: {note}")
    lines.append(f"  written: {', '.join(str(p) for p in res.outputs)}")
    return "\n".join(lines)


def input_status(report: dict[str, Any]) -> str:
    """``OK`` / ``WARNING possible LA/RA reversal`` ... from a report's ``input_check``."""
    from ecgimn.io.quality import Finding, InputCheck

    c = report.get("input_check")
    if not c:
        return "not checked"
    return InputCheck(
        c["status"], [Finding(**f) for f in c["findings"]], overridden=c.get("overridden", False)
    ).summary()


def _one_line(res: FileResult) -> str:
    assert res.report is not None
    probs = res.report["probabilities"]
    pred = ", ".join(f"{c} {_p(probs[c])}" for c in res.report["predicted"]) or "none >= 0.5"
    notes = len(res.report["input_checks"]["notes"])
    status = input_status(res.report)
    return (
        f"ok  {res.file}: input {status}; predicted {pred}{f'; {notes} note(s)' if notes else ''} "
        f"-> {res.outputs[0]}"
    )


def _report_json(res: FileResult) -> str:
    return json.dumps({**(res.report or {}), "outputs": [str(p) for p in res.outputs]}, indent=2)


def _json_result(res: FileResult) -> dict[str, Any]:
    return {
        "file": res.file, "status": "error" if res.error else "ok", "error": res.error,
        "outputs": [str(p) for p in res.outputs], "report": res.report,
    }  # fmt: skip


def write_summary(path: Path, results: Sequence[FileResult], class_names: Sequence[str]) -> Path:
    """``summary.csv``: file, status, error, predicted classes, probability per class, report path."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["file", "status", "error", "predicted", *(f"p_{c}" for c in class_names), "report", "input"]
        )
        for res in results:
            r = res.report
            probs = [f"{r['probabilities'][c]:.6f}" for c in class_names] if r else [""] * len(class_names)
            w.writerow([
                res.file, "error" if res.error else "ok", res.error or "", ";".join(r["predicted"]) if r else "",
                *probs, str(res.outputs[0]) if res.outputs else "", input_status(r) if r else "",
            ])  # fmt: skip
    return path


# ---------------------------------------------------------------------------------------------------- commands


def _budget(args: argparse.Namespace) -> Any:
    from ecgimn.io.budget import DEFAULT_BUDGET

    return DEFAULT_BUDGET.with_max_seconds(args.max_seconds)


def run_explain(args: argparse.Namespace) -> int:
    opts = Options(
        out=Path(args.out), formats=tuple(dict.fromkeys(args.formats or ["png"])), layout=args.layout,
        window_s=args.window, stride_s=args.stride, top_k=args.top_k, heatmap=not args.no_heatmap,
        overwrite=args.overwrite, fs=args.fs, units=args.units, leads=args.leads, budget=_budget(args),
        allow_implausible=args.allow_implausible,
    )  # fmt: skip
    _check_options(opts)
    files, batch = collect_inputs(args.inputs, recursive=args.recursive, exclude=[opts.out / "summary.csv"])
    recording = None
    if not batch:  # read (and so validate) the file before paying for the model
        from ecgimn.io import read_ecg

        try:
            recording = read_ecg(files[0], fs=opts.fs, units=opts.units, lead_names=opts.leads)
        except EcgImnError as exc:
            raise _with_source(exc, str(files[0])) from None
    predictor = load_predictor(args.model, args.device)
    opts.classes = check_classes(predictor, args.classes)
    if not batch:
        res = explain_file(files[0], predictor, opts, recording=recording)
        print(_report_json(res) if args.json else format_result(res))
        return 0
    return _run_batch(files, predictor, opts, as_json=args.json, progress=not args.no_progress)


def _run_batch(
    files: list[Path], predictor: Predictor, opts: Options, *, as_json: bool, progress: bool
) -> int:
    from tqdm.auto import tqdm

    summary = opts.out / "summary.csv"
    if summary.exists() and not opts.overwrite:
        raise _exists_error(summary)
    opts.out.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    bar = tqdm(
        list(zip(files, output_stems(files))),
        desc="explaining",
        unit="file",
        disable=None if progress else True,
        file=sys.stderr,
    )
    for path, stem in bar:
        try:
            res = explain_file(path, predictor, opts, stem=stem)
            if not as_json:
                tqdm.write(_one_line(res), file=sys.stdout)
        except Exception as exc:  # one bad file must not stop the batch; it is reported in summary.csv
            msg = (
                " ".join(str(exc).split())
                if isinstance(exc, EcgImnError)
                else f"{path}: {type(exc).__name__}: {exc}"
            )
            res = FileResult(str(path), stem, error=" ".join(msg.split()))
            tqdm.write(f"error: {res.error}", file=sys.stderr)
        results.append(res)
    write_summary(summary, results, predictor.class_names)
    failed = sum(r.error is not None for r in results)
    if as_json:
        print(
            json.dumps(
                {
                    "summary_csv": str(summary),
                    "n_files": len(results),
                    "n_ok": len(results) - failed,
                    "n_failed": failed,
                    "results": [_json_result(r) for r in results],
                },
                indent=2,
            )
        )
    else:
        print(f"{len(results)} file(s): {len(results) - failed} ok, {failed} failed; summary: {summary}")
    if failed:
        print(f"error: {failed} of {len(results)} file(s) failed; see {summary}", file=sys.stderr)
        return 1
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ecgimn.io import synthetic_ecg

    predictor = load_predictor(args.model, args.device)
    opts = Options(out=Path(args.out), overwrite=True, fs=args.fs, units=args.units, leads=args.leads,
                   budget=_budget(args), allow_implausible=args.allow_implausible)  # fmt: skip
    _check_options(opts)
    if args.file:
        res = explain_file(args.file, predictor, opts)
    else:
        rec = synthetic_ecg()
        res = explain_file(rec.source, predictor, opts, stem="synthetic", recording=rec)
    if args.json:
        print(_report_json(res))
    else:
        print(format_result(res))
        print(f"\npictures and report in {opts.out.resolve()}")
    return 0
