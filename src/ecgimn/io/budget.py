"""Cost budget of one input: what an ECG may cost to read and explain, checked before the cost is paid.

A file's bytes do not bound its cost: a 48 KB ``.npy`` read at ``fs=0.2`` is resampled 500-fold, a 467 KB
``.npz`` can declare 12 x 10 M samples, a 1 MB one-line CSV makes pandas build 500,000 columns. So every reader
path checks, in this order and as early as possible:

- the sampling rate: a finite number of Hz within :attr:`Budget.fs_min` - :attr:`Budget.fs_max` (ECG devices
  record at 100 - 10,000 Hz; PTB-XL at 100 / 500 Hz);
- the size an array *declares* (``.npy`` / ``.npz`` headers, WFDB headers) before it is loaded;
- a CSV's line length and column count before it is parsed;
- the number of samples and the duration (:attr:`Budget.max_seconds`, default 5 min: generous for resting ECGs;
  raise it for long recordings, e.g. ``Budget(max_seconds=3600)`` or ``ecgimn explain --max-seconds``).

Every refusal is an :class:`ecgimn.errors.InputError` with a one-line message saying what is wrong and how to fix
it. The CLI, the Python API and the web app share these checks (no copies elsewhere).
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from ecgimn.errors import InputError
from ecgimn.io.wfdb16 import header_lines, read_record_line

__all__ = [
    "DEFAULT_BUDGET",
    "Budget",
    "check_array_header",
    "check_batch",
    "check_csv",
    "check_file",
    "check_fs",
    "check_signal",
    "check_wfdb_header",
]


@dataclass(frozen=True)
class Budget:
    """Limits on one recording (all checked before the expensive step)."""

    #: plausible sampling rates of an ECG, in Hz
    fs_min: float = 50.0
    fs_max: float = 10_000.0
    #: longest recording accepted, in seconds (resting ECGs are 10 s; Holter-length files need a larger value)
    max_seconds: float = 300.0
    #: most channels a file may hold (12 leads plus time / index / extra channels)
    max_channels: int = 64
    #: longest CSV line, in bytes (a 12-lead row is ~100 bytes; a lead per row at 10 kHz for 5 min is ~30 MB,
    #: so rows-as-leads files are limited by ``max_seconds`` through this bound too)
    max_csv_line_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("fs_min", "fs_max", "max_seconds"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InputError(f"budget: {name} must be a positive finite number, got {v!r}")
        if self.fs_min > self.fs_max:
            raise InputError(f"budget: fs_min {self.fs_min:g} is above fs_max {self.fs_max:g}")

    @property
    def max_samples(self) -> int:
        """Most samples per channel: ``max_seconds`` at the highest accepted rate."""
        return int(self.max_seconds * self.fs_max)

    def with_max_seconds(self, seconds: float | None) -> Budget:
        """This budget with another maximum duration (``None``: unchanged)."""
        return self if seconds is None else replace(self, max_seconds=_positive(seconds, "max_seconds"))


DEFAULT_BUDGET = Budget()


def _number(value: Any, message: str) -> float:
    """``float(value)``, else :class:`InputError` with ``message``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(message) from None


