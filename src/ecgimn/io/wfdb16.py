"""WFDB headers and plain format-16 records (PTB-XL's layout) read with NumPy: the same samples as ``wfdb``, ~20x
faster.

One parser of a header's record line (:func:`parse_record_line`) serves the size check before a record is read
(:mod:`ecgimn.io.budget`) and the reader. ``wfdb`` spends most of a PTB-XL record's read time parsing the 13-line
header with pandas. PTB-XL's headers are the simplest WFDB case: one record, one ``.dat`` file, every signal in
format 16 with an explicit gain, baseline and unit. :func:`read_format16` reads exactly that case and returns
``None`` for anything else (another format, several files, skew, byte offsets, a missing baseline or unit, a file
of the wrong size), so the caller falls back to ``wfdb``, which reads or diagnoses it. The physical values are
computed as ``wfdb`` computes them (``(digital - baseline) / gain`` in float64, rounded once to float32 when asked;
-32768 is a missing sample): bit for bit the same array as ``wfdb.rdsamp(return_res=32)`` or ``wfdb.rdrecord``
(tested on the shared records).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RecordLine", "header_lines", "parse_record_line", "read_format16", "read_record_line"]

#: fields of a record line or a signal line written the plain way (the subsets of wfdb's own patterns PTB-XL uses)
_NAME = re.compile(r"[-\w]+", re.ASCII)
_NUMBER = re.compile(r"\d+\.?\d*|\.\d+", re.ASCII)
_GAIN = re.compile(r"((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\((-?\d+)\)/([\w^\-?%/]+)", re.ASCII)
_SIGNAL_INTS = (
    r"\d+",
    r"-?\d+",
    r"-?\d+",
    r"-?\d+",
    r"\d+",
)  # adc_res adc_zero init_value checksum block_size
_MISSING = -32768  # WFDB's "no sample" value in format 16
_DEFAULT_FS = 250.0  # the WFDB format's rate when a header gives none


@dataclass(frozen=True)
class RecordLine:
    """The record line of a WFDB header: ``NAME[/SEGMENTS] N_SIG [FS[/COUNTER[(BASE)]] [SIG_LEN ...]]``."""

    name: str  #: the first field as written (with ``/SEGMENTS`` for a multi-segment record)
    n_sig: int  #: number of signals (0 when absent)
    fs: float  #: samples per second per signal (250 when absent, as the WFDB format says)
    sig_len: int | None  #: samples per signal (None when absent)
    plain: bool  #: one segment, every field up to the length present and written as plain digits


def header_lines(text: str) -> list[str]:
    """The lines of a header that are not comments or blank, stripped (as ``wfdb`` splits a header)."""
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def parse_record_line(line: str) -> RecordLine:
    """The fields of a header's record line (a trailing ``# comment`` is ignored); :class:`ValueError` when the
    number of signals, the rate or the length is not a number."""
    fields = line.split("#", 1)[0].split()
    if not fields:
        raise ValueError("empty WFDB record line")
    name = fields[0]
    n_sig = int(fields[1]) if len(fields) > 1 else 0
    fs = float(re.split(r"[/(]", fields[2], maxsplit=1)[0]) if len(fields) > 2 else _DEFAULT_FS
    sig_len = int(fields[3]) if len(fields) > 3 else None
    plain = (
        len(fields) > 3
        and _NAME.fullmatch(name) is not None
        and fields[1].isascii()
        and fields[1].isdigit()
        and _NUMBER.fullmatch(fields[2]) is not None
        and fields[3].isascii()
        and fields[3].isdigit()
    )
    return RecordLine(name=name, n_sig=n_sig, fs=fs, sig_len=sig_len, plain=plain)


def read_record_line(header: Path, max_lines: int = 10_000) -> RecordLine | None:
    """The record line of the header file ``header`` (the first line that is not a comment, looked for in the first
    ``max_lines``), read without reading the rest of the file; ``None`` when there is none. Raises
    :class:`OSError` or :class:`ValueError` (see :func:`parse_record_line`)."""
    with open(header, encoding="latin-1") as fh:
        for _, line in zip(range(max_lines), fh):
            if line.split("#", 1)[0].strip():
                return parse_record_line(line)
    return None


def read_format16(path: Path, dtype: Any = np.float32) -> tuple[np.ndarray, dict[str, Any]] | None:
    """``(signal (sig_len, n_sig), info)`` of the record at ``path`` (no extension) in ``dtype`` (float32 as
    ``wfdb.rdsamp(path, return_res=32)`` gives them; float64 as ``wfdb.rdrecord(path).p_signal``), with ``info``:
    ``n_sig``, ``fs``, ``sig_len``, ``sig_name``, ``units``; ``None`` when the record is not the plain format-16
    case."""
    try:
        lines = header_lines(path.with_name(path.name + ".hea").read_text(encoding="ascii"))
        head = parse_record_line(lines[0])
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return None
    if not head.plain or head.n_sig < 1 or len(lines) != 1 + head.n_sig:
        return None
    gains, baselines, units, names = [], [], [], []
    for line in lines[1:]:
        fields = line.split(maxsplit=8)
        if len(fields) < 9 or fields[0] != f"{head.name}.dat" or fields[1] != "16":
            return None
        match = _GAIN.fullmatch(fields[2])
        if match is None or float(match.group(1)) <= 0:
            return None
        if not all(re.fullmatch(p, f, re.ASCII) for p, f in zip(_SIGNAL_INTS, fields[3:8])):
            return None
        gains.append(float(match.group(1)))
        baselines.append(int(match.group(2)))
        units.append(match.group(3))
        names.append(fields[8])
    n_sig, sig_len = head.n_sig, int(head.sig_len or 0)
    dat = path.with_name(f"{head.name}.dat")
    try:
        if dat.stat().st_size != 2 * n_sig * sig_len:
            return None
        digital = np.fromfile(dat, dtype="<i2").reshape(sig_len, n_sig)
    except (OSError, ValueError):
        return None
    physical = (digital.astype(np.float64) - np.asarray(baselines)) / np.asarray(gains)
    signal = physical.astype(dtype, copy=False)
    signal[digital == _MISSING] = np.nan
    info = {"n_sig": n_sig, "fs": head.fs, "sig_len": sig_len, "sig_name": names, "units": units}
    return signal, info
