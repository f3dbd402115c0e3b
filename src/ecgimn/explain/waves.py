"""Exact evidence per lead and wave: every logit split into lead x wave (P, PR, QRS, ST, T, TP) + bias.

An ECG-IMN decision is ``logit = sum(A) + b`` with ``A = W * x_std`` (12, L). Labelling every sample of the
record with exactly one wave turns ``A`` into a (12, 7) table whose cells add up to ``logit - b`` (a partition,
so the split is exact, not an approximation). Summed per wave, evidence that a per-sample picture shows as
alternating QRS spikes becomes one net number per wave; an ST segment reads as one block.

Beats (:func:`delineate_beats`):

1. **R peaks from all 12 leads** (:func:`detect_r_peaks`): band-pass 5-20 Hz, squared slope summed over leads,
   120 ms moving integration (Pan & Tompkins 1985, multi-lead), peaks >= 250 ms apart above 30 % of the
   record's 99th percentile, each moved to the largest summed |band-passed| sample within 80 ms. A flat or
   noisy lead cannot hide the beats of the others.
2. **Wave boundaries from NeuroKit2** (Makowski et al. 2021) ``ecg_delineate(method="dwt")`` on lead II
   (cleaned with ``ecg_clean``, upsampled to 500 Hz with ``resample_poly``; the wavelet delineator does not work
   at 100 Hz), given the R peaks of step 1, mapped back to the model's rate (rounded).
3. **Fixed-interval fallback** per boundary (:data:`FIXED_MS`): NeuroKit's ``dwt`` returns NaN for many
   boundaries (most often R offsets / T offsets of the last beat, P waves in atrial fibrillation) and sometimes
   implausible ones (e.g. a QRS onset 160 ms before the R peak, after the P offset). A boundary outside its
   plausible window around R (:data:`PLAUSIBLE_MS`) is replaced by the fixed interval; the T offset follows
   Bazett (QT = 0.4 s * sqrt(RR / 1 s)). Then boundaries are made monotone in time (running maximum), so P,
   PR, QRS, ST, T and TP never overlap. ``Beats.from_delineator`` records which boundaries NeuroKit supplied.

Samples before the first / after the last beat are ``TP`` when shorter than one median RR interval, otherwise
``unassigned``; so is the gap left by a missed beat (RR > 1.8 x median). With no beats at all every sample is
``unassigned`` and the table is still exact (all evidence in that column).

A reference (e.g. a mean NORM beat placed at this record's R peaks, :func:`reference_record`) gives the
NORM-referenced split, exact as well: ``logit = sum(W_mv * (x - r)) + (bias_mv + sum(W_mv * r))``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgimn.constants import LEADS, WAVES
from ecgimn.errors import ConfigError, InputError

#: Boundary columns of :attr:`Beats.bounds` (half-open waves: P = [P_on, P_off), PR = [P_off, QRS_on), ...).
BOUNDS: tuple[str, ...] = ("P_on", "P_off", "QRS_on", "QRS_off", "T_on", "T_off")
#: Fixed boundaries relative to R (ms) used when the delineator gives none (T_on / T_off: see the module doc).
FIXED_MS: dict[str, float] = {"P_on": -200.0, "P_off": -100.0, "QRS_on": -50.0, "QRS_off": 60.0}
#: Plausible window of each delineated boundary relative to R (ms); outside it the fixed interval is used.
PLAUSIBLE_MS: dict[str, tuple[float, float]] = {
    "P_on": (-320.0, -80.0),
    "P_off": (-220.0, -20.0),
    "QRS_on": (-120.0, -10.0),
    "QRS_off": (20.0, 160.0),
    "T_on": (60.0, 420.0),
    "T_off": (150.0, 650.0),
}
_NK_KEYS = {
    "P_on": "ECG_P_Onsets",
    "P_off": "ECG_P_Offsets",
    "QRS_on": "ECG_R_Onsets",
    "QRS_off": "ECG_R_Offsets",
    "T_on": "ECG_T_Onsets",
    "T_off": "ECG_T_Offsets",
}
_UNASSIGNED = WAVES.index("unassigned")
_TP = WAVES.index("TP")


@dataclass(frozen=True)
class Beats:
    """Delineated beats of one record at the model's rate.

    Attributes:
        fs, length: sampling rate (Hz) and record length (samples).
        r: (B,) R-peak samples.
        bounds: (B, 6) boundary samples (:data:`BOUNDS`), monotone within and across beats (may lie outside
            ``[0, length)`` for beats cut by the record edges).
        from_delineator: (B, 6) True where NeuroKit supplied the boundary, False where the fixed interval did.
        labels: (L,) index into :data:`WAVES` of every sample.
        beat_of: (L,) index of the beat that owns each sample (its P onset to the next P onset), -1 outside.
        method: how the boundaries were found, in words.
    """

    fs: float
    length: int
    r: np.ndarray
    bounds: np.ndarray
    from_delineator: np.ndarray
    labels: np.ndarray
    beat_of: np.ndarray
    method: str

    @property
    def n_beats(self) -> int:
        return int(len(self.r))

    @property
    def delineated_share(self) -> float:
        """Share of boundaries NeuroKit supplied (the rest are fixed intervals); NaN with no beats."""
        return float(self.from_delineator.mean()) if self.from_delineator.size else float("nan")

    def mask(self, wave: str) -> np.ndarray:
        """(L,) bool: the samples labelled ``wave``."""
        return self.labels == wave_index(wave)

    def to_dict(self) -> dict[str, Any]:
        """Json-ready summary: R peaks (s), boundaries (s), the delineated share and the method."""
        return {
            "method": self.method,
            "n_beats": self.n_beats,
            "r_peaks_s": [round(float(r) / self.fs, 3) for r in self.r],
            "bounds_s": {
                n: [round(float(v) / self.fs, 3) for v in self.bounds[:, j]] for j, n in enumerate(BOUNDS)
            },
            "delineated_share": None if not self.n_beats else round(self.delineated_share, 3),
            "samples_per_wave": {w: int((self.labels == i).sum()) for i, w in enumerate(WAVES)},
        }


def wave_index(wave: str) -> int:
    """Index of a wave name in :data:`WAVES` (a clear error for unknown names)."""
    if wave not in WAVES:
        raise ConfigError(f"unknown wave {wave!r}; valid: {', '.join(WAVES)}")
    return WAVES.index(wave)


def _as_record(x_mv: np.ndarray, fs: float) -> np.ndarray:
    x = np.asarray(x_mv, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise InputError(f"expected one record (n_leads, L) in mV, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("record contains NaN/inf; read it with ecgimn.io.read_ecg, which repairs short gaps")
    if not fs > 0:
        raise InputError(f"fs must be positive, got {fs}")
    return x


def detect_r_peaks(x_mv: np.ndarray, fs: float, *, min_rr_s: float = 0.25) -> np.ndarray:
    """R-peak samples of a (n_leads, L) mV record from all leads together (see the module doc, step 1)."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    x = _as_record(x_mv, fs)
    L = x.shape[1]
    hi = min(20.0, 0.45 * fs)
    if L < 3 * int(0.12 * fs) + 30 or hi <= 5.0:
        return np.zeros(0, dtype=np.int64)
    bp = sosfiltfilt(butter(2, [5.0, hi], btype="band", fs=fs, output="sos"), x, axis=1)
    slope = (np.diff(bp, axis=1, prepend=bp[:, :1]) ** 2).sum(axis=0)
    n_int = max(1, int(round(0.12 * fs)))
    env = np.convolve(slope, np.ones(n_int) / n_int, mode="same")
    level = float(np.percentile(env, 99))
    if level <= 0:
        return np.zeros(0, dtype=np.int64)
    peaks, _ = find_peaks(env, height=0.3 * level, distance=max(1, int(round(min_rr_s * fs))))
    mag = np.abs(bp).sum(axis=0)
    half = max(1, int(round(0.08 * fs)))
    r = [int(max(0, p - half) + np.argmax(mag[max(0, p - half) : p + half + 1])) for p in peaks]
    return np.unique(np.asarray(r, dtype=np.int64))


