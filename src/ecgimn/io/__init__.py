"""Read users' ECG files into one canonical :class:`Recording` (12 leads, mV, ``LEADS`` order).

Supported (one table: :mod:`ecgimn.io.formats`): WFDB (``.hea``/``.dat``/record name), CSV, NumPy
``.npy``/``.npz``, EDF/EDF+, GE MUSE / HL7 aECG / Philips Sierra XML, DICOM ECG waveform, SCP-ECG, and a ``.zip``
holding one record. See :func:`read_ecg` for the rules (lead names, units, sampling rate, derived limb leads) and
:mod:`ecgimn.io.signal` for the missing-value / flat-lead policy.
"""

from ecgimn.io.formats import FORMATS, SCAN_SUFFIXES, SUPPORTED, UPLOAD_SUFFIXES
from ecgimn.io.leads import LEAD_ALIASES, map_leads
from ecgimn.io.readers import from_array, read_ecg
from ecgimn.io.recording import Recording
from ecgimn.io.signal import check_length, clean_signal, resample
from ecgimn.io.synthetic import synthetic_ecg

__all__ = [
    "FORMATS",
    "LEAD_ALIASES",
    "SCAN_SUFFIXES",
    "UPLOAD_SUFFIXES",
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
