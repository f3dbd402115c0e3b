"""One record, one model -> evidence per class, a JSON report and pictures (shared by the CLI and the app)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn import __version__
from ecgimn.errors import InputError
from ecgimn.explain.defaults import STRIDE_S, TOP_K, WINDOW_S
from ecgimn.explain.evidence import ClassEvidence, explain_record, to_report
from ecgimn.explain.waves import WaveDecomposition, waves_report
from ecgimn.inference.protocol import ExplainingPredictor
from ecgimn.io.quality import InputCheck, assess_recording
from ecgimn.io.recording import Recording

#: Prefix of the titles of synthetic recordings (``Recording.synthetic``, set by ``ecgimn.io.synthetic_ecg``).
SYNTHETIC_LABEL = "SYNTHETIC \u2014 not a physiological ECG"


@dataclass
class RecordExplanation:
    """Everything explained for one recording."""

    recording: Recording
    explanation: Any  # ecgimn.api.Explanation with N = 1
    evidence: list[ClassEvidence]
    model_name: str
    model_source: str
    input_check: InputCheck | None = None
    provenance: dict[str, Any] | None = (
        None  # ecgimn.provenance.provenance(): time, version, model / input SHA-256
    )
    #: the model's input window and its stride in seconds (when the predictor has them)
    model_window_s: float | None = None
    model_stride_s: float | None = None

    @property
    def waves(self) -> list[WaveDecomposition]:
        """Lead x wave split of every explained class (exact; delineated once per record)."""
        return [self.explanation.waves(ev.class_name) for ev in self.evidence]

    @property
    def synthetic(self) -> bool:
        """True for a simulated recording (``synthetic_ecg``): titles and the report say so."""
        return self.recording.synthetic

    @property
    def title(self) -> str:
        probs = self.explanation.probabilities[0]
        predicted = [f"{c} {p:.2f}" for c, p in zip(self.explanation.class_names, probs) if p >= 0.5]
        label = f"{SYNTHETIC_LABEL} | " if self.synthetic else ""
        check = f"input: {self.input_check.summary()} | " if self.input_check is not None else ""
        return f"{check}{label}{self.recording.record_id} | predicted: {', '.join(predicted) or 'none ≥ 0.5'}"

    def report(self, figures: Sequence[str | Path] | None = None) -> dict[str, Any]:
        """JSON-ready: probabilities, lead shares, top segments (seconds), lead x wave tables, model, input checks.

        ``figures``: the pictures written for it (:func:`render`), listed by file name under ``"figures"``.
        """
        ex = self.explanation
        rec = self.recording
        out = {
            "record_id": rec.record_id,
            "source": rec.source,
            "acquisition": dict(
                rec.metadata
            ),  # format, device, date/time, filters from the file (no patient data)
            "synthetic": self.synthetic,
            "model": self._model(),
            "input_check": self.input_check.to_dict() if self.input_check is not None else None,
            "probabilities": {c: float(p) for c, p in zip(ex.class_names, ex.probabilities[0])},
            "predicted": [c for c, p in zip(ex.class_names, ex.probabilities[0]) if p >= 0.5],
            "input_checks": {
                "duration_s": rec.duration,
                "fs_file": rec.fs,
                "fs_model": ex.fs,
                "flat_or_missing_leads": [rec.lead_names[i] for i in rec.flat_leads],
                "notes": list(rec.notes) + list(ex.notes),
            },
            "explanations": [to_report(ev) for ev in self.evidence],
            "waves": waves_report(self.waves),
            "units": "evidence in logit units: sum over leads and time of W * x_std plus bias equals the logit",
            "provenance": self.provenance,
        }
        if figures is not None:
            out["figures"] = [Path(f).name for f in figures]
        return out

    def _model(self) -> dict[str, Any]:
        model: dict[str, Any] = {
            "name": self.model_name,
            "source": self.model_source,
            "ecgimn_version": __version__,
        }
        if self.model_window_s is not None:
            model.update(window_s=self.model_window_s, stride_s=self.model_stride_s)
        return model


def explain_recording(
    predictor: ExplainingPredictor,
    recording: Recording,
    *,
    classes: list[str] | str | None = None,
    window_s: float = WINDOW_S,
    stride_s: float = STRIDE_S,
    top_k: int = TOP_K,
    allow_implausible: bool = False,
    input_sha256: str | None = None,
    explanation: Any = None,
    model_source: str | None = None,
) -> RecordExplanation:
    """Run the model on one recording and aggregate the exact attribution of the requested classes.

    ``classes`` defaults to the predicted classes (p >= 0.5), or the top class when none is predicted;
    never the ground-truth label. The input check (:mod:`ecgimn.io.quality`) runs first: a refused recording
    raises :class:`InputError` unless ``allow_implausible``; its result is ``.input_check`` and the report's
    ``"input_check"``. ``input_sha256``: digest of the input file(s) for the provenance (default: of the signal
    array, float32 mV). ``explanation``: the model output for ``recording.signal`` already computed by
    ``predictor.explain`` (the model is then not run again; the evidence options do not change it).
    ``model_source``: how the report names the model's file (default ``predictor.source``; a server gives
    the file name only).
    """
    if isinstance(classes, str):
        classes = [classes]
    _check_length(predictor, recording)
    check = assess_recording(recording, allow_implausible=allow_implausible)
    if check.status == "refused":
        raise InputError(f"{recording.source or recording.record_id}: {check.error_message()}")
    ex = _model_output(predictor, recording) if explanation is None else explanation
    if hasattr(ex, "input_check"):
        ex.input_check = [check]
    if classes:
        classes = [ex.class_names[ex.class_index(c)] for c in classes]  # validates names
    evidence = explain_record(
        ex.attribution[0],
        ex.bias[0],
        ex.logits[0],
        ex.probabilities[0],
        ex.class_names,
        ex.fs,
        classes,
        window_s=window_s,
        stride_s=stride_s,
        top_k=top_k,
    )
    window, stride, fs = (getattr(predictor, a, None) for a in ("window", "stride", "fs"))
    return RecordExplanation(
        recording, ex, evidence, predictor.name, predictor.source if model_source is None else model_source,
        check, provenance=_provenance(predictor, recording, input_sha256),
        model_window_s=None if window is None or not fs else window / fs,
        model_stride_s=None if stride is None or not fs else stride / fs,
    )  # fmt: skip


def _check_length(predictor: ExplainingPredictor, recording: Recording) -> None:
    short = predictor.length_error(recording.duration, recording.source or recording.record_id)
    if short:
        raise InputError(short)


def _model_output(predictor: Any, recording: Recording) -> Any:
    try:
        own_check = "check" in inspect.signature(predictor.explain).parameters
    except (TypeError, ValueError):
        own_check = False
    if own_check:  # checked by explain_recording already, with what the reader found
        return predictor.explain(recording.signal, fs=recording.fs, check=False)
    return predictor.explain(recording.signal, fs=recording.fs)


def _provenance(predictor: Any, recording: Recording, input_sha256: str | None) -> dict[str, Any]:
    from ecgimn.provenance import provenance, sha256_bytes

    if input_sha256 is not None:
        return provenance(predictor, input_sha256)
    digest = sha256_bytes(np.ascontiguousarray(recording.signal, np.float32).tobytes())
    return provenance(predictor, digest, input_kind="signal (float32 mV, leads in LEADS order)")


def _mathtext_safe(text: str) -> str:
    """Text shown literally by matplotlib: ``$`` would start mathtext (a name like ``x$^{$`` breaks drawing)."""
    return text.replace("$", r"\$")


def provenance_line(result: RecordExplanation) -> str:
    """The one-line provenance printed at the foot of every picture (PNG / PDF)."""
    p = result.provenance or {}
    model = (p.get("model_sha256") or "unknown")[:16]
    data = (p.get("input_sha256") or "unknown")[:16]
    return (f"ecgimn {p.get('ecgimn_version', __version__)} | {p.get('time', '')} | model sha256 {model}... | "
            f"input sha256 {data}...")  # fmt: skip


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def figure_paths(
    result: RecordExplanation,
    out_dir: str | Path,
    *,
    formats: tuple[str, ...] = ("png",),
    heatmap: bool = True,
    stem: str | None = None,
) -> list[tuple[str, str, Path]]:
    """``(class, "ecg" | "heatmap", path)`` of every picture :func:`render` writes (to check before writing)."""
    out_dir = Path(out_dir)
    stem = stem or result.recording.record_id
    kinds = ("ecg", "heatmap") if heatmap else ("ecg",)
    return [
        (ev.class_name, kind, out_dir / f"{stem}_{_safe(ev.class_name)}_{kind}.{fmt}")
        for ev in result.evidence
        for fmt in formats
        for kind in kinds
    ]


def render(
    result: RecordExplanation,
    out_dir: str | Path,
    *,
    formats: tuple[str, ...] = ("png",),
    layout: str = "3x4",
    heatmap: bool = True,
    stem: str | None = None,
) -> list[Path]:
    """Write the ECG-paper picture (and the leads x time heatmap) per explained class; returns the paths."""
    from ecgimn.viz import plot_class_evidence, plot_evidence_heatmap, save_figure

    stem = stem or result.recording.record_id
    signal = result.explanation.inputs[0]
    fs = result.explanation.fs
    evidence = {ev.class_name: ev for ev in result.evidence}
    waves = {w.class_name: w for w in result.waves}
    label = f"{SYNTHETIC_LABEL} | " if result.synthetic else ""
    if result.input_check is not None and result.input_check.status != "ok":
        label = f"input: {result.input_check.summary()} | {label}"
    record = _mathtext_safe(result.recording.record_id)
    footer = provenance_line(result)
    paths = []
    for name, kind, path in figure_paths(result, out_dir, formats=formats, heatmap=heatmap, stem=stem):
        ev = evidence[name]
        if kind == "ecg":
            title = _mathtext_safe(f"{result.title} | explained: {ev.class_name} (p = {ev.probability:.2f})")
            fig = plot_class_evidence(signal, ev, title=title, layout=layout, waves=waves[name])
        else:
            fig = plot_evidence_heatmap(
                ev.attribution, fs, title=f"{label}{record}: evidence for {ev.class_name}"
            )
        fig.text(0.995, 0.003, footer, ha="right", va="bottom", fontsize=6, color="#666666")
        paths.append(save_figure(fig, path))
    return paths
