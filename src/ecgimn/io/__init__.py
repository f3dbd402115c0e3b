"""Read users' ECG files into one canonical :class:`Recording` (12 leads, mV, ``LEADS`` order).

Supported: WFDB (``.hea``/``.dat``/record name), CSV, NumPy ``.npy``/``.npz``, EDF/EDF+. See :func:`read_ecg` for
the rules (lead names, units, sampling rate) and :mod:`ecgimn.io.signal` for the missing-value / flat-lead policy.
"""

from ecgimn.io.leads import LEAD_ALIASES, map_leads
from ecgimn.io.readers import SUPPORTED, from_array, read_ecg
from ecgimn.io.recording import Recording
from ecgimn.io.signal import check_length, clean_signal, resample
from ecgimn.io.synthetic import synthetic_ecg

__all__ = [
    "LEAD_ALIASES",
    "SUPPORTED",
    "Recording",
    "check_length",
    "clean_signal",
    "from_array",
    "map_leads",
    "read_ecg",
    "resample",
    "synthetic_ecg",
]
