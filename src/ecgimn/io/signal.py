"""Signal checks and conversions: units, missing values, flat leads, resampling, length.

Missing-value / flat-lead policy (applied by :func:`clean_signal`, hence by every reader):

- ``±inf`` counts as missing, like ``NaN``.
- Gaps of at most ``max_gap_s`` (default 1 s) are filled by linear interpolation (the edges by the nearest
  value), with a note giving the number of samples and the longest gap.
- A lead that is entirely missing, more than half missing, has a longer gap, or is flat (std < 1e-6 mV) is
  **kept as zeros** and listed in ``Recording.flat_leads`` with a note: the model still gets 12 leads, and
  reports can say which leads carried no information.
- More than ``max_flat_leads`` (default 3) such leads -> :class:`InputError` (too little ECG left to classify).
"""

from __future__ import annotations

import dataclasses
import warnings
from fractions import Fraction

import numpy as np

from ecgimn.constants import LEADS
from ecgimn.errors import InputError
from ecgimn.io.recording import Recording

#: Accepted unit spellings (case-insensitive) -> factor to millivolts.
UNIT_SCALES: dict[str, float] = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "\u00b5v": 1e-3, "\u03bcv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "v": 1e3, "volt": 1e3, "volts": 1e3,
    "nv": 1e-6, "nanovolt": 1e-6, "nanovolts": 1e-6,
}  # fmt: skip
FLAT_STD = 1e-6
MAX_FLAT_LEADS = 3
MAX_GAP_S = 1.0
#: Median per-lead peak-to-peak (mV) above which values are taken to be µV, below which volts.
UV_P2P = 50.0
V_P2P = 0.02


def unit_scale(unit: str | None) -> float | None:
    """Factor from ``unit`` to mV, or ``None`` when the unit is missing or not a voltage (e.g. WFDB ``NU``)."""
    if unit is None:
        return None
    return UNIT_SCALES.get(str(unit).strip().casefold().replace(" ", ""))


def parse_units(units: str, *, source: str) -> float:
    """Scale of a user-given ``units`` argument; :class:`InputError` for anything that is not a voltage unit."""
    scale = unit_scale(units)
    if scale is None:
        raise InputError(f"{source}: unknown units {units!r}; use one of mV, uV (µV), V, nV")
    return scale


