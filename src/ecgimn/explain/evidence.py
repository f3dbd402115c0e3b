"""Turn exact ECG-IMN attributions into readable evidence: lead shares, time segments, top-k lists, reports.

Everything here is plain numpy on one record. An ECG-IMN gives, per record, a linear model ``W`` (K, 12, L) and
bias ``b`` (K) with ``logit_k = sum(W_k * x) + b_k``; the attribution ``A_k = W_k * x`` is therefore exact:
``A_k.sum() + b_k == logit_k``. Positive attribution is evidence *for* the class, negative evidence *against*.

Window policy (``segment_evidence``):

* sliding windows of ``window_s`` every ``stride_s`` overlap, so their sums do not add up; they are used to find
  *where* the evidence is. When the record length is not a multiple of the stride, one extra window aligned to the
  end of the record ``[L - w, L)`` is added, so no sample is ever left uncovered (a record shorter than one window
  gives one window covering it all).
* the *partition* uses stride = window (non-overlapping); its final window is shorter when ``L`` is not a multiple
  of the window. Partition sums per lead add up exactly to the lead share, so it is the table to use for "how much
  of the logit comes from where".
* top-k lists pick the strongest windows with non-maximum suppression: a window that overlaps an already chosen
  window of the same lead is skipped (windows of different leads never suppress each other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError, InputError
from ecgimn.explain.defaults import STRIDE_S, TOP_K, WINDOW_S
from ecgimn.models.windowed import window_bounds


@dataclass(frozen=True)
class Segment:
    """Summed attribution of one lead over one time window ``[start, end)`` (samples; ``end`` exclusive)."""

    lead: str
    lead_index: int
    start: int
    end: int
    start_s: float
    end_s: float
    evidence: float
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Json-ready dict (plain Python scalars)."""
        d = {
            name: getattr(self, name) for name in _SEGMENT_FIELDS
        }  # asdict's result, without its deep copies
        d["evidence"] = float(self.evidence)
        return d


_SEGMENT_FIELDS = tuple(f.name for f in fields(Segment))


@dataclass(frozen=True)
class SegmentSet:
    """Window sums of all leads: ``evidence`` (n_leads, n_windows) over windows ``[starts[j], ends[j])``."""

    evidence: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    fs: float
    lead_names: tuple[str, ...]

    def segment(self, lead: int, j: int, rank: int = 0) -> Segment:
        """The :class:`Segment` of lead ``lead`` and window ``j``."""
        s, e = int(self.starts[j]), int(self.ends[j])
        return Segment(
            self.lead_names[lead],
            int(lead),
            s,
            e,
            s / self.fs,
            e / self.fs,
            float(self.evidence[lead, j]),
            rank,
        )

    def records(self) -> list[Segment]:
        """All windows of all leads as :class:`Segment` records (lead-major)."""
        return [
            self.segment(i, j) for i in range(self.evidence.shape[0]) for j in range(self.evidence.shape[1])
        ]