def _fixed_bounds(r_ms_rr: np.ndarray) -> np.ndarray:
    """(B, 6) fixed boundaries in ms relative to R, from each beat's RR interval (ms)."""
    rr = np.asarray(r_ms_rr, dtype=np.float64)
    t_off = -40.0 + 400.0 * np.sqrt(
        np.clip(rr, 300.0, 2000.0) / 1000.0
    )  # QT (Bazett) from QRS onset at -40 ms
    j = FIXED_MS["QRS_off"]
    t_on = j + (t_off - j) / 3.0
    base = np.array([FIXED_MS["P_on"], FIXED_MS["P_off"], FIXED_MS["QRS_on"], FIXED_MS["QRS_off"]])
    return np.column_stack([np.tile(base, (len(rr), 1)), t_on, t_off])


def _neurokit_bounds(lead_mv: np.ndarray, fs: float, r: np.ndarray, delineation_fs: int) -> np.ndarray | None:
    """(B, 6) NeuroKit boundaries (samples at ``fs``, NaN where none) or ``None`` when NeuroKit raises.

    The most expensive step of an explanation's wave view (~0.1 s a record), and asked again for the same record
    by every picture, class and what-if of it: the last few results are kept (a pure function of its inputs)."""
    lead = np.ascontiguousarray(lead_mv, dtype=np.float64)
    peaks = np.ascontiguousarray(r, dtype=np.int64)
    found = _neurokit_bounds_kept(lead.tobytes(), float(fs), peaks.tobytes(), int(delineation_fs))
    return None if found is None else found.copy()


