"""The per-record input check (``ecgimn.io.quality`` before its checks ran over whole batches), kept as the
reference the batched check is tested and timed against.

``tests/test_quality.py`` checks :func:`ecgimn.io.quality.assess_batch` against :func:`assess` here, record by
record (same findings, messages and lead quality), and ``benchmarks/bench_inference.py`` times it in its ``old``
path. Constants, :class:`Finding`, :func:`finalize`, :func:`magnitude_finding`, the limb-swap table and the fitted
reversal model come from the package (they did not change). This file is the one copy.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgimn.constants import LEADS, N_LEADS
from ecgimn.io.quality import (
    FEATURE_FS,
    FLAT_P2P,
    LARGE_P2P,
    NOISY_SCORE,
    REVERSALS,
    SATURATED_SHARE,
    UV_P2P,
    V_P2P,
    WANDER_P2P,
    Finding,
    InputCheck,
    finalize,
    magnitude_finding,
    reversal_model,
)


def lead_p2p(x: np.ndarray) -> np.ndarray:
    """Robust (0.5-99.5 percentile) peak-to-peak per lead, float64; NaN-safe."""
    x = np.asarray(x, np.float64)
    if not np.isnan(x).any():  # the fast path (nanpercentile is ~10x slower)
        hi, lo = np.percentile(x, [99.5, 0.5], axis=-1)
        return hi - lo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi, lo = np.nanpercentile(x, [99.5, 0.5], axis=-1)
    return np.nan_to_num(hi - lo)


def amplitude_findings(x: np.ndarray, lead_names: Sequence[str], hints: dict[str, Any]) -> list[Finding]:
    out = []
    missing_gain = list(hints.get("adc_gain_missing") or [])
    if missing_gain:
        out.append(Finding(
            "adc_no_gain", "refused",
            f"the WFDB header gives no ADC gain for {', '.join(missing_gain)}: the values are ADC counts divided by "
            "the default gain 200 and their scale in mV is unknown; add the gain (e.g. 1000/mV) to the header",
            missing_gain,
        ))  # fmt: skip
    p2p = lead_p2p(x)
    live = p2p > 1e-9  # not constant (tiny amplitudes are what units_v looks for)
    if not live.any():
        return out
    med = float(np.median(p2p[live]))
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
    return psd[:, sel].sum(-1) if sel.any() else np.zeros(psd.shape[0])


def signal_quality(
    x: np.ndarray, fs: float, lead_names: Sequence[str]
) -> tuple[dict[str, float], list[Finding]]:
    """Per-lead quality score in [0, 1] and findings (flat, clipped, muscle / mains noise, baseline wander)."""
    from scipy.signal import butter, sosfiltfilt, welch

    x = np.asarray(x, np.float64)
    n = x.shape[-1]
    p2p = lead_p2p(x)
    flat = p2p <= FLAT_P2P
    # clipping: a share of samples sits exactly at the lead's extreme value
    top = (np.abs(x - x.max(-1, keepdims=True)) <= 1e-9 * (1 + np.abs(x).max())).mean(-1)
    bottom = (np.abs(x - x.min(-1, keepdims=True)) <= 1e-9 * (1 + np.abs(x).max())).mean(-1)
    clipped = ~flat & (np.maximum(top, bottom) >= SATURATED_SHARE)
    # slow baseline (< 0.67 Hz) and the band powers of what is left
    centred = x - np.median(x, -1, keepdims=True)
    if n > 12:
        sos = butter(2, 0.67, btype="lowpass", fs=fs, output="sos")
        slow = sosfiltfilt(sos, centred, axis=-1, padlen=min(n - 1, int(3 * fs)))
    else:
        slow = np.zeros_like(centred)
    wander = lead_p2p(slow)
    f, psd = welch(centred - slow, fs=fs, nperseg=min(n, int(2 * fs)), axis=-1)
    ecg_band = _band_power(psd, f, 0.67, 35.0) + 1e-12
    hf = _band_power(psd, f, 35.0, min(fs / 2, 150.0)) / ecg_band
    mains = np.zeros(len(x))
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
    names = list(lead_names)
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
    noisy = ~flat & (score < NOISY_SCORE) & ~clipped
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
    wandering = ~flat & (wander > WANDER_P2P)
    if wandering.any():
        findings.append(
            Finding(
                "baseline_wander",
                "warning",
                f"baseline wander of up to {wander[wandering].max():.1f} mV in {', '.join(pick(wandering))}",
                pick(wandering),
            )
        )
    return {nm: float(s) for nm, s in zip(names, score)}, findings


# -------------------------------------------------------------------------------------------- lead reversal


def median_beat(x: np.ndarray, fs: float) -> np.ndarray | None:
    """(12, 75) median beat at 100 Hz (-0.3 to +0.45 s around each QRS); ``None`` with fewer than two beats."""
    from scipy.signal import find_peaks

    from ecgimn.io.signal import resample_array

    x = np.asarray(x, np.float64)
    if fs != FEATURE_FS:
        x = resample_array(x, fs, FEATURE_FS)
    energy = np.abs(np.diff(x, axis=-1)).sum(0)
    env = np.convolve(energy, np.ones(5) / 5, mode="same")
    if not np.isfinite(env).all() or env.max() <= 0:
        return None
    peaks, _ = find_peaks(env, height=0.4 * np.percentile(env, 99), distance=30)
    peaks = peaks[(peaks >= 30) & (peaks + 45 <= x.shape[-1])]
    if len(peaks) < 2:
        return None
    return np.median(np.stack([x[:, p - 30 : p + 45] for p in peaks]), axis=0)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def reversal_features(beat: np.ndarray) -> np.ndarray:
    """Features of the six limb leads of a median beat: signed QRS peak, QRS area, P and T peak (amplitudes
    relative to the median QRS size), and the correlation of each limb lead's beat with V6 and with V1."""
    ref = beat[:, 22:25].mean(-1, keepdims=True)  # PQ segment, -80 to -50 ms
    b = beat - ref
    qrs, p, t = b[:, 24:37], b[:, 8:22], b[:, 45:70]

    def signed_peak(seg: np.ndarray) -> np.ndarray:
        return seg[np.arange(len(seg)), np.abs(seg).argmax(-1)]

    scale = float(np.median(qrs.max(-1) - qrs.min(-1))) + 1e-3
    feats = []
    for i in range(6):
        feats += [
            signed_peak(qrs[i : i + 1])[0] / scale,
            qrs[i].sum() / (10 * scale),
            signed_peak(p[i : i + 1])[0] / scale,
            signed_peak(t[i : i + 1])[0] / scale,
            _corr(beat[i], beat[11]),
            _corr(beat[i], beat[6]),
        ]
    return np.asarray(feats, dtype=np.float64)