@dataclass
class ClassEvidence:
    """Evidence for ONE class of ONE record.

    Attributes:
        class_name: the class explained.
        logit: the (decision) logit; ``lead_shares.sum() + bias == logit``.
        probability: the model's probability for the class (``None`` if not given).
        bias: the record's bias term ``b_k`` (not attributable to any lead or time).
        attribution: (n_leads, L) signed evidence per sample (positive = for the class), logit units.
        fs: sampling rate in Hz.
        lead_shares: (n_leads,) attribution summed over time.
        segments: all sliding windows (overlapping) as :class:`Segment` records.
        partition: non-overlapping windows; per lead they sum exactly to ``lead_shares``.
        top_positive / top_negative: the overall top-k windows (NMS within a lead), strongest first.
        top_positive_by_lead / top_negative_by_lead: top-k per lead name.
    """

    class_name: str
    logit: float
    probability: float | None
    bias: float
    attribution: np.ndarray
    fs: float
    lead_shares: np.ndarray
    segments: list[Segment]
    partition: list[Segment]
    top_positive: list[Segment]
    top_negative: list[Segment]
    top_positive_by_lead: dict[str, list[Segment]] = field(default_factory=dict)
    top_negative_by_lead: dict[str, list[Segment]] = field(default_factory=dict)
    window_s: float = WINDOW_S
    stride_s: float = STRIDE_S
    lead_names: tuple[str, ...] = LEADS

    @property
    def residual(self) -> float:
        """``logit - (lead_shares.sum() + bias)``: zero up to float rounding for an exact model."""
        return float(self.logit - (float(self.lead_shares.sum()) + self.bias))

    def segments_table(self, which: Literal["segments", "partition"] = "segments") -> Any:
        """The segments (or the partition) as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([s.to_dict() for s in getattr(self, which)])


def _lead_names(n: int, lead_names: Sequence[str] | None) -> tuple[str, ...]:
    if lead_names is not None:
        if len(lead_names) != n:
            raise InputError(f"got {len(lead_names)} lead names for {n} leads")
        return tuple(lead_names)
    return LEADS if n == len(LEADS) else tuple(f"lead{i + 1}" for i in range(n))


def _as_attribution(attribution: np.ndarray) -> np.ndarray:
    a = np.asarray(attribution, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] == 0:
        raise InputError(
            f"attribution must be (n_leads, L) for one record and one class, got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise InputError("attribution contains NaN/inf; explain a finite model output")
    return a


def _n_samples(seconds: float, fs: float, what: str) -> int:
    if fs <= 0 or seconds <= 0:
        raise ConfigError(f"{what} and fs must be positive (got {what}={seconds}, fs={fs})")
    return max(1, int(round(seconds * fs)))


def segment_evidence(
    attribution: np.ndarray,
    fs: float,
    window_s: float = WINDOW_S,
    stride_s: float = STRIDE_S,
    *,
    lead_names: Sequence[str] | None = None,
) -> SegmentSet:
    """Sum the attribution (n_leads, L) over sliding windows (see the module doc for the end-of-record policy).

    Pass ``stride_s = window_s`` for the non-overlapping partition whose window sums add up to the lead sums.
    """
    a = _as_attribution(attribution)
    w = _n_samples(window_s, fs, "window_s")
    st = _n_samples(stride_s, fs, "stride_s")
    if stride_s >= window_s:  # stride >= window means the partition (no gaps)
        st = w
    starts, ends = window_bounds(a.shape[1], w, st)
    if st >= w:  # partition: direct per-window sums
        ev = np.add.reduceat(a, starts, axis=1)
    else:
        cs = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)
        ev = cs[:, ends] - cs[:, starts]
    return SegmentSet(ev, starts, ends, float(fs), _lead_names(a.shape[0], lead_names))


def _overlaps(s: int, e: int, chosen: list[tuple[int, int]]) -> bool:
    return any(s < ce and cs < e for cs, ce in chosen)


def top_segments(
    segs: SegmentSet, k: int = 3, sign: Literal["positive", "negative"] = "positive", lead: int | None = None
) -> list[Segment]:
    """Top-``k`` windows by evidence (``sign="negative"``: most negative first), strictly of that sign.

    Non-maximum suppression: a window overlapping an already chosen window of the same lead is skipped.
    ``lead`` restricts the search to one lead index; ``None`` searches all leads.
    """
    ev = segs.evidence if sign == "positive" else -segs.evidence
    leads = np.arange(ev.shape[0]) if lead is None else np.array([lead])
    li, wj = np.meshgrid(leads, np.arange(ev.shape[1]), indexing="ij")
    li, wj = li.ravel(), wj.ravel()
    vals = ev[li, wj]
    keep = vals > 0
    li, wj, vals = li[keep], wj[keep], vals[keep]
    order = np.lexsort((segs.starts[wj], li, -vals))  # strongest first; ties: lead, then time
    chosen: dict[int, list[tuple[int, int]]] = {}
    out: list[Segment] = []
    for idx in order:
        if len(out) >= k:
            break
        i, j = int(li[idx]), int(wj[idx])
        s, e = int(segs.starts[j]), int(segs.ends[j])
        if _overlaps(s, e, chosen.setdefault(i, [])):
            continue
        chosen[i].append((s, e))
        out.append(segs.segment(i, j, rank=len(out) + 1))
    return out


def explain_class(
    attribution: np.ndarray,
    bias: float,
    logit: float | None,
    fs: float,
    class_name: str,
    probability: float | None = None,
    window_s: float = WINDOW_S,
    stride_s: float = STRIDE_S,
    top_k: int = TOP_K,
    *,
    lead_names: Sequence[str] | None = None,
    rtol: float = 1e-4,
) -> ClassEvidence:
    """Summarise the exact attribution (n_leads, L) of one class of one record.

    ``logit=None`` takes ``attribution.sum() + bias``. A given logit must agree with it to within
    ``rtol * (sum|attribution| + |bias| + 1)`` (float32 rounding), otherwise the attribution is not the exact
    decomposition of that logit and an ``InputError`` is raised.
    """
    a = _as_attribution(attribution)
    names = _lead_names(a.shape[0], lead_names)
    shares = a.sum(axis=1)
    total = float(shares.sum()) + float(bias)
    if logit is None:
        logit = total
    scale = float(np.abs(a).sum()) + abs(float(bias)) + 1.0
    if abs(float(logit) - total) > rtol * scale:
        raise InputError(
            f"class {class_name!r}: attribution sum + bias = {total:.6g} but logit = {float(logit):.6g}; "
            "pass the attribution and bias of the same class"
        )
    sliding = segment_evidence(a, fs, window_s, stride_s, lead_names=names)
    part = segment_evidence(a, fs, window_s, window_s, lead_names=names)
    by_pos = {n: top_segments(sliding, top_k, "positive", lead=i) for i, n in enumerate(names)}
    by_neg = {n: top_segments(sliding, top_k, "negative", lead=i) for i, n in enumerate(names)}
    return ClassEvidence(
        class_name=str(class_name),
        logit=float(logit),
        probability=None if probability is None else float(probability),
        bias=float(bias),
        attribution=a,
        fs=float(fs),
        lead_shares=shares,
        segments=sliding.records(),
        partition=part.records(),
        top_positive=top_segments(sliding, top_k, "positive"),
        top_negative=top_segments(sliding, top_k, "negative"),
        top_positive_by_lead=by_pos,
        top_negative_by_lead=by_neg,
        window_s=float(window_s),
        stride_s=float(stride_s),
        lead_names=names,
    )


def select_classes(
    probabilities: np.ndarray,
    class_names: Sequence[str],
    requested: Sequence[str | int] | str | int | None = None,
    threshold: float = 0.5,
) -> list[int]:
    """Indices of the classes to explain: the ``requested`` ones, else the predicted ones.

    Predicted = probability >= ``threshold``, or the single most probable class if none is. The ground-truth
    label is deliberately not an input: an explanation explains what the model decided.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    names = list(class_names)
    if len(p) != len(names):
        raise InputError(f"{len(p)} probabilities for {len(names)} class names")
    if requested is None:
        idx = [int(i) for i in np.flatnonzero(p >= threshold)]
        return sorted(idx, key=lambda i: -p[i]) or [int(np.argmax(p))]
    if isinstance(requested, str | int):
        requested = [requested]
    out = []
    for r in requested:
        if isinstance(r, str):
            if r not in names:
                raise ConfigError(f"unknown class {r!r}; available: {', '.join(names)}")
            out.append(names.index(r))
        else:
            if not 0 <= int(r) < len(names):
                raise ConfigError(f"class index {r} out of range for {len(names)} classes")
            out.append(int(r))
    return out