@functools.lru_cache(maxsize=32)
def _neurokit_bounds_kept(lead: bytes, fs: float, r: bytes, delineation_fs: int) -> np.ndarray | None:
    import neurokit2 as nk
    from scipy.signal import resample_poly

    lead_mv, r = np.frombuffer(lead, dtype=np.float64).copy(), np.frombuffer(r, dtype=np.int64)
    up = delineation_fs / float(fs)
    sig = resample_poly(lead_mv, int(delineation_fs), int(fs)) if up != 1 else lead_mv
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clean = nk.ecg_clean(sig, sampling_rate=int(delineation_fs))
            rp = np.clip(np.round(r * up).astype(np.int64), 0, len(clean) - 1)
            _, waves = nk.ecg_delineate(clean, rp, sampling_rate=int(delineation_fs), method="dwt")
    except Exception:  # noqa: BLE001 - NeuroKit raises many types on odd signals; the fallback covers it
        return None
    out = np.full((len(r), len(BOUNDS)), np.nan)
    for j, name in enumerate(BOUNDS):
        v = np.asarray(waves.get(_NK_KEYS[name], []), dtype=np.float64)[: len(r)]
        out[: len(v), j] = v / up
    return out


def delineate_beats(
    x_mv: np.ndarray,
    fs: float,
    *,
    method: str = "neurokit",
    lead: int = 1,
    delineation_fs: int = 500,
    r_peaks: np.ndarray | None = None,
) -> Beats:
    """Beats, wave boundaries and per-sample wave labels of one (n_leads, L) mV record (see the module doc).

    ``method="neurokit"``: NeuroKit2 ``dwt`` with the fixed-interval fallback per boundary; ``"fixed"``: fixed
    intervals around the R peaks only. ``r_peaks`` skips the R detector (samples at ``fs``).
    """
    if method not in ("neurokit", "fixed"):
        raise ConfigError(f"unknown delineation method {method!r}; use 'neurokit' or 'fixed'")
    x = _as_record(x_mv, fs)
    L = x.shape[1]
    r = detect_r_peaks(x, fs) if r_peaks is None else np.unique(np.asarray(r_peaks, dtype=np.int64))
    labels = np.full(L, _UNASSIGNED, dtype=np.int8)
    beat_of = np.full(L, -1, dtype=np.int64)
    if len(r) == 0:
        empty = np.zeros((0, len(BOUNDS)))
        return Beats(
            float(fs),
            L,
            r,
            empty.astype(np.int64),
            empty.astype(bool),
            labels,
            beat_of,
            "no beats found: every sample unassigned",
        )
    rr = np.diff(r) / fs * 1000.0
    med_rr = float(np.median(rr)) if len(rr) else 1000.0
    rr_next = np.append(rr, med_rr) if len(rr) else np.array([med_rr])
    rr_beat = np.minimum(rr_next, np.insert(rr, 0, med_rr) if len(rr) else rr_next)
    fixed = r[:, None] + _fixed_bounds(rr_beat) * fs / 1000.0
    nk_ok = method == "neurokit" and 0 <= lead < x.shape[0]
    found = _neurokit_bounds(x[lead], fs, r, delineation_fs) if nk_ok else None
    if found is None:
        bounds, from_nk = fixed, np.zeros(fixed.shape, dtype=bool)
        text = "fixed intervals around R (multi-lead R detector)"
        if nk_ok:
            text = "NeuroKit2 dwt failed on this record; " + text
    else:
        rel = (found - r[:, None]) * 1000.0 / fs
        lo = np.array([PLAUSIBLE_MS[b][0] for b in BOUNDS])
        hi = np.array([PLAUSIBLE_MS[b][1] for b in BOUNDS])
        from_nk = np.isfinite(found) & (rel >= lo) & (rel <= hi)
        bounds = np.where(from_nk, found, fixed)
        text = (
            f"NeuroKit2 dwt (lead {LEADS[lead] if x.shape[0] == len(LEADS) else lead + 1}, "
            f"{delineation_fs} Hz) with fixed-interval fallback; R peaks from all leads"
        )
    bounds = np.round(bounds).astype(np.int64)
    # QRS must contain R; then everything monotone across beats (running maximum over the flattened sequence)
    bounds[:, 2] = np.minimum(bounds[:, 2], r)
    bounds[:, 3] = np.maximum(bounds[:, 3], r + 1)
    bounds = np.maximum.accumulate(bounds.ravel()).reshape(bounds.shape)
    n_med = med_rr * fs / 1000.0
    for i in range(len(r)):
        b = bounds[i]
        for w in range(5):  # P, PR, QRS, ST, T
            a, e = max(b[w], 0), min(b[w + 1], L)
            if e > a:
                labels[a:e] = w
        a = max(b[0], 0)
        e = min(b[5], L)
        if i + 1 < len(r):
            nxt = bounds[i + 1, 0]
            if rr[i] <= 1.8 * med_rr:  # TP up to the next beat's P onset; a missed beat leaves it unassigned
                labels[max(b[5], 0) : min(max(nxt, 0), L)] = _TP
                e = min(max(nxt, 0), L)
        elif L - b[5] <= n_med:
            labels[max(b[5], 0) : L] = _TP
            e = L
        if e > a:
            beat_of[a:e] = i
    first = bounds[0, 0]
    if 0 < first <= n_med:
        labels[:first] = _TP
    return Beats(float(fs), L, r, bounds, from_nk, labels, beat_of, text)


