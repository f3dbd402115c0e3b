"""Readable evidence from exact ECG-IMN attributions (lead shares, time segments, top-k, json reports), the
what-if, post-hoc explainers and their evaluation.

Names are imported from their modules on first use, so that ``import ecgimn.explain.defaults`` (the CLI's
start-up) does not load torch through the post-hoc explainers.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES: dict[str, tuple[str, ...]] = {
    # evidence defaults
    "defaults": ("DEFAULTS", "STRIDE_S", "TOP_K", "WINDOW_S", "EvidenceOptions"),
    # exact evidence
    "evidence": (
        "ClassEvidence", "Segment", "SegmentSet", "explain_class", "explain_record",
        "segment_evidence", "select_classes", "to_report", "top_segments", "window_bounds",
    ),
    # post-hoc explainers and their evaluation
    "faithfulness": (
        "PerturbationCurves", "perturbation_curves", "randomization_check", "randomized_models", "rank_cells",
        "rank_correlation", "zero_mv_fill",
    ),
    "localisation": ("EXPECTED_WINDOW", "WaveMasks", "delineate", "evidence_fraction"),
    "posthoc": ("METHODS", "LogitModel", "attribute"),
    # exact lead x wave decomposition
    "waves": ("WAVES", "Beats", "WaveDecomposition", "decompose", "delineate_beats", "wave_table"),
    # what-if: remove the strongest evidence from the input and run the model again
    "perturb": ("fill_removed",),
    "whatif": ("WhatIfResult", "remove_leads", "remove_segments", "what_if"),
}  # fmt: skip
_OWNER = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_OWNER)


def __getattr__(name: str) -> Any:
    module = _OWNER.get(name)
    if module is None:
        raise AttributeError(f"module 'ecgimn.explain' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ecgimn.explain.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
