"""Pictures: clinical-style ECG printouts with the evidence overlaid, and compact evidence heatmaps."""

from ecgimn.viz.ecg_plot import (
    EVIDENCE_CMAP,
    LAYOUT_3X4,
    evidence_cmap,
    paper_scale,
    plot_class_evidence,
    plot_ecg_evidence,
    save_figure,
    symmetric_norm,
)
from ecgimn.viz.heatmap import plot_evidence_heatmap

__all__ = [
    "EVIDENCE_CMAP",
    "LAYOUT_3X4",
    "evidence_cmap",
    "paper_scale",
    "plot_class_evidence",
    "plot_ecg_evidence",
    "plot_evidence_heatmap",
    "save_figure",
    "symmetric_norm",
]