def peak_to_peak(signal: np.ndarray) -> float:
    """Median over leads of the robust (0.5-99.5 percentile) peak-to-peak amplitude, ignoring NaNs and flat leads."""
    x = np.asarray(signal, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN leads
        p2p = np.nanpercentile(x, 99.5, axis=-1) - np.nanpercentile(x, 0.5, axis=-1)
    p2p = p2p[np.isfinite(p2p) & (p2p > FLAT_STD)]
    return float(np.median(p2p)) if p2p.size else 0.0


def guess_units(signal: np.ndarray) -> tuple[float, str | None]:
    """Guess the scale to mV of a signal with unknown units: ``(factor, note)``; ``note`` is None for mV."""
    p2p = peak_to_peak(signal)
    if p2p > UV_P2P:
        note = f"values look like µV (median peak-to-peak {p2p:.0f}); converted to mV; pass units='mV' (--units mV) to override"
        if p2p * 1e-3 > UV_P2P:
            note += f"; still {p2p * 1e-3:.0f} mV after conversion: raw ADC counts? pass the right units"
        return 1e-3, note
    if 0 < p2p < V_P2P:
        return 1e3, (
            f"values look like volts (median peak-to-peak {p2p:.2g}); converted to mV; "
            "pass units='mV' (--units mV) to override"
        )
    return 1.0, None


def amplitude_warning(signal_mv: np.ndarray) -> str | None:
    """A note when an ECG already in mV has implausible amplitudes (wrong units in the file?)."""
    p2p = peak_to_peak(signal_mv)
    if p2p > UV_P2P or 0 < p2p < V_P2P:
        return f"amplitudes look implausible for mV (median peak-to-peak {p2p:.3g} mV); check the units (--units)"
    return None


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def clean_signal(
    signal: np.ndarray,
    fs: float,
    *,
    source: str = "input",
    max_flat_leads: int = MAX_FLAT_LEADS,
    max_gap_s: float = MAX_GAP_S,
) -> tuple[np.ndarray, list[int], list[str]]:
    """Apply the missing-value / flat-lead policy (module docstring) to a ``(12, L)`` mV signal.

    Returns ``(float32 signal, flat_leads, notes)``.
    """
    x = np.array(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"{source}: the signal is empty (shape {x.shape}); the file holds no samples")
    notes: list[str] = []
    from ecgimn.io.quality import magnitude_finding

    huge = magnitude_finding(x)
    if huge is not None:
        raise InputError(f"{source}: {huge.message}")
    n_inf = int(np.isinf(x).sum())
    if n_inf:
        notes.append(f"{n_inf} infinite value(s) treated as missing")
        x[np.isinf(x)] = np.nan
    flat: list[int] = []
    filled: list[str] = []
    t = np.arange(x.shape[1])
    max_gap = max(1, int(round(max_gap_s * fs)))
    for i, lead in enumerate(x):
        missing = np.isnan(lead)
        if missing.any():
            longest = _longest_run(missing)
            if missing.mean() > 0.5 or longest > max_gap:
                flat.append(i)
                continue
            x[i] = np.interp(t, t[~missing], lead[~missing])
            filled.append(
                f"{LEADS[i]} ({int(missing.sum())} samples, longest gap {1000 * longest / fs:.0f} ms)"
            )
        if np.std(x[i]) < FLAT_STD:
            flat.append(i)
    if filled:
        notes.append(f"missing values filled by linear interpolation in {', '.join(filled)}")
    if len(flat) > max_flat_leads:
        raise InputError(
            f"{source}: {len(flat)} leads are flat or missing ({', '.join(LEADS[i] for i in flat)}); at most "
            f"{max_flat_leads} are allowed — check the file (all-NaN columns, wrong channels, disconnected leads)"
        )
    if flat:
        x[flat] = 0.0
        notes.append(
            f"lead(s) {', '.join(LEADS[i] for i in flat)} flat or missing (all/mostly NaN or gap > {max_gap_s:g} s): "
            "kept as zeros and listed in flat_leads; the prediction relies on the other leads"
        )
    return x.astype(np.float32), flat, notes


def _ratio(fs_from: float, fs_to: float) -> tuple[int, int]:
    ratio = (
        Fraction(fs_to).limit_denominator(10_000) / Fraction(fs_from).limit_denominator(10_000)
    ).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def resample_array(x: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    """Resample along the last axis with :func:`scipy.signal.resample_poly` (rational ``up/down`` ~ fs_to/fs_from)."""
    if fs_to <= 0:
        raise InputError(f"target sampling rate must be positive, got {fs_to}")
    up, down = _ratio(fs_from, fs_to)
    if up == down:
        return np.asarray(x)
    from scipy.signal import resample_poly  # imported here: keeps the command line's start-up short

    return resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=-1, padtype="line")


def resample(recording: Recording, fs_target: float) -> Recording:
    """Return a copy of ``recording`` at ``fs_target`` Hz (notes "resampled from X Hz to Y Hz"); flat leads stay zero."""
    if float(fs_target) == recording.fs:
        return dataclasses.replace(
            recording, notes=list(recording.notes), flat_leads=list(recording.flat_leads)
        )
    x = resample_array(recording.signal, recording.fs, float(fs_target)).astype(np.float32)
    x[recording.flat_leads] = 0.0
    return dataclasses.replace(
        recording,
        signal=x,
        fs=float(fs_target),
        notes=[*recording.notes, f"resampled from {recording.fs:g} Hz to {float(fs_target):g} Hz"],
        flat_leads=list(recording.flat_leads),
    )


def check_length(recording: Recording, min_seconds: float) -> Recording:
    """Raise :class:`InputError` when ``recording`` is shorter than ``min_seconds``; return it unchanged otherwise."""
    if recording.duration + 1e-9 < min_seconds:
        raise InputError(
            f"{recording.source or recording.record_id}: the recording is {recording.duration:.2f} s long "
            f"({recording.n_samples} samples at {recording.fs:g} Hz); at least {min_seconds:g} s is needed"
        )
    return recording
