"""A clearly-labelled synthetic 12-lead ECG (for demos, smoke tests and the app's example button)."""

from __future__ import annotations

import functools

import numpy as np

from ecgimn.constants import LEADS
from ecgimn.io.recording import Recording


def synthetic_ecg(duration: float = 10, fs: int = 500, heart_rate: float = 70, seed: int = 0) -> Recording:
    """Simulate a 12-lead ECG with ``neurokit2.ecg_simulate(method="multileads")``.

    neurokit2 scales every lead to [-0.4, 1.2] mV; each lead's median (its baseline) is subtracted so leads sit
    at 0 mV. Amplitudes are therefore not physiological and the limb leads do not obey Einthoven's law: use it to
    exercise the pipeline, never as an example of a real ECG. ``record_id`` is ``"synthetic"`` and a note says so.
    The simulation is deterministic (``seed``); its signal is kept, so a second call with the same arguments only
    copies it.
    """
    x, how = _simulate(float(duration), int(fs), float(heart_rate), int(seed))
    return Recording(
        x.copy(),
        float(fs),
        record_id="synthetic",
        synthetic=True,
        source=f"synthetic ({how}, seed={seed})",
        notes=[
            f"SYNTHETIC ECG ({how}; {duration:g} s, {heart_rate:g} bpm, seed {seed}): not a real recording, "
            "amplitudes and lead relations are not physiological"
        ],
    )


@functools.lru_cache(maxsize=4)
def _simulate(duration: float, fs: int, heart_rate: float, seed: int) -> tuple[np.ndarray, str]:
    """The (12, n) float32 mV signal (read-only) and how it was made."""
    import neurokit2 as nk

    n = int(round(duration * fs))
    try:
        df = nk.ecg_simulate(
            duration=duration, sampling_rate=fs, heart_rate=heart_rate, method="multileads", random_state=seed
        )
        x = df[list(LEADS)].to_numpy(dtype=np.float64).T
        how = "neurokit2.ecg_simulate(method='multileads')"
    except (
        TypeError,
        ValueError,
        KeyError,
    ):  # older neurokit2 without multileads: one ECGSYN beat train per lead
        sign = np.array([1, 1, 1, -1, 1, 1, -1, 1, 1, 1, 1, 1], dtype=np.float64)[:, None]
        x = sign * np.stack(
            [
                nk.ecg_simulate(
                    duration=duration, sampling_rate=fs, heart_rate=heart_rate, random_state=seed + i
                )
                for i in range(len(LEADS))
            ]
        )
        how = "neurokit2.ecg_simulate, one lead at a time"
    x = x[:, :n]
    x = (x - np.median(x, axis=1, keepdims=True)).astype(np.float32)
    x.flags.writeable = False
    return x, how
