"""An honest "what if": remove the strongest evidence from the *input* and run the whole model again.

The explanation says which samples pushed the logit up. The what-if checks that claim the hard way: the top-k
positive segments (or leads) for a class are removed from the millivolt signal and the modified record goes
through the complete pipeline again (``Predictor.explain``: resampling, standardisation, windows, the network
writing a *new* linear model). Nothing is extrapolated from the old explanation; the new probability is the
model's own answer on the modified input.

Replacement policy (applied to the signal in mV, before standardisation):

* segments, ``mode="interpolate"`` (default): within each lead, the removed samples (overlapping windows of one
  lead are merged first) are replaced by the straight line from the last kept sample before the window to the
  first kept sample after it. At the record's start or end the one existing neighbour is held flat; a lead with
  no kept sample at all becomes 0 mV.
* segments, ``mode="zero"``: the removed samples are set to 0 mV.
* leads: the whole lead is set to 0 mV (zero in millivolts, not in standardised units; with per-record
  standardisation a 0 mV lead stays 0 after standardisation, since its mean is 0 and its sigma is floored).

The replacement is :func:`ecgimn.explain.perturb.fill_removed` (shared with the faithfulness curves).
Removal happens on the signal the model actually used (``Explanation.inputs``, at the model's rate), whose sample
indices the segments refer to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError, InputError
from ecgimn.explain.defaults import STRIDE_S, WINDOW_S
from ecgimn.explain.perturb import fill_removed
from ecgimn.inference.protocol import ExplainingPredictor
from ecgimn.io.recording import Recording, as_signal

Mode = Literal["interpolate", "zero"]
What = Literal["segments", "leads"]
MODES: tuple[str, ...] = ("interpolate", "zero")
WHATS: tuple[str, ...] = ("segments", "leads")


def _lead_index(lead: Any) -> int:
    if isinstance(lead, str):
        lookup = {name.lower(): i for i, name in enumerate(LEADS)}
        if lead.lower() not in lookup:
            raise ConfigError(f"unknown lead {lead!r}; leads are {', '.join(LEADS)}")
        return lookup[lead.lower()]
    i = int(lead)
    if not 0 <= i < len(LEADS):
        raise ConfigError(f"lead index {i} out of range 0-{len(LEADS) - 1}")
    return i


def _field(seg: Any, name: str) -> Any:
    return seg.get(name) if isinstance(seg, Mapping) else getattr(seg, name, None)


def _bounds(seg: Any, fs: float, n: int) -> tuple[int, int, int]:
    """(lead index, start, end) in samples at ``fs`` from a Segment or mapping (times in seconds)."""
    lead = _field(seg, "lead_index")
    lead = _field(seg, "lead") if lead is None else lead
    start_s, end_s = _field(seg, "start_s"), _field(seg, "end_s")
    if lead is None or start_s is None or end_s is None:
        raise InputError(f"a segment needs lead (or lead_index), start_s and end_s; got {seg!r}")
    start = min(max(int(round(float(start_s) * fs)), 0), n)
    end = min(max(int(round(float(end_s) * fs)), 0), n)
    return _lead_index(lead), start, end


def _check_mode(mode: Any) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; use {' or '.join(MODES)}")


def _check_signal(signal_mv: np.ndarray) -> np.ndarray:
    return as_signal(signal_mv, dtype=np.float32).copy()


def remove_segments(
    signal_mv: np.ndarray, segments: Iterable[Any], fs: float, mode: Mode = "interpolate"
) -> np.ndarray:
    """A copy of ``signal_mv`` (12, L) with the segments removed (see the module doc for the policy).

    ``segments``: :class:`ecgimn.explain.Segment` objects or mappings with ``lead`` / ``lead_index``, ``start_s``
    and ``end_s`` (seconds; converted to samples with ``fs``, end exclusive).
    """
    _check_mode(mode)
    x = _check_signal(signal_mv)
    n = x.shape[1]
    removed = np.zeros(x.shape, dtype=bool)
    for seg in segments:
        lead, s, e = _bounds(seg, fs, n)
        removed[lead, s:e] = True  # overlapping windows of one lead merge into one removed run
    return fill_removed(x, removed, "constant" if mode == "zero" else "interpolate", 0.0)


def remove_leads(signal_mv: np.ndarray, leads: Iterable[int | str]) -> np.ndarray:
    """A copy of ``signal_mv`` (12, L) with the given leads (indices or names) set to 0 mV."""
    x = _check_signal(signal_mv)
    for lead in leads:
        x[_lead_index(lead)] = 0.0
    return x


@dataclass
class WhatIfResult:
    """Old and new model output after removing the top-k evidence for one class."""

    class_name: str
    what: str
    k: int
    mode: str
    removed: list[dict[str, Any]]
    removed_evidence: float  # summed evidence (logit units) the old explanation gave the removed parts
    probability_old: float
    probability_new: float
    logit_old: float
    logit_new: float
    probabilities_old: dict[str, float]
    probabilities_new: dict[str, float]
    notes: list[str] = field(default_factory=list)
    modified_mv: np.ndarray | None = None  # the modified input (12, L) at the model's rate

    def to_dict(self) -> dict[str, Any]:
        """Json-ready (without the modified signal)."""
        return {
            "class": self.class_name, "what": self.what, "k": self.k, "mode": self.mode,
            "removed": self.removed, "removed_evidence": self.removed_evidence,
            "probability_old": self.probability_old, "probability_new": self.probability_new,
            "logit_old": self.logit_old, "logit_new": self.logit_new,
            "probabilities_old": self.probabilities_old, "probabilities_new": self.probabilities_new,
            "notes": list(self.notes),
        }  # fmt: skip


def what_if(
    predictor: ExplainingPredictor,
    recording: Recording,
    class_name: str,
    k: int = 3,
    what: What = "segments",
    *,
    mode: Mode | None = None,
    window_s: float = WINDOW_S,
    stride_s: float = STRIDE_S,
    explained: Any = None,
    explanation: Any = None,
) -> WhatIfResult:
    """Remove the top-``k`` segments or leads with positive evidence for ``class_name`` and re-run the model.

    Segments are the explanation's top positive windows (``window_s`` / ``stride_s``; non-overlapping within a
    lead); leads are ranked by their positive lead share. ``mode`` applies to segments (``"interpolate"``
    default, or ``"zero"``); leads are always set to 0 mV. ``explained``: a
    :class:`ecgimn.explain.report.RecordExplanation` of this recording and class to reuse (else computed, from
    ``explanation`` when given: the model output for ``recording.signal`` already computed).
    Fewer than ``k`` parts are removed when fewer carry positive evidence (noted).
    """
    from ecgimn.explain.report import explain_recording

    k, mode = _check_request(what, k, mode)
    if (
        explained is None
        or not explained.evidence
        or explained.evidence[0].class_name.lower() != class_name.lower()
    ):
        explained = explain_recording(
            predictor,
            recording,
            classes=[class_name],
            window_s=window_s,
            stride_s=stride_s,
            top_k=k,
            explanation=explanation,
        )
    ex = explained.explanation
    ci = ex.class_index(class_name)
    removed, removed_evidence, modified = _remove(explained.evidence[0], ex.inputs[0], ex.fs, what, k, mode)
    notes: list[str] = []
    if len(removed) < k:
        notes.append(
            f"only {len(removed)} {what} carry positive evidence for {ex.class_names[ci]}; removed those"
        )
    if removed:
        new = predictor.explain(modified, fs=ex.fs)
        p_new, z_new = new.probabilities[0], new.logits[0]
    else:
        p_new, z_new = ex.probabilities[0], ex.logits[0]
    return WhatIfResult(
        class_name=ex.class_names[ci], what=what, k=k, mode=mode, removed=removed,
        removed_evidence=removed_evidence,
        probability_old=float(ex.probabilities[0, ci]), probability_new=float(p_new[ci]),
        logit_old=float(ex.logits[0, ci]), logit_new=float(z_new[ci]),
        probabilities_old={c: float(p) for c, p in zip(ex.class_names, ex.probabilities[0])},
        probabilities_new={c: float(p) for c, p in zip(ex.class_names, p_new)},
        notes=notes, modified_mv=modified,
    )  # fmt: skip


def _check_request(what: Any, k: Any, mode: Any) -> tuple[int, Mode]:
    """Validated ``(k, mode)``; ``mode`` defaults to interpolation for segments and 0 mV for leads."""
    if what not in WHATS:
        raise ConfigError(f"unknown what-if {what!r}; use {' or '.join(WHATS)}")
    if int(k) < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if what == "leads" and mode not in (None, "zero"):
        raise ConfigError("removed leads are always set to 0 mV (mode 'zero')")
    mode = mode or ("interpolate" if what == "segments" else "zero")
    _check_mode(mode)
    return int(k), mode


def _remove(
    ev: Any, x: np.ndarray, fs: float, what: What, k: int, mode: Mode
) -> tuple[list[dict[str, Any]], float, np.ndarray]:
    """The top-``k`` positive parts of ``ev`` (a ClassEvidence) removed from ``x``: (removed, their evidence,
    modified signal)."""
    if what == "segments":
        chosen = list(ev.top_positive)[:k]
        if len(ev.top_positive) < k:  # the explanation may have been made with a smaller top_k
            from ecgimn.explain.evidence import segment_evidence, top_segments

            chosen = top_segments(
                segment_evidence(ev.attribution, fs, ev.window_s, ev.stride_s), k, "positive"
            )
        modified = remove_segments(x, chosen, fs, mode)
        return [s.to_dict() for s in chosen], float(sum(s.evidence for s in chosen)), modified
    shares = np.asarray(ev.lead_shares, dtype=np.float64)
    order = top_leads(shares, k)
    removed = [{"lead": LEADS[i], "lead_index": i, "evidence": float(shares[i])} for i in order]
    return removed, float(shares[order].sum()) if order else 0.0, remove_leads(x, order)


def top_leads(lead_shares: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` leads with the largest positive share (fewer if fewer are positive)."""
    shares = np.asarray(lead_shares, dtype=np.float64)
    return [int(i) for i in np.argsort(-shares, kind="stable") if shares[i] > 0][:k]