def explain_record(
    attribution: np.ndarray,
    bias: np.ndarray,
    logits: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    fs: float,
    classes: Sequence[str | int] | str | int | None = None,
    *,
    threshold: float = 0.5,
    **kwargs: Any,
) -> list[ClassEvidence]:
    """:func:`explain_class` for the chosen classes of one record (attribution (K, 12, L), bias/logits/probs (K)).

    Classes default to the predicted ones (see :func:`select_classes`). Every class is decided by its own logit
    (one sigmoid output per class), so its evidence is its own row of the attribution and its own bias.
    """
    a = np.asarray(attribution, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    out = []
    for k in select_classes(probabilities, class_names, classes, threshold):
        a_k, b_k, z_k = a[k], float(np.asarray(bias).reshape(-1)[k]), float(z[k])
        p_k = float(np.asarray(probabilities).reshape(-1)[k])
        out.append(explain_class(a_k, b_k, z_k, fs, class_names[k], p_k, **kwargs))
    return out


def to_report(ev: ClassEvidence) -> dict[str, Any]:
    """Json-ready summary (times in seconds, lead names; no per-sample arrays)."""
    shares = {n: float(v) for n, v in zip(ev.lead_names, ev.lead_shares)}
    pos = ev.attribution[ev.attribution > 0].sum()
    neg = ev.attribution[ev.attribution < 0].sum()

    def seg_list(segs: list[Segment]) -> list[dict[str, Any]]:
        return [s.to_dict() for s in segs]

    return {
        "class": ev.class_name,
        "logit": ev.logit,
        "probability": ev.probability,
        "bias": ev.bias,
        "sum_lead_shares": float(ev.lead_shares.sum()),
        "residual": ev.residual,
        "total_positive": float(pos),
        "total_negative": float(neg),
        "fs": ev.fs,
        "duration_s": ev.attribution.shape[1] / ev.fs,
        "window_s": ev.window_s,
        "stride_s": ev.stride_s,
        "lead_shares": shares,
        "lead_ranking": sorted(shares, key=lambda n: -abs(shares[n])),
        "top_positive": seg_list(ev.top_positive),
        "top_negative": seg_list(ev.top_negative),
        "top_positive_by_lead": {n: seg_list(v) for n, v in ev.top_positive_by_lead.items()},
        "top_negative_by_lead": {n: seg_list(v) for n, v in ev.top_negative_by_lead.items()},
        "partition": seg_list(ev.partition),
    }
