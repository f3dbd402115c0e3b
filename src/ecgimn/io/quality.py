"""Input plausibility: is this a 12-lead ECG in mV that a model can be trusted on? Runs before every model.

:func:`assess` returns an :class:`InputCheck` with a status and named findings:

``refused`` (no prediction unless the user overrides: ``--allow-implausible`` / ``allow_implausible=True``)
    ``float_limit``   values of a magnitude no ECG has (|x| > 1e6 mV: corrupt file, wrong data type); never
                      overridable, since the model's arithmetic would overflow.
    ``units_uv``      median peak-to-peak > 20 mV: µV (or ADC counts) read as mV.
    ``adc_counts``    as ``units_uv`` with every value an integer: raw ADC counts without their gain.
    ``adc_no_gain``   a WFDB header without ADC gain (the reader then divides counts by the default 200).
    ``units_v``       median peak-to-peak < 0.05 mV: volts read as mV.
``warning`` (the prediction is made and shown with the warning beside it)
    ``amplitude_large``  median peak-to-peak between the clean range and ``units_uv`` (e.g. counts / 200).
    ``lead_reversal_la_ra``, ``lead_reversal_la_ll``, ``lead_reversal_ra_ll``: limb electrode swaps, from a
                      logistic regression on median-beat features (``lead_reversal.json``, fitted on PTB-XL folds
                      1-8 with the swaps applied, threshold chosen on fold 9; ``benchmarks/fit_input_checks.py``).
    ``inverted_precordial``  a precordial lead whose median beat anti-correlates with its neighbours.
    ``flat_lead``, ``saturated_lead``, ``noisy_lead``, ``baseline_wander``: per-lead signal quality.

Every lead also gets a quality score in [0, 1] (1 = clean): the product of penalties for flat, clipped,
high-frequency (muscle), mains and baseline-wander content. Amplitude thresholds and the score's scales were set
from the distribution on clean PTB-XL records (Wagner et al., Sci Data 2020); detection and false-alarm rates
are measured in ``benchmarks/bench_input_checks.py`` (docs/results/input-checks.md).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn.constants import LEADS, N_LEADS

#: |x| above this (mV) is not a voltage a body-surface ECG can have
MAX_ABS_MV = 1e6
#: median over leads of the robust peak-to-peak (mV): above UV_P2P -> µV / counts, below V_P2P -> volts
UV_P2P = 20.0
V_P2P = 0.05
#: median peak-to-peak above this (mV) is unusually large for a clean ECG (warning): on the 1,999 PTB-XL records
#: the median peak-to-peak has 99.5th percentile 2.56 mV and maximum 3.93 mV
LARGE_P2P = 3.0
#: a lead with a robust peak-to-peak below this (mV) carries no ECG
FLAT_P2P = 0.01
#: share of samples stuck at a lead's extreme value that marks clipping
SATURATED_SHARE = 0.02
#: a lead scoring below this gets a ``noisy_lead`` warning
NOISY_SCORE = 0.5
#: peak-to-peak (mV) of the slow (< 0.67 Hz) baseline above which ``baseline_wander`` is reported: clean PTB-XL
#: records reach 2 mV in 1 % of leads and 3.9 mV in 1 % of records (and the baseline filter removes it anyway)
WANDER_P2P = 4.0
#: codes whose refusal ``allow_implausible`` cannot override
NEVER_OVERRIDE = frozenset({"float_limit"})
REVERSAL_MODEL = Path(__file__).with_name("lead_reversal.json")
REVERSALS = {
    "la_ra": "LA/RA",
    "la_ll": "LA/LL",
    "ra_ll": "RA/LL",
}
#: limb-lead permutation and signs each electrode swap produces (rows I, II, III, aVR, aVL, aVF of the swapped ECG)
SWAPS: dict[str, tuple[tuple[int, float], ...]] = {
    "la_ra": ((0, -1), (2, 1), (1, 1), (4, 1), (3, 1), (5, 1)),
    "la_ll": ((1, 1), (0, 1), (2, -1), (3, 1), (5, 1), (4, 1)),
    "ra_ll": ((2, -1), (1, -1), (0, -1), (5, 1), (4, 1), (3, 1)),
}
FEATURE_FS = 100.0


@dataclass
class Finding:
    """One problem with the input: a stable ``code``, its ``severity``, a one-line message and the leads involved."""

    code: str
    severity: str  # "warning" | "refused"
    message: str
    leads: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "leads": list(self.leads),
        }


@dataclass
class InputCheck:
    """The verdict on one input: ``status`` ok / warning / refused, the findings and a quality score per lead."""

    status: str
    findings: list[Finding] = field(default_factory=list)
    lead_quality: dict[str, float] = field(default_factory=dict)
    overridden: bool = False  # refused, but the user asked for a prediction anyway

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "findings": [f.to_dict() for f in self.findings],
            "lead_quality": {k: round(float(v), 3) for k, v in self.lead_quality.items()},
            "overridden": self.overridden,
        }

    @property
    def refusals(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "refused"]

    def summary(self) -> str:
        """One line for terminals and titles: ``OK``, ``WARNING possible LA/RA reversal; ...``, ``REFUSED ...``."""
        if self.status == "ok":
            return "OK"
        head = self.status.upper() + (" (overridden)" if self.overridden else "")
        worst = self.refusals or self.findings
        return f"{head} {'; '.join(_short(f) for f in worst)}"

    def error_message(self) -> str:
        """The one-line refusal, with how to override it where that is allowed."""
        msg = "; ".join(f.message for f in self.refusals)
        if any(f.code not in NEVER_OVERRIDE for f in self.refusals) and not any(
            f.code in NEVER_OVERRIDE for f in self.refusals
        ):
            msg += " (to explain it anyway: --allow-implausible, or allow_implausible=True in Python)"
        return f"input refused: {msg}"


def _short(f: Finding) -> str:
    if f.code.startswith("lead_reversal_"):
        return f"possible {REVERSALS[f.code.removeprefix('lead_reversal_')]} reversal"
    names = ", ".join(f.leads)
    short = {
        "units_uv": "units: µV read as mV?", "units_v": "units: V read as mV?", "adc_counts": "ADC counts",
        "adc_no_gain": "ADC gain missing", "float_limit": "values beyond any ECG", "amplitude_large":
        "amplitudes unusually large", "inverted_precordial": f"{names} inverted?", "flat_lead": f"flat {names}",
        "saturated_lead": f"clipped {names}", "noisy_lead": f"noisy {names}", "baseline_wander":
        f"baseline wander {names}",
    }  # fmt: skip
    return short.get(f.code, f.code)


def finalize(
    findings: list[Finding], lead_quality: dict[str, float] | None = None, *, allow_implausible: bool = False
) -> InputCheck:
    """An :class:`InputCheck` from findings: refused > warning > ok (``allow_implausible`` overrides refusals)."""
    refused = [f for f in findings if f.severity == "refused"]
    overridable = all(f.code not in NEVER_OVERRIDE for f in refused)
    if refused and not (allow_implausible and overridable):
        status, overridden = "refused", False
    elif refused or findings:
        status, overridden = "warning", bool(refused)
    else:
        status, overridden = "ok", False
    return InputCheck(status, findings, dict(lead_quality or {}), overridden)


# ------------------------------------------------------------------------------------------------- amplitude


def magnitude_finding(x: np.ndarray, lead_names: Sequence[str] = LEADS) -> Finding | None:
    """``float_limit`` when any finite value exceeds :data:`MAX_ABS_MV` (checked without overflow warnings)."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        big = np.isfinite(a) & (a > MAX_ABS_MV)
    if not big.any():
        return None
    rows = sorted({int(i) for i in np.nonzero(big.reshape(-1, big.shape[-1]))[0] % len(lead_names)})
    leads = [lead_names[i] for i in rows]
    return Finding(
        "float_limit", "refused",
        f"{int(big.sum())} value(s) of magnitude up to {float(a[big].max()):.3g} in {', '.join(leads)}: no ECG has "
        "such voltages in any unit (corrupt file, wrong data type or byte order?)", leads,
    )  # fmt: skip