def precordial_scores(beat: np.ndarray) -> np.ndarray:
    """Correlation of each precordial lead's median beat with the mean of its neighbours (V1..V6)."""
    v = beat[6:12] - beat[6:12].mean(-1, keepdims=True)
    out = []
    for k in range(6):
        nb = [j for j in (k - 1, k + 1) if 0 <= j < 6]
        out.append(_corr(v[k], v[nb].mean(0)))
    return np.asarray(out)


def reversal_probabilities(beat: np.ndarray, model: dict[str, Any]) -> dict[str, float]:
    """Logistic-regression probability of each limb swap for one median beat."""
    z = (reversal_features(beat) - np.asarray(model["mean"])) / np.asarray(model["scale"])
    out = {}
    for swap, m in model["classifiers"].items():
        logit = float(np.dot(z, m["coef"]) + m["intercept"])
        out[swap] = float(1 / (1 + np.exp(-np.clip(logit, -50, 50))))
    return out


def reversal_findings(x: np.ndarray, fs: float, flat: list[str]) -> list[Finding]:
    beat = median_beat(x, fs)
    if beat is None:
        return []
    out = []
    model = reversal_model()
    limb_flat = any(n in flat for n in LEADS[:6])
    if model is not None and not limb_flat:
        for swap, prob in reversal_probabilities(beat, model).items():
            if prob >= model["classifiers"][swap]["threshold"]:
                label = REVERSALS[swap]
                out.append(Finding(
                    f"lead_reversal_{swap}", "warning",
                    f"possible {label} reversal (limb-lead pattern typical of swapped {label} electrodes, "
                    f"classifier probability {prob:.2f}); check the electrode placement", list(LEADS[:6]),
                ))  # fmt: skip
    if model is not None:
        thr = float(model.get("precordial_threshold", -0.5))
        bad: list[str] = []
        beat = beat.copy()
        for _ in range(2):  # the worst lead first: its neighbours' low scores may be its doing
            scores = precordial_scores(beat)
            worst = [k for k in np.argsort(scores) if scores[k] < thr and LEADS[6 + k] not in flat + bad]
            if not worst:
                break
            bad.append(LEADS[6 + worst[0]])
            beat[6 + worst[0]] *= -1
        if bad:
            out.append(Finding(
                "inverted_precordial", "warning",
                f"{', '.join(bad)} look(s) inverted against the neighbouring precordial leads (reversed electrode "
                "or cable?)", bad,
            ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------------- entry


def assess(
    x_mv: np.ndarray,
    fs: float,
    lead_names: Sequence[str] | None = None,
    *,
    hints: dict[str, Any] | None = None,
    allow_implausible: bool = False,
) -> InputCheck:
    """Check one ``(12, L)`` ECG in mV at ``fs`` Hz (module docstring lists the findings).

    ``hints``: facts a reader established about the file (``{"adc_gain_missing": [leads]}``).
    ``allow_implausible``: turn overridable refusals into warnings (the status is then ``warning``, ``overridden``).
    """
    names = list(lead_names or LEADS)
    x = np.asarray(x_mv)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"assess expects a ({len(names)}, L) array, got shape {x.shape}")
    big = magnitude_finding(x, names)
    if big is not None:  # nothing else is meaningful (and the arithmetic would overflow)
        return finalize([big], allow_implausible=allow_implausible)
    x = np.where(np.isfinite(x), x, np.nan).astype(np.float64)
    findings = amplitude_findings(x, names, hints or {})
    x = np.nan_to_num(x)
    quality, q_findings = signal_quality(x, fs, names)
    findings += q_findings
    units_wrong = any(f.severity == "refused" for f in findings)
    if not units_wrong and len(names) == N_LEADS and tuple(names) == LEADS:
        flat = [n for f in q_findings if f.code == "flat_lead" for n in f.leads]
        findings += reversal_findings(x, fs, flat)
    return finalize(findings, quality, allow_implausible=allow_implausible)


def check_records(x: np.ndarray, fs: float, *, full: bool = True) -> list[InputCheck]:
    """``Predictor.check_inputs`` as it was: validation, then the check record by record (refusals raise)."""
    from ecgimn.errors import InputError
    from ecgimn.io.budget import check_batch, check_fs
    from ecgimn.io.recording import as_signal

    x = as_signal(x, "input", batch=True)
    check_batch(x)
    fs = check_fs(fs)
    checks = []
    for i, rec in enumerate(x):
        if full:
            check = assess(rec, fs)
        else:
            big = magnitude_finding(rec)
            check = finalize(
                [big] if big else amplitude_findings(np.asarray(rec, np.float64), list(LEADS), {})
            )
        if check.status == "refused":
            where = f"record {i}: " if len(x) > 1 else ""
            raise InputError(f"{where}{check.error_message()}")
        checks.append(check)
    return checks
