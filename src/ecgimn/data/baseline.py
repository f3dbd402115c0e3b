"""Baseline removal: the preprocessing step that makes DC offset and baseline wander irrelevant to a model.

One function, :func:`remove_baseline`, applied identically wherever a model sees a signal: the Predictor
(``ecgimn.api``), checkpoint evaluation and training (``TrainConfig.baseline``). A checkpoint records the choice
under ``checkpoint["preprocess"]["baseline"]`` (or in a ``<stem>.preprocess.json`` sidecar next to it, read by
:func:`ecgimn.inference.checkpoint.load_checkpoint`); checkpoints without it keep their old behaviour (no filter).

Methods:
    ``median``: the two-stage median baseline estimate of de Chazal et al. (IEEE TBME 2004): a 200 ms median
        filter removes the QRS, a 600 ms median filter of that removes P and T waves; the result is the
        baseline, subtracted from the signal. Follows wander of any shape slower than about 1 Hz.
    ``highpass``: per-lead median subtraction, then a zero-phase 4th-order Butterworth high-pass at 0.67 Hz
        (``sosfiltfilt``): the lower cut-off the AHA/ACCF/HRS recommendations (Kligfield et al., Circulation
        2007) accept for zero-phase filters. Measured in ``benchmarks/bench_baseline_filter.py``: it keeps the
        bundled default's fold-9 accuracy and removes a 2 mV wander far better than the median filter or a
        0.5 Hz cut-off; it is the method the bundled default uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecgimn.errors import ConfigError

METHODS = ("median", "highpass")
HIGHPASS_HZ = 0.67
HIGHPASS_ORDER = 4


def check_method(method: str | None) -> str | None:
    """``None``/``"none"`` -> ``None``; a known method name -> itself; anything else -> :class:`ConfigError`."""
    if method is None or str(method).lower() in ("none", "off", ""):
        return None
    if method not in METHODS:
        raise ConfigError(f"unknown baseline method {method!r}; choose one of: none, {', '.join(METHODS)}")
    return method


def _odd(n: float) -> int:
    n = max(1, int(round(n)))
    return n if n % 2 else n + 1


def remove_baseline(x: np.ndarray, fs: float, method: str | None = "median") -> np.ndarray:
    """``x`` ((..., L) in mV at ``fs`` Hz) minus its baseline, as float32; ``method=None`` returns ``x`` unchanged."""
    method = check_method(method)
    if method is None:
        return x
    x64 = np.asarray(x, dtype=np.float64)
    if method == "median":
        from scipy.ndimage import median_filter

        size = [1] * (x64.ndim - 1)
        stage1 = median_filter(x64, size=[*size, _odd(0.2 * fs)], mode="nearest")
        base = median_filter(stage1, size=[*size, _odd(0.6 * fs)], mode="nearest")
        return (x64 - base).astype(np.float32)
    from scipy.signal import butter, sosfiltfilt

    centred = x64 - np.median(x64, axis=-1, keepdims=True)
    sos = butter(HIGHPASS_ORDER, HIGHPASS_HZ, btype="highpass", fs=fs, output="sos")
    padlen = min(centred.shape[-1] - 1, int(3 * fs))
    return sosfiltfilt(sos, centred, axis=-1, padlen=padlen).astype(np.float32)


def baseline_method(checkpoint: dict[str, Any]) -> str | None:
    """The baseline method a checkpoint's model expects (``None`` for checkpoints that predate the option)."""
    return check_method((checkpoint.get("preprocess") or {}).get("baseline"))