def lead_p2p(x: np.ndarray) -> np.ndarray:
    """Robust (0.5-99.5 percentile) peak-to-peak per lead (along the last axis), float64; NaN-safe."""
    x = np.asarray(x, np.float64)
    if not np.isnan(x).any():  # the fast path (nanpercentile is ~10x slower)
        hi, lo = np.percentile(x, [99.5, 0.5], axis=-1)
        return hi - lo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi, lo = np.nanpercentile(x, [99.5, 0.5], axis=-1)
    return np.nan_to_num(hi - lo)


def amplitude_findings(
    x: np.ndarray, lead_names: Sequence[str], hints: dict[str, Any], p2p: np.ndarray | None = None
) -> list[Finding]:
    """Unit and amplitude findings of one (12, L) record (``p2p``: its :func:`lead_p2p`, when known)."""
    out = []
    missing_gain = list(hints.get("adc_gain_missing") or [])
    if missing_gain:
        out.append(Finding(
            "adc_no_gain", "refused",
            f"the WFDB header gives no ADC gain for {', '.join(missing_gain)}: the values are ADC counts divided by "
            "the default gain 200 and their scale in mV is unknown; add the gain (e.g. 1000/mV) to the header",
            missing_gain,
        ))  # fmt: skip
    p2p = lead_p2p(x) if p2p is None else p2p
    live = p2p > 1e-9  # not constant (tiny amplitudes are what units_v looks for)
    if not live.any():
        return out
    med = float(np.median(p2p[live]))
    if V_P2P <= med <= LARGE_P2P:  # the usual case: nothing to report
        return out
    names = [n for n, ok in zip(lead_names, live) if ok]
    if med > UV_P2P:
        finite = x[np.isfinite(x)]
        integer = finite.size > 0 and bool(np.all(finite == np.round(finite)))
        if integer:
            out.append(Finding(
                "adc_counts", "refused",
                f"integer values with a median peak-to-peak of {med:.0f}: raw ADC counts without their gain? "
                "convert to mV (divide by the gain) or pass the right --units", names,
            ))  # fmt: skip
        else:
            out.append(Finding(
                "units_uv", "refused",
                f"median peak-to-peak {med:.3g} mV is implausible for an ECG (0.1-10 mV): µV values read as mV? "
                "pass --units uV (units='uV') or fix the file's units", names,
            ))  # fmt: skip
    elif med < V_P2P:
        out.append(Finding(
            "units_v", "refused",
            f"median peak-to-peak {med:.3g} mV is implausible for an ECG (0.1-10 mV): volts read as mV? "
            "pass --units V (units='V') or fix the file's units", names,
        ))  # fmt: skip
    elif med > LARGE_P2P and not missing_gain:
        out.append(Finding(
            "amplitude_large", "warning",
            f"median peak-to-peak {med:.3g} mV is larger than in any clean ECG seen (wrong gain or units?)", names,
        ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------- signal quality


def _band_power(psd: np.ndarray, f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    sel = (f >= lo) & (f < hi)
    return psd[..., sel].sum(-1) if sel.any() else np.zeros(psd.shape[:-1])


@lru_cache(maxsize=8)
def _baseline_lowpass(fs: float) -> np.ndarray:
    """Second-order sections of the < 0.67 Hz Butterworth that separates the slow baseline (designed once per rate)."""
    from scipy.signal import butter

    return butter(2, 0.67, btype="lowpass", fs=fs, output="sos")


def signal_quality(
    x: np.ndarray, fs: float, lead_names: Sequence[str]
) -> tuple[dict[str, float], list[Finding]]:
    """Per-lead quality score in [0, 1] and findings (flat, clipped, muscle / mains noise, baseline wander)."""
    return signal_quality_batch(np.asarray(x)[None], fs, lead_names)[0]


def signal_quality_batch(
    x: np.ndarray, fs: float, lead_names: Sequence[str], p2p: np.ndarray | None = None
) -> list[tuple[dict[str, float], list[Finding]]]:
    """:func:`signal_quality` of each record of ``x`` ((N, 12, L), no NaN), computed over the whole batch at once
    (one filter pass, one spectrum): the same numbers as record by record. ``p2p``: :func:`lead_p2p` of ``x``."""
    from scipy.signal import sosfiltfilt, welch

    x = np.asarray(x, np.float64)
    n = x.shape[-1]
    p2p = lead_p2p(x) if p2p is None else p2p
    flat = p2p <= FLAT_P2P
    # clipping: a share of samples sits exactly at the lead's extreme value
    tol = 1e-9 * (1 + np.abs(x).max((-2, -1), keepdims=True))
    top = (np.abs(x - x.max(-1, keepdims=True)) <= tol).mean(-1)
    bottom = (np.abs(x - x.min(-1, keepdims=True)) <= tol).mean(-1)
    clipped = ~flat & (np.maximum(top, bottom) >= SATURATED_SHARE)
    # slow baseline (< 0.67 Hz) and the band powers of what is left
    centred = x - np.median(x, -1, keepdims=True)
    if n > 12:
        slow = sosfiltfilt(_baseline_lowpass(float(fs)), centred, axis=-1, padlen=min(n - 1, int(3 * fs)))
    else:
        slow = np.zeros_like(centred)
    wander = lead_p2p(slow)
    f, psd = welch(centred - slow, fs=fs, nperseg=min(n, int(2 * fs)), axis=-1)
    ecg_band = _band_power(psd, f, 0.67, 35.0) + 1e-12
    hf = _band_power(psd, f, 35.0, min(fs / 2, 150.0)) / ecg_band
    mains = np.zeros(p2p.shape)
    for mf in (50.0, 60.0):
        if mf + 1 < fs / 2:
            mains = np.maximum(mains, _band_power(psd, f, mf - 1, mf + 1) / ecg_band)
    # penalties in [0, 1]: hf ratio 0.08 -> 0, 0.38 -> 1 (clean PTB-XL leads: 99th percentile 0.07); mains
    # 0.02 -> 0, 0.3 -> 1; wander 1 -> 0, 4 mV -> 1
    pen_hf = np.clip((hf - 0.08) / 0.3, 0, 1)
    pen_mains = np.clip((mains - 0.02) / 0.28, 0, 1)
    pen_wander = np.clip((wander - 1.0) / 3.0, 0, 1) * 0.5  # removed by the baseline filter: half weight
    score = (1 - pen_hf) * (1 - pen_mains) * (1 - pen_wander) * np.where(clipped, 0.3, 1.0)
    score = np.where(flat, 0.0, score)
    noisy = ~flat & (score < NOISY_SCORE) & ~clipped
    wandering = ~flat & (wander > WANDER_P2P)
    names = list(lead_names)
    anything = (flat | clipped | noisy | wandering).any(-1)
    out = []
    for i in range(len(x)):
        quality = dict(zip(names, score[i].tolist()))
        if not anything[i]:  # a clean record: no findings to word
            out.append((quality, []))
            continue
        findings = _quality_findings(
            names,
            flat[i],
            clipped[i],
            noisy[i],
            wandering[i],
            wander[i],
            pen_hf[i],
            pen_mains[i],
            pen_wander[i],
        )
        out.append((quality, findings))
    return out


def _quality_findings(
    names: list[str],
    flat: np.ndarray,
    clipped: np.ndarray,
    noisy: np.ndarray,
    wandering: np.ndarray,
    wander: np.ndarray,
    pen_hf: np.ndarray,
    pen_mains: np.ndarray,
    pen_wander: np.ndarray,
) -> list[Finding]:
    """The signal-quality findings of one record from its per-lead masks and penalties."""
    findings = []

    def pick(mask: np.ndarray) -> list[str]:
        return [names[i] for i in np.flatnonzero(mask)]

    if flat.any():
        findings.append(
            Finding(
                "flat_lead",
                "warning",
                f"flat or missing lead(s) {', '.join(pick(flat))}: they carry "
                "no signal; the prediction relies on the other leads",
                pick(flat),
            )
        )
    if clipped.any():
        findings.append(
            Finding(
                "saturated_lead",
                "warning",
                f"clipped (saturated) lead(s) {', '.join(pick(clipped))}: the amplifier's range was exceeded",
                pick(clipped),
            )
        )
    if noisy.any():
        causes = []
        if (noisy & (pen_mains > 0.5)).any():
            causes.append("mains interference")
        if (noisy & (pen_hf > 0.5)).any():
            causes.append("high-frequency (muscle) noise")
        if (noisy & (pen_wander > 0.25)).any():
            causes.append("baseline wander")
        findings.append(
            Finding(
                "noisy_lead",
                "warning",
                f"poor signal quality in {', '.join(pick(noisy))} "
                f"({', '.join(causes) or 'noise'}); read the evidence there with care",
                pick(noisy),
            )
        )
    if wandering.any():
        findings.append(
            Finding(
                "baseline_wander",
                "warning",
                f"baseline wander of up to {wander[wandering].max():.1f} mV in {', '.join(pick(wandering))}",
                pick(wandering),
            )
        )
    return findings


# -------------------------------------------------------------------------------------------- lead reversal


def median_beat(x: np.ndarray, fs: float) -> np.ndarray | None:
    """(12, 75) median beat at 100 Hz (-0.3 to +0.45 s around each QRS); ``None`` with fewer than two beats."""
    return median_beats(np.asarray(x)[None], fs)[0]


def median_beats(x: np.ndarray, fs: float) -> list[np.ndarray | None]:
    """:func:`median_beat` of each record of ``x`` ((N, 12, L)); resampling and the QRS energy over the batch."""
    from scipy.signal import find_peaks

    from ecgimn.io.signal import resample_array

    x = np.asarray(x, np.float64)
    if fs != FEATURE_FS:
        x = resample_array(x, fs, FEATURE_FS)
    if x.shape[-1] < 75:  # shorter than one beat window: no median beat
        return [None] * len(x)
    energy = np.abs(np.diff(x, axis=-1)).sum(-2)
    box = np.ones(5) / 5
    env = np.stack([np.convolve(e, box, mode="same") for e in energy])
    usable = np.isfinite(env).all(-1) & (env.max(-1) > 0)
    height = np.zeros(len(x))
    if usable.any():
        height[usable] = 0.4 * np.percentile(env[usable], 99, axis=-1)
    peaks: dict[int, np.ndarray] = {}
    for i in np.flatnonzero(usable):
        found, _ = find_peaks(env[i], height=height[i], distance=30)
        found = found[(found >= 30) & (found + 45 <= x.shape[-1])]
        if len(found) >= 2:
            peaks[i] = found
    out: list[np.ndarray | None] = [None] * len(x)
    # the median over beats, for all records with the same number of beats at once (beats on the last axis)
    offsets = np.arange(-30, 45)
    for count in sorted({len(p) for p in peaks.values()}):
        group = [i for i, p in peaks.items() if len(p) == count]
        idx = np.stack([peaks[i] for i in group])[:, :, None] + offsets  # (G, beats, 75)
        segs = np.take_along_axis(x[group][:, :, None, :], idx[:, None].transpose(0, 1, 3, 2), -1)
        med = _median_last(segs)  # (G, 12, 75)
        for i, m in zip(group, med):
            out[i] = m
    return out


def _median_last(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)`` (same values, NaN-free input) by a full sort: faster on short rows."""
    s = np.sort(a, axis=-1)
    k = a.shape[-1] // 2
    return s[..., k] if a.shape[-1] % 2 else (s[..., k - 1] + s[..., k]) / 2


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (0 where either side is constant)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    ok = den > 1e-12
    return np.where(ok, (a * b).sum(-1) / np.where(ok, den, 1.0), 0.0)


def _signed_peak(seg: np.ndarray) -> np.ndarray:
    """The sample of largest magnitude along the last axis, with its sign."""
    return np.take_along_axis(seg, np.abs(seg).argmax(-1)[..., None], -1)[..., 0]


def reversal_features(beat: np.ndarray) -> np.ndarray:
    """Features of the six limb leads of a median beat: signed QRS peak, QRS area, P and T peak (amplitudes
    relative to the median QRS size), and the correlation of each limb lead's beat with V6 and with V1."""
    return reversal_features_batch(np.asarray(beat)[None])[0]


def reversal_features_batch(beats: np.ndarray) -> np.ndarray:
    """:func:`reversal_features` of each median beat of ``beats`` ((M, 12, 75)) -> (M, 36)."""
    beats = np.asarray(beats, np.float64)
    ref = beats[..., 22:25].mean(-1, keepdims=True)  # PQ segment, -80 to -50 ms
    b = beats - ref
    qrs, p, t = b[..., 24:37], b[..., 8:22], b[..., 45:70]
    scale = np.median(qrs.max(-1) - qrs.min(-1), axis=-1)[:, None] + 1e-3  # (M, 1)
    limb = beats[:, :6]
    feats = np.stack(
        [
            _signed_peak(qrs[:, :6]) / scale,
            qrs[:, :6].sum(-1) / (10 * scale),
            _signed_peak(p[:, :6]) / scale,
            _signed_peak(t[:, :6]) / scale,
            _corr(limb, beats[:, 11:12]),
            _corr(limb, beats[:, 6:7]),
        ],
        axis=-1,
    )  # (M, 6 leads, 6 features)
    return feats.reshape(len(beats), 36)


def precordial_scores(beat: np.ndarray) -> np.ndarray:
    """Correlation of each precordial lead's median beat with the mean of its neighbours (V1..V6)."""
    return precordial_scores_batch(np.asarray(beat)[None])[0]


def precordial_scores_batch(beats: np.ndarray) -> np.ndarray:
    """:func:`precordial_scores` of each median beat of ``beats`` ((M, 12, 75)) -> (M, 6)."""
    v = beats[:, 6:12] - beats[:, 6:12].mean(-1, keepdims=True)
    neighbours = np.concatenate([v[:, 1:2], (v[:, :4] + v[:, 2:6]) / 2, v[:, 4:5]], axis=1)
    return _corr(v, neighbours)


def swap_limb_leads(x: np.ndarray, swap: str) -> np.ndarray:
    """``x`` ((..., 12, L) or a median beat) as it reads with the two electrodes of ``swap`` exchanged."""
    y = np.array(x, copy=True)
    for row, (src, sign) in enumerate(SWAPS[swap]):
        y[..., row, :] = sign * x[..., src, :]
    return y


@lru_cache(maxsize=1)
def reversal_model() -> dict[str, Any] | None:
    """The fitted lead-reversal classifiers (``None`` when the JSON is absent: reversal checks are skipped)."""
    if not REVERSAL_MODEL.is_file():
        return None
    return json.loads(REVERSAL_MODEL.read_text(encoding="utf-8"))


def reversal_probabilities(
    beat: np.ndarray, model: dict[str, Any], features: np.ndarray | None = None
) -> dict[str, float]:
    """Logistic-regression probability of each limb swap for one median beat (``features``: its
    :func:`reversal_features`, when known)."""
    feats = reversal_features(beat) if features is None else features
    z = (feats - np.asarray(model["mean"])) / np.asarray(model["scale"])
    out = {}
    for swap, m in model["classifiers"].items():
        logit = float(np.dot(z, m["coef"]) + m["intercept"])
        out[swap] = float(1 / (1 + np.exp(-np.clip(logit, -50, 50))))
    return out


def reversal_findings(x: np.ndarray, fs: float, flat: list[str]) -> list[Finding]:
    """Limb-electrode swaps and inverted precordial leads of one (12, L) record (``flat``: its flat leads)."""
    return reversal_findings_batch(np.asarray(x)[None], fs, [flat])[0]


def reversal_findings_batch(x: np.ndarray, fs: float, flats: Sequence[list[str]]) -> list[list[Finding]]:
    """:func:`reversal_findings` of each record of ``x`` ((N, 12, L)); ``flats``: each record's flat leads."""
    beats = median_beats(x, fs)
    out: list[list[Finding]] = [[] for _ in beats]
    have = [i for i, b in enumerate(beats) if b is not None]
    model = reversal_model()
    if not have or model is None:
        return out
    stacked = np.stack([beats[i] for i in have])
    feats = reversal_features_batch(stacked)
    scores = precordial_scores_batch(stacked)
    thr = float(model.get("precordial_threshold", -0.5))
    for j, i in enumerate(have):
        flat = list(flats[i])
        if not any(n in flat for n in LEADS[:6]):
            for swap, prob in reversal_probabilities(stacked[j], model, feats[j]).items():
                if prob >= model["classifiers"][swap]["threshold"]:
                    label = REVERSALS[swap]
                    out[i].append(Finding(
                        f"lead_reversal_{swap}", "warning",
                        f"possible {label} reversal (limb-lead pattern typical of swapped {label} electrodes, "
                        f"classifier probability {prob:.2f}); check the electrode placement", list(LEADS[:6]),
                    ))  # fmt: skip
        if scores[j].min() >= thr:  # no precordial lead anti-correlates with its neighbours
            continue
        bad: list[str] = []
        beat = stacked[j].copy()
        s = scores[j]
        for _ in range(2):  # the worst lead first: its neighbours' low scores may be its doing
            worst = [k for k in np.argsort(s) if s[k] < thr and LEADS[6 + k] not in flat + bad]
            if not worst:
                break
            bad.append(LEADS[6 + worst[0]])
            beat[6 + worst[0]] *= -1
            s = precordial_scores(beat)
        if bad:
            out[i].append(Finding(
                "inverted_precordial", "warning",
                f"{', '.join(bad)} look(s) inverted against the neighbouring precordial leads (reversed electrode "
                "or cable?)", bad,
            ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------------- entry


def assess(
    x_mv: np.ndarray, fs: float, lead_names: Sequence[str] | None = None, **options: Any
) -> InputCheck:
    """Check one ``(12, L)`` ECG in mV at ``fs`` Hz (module docstring lists the findings): :func:`assess_batch`
    of a batch of one, with its keyword options (``hints``, ``allow_implausible``)."""
    names = list(lead_names or LEADS)
    x = np.asarray(x_mv)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"assess expects a ({len(names)}, L) array, got shape {x.shape}")
    return assess_batch(x[None], fs, names, **options)[0]


def assess_batch(
    x_mv: np.ndarray,
    fs: float,
    lead_names: Sequence[str] | None = None,
    *,
    hints: dict[str, Any] | None = None,
    allow_implausible: bool = False,
    full: bool = True,
) -> list[InputCheck]:
    """:func:`assess` of each record of ``x_mv`` ((N, 12, L) mV at ``fs`` Hz), in array operations over the batch
    (one percentile, filter and spectrum pass for all records): the same results as record by record.

    ``hints``: facts a reader established about the file (``{"adc_gain_missing": [leads]}``), applied to every
    record. ``allow_implausible``: turn overridable refusals into warnings (the status is then ``warning``,
    ``overridden``). ``full=False`` runs only the checks that can refuse (magnitude, units; no lead quality).
    """
    names = list(lead_names or LEADS)
    x = np.asarray(x_mv)
    if x.ndim != 3 or x.shape[1] != len(names):
        raise ValueError(f"assess_batch expects an (N, {len(names)}, L) array, got shape {x.shape}")
    hints = hints or {}
    checks: list[InputCheck | None] = [None] * len(x)
    xf = x if x.dtype.kind == "f" else x.astype(np.float64)  # |int16 min| would overflow in its own type
    finite = np.isfinite(xf)
    with np.errstate(invalid="ignore", over="ignore"):
        big = (finite & (np.abs(xf) > MAX_ABS_MV)).any((-2, -1))
    for i in np.flatnonzero(big):  # nothing else is meaningful (and the arithmetic would overflow)
        checks[i] = finalize([magnitude_finding(x[i], names)], allow_implausible=allow_implausible)
    rest = np.flatnonzero(~big)
    if len(rest) == 0:
        return checks  # type: ignore[return-value]
    if len(rest) < len(x):
        x, finite = x[rest], finite[rest]
    has_nan = ~finite.all((-2, -1))
    # float64 with NaN for every non-finite value (one copy; never written to below)
    xr = np.where(finite, x, np.nan).astype(np.float64) if has_nan.any() else np.asarray(x, np.float64)
    p2p = np.empty(xr.shape[:2])
    if (~has_nan).any():
        p2p[~has_nan] = lead_p2p(xr if not has_nan.any() else xr[~has_nan])
    for j in np.flatnonzero(has_nan):  # NaN-aware percentiles, record by record
        p2p[j] = lead_p2p(xr[j])
    amp = [amplitude_findings(xr[j], names, hints, p2p=p2p[j]) for j in range(len(rest))]
    if not full:
        for j, i in enumerate(rest):
            checks[i] = finalize(amp[j], allow_implausible=allow_implausible)
        return checks  # type: ignore[return-value]
    if has_nan.any():
        xr = np.nan_to_num(xr)
        p2p[has_nan] = lead_p2p(xr[has_nan])
    quality = signal_quality_batch(xr, fs, names, p2p=p2p)
    findings = [a + qf for a, (_, qf) in zip(amp, quality)]
    need = [
        j
        for j, f in enumerate(findings)
        if not any(g.severity == "refused" for g in f) and len(names) == N_LEADS and tuple(names) == LEADS
    ]
    if need:
        flats = [[n for g in quality[j][1] if g.code == "flat_lead" for n in g.leads] for j in need]
        for j, rev in zip(need, reversal_findings_batch(xr[need], fs, flats)):
            findings[j] += rev
    for j, i in enumerate(rest):
        checks[i] = finalize(findings[j], quality[j][0], allow_implausible=allow_implausible)
    return checks  # type: ignore[return-value]


def assess_recording(recording: Any, *, allow_implausible: bool = False) -> InputCheck:
    """:func:`assess` of a :class:`~ecgimn.io.Recording`, with what its reader found (``hints``)."""
    return assess(
        recording.signal,
        recording.fs,
        recording.lead_names,
        hints=getattr(recording, "hints", None),
        allow_implausible=allow_implausible,
    )
