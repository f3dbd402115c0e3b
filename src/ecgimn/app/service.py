"""The work behind the endpoints (no FastAPI routing here): load a recording into the caller's session, explain
it, draw its pictures, run the what-if, list the PTB-XL test records.

The model runs once per stored recording (its output is kept with it); the evidence options -- class, window,
stride, top-k -- only re-aggregate that output. Pictures are drawn off the model lane. Every input passes the
cost budget (:mod:`ecgimn.io.budget`) before it is parsed.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import numpy as np
from pydantic import BaseModel, Field

from ecgimn import __version__
from ecgimn.app.errors import AppError
from ecgimn.app.sessions import (
    MAX_SESSIONS,
    MEMORY_MB,
    RECORDS_PER_SESSION,
    SESSION_QUOTA_MB,
    SESSION_TTL_S,
    Entry,
    Lane,
    Sessions,
)
from ecgimn.app.uploads import UPLOAD_EXTENSIONS, Upload, arrange_upload, extension, extract_upload, scrub
from ecgimn.constants import SAMPLING_RATES, TEST_FOLD
from ecgimn.errors import EcgImnError
from ecgimn.explain.defaults import DEFAULTS, STRIDE_S, TOP_K, WINDOW_S
from ecgimn.io.budget import DEFAULT_BUDGET, Budget
from ecgimn.io.recording import Recording
from ecgimn.provenance import model_sha256, sha256_file, sha256_files

log = logging.getLogger("ecgimn.app")

#: cached pictures per recording
MAX_FIGURES = 8
_SAFE_STEM = re.compile(r"[^A-Za-z0-9_.+-]+")
#: evidence fields of a report that the page shows
_EVIDENCE_KEYS = (
    "logit", "probability", "bias", "sum_lead_shares", "residual", "total_positive", "total_negative",
    "lead_shares", "lead_ranking", "top_positive", "top_negative", "window_s", "stride_s",
)  # fmt: skip
NO_PTBXL = "no PTB-XL folder was given when the app started (ecgimn app --data DIR)"


@dataclass(frozen=True)
class Options:
    """Evidence and picture options (validated by the endpoints)."""

    class_name: str | None = None
    window_s: float = WINDOW_S
    stride_s: float = STRIDE_S
    top_k: int = TOP_K
    layout: Literal["3x4", "12x1"] = "3x4"


class WhatIfRequest(BaseModel):
    """Body of ``POST /api/whatif``."""

    id: str = Field(max_length=64)
    class_name: str = Field(max_length=64)
    k: int = Field(TOP_K, ge=1, le=20)
    what: Literal["segments", "leads"] = "segments"
    mode: Literal["interpolate", "zero"] | None = None
    window_s: float = Field(WINDOW_S, ge=0.02, le=10)
    stride_s: float = Field(STRIDE_S, ge=0.01, le=10)


class PtbxlRequest(BaseModel):
    """Body of ``POST /api/ptbxl/load``."""

    ecg_id: int


@dataclass(frozen=True)
class Limits:
    """Concurrency and memory limits of the app (see :mod:`ecgimn.app.sessions`)."""

    max_sessions: int = MAX_SESSIONS
    records_per_session: int = RECORDS_PER_SESSION
    session_quota_mb: float = SESSION_QUOTA_MB
    memory_mb: float = MEMORY_MB
    session_ttl_s: float = SESSION_TTL_S
    #: jobs at once per lane (reading files, running the model, drawing pictures)
    read_slots: int = 2
    model_slots: int = 1
    render_slots: int = 1
    #: requests waiting per lane, and how long each may wait before a 503
    max_waiting: int = 32
    wait_s: float = 20.0
    #: an upload pausing this long, or taking longer in total, is refused (408)
    upload_idle_s: float = 30.0
    upload_total_s: float = 300.0


# ------------------------------------------------------------------------------------------------ PTB-XL listing


class PtbxlIndex:
    """The fold-10 (test) records of a PTB-XL folder that are on disk, with superdiagnostic labels, age, sex.

    Records are read by :meth:`ecgimn.data.PTBXL.read_recording` (PTB-XL: Wagner et al., Sci Data 2020).
    """

    def __init__(self, root: str | os.PathLike[str], model_fs: int) -> None:
        from ecgimn.data import PTBXL

        self.dataset = PTBXL(root)
        meta = self.dataset.metadata
        ids = meta.index[meta["strat_fold"] == TEST_FOLD].to_numpy(np.int64)
        present, self.fs = self._present(ids, model_fs)
        by_id = self._labels()
        self.rows = [self._row(meta, int(i), by_id.get(int(i), [])) for i in present]
        self.ids = {r["ecg_id"] for r in self.rows}

    def _present(self, ids: np.ndarray, model_fs: int) -> tuple[np.ndarray, int]:
        """The records on disk at the first rate that has any (the model's rate first), and that rate."""
        rates = [model_fs] if model_fs in SAMPLING_RATES else []
        rates += [r for r in sorted(SAMPLING_RATES, reverse=True) if r not in rates]
        for fs in rates:
            present = ids[~np.isin(ids, self.dataset.missing(ids, fs))] if len(ids) else ids
            if len(present):
                return present, fs
        return np.zeros(0, np.int64), rates[0]

    def _labels(self) -> dict[int, list[str]]:
        try:
            labels = self.dataset.labels("superdiagnostic")
        except EcgImnError as exc:
            log.warning("PTB-XL labels unavailable: %s", exc)
            return {}
        return {
            int(i): [c for c, y in zip(labels.classes, row) if y] for i, row in zip(labels.ecg_ids, labels.Y)
        }

    @staticmethod
    def _row(meta: Any, ecg_id: int, labels: list[str]) -> dict[str, Any]:
        rec = meta.loc[ecg_id]
        age = rec.get("age")
        sex = rec.get("sex")
        age_txt = None if age is None or not np.isfinite(age) else ("90+" if age >= 90 else str(int(age)))
        sex_txt = {0: "M", 1: "F"}.get(int(sex)) if sex is not None and np.isfinite(sex) else None
        return {"ecg_id": ecg_id, "labels": labels, "age": age_txt, "sex": sex_txt}

    def labels_of(self, ecg_id: int) -> list[str]:
        return next((r["labels"] for r in self.rows if r["ecg_id"] == ecg_id), [])

    def recording(self, ecg_id: int) -> Recording:
        if ecg_id not in self.ids:
            raise AppError(404, f"ecg_id {ecg_id} is not one of the fold-10 records listed by this server")
        rec = self.dataset.read_recording(ecg_id, self.fs)
        rec.record_id = f"PTB-XL {ecg_id}"
        rec.source = f"PTB-XL fold {TEST_FOLD}, ecg_id {ecg_id} ({self.fs} Hz)"  # no server paths
        return rec


# ------------------------------------------------------------------------------------------------ the service


def download_stem(entry: Entry, class_name: str) -> str:
    """A safe file name stem for the downloads of one recording and class."""
    stem = _SAFE_STEM.sub("_", entry.recording.record_id).strip("._") or "ecg"
    return f"{stem[:60]}_{_SAFE_STEM.sub('_', class_name)}"


class Service:
    """Everything behind the endpoints (no FastAPI types)."""

    def __init__(
        self,
        predictor: Any,
        ptbxl: PtbxlIndex | None,
        limit_bytes: int,
        limit_mb: float,
        temp_root: Path | None,
        budget: Budget = DEFAULT_BUDGET,
        limits: Limits = Limits(),
    ) -> None:
        self.predictor = predictor
        self.ptbxl = ptbxl
        self.limit = limit_bytes
        self.limit_mb = limit_mb
        self.temp_root = temp_root
        self.budget = budget
        self.limits = limits
        self.sessions = Sessions(limits.max_sessions, limits.records_per_session, limits.session_quota_mb,
                                 limits.memory_mb, limits.session_ttl_s)  # fmt: skip
        self.read_lane = Lane("file reading", limits.read_slots, limits.max_waiting, limits.wait_s)
        self.model_lane = Lane("model", limits.model_slots, limits.max_waiting, limits.wait_s)
        self.render_lane = Lane("pictures", limits.render_slots, limits.max_waiting, limits.wait_s)
        self.model_sha256 = model_sha256(predictor)

    def tempdir(self, prefix: str) -> tempfile.TemporaryDirectory[str]:
        if self.temp_root is not None:
            self.temp_root.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=prefix, dir=self.temp_root)

    def info(self) -> dict[str, Any]:
        p = self.predictor
        return {
            "version": __version__,
            "model": {
                "name": p.name, "source": Path(p.source).name, "task": p.task, "classes": list(p.class_names),
                "fs": p.fs, "window_s": p.window / p.fs, "stride_s": p.stride / p.fs, "min_seconds": p.min_seconds,
                "sha256": self.model_sha256,
            },
            "max_upload_mb": self.limit_mb,
            "max_seconds": self.budget.max_seconds,
            "fs_range": [self.budget.fs_min, self.budget.fs_max],
            "extensions": list(UPLOAD_EXTENSIONS),
            "ptbxl": None if self.ptbxl is None else {"count": len(self.ptbxl.rows), "fs": self.ptbxl.fs},
            "defaults": {**DEFAULTS.to_dict(), "layout": Options().layout},
        }  # fmt: skip

    def ptbxl_records(self) -> dict[str, Any]:
        if self.ptbxl is None:
            raise AppError(404, NO_PTBXL)
        return {"fold": TEST_FOLD, "fs": self.ptbxl.fs, "records": self.ptbxl.rows}

    # -- loading
    def load_upload(
        self, sid: str, uploads: list[Upload], fields: dict[str, str], folder: Path, audit: dict[str, Any]
    ) -> dict[str, Any]:
        from ecgimn.io import read_ecg

        audit["input_sha256"] = digest = sha256_files((u.name, sha256_file(u.path)) for u in uploads)
        with self.read_lane.slot():
            if len(uploads) == 1 and uploads[0].ext == ".zip":
                uploads = extract_upload(uploads[0], folder, self.limit, self.limit_mb)
            path, shown = arrange_upload(uploads, folder)
            units = fields.get("units") or None
            try:
                rec = read_ecg(path, fs=fields.get("fs") or None, units=None if units == "auto" else units,
                               lead_names=fields.get("lead_names") or None, budget=self.budget)  # fmt: skip
            except EcgImnError as exc:
                raise AppError(400, scrub(str(exc), folder, shown, path)) from None
        stem = shown[: -len(extension(shown))] if extension(shown) else shown
        rec.record_id = stem or "upload"
        rec.source = f"uploaded file {shown}"
        rec.notes = [scrub(n, folder, shown, path) for n in rec.notes]
        return self.add(sid, Entry(rec, f"{shown} (uploaded)", "upload", input_sha256=digest))

    def load_ptbxl(self, sid: str, ecg_id: int) -> dict[str, Any]:
        if self.ptbxl is None:
            raise AppError(404, NO_PTBXL)
        with self.read_lane.slot():
            rec = self.ptbxl.recording(ecg_id)
        entry = Entry(
            rec, f"PTB-XL ecg_id {ecg_id} (fold {TEST_FOLD})", "ptbxl", reference=self.ptbxl.labels_of(ecg_id)
        )
        return self.add(sid, entry)

    def load_demo(self, sid: str) -> dict[str, Any]:
        from ecgimn.io import synthetic_ecg

        with self.read_lane.slot():
            rec = synthetic_ecg()
        rec.record_id = "SYNTHETIC demo"
        return self.add(sid, Entry(rec, "SYNTHETIC demo ECG (simulated, not a real recording)", "synthetic"))

    def add(self, sid: str, entry: Entry) -> dict[str, Any]:
        self._model_output(
            entry
        )  # run the model now: a record it refuses (too short...) fails here, not later
        rid = self.sessions.add(sid, entry)
        try:
            return self.explain(sid, rid, Options())
        except Exception:  # e.g. refused by the input check: nothing of it stays held
            self.sessions.discard(sid, rid)
            raise

    # -- explaining
    def _model_output(self, entry: Entry) -> Any:
        """The model output of a stored recording, computed once (on the model lane)."""
        if entry.explanation is None:
            rec = entry.recording
            with self.model_lane.slot():
                entry.explanation = self.predictor.explain(rec.signal, fs=rec.fs)
        return entry.explanation

    def _result(self, entry: Entry, opts: Options) -> Any:
        from ecgimn.explain.report import explain_recording

        ex = self._model_output(entry)
        name = opts.class_name or ex.class_names[int(np.argmax(ex.probabilities[0]))]
        return explain_recording(
            self.predictor, entry.recording, classes=[name], window_s=opts.window_s, stride_s=opts.stride_s,
            top_k=opts.top_k, input_sha256=entry.input_sha256, explanation=ex,
            model_source=Path(self.predictor.source).name,  # no server paths in reports
        )  # fmt: skip

    def _entry(self, sid: str | None, rid: str, audit: dict[str, Any] | None) -> Entry:
        entry = self.sessions.get(sid, rid)
        if audit is not None:
            audit["input_sha256"] = entry.input_sha256 or "-"
        return entry

    def explain(
        self, sid: str | None, rid: str, opts: Options, audit: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        entry = self._entry(sid, rid, audit)
        report = self._result(entry, opts).report()
        ev = report["explanations"][0]
        opts = Options(ev["class"], opts.window_s, opts.stride_s, opts.top_k, opts.layout)
        query = {"id": rid, **vars(opts)}
        check = report.get("input_check")
        refused = bool(check) and check.get("status") == "refused"
        out = {
            "id": rid, "record": _record(entry, report), "input_check": check, "refused": refused,
            "provenance": report.get("provenance"), "model": report["model"], "options": vars(opts),
            "urls": {"report": "/api/report?" + urlencode(query)},
        }  # fmt: skip
        if refused:  # the input failed a plausibility check: no prediction is shown for it
            return {**out, "probabilities": [], "explained": None, "evidence": None}
        return {
            **out,
            "probabilities": [
                {"class": c, "probability": p, "predicted": c in report["predicted"]}
                for c, p in report["probabilities"].items()
            ],
            "explained": ev["class"],
            "evidence": {k: ev[k] for k in _EVIDENCE_KEYS},
            "waves": report["waves"]["classes"].get(ev["class"]),
            "urls": _urls(query),
        }

    def report(
        self, sid: str | None, rid: str, opts: Options, audit: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        entry = self._entry(sid, rid, audit)
        result = self._result(entry, opts)
        return result.report(), download_stem(entry, result.evidence[0].class_name)

    def figure(
        self, sid: str | None, rid: str, opts: Options, fmt: str, kind: str, audit: dict[str, Any]
    ) -> tuple[bytes, str]:
        entry = self._entry(sid, rid, audit)
        result = self._result(entry, opts)
        check = result.report().get("input_check") or {}
        if check.get("status") == "refused":
            raise AppError(
                409, "this input failed the plausibility check; no evidence picture is drawn for it"
            )
        cls = result.evidence[0].class_name
        key = (cls, opts.window_s, opts.stride_s, opts.top_k, opts.layout, fmt)
        data = entry.figures.get((key, kind))
        if data is None:
            with entry.drawing:  # the ecg and heatmap requests of one view share one drawing
                data = (
                    entry.figures.get((key, kind))
                    or self._draw(entry, result, key, opts.layout, fmt)[(key, kind)]
                )
            self.sessions.after_figure(sid)
        suffix = "_heatmap" if kind == "heatmap" else ""
        return data, f"{download_stem(entry, cls)}{suffix}.{fmt}"

    def _draw(self, entry: Entry, result: Any, key: tuple, layout: str, fmt: str) -> dict[tuple, bytes]:
        """Draw the ECG and heatmap pictures of ``result`` (off the model lane) and cache them with ``entry``."""
        from ecgimn.explain.report import render

        with self.render_lane.slot(), self.tempdir("ecgimn-render-") as tmp:
            paths = render(result, tmp, formats=(fmt,), layout=layout, heatmap=True, stem="figure")
            drawn = {
                (key, "heatmap" if p.stem.endswith("_heatmap") else "ecg"): p.read_bytes() for p in paths
            }
        figures = entry.figures
        while len(figures) > MAX_FIGURES - len(drawn):
            figures.pop(next(iter(figures)), None)
        figures.update(drawn)
        return drawn

    def what_if(self, sid: str | None, req: WhatIfRequest, audit: dict[str, Any]) -> dict[str, Any]:
        from ecgimn.explain.whatif import what_if

        entry = self._entry(sid, req.id, audit)
        ex = self._model_output(entry)
        with self.model_lane.slot():
            res = what_if(
                self.predictor, entry.recording, req.class_name, req.k, req.what, mode=req.mode,
                window_s=req.window_s, stride_s=req.stride_s, explanation=ex,
            )  # fmt: skip
        return {"id": req.id, **res.to_dict()}


def _record(entry: Entry, report: dict[str, Any]) -> dict[str, Any]:
    """What the page shows about the recording itself."""
    rec = entry.recording
    checks = report["input_checks"]
    return {
        "label": entry.label, "kind": entry.kind, "synthetic": entry.kind == "synthetic",
        "record_id": rec.record_id, "source": rec.source, "duration_s": rec.duration, "fs_file": rec.fs,
        "fs_model": checks["fs_model"], "flat_or_missing_leads": checks["flat_or_missing_leads"],
        "notes": checks["notes"], "reference_labels": entry.reference,
    }  # fmt: skip


def _urls(query: dict[str, Any]) -> dict[str, str]:
    """The picture and report addresses of one view."""
    return {
        "png": "/api/figure?" + urlencode({**query, "fmt": "png"}),
        "heatmap": "/api/figure?" + urlencode({**query, "fmt": "png", "kind": "heatmap"}),
        "png_download": "/api/figure?" + urlencode({**query, "fmt": "png", "download": 1}),
        "pdf": "/api/figure?" + urlencode({**query, "fmt": "pdf", "download": 1}),
        "report": "/api/report?" + urlencode(query),
    }
