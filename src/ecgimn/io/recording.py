"""The one ECG type every reader returns and every consumer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecgimn.constants import LEADS, N_LEADS
from ecgimn.errors import InputError


def as_signal(
    x: np.ndarray, what: str = "signal", *, batch: bool = False, dtype: type | None = None
) -> np.ndarray:
    """``x`` as a (12, L) array in mV (``batch=True``: a (12, L) or (N, 12, L) input, returned as (N, 12, L)).

    The one shape check of a 12-lead signal: anything else is an :class:`InputError` naming ``what`` and the shape.
    ``dtype``: cast to it (``None``: keep the input's).
    """
    a = np.asarray(x, dtype=dtype)
    if batch and a.ndim == 2:
        a = a[None]
    if a.ndim != (3 if batch else 2) or a.shape[-2] != N_LEADS:
        shapes = "a (12, L) or (N, 12, L) array" if batch else "a (12, L) signal"
        raise InputError(f"{what}: expected {shapes} in mV, got shape {a.shape}")
    return a


@dataclass
class Recording:
    """A 12-lead ECG in canonical form.

    Attributes:
        signal: float32 array (12, L) in millivolts, leads in ``LEADS`` order.
        fs: sampling rate in Hz.
        lead_names: the 12 canonical lead names (always ``LEADS`` once validated).
        record_id: a name for reports (file stem, PTB-XL ecg_id, ...).
        source: where it came from (path or description).
        notes: human-readable input checks and conversions applied (resampling, unit scaling, lead mapping).
        flat_leads: indices of leads that are flat / all-NaN (kept, marked; see ``ecgimn.io``).
        metadata: acquisition facts from the file (format, device, date/time, filter settings; never patient
            data), e.g. ``{"format": "GE MUSE XML", "acquisition_time": "2024-05-01T10:31:05"}``.
        hints: facts the reader found in the file that the signal cannot show, for the input check
            (:mod:`ecgimn.io.quality`), e.g. ``{"adc_gain_missing": ["I", ...]}``.
        synthetic: a simulated signal (:func:`ecgimn.io.synthetic_ecg`), not a recording of a person: reports
            and titles say so.
    """

    signal: np.ndarray
    fs: float
    lead_names: tuple[str, ...] = LEADS
    record_id: str = "ecg"
    source: str = ""
    notes: list[str] = field(default_factory=list)
    flat_leads: list[int] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    hints: dict = field(default_factory=dict)
    synthetic: bool = False

    def __post_init__(self) -> None:
        sig = as_signal(self.signal, self.source or self.record_id, dtype=np.float32)
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise InputError(
                f"{self.source or self.record_id}: sampling rate must be positive, got {self.fs}"
            )
        self.signal = sig
        self.fs = float(self.fs)
        self.lead_names = tuple(self.lead_names)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.signal.shape[1] / self.fs

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])