def wave_table(attribution: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(..., n_leads, 7): ``attribution`` (..., n_leads, L) summed over the samples of each wave (exact)."""
    a = np.asarray(attribution, dtype=np.float64)
    lab = np.asarray(labels)
    if lab.shape != a.shape[-1:]:
        raise InputError(f"labels {lab.shape} do not match the attribution's {a.shape[-1]} samples")
    return np.stack([a[..., lab == i].sum(-1) for i in range(len(WAVES))], axis=-1)


def beat_tables(attribution: np.ndarray, beats: Beats) -> tuple[np.ndarray, np.ndarray]:
    """``(per_beat (B, n_leads, 7), outside (n_leads, 7))``: each beat's table (P onset to next P onset) and
    the samples owned by no beat; ``per_beat.sum(0) + outside`` is the record's table exactly."""
    a = np.asarray(attribution, dtype=np.float64)
    per = (
        np.stack(
            [wave_table(np.where(beats.beat_of == i, a, 0.0), beats.labels) for i in range(beats.n_beats)]
        )
        if beats.n_beats
        else np.zeros((0, a.shape[0], len(WAVES)))
    )
    outside = wave_table(np.where(beats.beat_of < 0, a, 0.0), beats.labels)
    return per, outside


def beat_average(signal: np.ndarray, beats: Beats, pre_s: float = 0.3, post_s: float = 0.5) -> np.ndarray:
    """(n_leads, pre + post) mean of ``signal`` (n_leads, L) over the beats aligned at R; NaN with no full beat."""
    s = np.asarray(signal, dtype=np.float64)
    pre, post = int(round(pre_s * beats.fs)), int(round(post_s * beats.fs))
    full = [r for r in beats.r if r - pre >= 0 and r + post <= s.shape[-1]]
    if not full:
        return np.full((s.shape[0], pre + post), np.nan)
    return np.mean([s[:, r - pre : r + post] for r in full], axis=0)


def reference_record(mean_beat: np.ndarray, beats: Beats, pre_s: float = 0.3) -> np.ndarray:
    """A (n_leads, L) reference: ``mean_beat`` (n_leads, n) placed at each R (R at ``pre_s`` into it); each
    sample takes the beat of the nearest R, samples beyond the mean beat take its nearest end value."""
    mb = np.asarray(mean_beat, dtype=np.float64)
    pre = int(round(pre_s * beats.fs))
    L = beats.length
    if beats.n_beats == 0:
        return np.repeat(mb[:, -1:], L, axis=1)
    t = np.arange(L)
    nearest = beats.r[np.argmin(np.abs(t[:, None] - beats.r[None, :]), axis=1)]
    idx = np.clip(t - nearest + pre, 0, mb.shape[1] - 1)
    return mb[:, idx]


def _lead_group(names: Sequence[str]) -> str:
    """Lead names in standard order; runs of 3+ consecutive chest leads as ranges ("V1-V3", "II, III, aVF")."""
    order = [n for n in LEADS if n in names] + [n for n in names if n not in LEADS]
    idx = [LEADS.index(n) if n in LEADS else -1 for n in order]
    out, i = [], 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and idx[j + 1] == idx[j] + 1 and idx[j] >= 6:
            j += 1
        out.append(f"{order[i]}-{order[j]}" if j - i >= 2 else ", ".join(order[i : j + 1]))
        i = j + 1
    return ", ".join(out)


def _sgn(v: float, digits: int = 2) -> str:
    return f"{v:+.{digits}f}"


@dataclass
class WaveDecomposition:
    """One class of one record split exactly into lead x wave + bias: ``table.sum() + bias == logit``.

    ``beat_mean`` is the mean of the per-beat tables (the evidence of the median, R-aligned beat);
    ``n_beats * beat_mean.sum() + outside.sum() + bias == logit`` exactly.
    """

    class_name: str
    logit: float
    probability: float | None
    bias: float
    table: np.ndarray  # (n_leads, 7)
    beat_mean: np.ndarray  # (n_leads, 7)
    outside: np.ndarray  # (n_leads, 7)
    beats: Beats
    lead_names: tuple[str, ...] = LEADS
    reference: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def residual(self) -> float:
        """``logit - (table.sum() + bias)``: zero up to float rounding."""
        return float(self.logit - (float(self.table.sum()) + self.bias))

    def wave_totals(self) -> dict[str, float]:
        return {w: float(v) for w, v in zip(WAVES, self.table.sum(axis=0))}

    def cell(self, lead: str, wave: str) -> float:
        if lead not in self.lead_names:
            raise ConfigError(f"unknown lead {lead!r}; valid: {', '.join(self.lead_names)}")
        return float(self.table[self.lead_names.index(lead), wave_index(wave)])

    def share(self, leads: Sequence[str] | None = None, waves: Sequence[str] | None = None) -> float:
        """Sum of the cells of ``leads`` x ``waves`` (``None``: all) divided by ``logit - bias`` (signed)."""
        li = [self.lead_names.index(n) for n in leads] if leads is not None else slice(None)
        wi = [wave_index(w) for w in waves] if waves is not None else slice(None)
        total = float(self.table.sum())
        return float(self.table[li][:, wi].sum() / total) if total != 0 else float("nan")

    def items(
        self, n: int = 3, coverage: float = 0.7, max_leads: int = 4
    ) -> list[tuple[str, list[str], float]]:
        """The strongest (wave, leads, evidence) groups, by |evidence|: per wave, the fewest leads of the wave's
        sign that cover ``coverage`` of its same-signed evidence (at most ``max_leads``)."""
        out = []
        for w, name in enumerate(WAVES):
            col = self.table[:, w]
            for sign in (1.0, -1.0):
                vals = sign * col
                pos = np.flatnonzero(vals > 0)
                if not len(pos):
                    continue
                order = pos[np.argsort(-vals[pos])]
                cum = np.cumsum(vals[order])
                k = min(int(np.searchsorted(cum, coverage * cum[-1]) + 1), max_leads, len(order))
                chosen = order[:k]
                out.append((name, [self.lead_names[i] for i in chosen], float(col[chosen].sum())))
        out.sort(key=lambda t: -abs(t[2]))
        return out[:n]

    def summary(self, n: int = 3) -> str:
        """One line, e.g. ``MI 0.94: QRS in V1-V3 +1.10, T in V2-V4 +0.40, bias +0.30 (logit 2.10)``."""
        head = self.class_name + (f" {self.probability:.2f}" if self.probability is not None else "")
        parts = [f"{w} in {_lead_group(leads)} {_sgn(v)}" for w, leads, v in self.items(n)]
        ref = f", vs {self.reference}" if self.reference else ""
        return f"{head}: {', '.join(parts + [f'bias {_sgn(self.bias)}'])} (logit {self.logit:.2f}{ref})"

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        """Json-ready: tables as {lead: {wave: value}}, wave totals, bias, logit, residual, summary line."""

        def tab(t: np.ndarray) -> dict[str, dict[str, float]]:
            return {
                n: {w: round(float(v), digits) for w, v in zip(WAVES, row)}
                for n, row in zip(self.lead_names, t)
            }

        return {
            "class": self.class_name,
            "logit": float(self.logit),
            "probability": self.probability,
            "bias": float(self.bias),
            "residual": self.residual,
            "reference": self.reference,
            "summary": self.summary(),
            "wave_totals": {w: round(v, digits) for w, v in self.wave_totals().items()},
            "lead_totals": {n: round(float(v), digits) for n, v in zip(self.lead_names, self.table.sum(1))},
            "table": tab(self.table),
            "n_beats": self.beats.n_beats,
            "beat_mean": tab(self.beat_mean),
            "outside_beats": round(float(self.outside.sum()), digits),
            **self.extra,
        }


def decompose(
    attribution: np.ndarray,
    bias: float,
    logit: float | None,
    beats: Beats,
    class_name: str,
    probability: float | None = None,
    *,
    lead_names: Sequence[str] | None = None,
    reference: str | None = None,
    rtol: float = 1e-4,
) -> WaveDecomposition:
    """The :class:`WaveDecomposition` of one class's exact attribution (n_leads, L) on delineated ``beats``.

    A given ``logit`` must equal ``attribution.sum() + bias`` (to ``rtol`` of the evidence scale), otherwise
    the attribution is not the exact decomposition of that logit and an ``InputError`` is raised.
    """
    a = np.asarray(attribution, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != beats.length:
        raise InputError(
            f"attribution must be (n_leads, {beats.length}) like the delineated record, got {a.shape}"
        )
    names = (
        tuple(lead_names)
        if lead_names is not None
        else (LEADS if a.shape[0] == len(LEADS) else tuple(f"lead{i + 1}" for i in range(a.shape[0])))
    )
    total = float(a.sum()) + float(bias)
    if logit is None:
        logit = total
    if abs(float(logit) - total) > rtol * (float(np.abs(a).sum()) + abs(float(bias)) + 1.0):
        raise InputError(
            f"class {class_name!r}: attribution sum + bias = {total:.6g} but logit = {float(logit):.6g}"
        )
    per, outside = beat_tables(a, beats)
    mean = per.mean(0) if len(per) else np.zeros_like(outside)
    return WaveDecomposition(
        str(class_name),
        float(logit),
        None if probability is None else float(probability),
        float(bias),
        wave_table(a, beats.labels),
        mean,
        outside,
        beats,
        names,
        reference,
    )


def waves_report(decompositions: Sequence[WaveDecomposition]) -> dict[str, Any]:
    """The report's ``"waves"`` entry: the delineation once, and one decomposition per explained class."""
    if not decompositions:
        return {"waves": list(WAVES), "classes": {}}
    beats = decompositions[0].beats
    return {
        "waves": list(WAVES),
        "delineation": beats.to_dict(),
        "units": "logit units; per class, the sum of all table cells plus bias equals the logit exactly",
        "classes": {d.class_name: d.to_dict() for d in decompositions},
        "summary": [d.summary() for d in decompositions],
    }
