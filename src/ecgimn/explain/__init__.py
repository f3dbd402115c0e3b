"""Readable evidence from exact ECG-IMN attributions (lead shares, time segments, top-k, json reports)."""

from ecgimn.explain.evidence import (
    ClassEvidence,
    Segment,
    SegmentSet,
    decision_map,
    explain_class,
    explain_record,
    segment_evidence,
    select_classes,
    to_report,
    top_segments,
    window_bounds,
)
from ecgimn.explain.faithfulness import (
    PerturbationCurves,
    perturbation_curves,
    randomization_check,
    randomized_models,
    rank_cells,
    rank_correlation,
    zero_mv_fill,
)
from ecgimn.explain.localisation import EXPECTED_WINDOW, WaveMasks, delineate, evidence_fraction
from ecgimn.explain.posthoc import METHODS, LogitModel, attribute
from ecgimn.explain.waves import WAVES, Beats, WaveDecomposition, decompose, delineate_beats, wave_table

__all__ = [
    "ClassEvidence",
    "Segment",
    "SegmentSet",
    "decision_map",
    "explain_class",
    "explain_record",
    "segment_evidence",
    "select_classes",
    "to_report",
    "top_segments",
    "window_bounds",
    # post-hoc explainers and their evaluation
    "EXPECTED_WINDOW",
    "METHODS",
    "LogitModel",
    "PerturbationCurves",
    "WaveMasks",
    "attribute",
    "delineate",
    "evidence_fraction",
    "perturbation_curves",
    "randomization_check",
    "randomized_models",
    "rank_cells",
    "rank_correlation",
    "zero_mv_fill",
    # exact lead x wave decomposition
    "WAVES",
    "Beats",
    "WaveDecomposition",
    "decompose",
    "delineate_beats",
    "wave_table",
]
