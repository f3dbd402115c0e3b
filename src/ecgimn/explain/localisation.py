"""Does the evidence sit on the waves a cardiologist would look at? (a localisation check, not a ground truth)

Waves are found with NeuroKit2 (Makowski et al. 2021) on lead II: ``ecg_clean`` + ``ecg_peaks`` +
``ecg_delineate(method="dwt")``. PTB-XL models run at 100 Hz, too coarse for the wavelet delineator, so the lead is
first upsampled to ``delineation_fs`` (500 Hz, ``scipy.signal.resample_poly``) and the boundaries are mapped back
to the model's rate (rounded). Per record two masks over time, applied to all 12 leads (the beats are the same
in every lead), are built:

* ``qrs``: QRS onset .. QRS offset (``ECG_R_Onsets`` .. ``ECG_R_Offsets``) of every beat with both found;
* ``st_t``: QRS offset .. T offset (``ECG_R_Offsets`` .. ``ECG_T_Offsets``) of every beat with both found.

Expected windows per superdiagnostic class (:data:`EXPECTED_WINDOW`): STTC and MI -> ``st_t`` (ST deviation,
T inversion), CD -> ``qrs`` (conduction: wide/notched QRS), HYP -> ``qrs`` (voltage). NORM has none.
The score is the fraction of *positive* evidence mass inside the window, compared with the fraction of the record
the window covers (what a uniformly random map would give). Delineation can fail (noise, pacing, arrhythmia):
:func:`delineate` then returns ``None`` and the record is skipped and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ecgimn.errors import InputError
from ecgimn.io.recording import as_signal

EXPECTED_WINDOW: dict[str, str] = {"STTC": "st_t", "MI": "st_t", "CD": "qrs", "HYP": "qrs"}
WINDOWS: tuple[str, ...] = ("qrs", "st_t")
DELINEATION_LEAD = 1  # lead II


@dataclass(frozen=True)
class WaveMasks:
    """Per-sample (L,) masks of one record at the model's rate, and the number of beats that contributed."""

    qrs: np.ndarray
    st_t: np.ndarray
    n_beats: int

    def window(self, name: str) -> np.ndarray:
        """The mask named ``"qrs"`` or ``"st_t"``."""
        if name not in WINDOWS:
            raise InputError(f"unknown wave window {name!r}; valid: {', '.join(WINDOWS)}")
        return self.qrs if name == "qrs" else self.st_t


def _fill(mask: np.ndarray, on: np.ndarray, off: np.ndarray) -> int:
    n = 0
    for a, b in zip(on, off):
        if np.isfinite(a) and np.isfinite(b) and b > a:
            mask[int(max(a, 0)) : int(min(b, len(mask) - 1)) + 1] = True
            n += 1
    return n


def delineate(
    signal_mv: np.ndarray,
    fs: float,
    *,
    lead: int = DELINEATION_LEAD,
    delineation_fs: int = 500,
    min_beats: int = 2,
) -> WaveMasks | None:
    """QRS and ST-T masks of a (12, L) mV record at ``fs`` (see the module doc); ``None`` if delineation fails.

    Fails (``None``) when NeuroKit raises, or fewer than ``min_beats`` beats have a QRS and an ST-T window.
    """
    import neurokit2 as nk
    from scipy.signal import resample_poly

    sig = as_signal(signal_mv, "signal_mv", dtype=np.float64)
    L = sig.shape[-1]
    up = int(delineation_fs) / float(fs)
    x = resample_poly(sig[lead], int(delineation_fs), int(fs)) if up != 1 else sig[lead]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clean = nk.ecg_clean(x, sampling_rate=int(delineation_fs))
            _, peaks = nk.ecg_peaks(clean, sampling_rate=int(delineation_fs))
            if len(peaks["ECG_R_Peaks"]) < min_beats:
                return None
            _, waves = nk.ecg_delineate(clean, peaks, sampling_rate=int(delineation_fs), method="dwt")
    except Exception:  # noqa: BLE001 - NeuroKit raises many types on odd signals; a failure is counted, not fatal
        return None

    def at_fs(key: str) -> np.ndarray:
        v = np.asarray(waves.get(key, []), dtype=np.float64)
        return np.round(v / up)

    on, off, t_off = at_fs("ECG_R_Onsets"), at_fs("ECG_R_Offsets"), at_fs("ECG_T_Offsets")
    n = min(len(on), len(off), len(t_off))
    qrs, st_t = np.zeros(L, dtype=bool), np.zeros(L, dtype=bool)
    n_qrs = _fill(qrs, on[:n], off[:n])
    n_st = _fill(st_t, off[:n], t_off[:n])
    st_t &= ~qrs  # the shared offset sample belongs to the QRS
    if min(n_qrs, n_st) < min_beats:
        return None
    return WaveMasks(qrs, st_t, min(n_qrs, n_st))


def evidence_fraction(attribution: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(fraction of positive evidence mass inside ``mask``, fraction of cells ``mask`` covers).

    ``attribution`` is (12, L); ``mask`` (L,) (all leads) or (12, L). The fraction is NaN when there is no
    positive evidence at all.
    """
    a = np.clip(np.asarray(attribution, dtype=np.float64), 0.0, None)
    m = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape)
    total = a.sum()
    frac = float(a[m].sum() / total) if total > 0 else float("nan")
    return frac, float(m.mean())