def _positive(value: Any, name: str) -> float:
    v = _number(value, f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _where(src: str | None) -> str:
    return f"{src}: " if src else ""


def check_fs(fs: Any, src: str | None = None, budget: Budget = DEFAULT_BUDGET) -> float:
    """``fs`` as a float of Hz within the budget's range, else :class:`InputError` (None, text, 0, < 0, NaN, inf,
    1e-300, 1e9 ...)."""
    if fs is None:
        raise InputError(f"{_where(src)}sampling rate missing; pass fs=<Hz> (e.g. fs=500)")
    if isinstance(fs, bool):
        raise InputError(f"{_where(src)}fs must be a number of Hz, got {fs!r}")
    rate = _number(fs, f"{_where(src)}fs must be a number of Hz, got {fs!r}")
    if not math.isfinite(rate) or rate <= 0:
        raise InputError(f"{_where(src)}fs must be a positive, finite number of Hz, got {fs!r}")
    if not budget.fs_min <= rate <= budget.fs_max:
        raise InputError(
            f"{_where(src)}fs={rate:g} Hz is outside the plausible ECG range {budget.fs_min:g}-{budget.fs_max:g} Hz; "
            "check the sampling rate (in Hz, not kHz or seconds per sample)"
        )
    return rate


def check_signal(
    n_channels: int,
    n_samples: int,
    fs: float | None = None,
    src: str | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> None:
    """Refuse more channels or samples than the budget allows (and, with ``fs``, a longer duration)."""
    if n_channels > budget.max_channels:
        raise InputError(
            f"{_where(src)}{n_channels} channels; an ECG file may hold at most {budget.max_channels} "
            "(12 leads plus time or extra channels): check the array's orientation or the file's separator"
        )
    if n_samples > budget.max_samples:
        raise InputError(
            f"{_where(src)}{n_samples:,} samples per channel exceed the limit of {budget.max_samples:,} "
            f"({budget.max_seconds:g} s at {budget.fs_max:g} Hz); cut the recording or raise the maximum duration "
            "(max_seconds / --max-seconds)"
        )
    if fs is not None and n_samples / fs > budget.max_seconds:
        raise InputError(
            f"{_where(src)}the recording lasts {n_samples / fs:,.0f} s ({n_samples:,} samples at {fs:g} Hz); at most "
            f"{budget.max_seconds:g} s are accepted: cut it or raise the maximum duration (max_seconds / --max-seconds)"
        )


def _array_dims(shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, samples) an ECG array of ``shape`` would give (the shorter axis = channels)."""
    dims = [int(d) for d in shape]
    if len(dims) == 3 and dims[0] == 1:
        dims = dims[1:]
    if len(dims) != 2:
        return (0, max(dims, default=0)) if len(dims) < 2 else (math.prod(dims[:-1]), dims[-1])
    return min(dims), max(dims)


def check_array_header(
    fh: IO[bytes], src: str | None = None, budget: Budget = DEFAULT_BUDGET, fs: float | None = None
) -> None:
    """Read a ``.npy`` header from ``fh`` and refuse arrays the budget does not allow, before any data is read
    (with ``fs``: also longer than ``max_seconds``)."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fh)
        else:
            shape, _, dtype = npformat.read_array_header_2_0(fh)
    except Exception as exc:  # numpy raises ValueError / OSError on damaged headers
        raise InputError(
            f"{_where(src)}not a readable NumPy array header ({type(exc).__name__}: {exc})"
        ) from None
    if dtype.hasobject:
        return  # refused by the loader (pickled objects are never loaded)
    channels, samples = _array_dims(shape)
    n_bytes = math.prod(int(d) for d in shape) * dtype.itemsize
    limit = 16 * budget.max_samples * 8  # 12 leads + a few extra channels of float64
    if n_bytes > limit:
        raise InputError(
            f"{_where(src)}the array declares shape {tuple(shape)} of {dtype} ({n_bytes / 2**20:,.0f} MiB); "
            f"an ECG of at most {budget.max_seconds:g} s fits in {limit / 2**20:,.0f} MiB: save one recording per file"
        )
    check_signal(channels, samples, fs, src, budget)


def _check_npy(path: Path, src: str, budget: Budget, fs: float | None) -> None:
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            return  # the loader says what it is
        if fs is None:
            raise InputError(
                f"{src}: sampling rate unknown (a .npy file does not store it); pass fs=<Hz> (--fs)"
            )
        fh.seek(0)
        check_array_header(fh, src, budget, fs)


def _npz_fs(zf: zipfile.ZipFile, src: str, budget: Budget) -> float | None:
    """The rate stored under the key ``fs`` of an .npz (a small array), or None."""
    try:
        info = zf.getinfo("fs.npy")
    except KeyError:
        return None
    if info.file_size > 4096:
        raise InputError(f"{src}: the 'fs' entry of the .npz is {info.file_size:,} bytes; store one number")
    try:
        with zf.open(info) as fh:
            value = np.lib.format.read_array(io.BytesIO(fh.read(4096)), allow_pickle=False)
        return check_fs(np.asarray(value).ravel()[0], src, budget)
    except InputError:
        raise
    except Exception:
        return None  # the reader says what is wrong


def _check_npz(path: Path, src: str, budget: Budget, fs: float | None) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # the loader says what it is
    with zf:
        fs = fs if fs is not None else _npz_fs(zf, src, budget)
        members = zf.infolist()
        if len(members) > 2 * budget.max_channels:
            raise InputError(f"{src}: the .npz holds {len(members)} arrays; save one recording per file")
        for m in members:
            if not m.filename.endswith(".npy"):
                continue
            try:
                with zf.open(m) as fh:
                    check_array_header(fh, f"{src} [{m.filename[:-4]}]", budget, fs)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise InputError(f"{src}: damaged .npz ({type(exc).__name__})") from None


def check_csv(path: str | Path, src: str | None = None, budget: Budget = DEFAULT_BUDGET) -> None:
    """Refuse a text file whose lines are too long or whose shape cannot be a 12-lead ECG, before parsing it.

    Scans the file once in blocks (no parsing): longest line, number of non-empty lines, fields of the widest
    line. A wide file (more fields per line than ``max_channels``) must hold one lead per line, so it may have
    at most ``max_channels`` lines (plus a header).
    """
    lines = widest = 0
    carry = b""
    too_long = InputError(
        f"{_where(src)}a line is longer than {budget.max_csv_line_bytes / 2**20:g} MiB; a CSV ECG has one sample "
        "per line (or one lead per line of a short recording)"
    )
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            parts = (carry + block).split(b"\n")
            carry = parts.pop() if block else b""
            if len(carry) > budget.max_csv_line_bytes:
                raise too_long
            parts = [q for q in parts if q.strip()]
            if parts:
                if max(map(len, parts)) > budget.max_csv_line_bytes:
                    raise too_long
                lines += len(parts)
                widest = max(
                    widest, 1 + max(max(q.count(s) for q in parts) for s in (b",", b";", b"\t", b" "))
                )
            if not block:
                break
    if widest > budget.max_channels and lines > budget.max_channels + 1:
        raise InputError(
            f"{_where(src)}{lines:,} lines of up to {widest:,} values: neither one sample per line (at most "
            f"{budget.max_channels} columns) nor one lead per line (at most {budget.max_channels} lines)"
        )
    if widest > budget.max_channels and lines < 2:
        raise InputError(
            f"{_where(src)}one line of {widest:,} values is not a 12-lead ECG; write one sample per line (a column "
            "per lead) or one lead per line"
        )
    check_signal(min(widest, lines), max(widest, lines), None, src, budget)


def check_wfdb_header(header: Path, src: str | None = None, budget: Budget = DEFAULT_BUDGET) -> None:
    """Check a WFDB record's declared rate, channels and length before its signal files are read."""
    try:
        declared = read_record_line(header)  # only this line: much cheaper than parsing the whole header
    except (OSError, ValueError):
        return  # the reader says what is wrong
    if declared is None:
        return
    n_samples = declared.sig_len or _samples_from_files(header, declared.n_sig, src)
    check_signal(declared.n_sig, n_samples, check_fs(declared.fs, src, budget), src, budget)


#: bytes per sample of the uncompressed WFDB formats (the length of a record whose header omits it follows from
#: its files' sizes, as the WFDB format says)
_FORMAT_BYTES = {
    8: 1.0,
    16: 2.0,
    24: 3.0,
    32: 4.0,
    61: 2.0,
    80: 1.0,
    160: 2.0,
    212: 1.5,
    310: 4 / 3,
    311: 4 / 3,
}


def _samples_from_files(header: Path, n_sig: int, src: str | None, max_bytes: int = 1 << 20) -> int:
    """Samples per signal of a record whose header gives no length: the largest its signal files' sizes allow."""
    with open(header, encoding="latin-1") as fh:
        lines = header_lines(fh.read(max_bytes))
    per_file: dict[str, list[float]] = {}
    for line in lines[1 : 1 + n_sig]:
        fields = line.split()
        if len(fields) < 2:
            continue
        fmt = re.match(r"\d+", fields[1])
        width = _FORMAT_BYTES.get(int(fmt.group())) if fmt else None
        if width is None:
            raise InputError(
                f"{_where(src)}the header gives no record length and signal format {fields[1]!r} does not let "
                "it follow from the file size; write the number of samples on the header's first line"
            )
        per_file.setdefault(fields[0], []).append(width)
    longest = 0
    for name, widths in per_file.items():
        dat = header.parent / name
        if dat.is_file():
            longest = max(longest, int(dat.stat().st_size / sum(widths)))
    return longest


def check_file(
    path: str | Path, kind: str, src: str | None = None, budget: Budget = DEFAULT_BUDGET, fs: Any = None
) -> None:
    """The checks of a file of reader ``kind`` (``"npy"``, ``"npz"``, ``"csv"``, ``"wfdb"``) before it is read;
    ``fs``: the rate the caller gives (checked first; with it, declared durations are checked too)."""
    p = Path(path)
    src = src or str(path)
    rate = None if fs is None else check_fs(fs, src, budget)
    if kind == "npy":
        _check_npy(p, src, budget, rate)
    elif kind == "npz":
        _check_npz(p, src, budget, rate)
    elif kind == "csv" and p.is_file():
        check_csv(p, src, budget)
    elif kind == "wfdb":
        rec = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p
        header = Path(f"{rec}.hea")
        if header.is_file():
            check_wfdb_header(header, src, budget)


def check_batch(x: np.ndarray) -> None:
    """Refuse an empty batch (``(0, 12, L)``) or a record without samples."""
    if x.size == 0:
        raise InputError(f"empty input of shape {x.shape}: pass at least one recording with samples")
