"""Archive-scale prediction: many ECG files -> one CSV row each, streamed, resumable, one bad file never stops it.

Files are read (and resampled to the model's rate) in worker processes while the model works on the previous
batch; each finished batch is appended to the CSV and flushed, so an interrupted run loses at most the batch in
flight. A rerun with the same ``--out`` skips every file already in it (done or failed) and appends the rest.
Each row carries the probabilities, the strongest evidence per class (lead and 0.5 s segment of sum(W * x_std)),
the input check (``ecgimn.io.quality`` when installed) and provenance: package version, model SHA-256 and the
input file's SHA-256 (for WFDB records, of the header and the signal file together).
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgimn import __version__
from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError, EcgImnError
from ecgimn.explain.defaults import WINDOW_S

if TYPE_CHECKING:
    from ecgimn.inference.predictor import Predictor

#: records longer than this (seconds) are explained window by window (bounded memory), not in a batch
LONG_RECORD_SECONDS = 120.0
#: evidence segment for the "top evidence" columns (the evidence window every front end uses)
SEGMENT_SECONDS = WINDOW_S


@dataclass
class ReadResult:
    """What a worker returns for one file: the signal at the model's rate, or the error."""

    file: str
    signal: np.ndarray | None = None
    fs_in: float | None = None
    sha256: str = ""
    error: str = ""
    notes: str = ""
    input_status: str = ""
    input_findings: str = ""


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes; a WFDB record (``.hea``) hashes its header and its signal files together."""
    digest = hashlib.sha256()
    parts = [path]
    if path.suffix.lower() == ".hea":
        # its signal files by name (listing a folder of 100,000 files per file is slow); samefile: a
        # case-insensitive file system finds .dat and .DAT as one file
        for suffix in (".dat", ".mat", ".DAT", ".MAT"):
            p = path.with_suffix(suffix)
            if p.is_file() and not any(os.path.samefile(p, q) for q in parts[1:]):
                parts.append(p)
        parts[1:] = sorted(parts[1:])
    for part in parts:
        with open(part, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _quality():
    """``ecgimn.io.quality.assess`` when that module is installed (it is optional here)."""
    try:
        from ecgimn.io.quality import assess
    except ImportError:
        return None
    return assess


def read_one(task: tuple[str, float, dict]) -> ReadResult:
    """Read one file and resample it to ``fs_model`` (runs in a worker process; never raises)."""
    path, fs_model, reader_kwargs = task
    from ecgimn.io import read_ecg
    from ecgimn.io.signal import resample_array

    res = ReadResult(file=path)
    try:
        res.sha256 = file_sha256(Path(path))
        rec = read_ecg(path, **reader_kwargs)
        res.fs_in = float(rec.fs)
        res.notes = "; ".join(rec.notes)
        assess = _quality()
        if assess is not None:
            check = assess(rec.signal, rec.fs, list(rec.lead_names), hints=rec.hints)
            res.input_status = str(check.status)
            res.input_findings = "; ".join(f.message for f in check.findings)
            if check.status == "refused":  # this file only: the others of its batch are predicted
                res.error = f"{path}: input refused: {'; '.join(f.message for f in check.refusals)}"
                return res
        x = rec.signal
        if float(rec.fs) != float(fs_model):
            x = resample_array(x, float(rec.fs), float(fs_model))
        res.signal = np.ascontiguousarray(x, dtype=np.float32)
    except EcgImnError as exc:
        res.error = " ".join(str(exc).split())
    except Exception as exc:  # a reader bug must not stop an archive run: record it, go on
        res.error = f"{path}: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return res


def _init_worker() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def read_stream(
    files: Sequence[str], fs_model: float, reader_kwargs: dict, workers: int
) -> Iterator[ReadResult]:
    """Read ``files`` in order, ``workers`` processes ahead of the consumer (0: in this process)."""
    tasks = ((f, fs_model, reader_kwargs) for f in files)
    if workers <= 0:
        yield from map(read_one, tasks)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(read_one, tasks, chunksize=4)


def columns(class_names: Sequence[str]) -> list[str]:
    return [
        "file",
        "status",
        "error",
        "predicted",
        *(f"p_{c}" for c in class_names),
        *(f"top_{c}" for c in class_names),
        "input_status",
        "input_findings",
        "seconds",
        "fs_in",
        "notes",
        "sha256",
        "model",
        "model_sha256",
        "ecgimn_version",
    ]


def finished_files(out: Path, header: list[str], model_sha: str) -> set[str]:
    """Files already in ``out`` (done or failed). A half-written last line (a killed run) is cut off first."""
    if not out.exists() or out.stat().st_size == 0:
        return set()
    data = out.read_bytes()
    if not data.endswith(b"\n"):
        with open(out, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
        data = data[: data.rfind(b"\n") + 1]
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        return set()
    if rows[0] != header:
        raise ConfigError(f"{out} has other columns (another model or ecgimn version); choose another --out")
    shas = {r[header.index("model_sha256")] for r in rows[1:] if len(r) == len(header)}
    if shas - {model_sha}:
        raise ConfigError(
            f"{out} holds results of another model (checksum {sorted(shas - {model_sha})[0][:12]}); "
            "choose another --out to predict with this one"
        )
    return {r[0] for r in rows[1:] if len(r) == len(header)}


def top_evidence(attribution: np.ndarray, fs: float) -> list[str]:
    """Per class, the strongest positive (lead, 0.5 s segment) of ``attribution`` (K, 12, L): 'V2 3.0-3.5 s +0.84'."""
    K, C, L = attribution.shape
    seg = max(1, int(round(SEGMENT_SECONDS * fs)))
    n = -(-L // seg)
    padded = np.zeros((K, C, n * seg), dtype=np.float32)
    padded[..., :L] = attribution
    sums = padded.reshape(K, C, n, seg).sum(-1)  # (K, C, n)
    out = []
    for k in range(K):
        c, s = np.unravel_index(int(np.argmax(sums[k])), sums[k].shape)
        out.append(f"{LEADS[c]} {s * seg / fs:.1f}-{min(L, (s + 1) * seg) / fs:.1f} s {sums[k, c, s]:+.3f}")
    return out


def _row(res: ReadResult, base: dict, class_names: Sequence[str], proba=None, tops=None) -> dict[str, Any]:
    row = {
        **base,
        "file": res.file,
        "sha256": res.sha256,
        "fs_in": "" if res.fs_in is None else f"{res.fs_in:g}",
        "notes": res.notes,
        "input_status": res.input_status,
        "input_findings": res.input_findings,
    }
    if proba is None:
        return {**row, "status": "error", "error": res.error}
    row.update(status="ok", error="", seconds=f"{res.signal.shape[-1] / base['_fs']:.2f}")
    row["predicted"] = ";".join(c for c, p in zip(class_names, proba) if p >= 0.5)
    row.update({f"p_{c}": f"{p:.5f}" for c, p in zip(class_names, proba)})
    row.update({f"top_{c}": t for c, t in zip(class_names, tops)})
    return row


def run_batch(
    predictor: Predictor,
    files: Iterable[str | Path],
    out: str | Path,
    *,
    reader_kwargs: dict | None = None,
    batch_size: int = 64,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, int]:
    """Predict ``files`` into the CSV ``out`` (appending; finished files skipped). Returns counts."""
    out = Path(out)
    model_path = Path(predictor.source)
    model_sha = file_sha256(model_path) if model_path.is_file() else ""
    header = columns(predictor.class_names)
    done = finished_files(out, header, model_sha)
    todo = [str(f) for f in files if str(f) not in done]
    counts = {"skipped": len(done), "ok": 0, "error": 0}
    base = {
        "model": predictor.name,
        "model_sha256": model_sha,
        "ecgimn_version": __version__,
        "_fs": predictor.fs,
    }
    if not todo:
        return counts
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.exists() or out.stat().st_size == 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="file", desc="predict", dynamic_ncols=True, smoothing=0.05)
    with open(out, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        if new_file:
            writer.writeheader()

        def flush(rows: list[dict]) -> None:
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
            if bar is not None:
                bar.update(len(rows))

        pending: list[ReadResult] = []

        def run_pending() -> None:
            rows: list[dict] = []
            by_len: dict[int, list[ReadResult]] = {}
            for r in pending:
                by_len.setdefault(r.signal.shape[-1], []).append(r)
            for group in by_len.values():
                x = np.stack([r.signal for r in group])
                checked = all(r.input_status for r in group)  # by the reader, with the file's own hints
                try:
                    e = predictor.explain(x, fs=predictor.fs, batch_size=batch_size, check=not checked)
                except EcgImnError as exc:  # e.g. shorter than the model's window
                    for r in group:
                        r.error = f"{r.file}: {' '.join(str(exc).split())}"
                        rows.append(_row(r, base, predictor.class_names))
                    continue
                for i, r in enumerate(group):
                    rows.append(
                        _row(
                            r,
                            base,
                            predictor.class_names,
                            e.probabilities[i],
                            top_evidence(e.attribution[i], predictor.fs),
                        )
                    )
            counts["ok"] += sum(r["status"] == "ok" for r in rows)
            counts["error"] += sum(r["status"] == "error" for r in rows)
            flush(rows)
            pending.clear()

        for res in read_stream(todo, float(predictor.fs), reader_kwargs or {}, workers):
            short = (
                None
                if res.signal is None
                else predictor.length_error(res.signal.shape[-1] / predictor.fs, str(res.file))
            )
            if short:
                res.error, res.signal = short, None
            if res.signal is None:
                counts["error"] += 1
                flush([_row(res, base, predictor.class_names)])
            elif res.signal.shape[-1] > LONG_RECORD_SECONDS * predictor.fs:
                row = _long_row(predictor, res, base)
                counts[row["status"]] += 1
                flush([row])
            else:
                pending.append(res)
                if len(pending) >= batch_size:
                    run_pending()
        if pending:
            run_pending()
    if bar is not None:
        bar.close()
    return counts


def _long_row(predictor: Predictor, res: ReadResult, base: dict) -> dict[str, Any]:
    """A long record, explained window by window: top evidence is the strongest (lead, window)."""
    try:
        w = predictor.explain_windows(res.signal, fs=predictor.fs)
    except EcgImnError as exc:
        res.error = f"{res.file}: {' '.join(str(exc).split())}"
        return _row(res, base, predictor.class_names)
    tops = []
    for k in range(len(predictor.class_names)):
        i, c = np.unravel_index(int(np.argmax(w.window_evidence[:, k])), w.window_evidence[:, k].shape)
        s = w.window_starts_s[i]
        tops.append(f"{LEADS[c]} {s:.1f}-{s + w.window_seconds:.1f} s {w.window_evidence[i, k, c]:+.3f}")
    return _row(res, base, predictor.class_names, w.probabilities, tops)
