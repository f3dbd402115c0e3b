"""One record, one model -> evidence per class, a JSON report and pictures (shared by the CLI and the app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgimn import __version__
from ecgimn.explain.evidence import ClassEvidence, explain_record, to_report
from ecgimn.io.recording import Recording


@dataclass
class RecordExplanation:
    """Everything explained for one recording."""

    recording: Recording
    explanation: Any  # ecgimn.api.Explanation with N = 1
    evidence: list[ClassEvidence]
    model_name: str
    model_source: str

    @property
    def title(self) -> str:
        probs = self.explanation.probabilities[0]
        predicted = [f"{c} {p:.2f}" for c, p in zip(self.explanation.class_names, probs) if p >= 0.5]
        return f"{self.recording.record_id} | predicted: {', '.join(predicted) or 'none ≥ 0.5'}"

    def report(self) -> dict[str, Any]:
        """JSON-ready: probabilities, lead shares, top segments (seconds), model, input checks."""
        ex = self.explanation
        rec = self.recording
        return {
            "record_id": rec.record_id,
            "source": rec.source,
            "model": {"name": self.model_name, "source": self.model_source, "ecgimn_version": __version__},
            "probabilities": {c: float(p) for c, p in zip(ex.class_names, ex.probabilities[0])},
            "predicted": [c for c, p in zip(ex.class_names, ex.probabilities[0]) if p >= 0.5],
            "input_checks": {
                "duration_s": rec.duration, "fs_file": rec.fs, "fs_model": ex.fs,
                "flat_or_missing_leads": [rec.lead_names[i] for i in rec.flat_leads],
                "notes": list(rec.notes) + list(ex.notes),
            },
            "explanations": [to_report(ev) for ev in self.evidence],
            "units": "evidence in logit units: sum over leads and time of W * x_std plus bias equals the logit",
        }


def explain_recording(
    predictor: Any,
    recording: Recording,
    *,
    classes: list[str] | str | None = None,
    window_s: float = 0.5,
    stride_s: float = 0.25,
    top_k: int = 3,
) -> RecordExplanation:
    """Run the model on one recording and aggregate the exact attribution of the requested classes.

    ``classes`` defaults to the predicted classes (p >= 0.5), or the top class when none is predicted;
    never the ground-truth label.
    """
    if isinstance(classes, str):
        classes = [classes]
    ex = predictor.explain(recording.signal, fs=recording.fs)
    if classes:
        classes = [ex.class_names[ex.class_index(c)] for c in classes]  # validates names
    evidence = explain_record(
        ex.attribution[0], ex.bias[0], ex.logits[0], ex.probabilities[0], ex.class_names, ex.fs, classes,
        window_s=window_s, stride_s=stride_s, top_k=top_k,
    )
    return RecordExplanation(recording, ex, evidence, predictor.name, predictor.source)


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

    out_dir = Path(out_dir)
    stem = stem or result.recording.record_id
    signal = result.explanation.inputs[0]
    fs = result.explanation.fs
    paths = []
    for ev in result.evidence:
        title = f"{result.title} | explained: {ev.class_name} (p = {ev.probability:.2f})"
        for fmt in formats:
            fig = plot_class_evidence(signal, ev, title=title, layout=layout)
            paths.append(save_figure(fig, out_dir / f"{stem}_{ev.class_name}_ecg.{fmt}"))
            if heatmap:
                fig = plot_evidence_heatmap(ev.attribution, fs, title=f"{stem}: evidence for {ev.class_name}")
                paths.append(save_figure(fig, out_dir / f"{stem}_{ev.class_name}_heatmap.{fmt}"))
    return paths

