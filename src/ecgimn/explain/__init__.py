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
]
