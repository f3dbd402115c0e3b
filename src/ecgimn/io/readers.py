"""Read a user's ECG file (WFDB, CSV, NumPy, EDF, vendor XML, DICOM, SCP-ECG, .zip) into a :class:`Recording`.

Every reader returns raw channels (names, per-channel rate and units when the file has them); one shared step
then maps lead names, converts units to mV, harmonises rates, and applies the missing-value / flat-lead policy of
:mod:`ecgimn.io.signal`. Every change made to the data is written to ``Recording.notes``. Explicit arguments
(``fs``, ``units``, ``lead_names``) override what the file says (noted when they disagree).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn.constants import LEADS, N_LEADS
from ecgimn.errors import InputError
from ecgimn.io.budget import DEFAULT_BUDGET, Budget, check_file, check_fs, check_signal
from ecgimn.io.formats import SUPPORTED, reader_for
from ecgimn.io.leads import DERIVED, canonical_lead, derive_limb_leads, match_leads
from ecgimn.io.raw import Raw as _Raw
from ecgimn.io.recording import Recording
from ecgimn.io.signal import (
    amplitude_warning,
    clean_signal,
    guess_units,
    parse_units,
    resample_array,
    unit_scale,
)
from ecgimn.io.wfdb16 import header_lines, read_format16

# column-name keys (lower case, without spaces, "_", brackets): "time (s)" -> "times", "time_ms" -> "timems"
_TIME_S = {"time", "t", "times", "seconds", "second", "sec", "s", "timestamp"}
_TIME_MS = {"timems", "ms", "milliseconds", "msec"}
_INDEX = {"index", "idx", "sample", "samples", "sampleindex", "n", ""}


def read_ecg(
    path: str | Path,
    *,
    fs: float | None = None,
    units: str | None = None,
    lead_names: Sequence[str] | str | None = None,
    budget: Budget | None = None,
) -> Recording:
    """Read a 12-lead ECG file into a :class:`Recording` (float32 ``(12, L)`` mV, leads in ``LEADS`` order).

    Args:
        path: a WFDB record (``.hea``, ``.dat`` or the record name), ``.csv``/``.tsv``/``.txt``, ``.npy``, ``.npz``,
            ``.edf``/``.bdf``, ``.xml`` (GE MUSE, HL7 aECG, Philips Sierra), ``.dcm`` (DICOM ECG), ``.scp``
            (SCP-ECG) or ``.zip`` holding one of these (see :mod:`ecgimn.io.formats`). A file with only I, II
            and V1-V6 gets III, aVR, aVL, aVF derived (noted).
        fs: sampling rate in Hz; required for CSV / NumPy files that do not store it (a CSV ``time`` column in
            seconds also works). Overrides the file's rate when given.
        units: ``"mV"``, ``"uV"``/``"µV"``, ``"V"``; overrides the file's units. When neither gives the units, they
            are guessed from the amplitude and the guess is noted.
        lead_names: channel names in file order (list or comma-separated string), overriding the file's names.
        budget: limits on rate, duration and declared sizes (:mod:`ecgimn.io.budget`; default 50-10,000 Hz, 5 min),
            checked before the file is parsed.

    Raises:
        InputError: unreadable / unsupported file, missing leads, unknown rate or units, too many flat leads,
            over the budget.
    """
    p = Path(path)
    src = str(path)
    kind = _detect(p, src)
    budget = budget or DEFAULT_BUDGET
    if kind == "zip":
        from ecgimn.io.archive import read_zip

        return read_zip(p, src, read_ecg, fs=fs, units=units, lead_names=lead_names, budget=budget)
    check_file(p, kind, src, budget, fs)
    try:
        raw = _READERS[kind](p, src)
    except InputError:
        raise
    except Exception as exc:  # corrupt files raise anything; name the file and the problem
        raise InputError(f"{src}: cannot read as {kind.upper()} ({type(exc).__name__}: {exc})") from exc
    record_id = p.name[: -len(p.suffix)] if reader_for(p.suffix) else p.name
    return _finalize(
        raw, src=src, record_id=record_id, fs=fs, units=units, lead_names=lead_names, budget=budget
    )


def from_array(
    signal: np.ndarray,
    fs: float,
    *,
    lead_names: Sequence[str] | str | None = None,
    units: str | None = None,
    record_id: str = "array",
    source: str = "array",
    budget: Budget | None = None,
) -> Recording:
    """Build a validated :class:`Recording` from an in-memory ``(C, L)`` or ``(L, C)`` array (same rules as files)."""
    return _finalize(
        _array_raw(signal, source), src=source, record_id=record_id, fs=fs, units=units, lead_names=lead_names,
        budget=budget or DEFAULT_BUDGET,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# format detection and readers


def _detect(p: Path, src: str) -> str:
    kind = reader_for(p.suffix)
    if p.is_dir():
        raise InputError(f"{src}: is a folder; pass an ECG file ({SUPPORTED})")
    if kind and (p.exists() or kind == "wfdb"):
        return kind
    if Path(f"{p}.hea").exists():
        return "wfdb"
    if not p.exists():
        raise InputError(f"{src}: file not found")
    raise InputError(f"{src}: unsupported format {p.suffix or '(no extension)'!r}; accepted: {SUPPORTED}")


def _read_wfdb(p: Path, src: str) -> _Raw:
    rec = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p
    header = Path(f"{rec}.hea")
    if not header.exists():
        raise InputError(
            f"{src}: WFDB header {header.name} not found; a WFDB record needs its .hea and .dat files side by side"
        )
    # plain format 16 (PTB-XL's layout) read with NumPy: wfdb.rdrecord's samples, ~20x faster; the rest via wfdb
    fast = read_format16(rec, dtype=np.float64)
    if fast is not None:
        signal, info = fast
        n = info["n_sig"]
        names = info["sig_name"] if any(info["sig_name"]) else None
        # every signal line of the plain case gives its gain, baseline and unit
        return _Raw(list(signal.T), names=names, fs=[float(info["fs"])] * n, units=info["units"],
                    gain_missing=[False] * n)  # fmt: skip
    import wfdb

    try:
        r = wfdb.rdrecord(str(rec))
    except Exception as exc:
        raise InputError(f"{src}: cannot read WFDB record {rec.name} ({type(exc).__name__}: {exc})") from exc
    if r.p_signal is None or not r.n_sig:
        raise InputError(f"{src}: WFDB record {rec.name} has no signals")
    n = r.p_signal.shape[1]
    names = list(r.sig_name) if r.sig_name and any(r.sig_name) else None
    return _Raw(
        list(r.p_signal.T),
        names=names,
        fs=[float(r.fs)] * n,
        units=list(r.units or [None] * n),
        gain_missing=_wfdb_gain_missing(header, n),
    )


def _wfdb_gain_missing(header: Path, n: int) -> list[bool]:
    """Per signal line: True when the header gives no ADC gain (absent or 0; readers then assume 200/mV)."""
    out = []
    for line in header_lines(header.read_text(errors="replace"))[1 : n + 1]:
        tokens = line.split()
        gain = re.match(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", tokens[2]) if len(tokens) > 2 else None
        out.append(gain is None or float(gain.group()) == 0.0)
    return out


def _read_edf(p: Path, src: str) -> _Raw:
    import pyedflib

    try:
        f = pyedflib.EdfReader(str(p))
    except Exception as exc:
        raise InputError(f"{src}: cannot read EDF file ({type(exc).__name__}: {exc})") from exc
    try:
        n = f.signals_in_file
        names = [label.strip() for label in f.getSignalLabels()]
        fs = [float(f.getSampleFrequency(i)) for i in range(n)]
        units = [f.getPhysicalDimension(i).strip() or None for i in range(n)]
        channels = [np.asarray(f.readSignal(i), dtype=np.float64) for i in range(n)]
    finally:
        f.close()
    if not n:
        raise InputError(f"{src}: the EDF file contains no signals")
    return _Raw(channels, names=names if any(names) else None, fs=fs, units=units)


def _read_npy(p: Path, src: str) -> _Raw:
    return _array_raw(_np_load(p, src), src)


def _read_npz(p: Path, src: str) -> _Raw:
    with _np_load(p, src) as z:
        keys = list(z.files)
        data_keys = [k for k in keys if k not in ("fs", "lead_names", "units")]
        if "signal" in keys:
            key = "signal"
        elif len(data_keys) == 1:
            key = data_keys[0]
        else:
            raise InputError(
                f"{src}: cannot tell which array is the ECG among {keys}; store it under the key 'signal'"
            )
        try:
            arr = z[key]
            fs = float(np.asarray(z["fs"]).ravel()[0]) if "fs" in keys else None
            names = [str(s) for s in np.asarray(z["lead_names"]).ravel()] if "lead_names" in keys else None
            units = [str(s) for s in np.asarray(z["units"]).ravel()] if "units" in keys else []
        except ValueError as exc:
            raise InputError(f"{src}: {_pickle_msg(exc)}") from exc
    raw = _array_raw(arr, src, names=names)
    n = len(raw.channels)
    raw.fs = [fs] * n if fs else []
    if len(units) == 1:
        units = units * n
    elif units and len(units) != n:
        raise InputError(
            f"{src}: 'units' has {len(units)} entries for {n} channels; give one unit or one per channel"
        )
    raw.units = list(units)
    return raw


def _np_load(p: Path, src: str) -> Any:  # ndarray or NpzFile
    with open(p, "rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x80"):  # a raw pickle stream
        raise InputError(f"{src}: {_pickle_msg(ValueError('pickle'))}")
    if not magic.startswith((b"\x93NUMPY", b"PK")):
        raise InputError(
            f"{src}: not a NumPy .npy/.npz file (no NumPy header); save it with np.save / np.savez"
        )
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{src}: {_pickle_msg(exc)}") from exc
    except Exception as exc:
        raise InputError(f"{src}: not a readable NumPy file ({type(exc).__name__}: {exc})") from exc


def _pickle_msg(exc: Exception) -> str:
    if "pickle" in str(exc):
        return (
            "contains pickled Python objects, which are never loaded (unsafe); save a plain numeric array, e.g. "
            "np.save(path, np.asarray(signal, dtype=np.float32)) and names with np.array(names, dtype=str)"
        )
    return f"not a readable NumPy file ({exc})"


def _array_raw(arr: np.ndarray, src: str, names: list[str] | None = None) -> _Raw:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"{src}: the array has non-numeric dtype {arr.dtype}; save numbers (float32/float64)"
        )
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        batch = f" (a batch of {arr.shape[0]} recordings? save one per file)" if arr.ndim == 3 else ""
        raise InputError(
            f"{src}: expected a 2-D (12, samples) or (samples, 12) array, got shape {arr.shape}{batch}"
        )
    n_ch = len(names) if names else None
    if n_ch is not None and n_ch not in arr.shape:
        raise InputError(f"{src}: {n_ch} lead names but the array has shape {arr.shape}")
    channels_first = arr.shape[0] == n_ch if n_ch is not None else arr.shape[0] <= arr.shape[1]
    x = arr if channels_first else arr.T
    return _Raw(list(x.astype(np.float64)), names=names)


# ------------------------------------------------------------------------------------------------------------- CSV


def _is_number(token: str) -> bool:
    token = token.strip().strip("\"'")
    if token == "" or token.lower() in ("nan", "na", "null"):
        return True
    try:
        float(token.replace(",", "."))
        return True
    except ValueError:
        return False


def _sniff(line: str) -> tuple[str, str]:
    """(separator, decimal) from the first line: ``;`` (decimal comma allowed), tab, ``,`` or whitespace."""
    if ";" in line:
        return ";", ","
    if "\t" in line:
        return "\t", "."
    if "," in line:
        return ",", "."
    return r"\s+", "."


def _read_csv(p: Path, src: str) -> _Raw:
    import pandas as pd

    try:
        with open(p, encoding="utf-8-sig") as fh:
            first = next((line for line in fh if line.strip()), "")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{src}: not a text CSV file ({exc.reason}); save the ECG as plain-text CSV"
        ) from exc
    if not first:
        raise InputError(f"{src}: the file is empty")
    sep, decimal = _sniff(first)
    tokens = re.split(sep, first.strip())
    header = not all(_is_number(t) for t in tokens) and not (
        len(tokens) > 1 and all(_is_number(t) for t in tokens[1:])
    )
    try:
        df = pd.read_csv(
            p, sep=sep, decimal=decimal, header=0 if header else None, encoding="utf-8-sig",
            skipinitialspace=True, engine="python" if sep == r"\s+" else "c",
        )  # fmt: skip
    except Exception as exc:
        raise InputError(f"{src}: cannot parse as CSV ({type(exc).__name__}: {exc})") from exc
    row_names = None
    if df.shape[1] > 1 and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
        col = df.iloc[:, 0]
        if not all(_is_number(str(v)) for v in col.dropna()):
            row_names = ["" if pd.isna(v) else str(v).strip() for v in col]
            df = df.iloc[:, 1:]
    # Columns pandas already parsed as numbers need no conversion (a row-oriented file has thousands of them).
    text = [c for c, dtype in enumerate(df.dtypes) if not pd.api.types.is_numeric_dtype(dtype)]
    values = df.copy() if text else df
    for c in text:
        values.isetitem(c, pd.to_numeric(df.iloc[:, c], errors="coerce"))
    bad = values.isna().to_numpy() & df.notna().to_numpy()
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"{src}: non-numeric value {df.iat[r, c]!r} (row {r + 1 + header}, column {c + 1}); the file must hold numbers"
        )
    x = values.to_numpy(dtype=np.float64)
    if x.size == 0:
        raise InputError(f"{src}: no samples found (only a header?)")
    if row_names is not None:
        channels, names = list(x), row_names
    elif header:
        channels, names = list(x.T), [str(c).strip() for c in df.columns]
    else:
        channels, names = (list(x.T) if x.shape[0] >= x.shape[1] else list(x)), None
    raw = _Raw(channels, names=names)
    if names is not None:
        _pop_time_and_index(raw, src)
    return raw


def _pop_time_and_index(raw: _Raw, src: str) -> None:
    """Drop time / sample-index channels (by name); a time column gives the sampling rate."""
    assert raw.names is not None
    keep = []
    for i, name in enumerate(raw.names):
        key = re.sub(r"[\s_()\[\]]+", "", name.casefold())
        if canonical_lead(name)[0] is None and (key in _TIME_S or key in _TIME_MS):
            scale = 1e-3 if key in _TIME_MS else 1.0
            raw.fs = [_fs_from_time(raw.channels[i] * scale, name, src)] * len(raw.names)
            raw.notes.append(f"sampling rate {raw.fs[0]:g} Hz inferred from the {name!r} column")
        elif (key in _INDEX or key.startswith("unnamed:")) and _is_index(raw.channels[i]):
            raw.notes.append(f"dropped sample-index column {name!r}")
        else:
            keep.append(i)
    if len(keep) < len(raw.names):
        raw.channels = [raw.channels[i] for i in keep]
        raw.names = [raw.names[i] for i in keep]
        raw.fs = raw.fs[: len(keep)]


def _is_index(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)) and np.all(np.diff(x) == 1))


def _fs_from_time(t: np.ndarray, name: str, src: str) -> float:
    if t.size < 2 or not np.all(np.isfinite(t)) or not np.all(np.diff(t) > 0):
        raise InputError(
            f"{src}: the {name!r} column is not strictly increasing finite times; fix it or pass fs (--fs)"
        )
    fs = (t.size - 1) / (t[-1] - t[0])
    if np.max(np.abs(t - t[0] - np.arange(t.size) / fs)) > 0.5 / fs:
        raise InputError(
            f"{src}: the {name!r} column is not evenly spaced; resample the ECG to a fixed rate or pass fs (--fs)"
        )
    return float(round(fs)) if abs(fs - round(fs)) <= 1e-3 * fs else float(fs)


def _read_xml(p: Path, src: str) -> _Raw:
    from ecgimn.io.vendor import read_xml

    return read_xml(p, src)


def _read_dicom(p: Path, src: str) -> _Raw:
    from ecgimn.io.vendor import read_dicom

    return read_dicom(p, src)


def _read_scp(p: Path, src: str) -> _Raw:
    from ecgimn.io.vendor import read_scp

    return read_scp(p, src)


_READERS = {
    "wfdb": _read_wfdb, "csv": _read_csv, "npy": _read_npy, "npz": _read_npz, "edf": _read_edf,
    "xml": _read_xml, "dicom": _read_dicom, "scp": _read_scp,
}  # fmt: skip


# ------------------------------------------------------------------------------------------------ shared final step


def _finalize(
    raw: _Raw,
    *,
    src: str,
    record_id: str,
    fs: float | None,
    units: str | None,
    lead_names: Sequence[str] | str | None,
    budget: Budget = DEFAULT_BUDGET,
) -> Recording:
    notes = list(raw.notes)
    check_signal(len(raw.channels), max((len(c) for c in raw.channels), default=0), None, src, budget)
    idx, signs = _lead_plan(raw, src, lead_names, notes)
    rows = [k for k, i in enumerate(idx) if i != DERIVED]  # leads in the file (others are derived)
    src_idx = [idx[k] for k in rows]
    channels = [raw.channels[idx[k]] * signs[k] for k in rows]
    rate, channels = _common_rate(raw, src_idx, channels, fs, src, notes, budget)
    check_signal(len(channels), max(len(c) for c in channels), rate, src, budget)
    length = min(len(c) for c in channels)
    if any(len(c) != length for c in channels):
        notes.append(f"leads of unequal length cut to the shortest ({length} samples)")
    x = np.zeros((N_LEADS, length))
    x[rows] = _to_mv(np.stack([c[:length] for c in channels]), raw, src_idx, units, src, notes)
    derive_limb_leads(x, idx)
    signal, flat, clean_notes = clean_signal(x, rate, source=src)
    hints = {}
    if raw.gain_missing and any(raw.gain_missing[i] for i in src_idx):
        hints["adc_gain_missing"] = [LEADS[k] for k, i in zip(rows, src_idx) if raw.gain_missing[i]]
    return Recording(
        signal, rate, record_id=record_id, source=src, notes=notes + clean_notes, flat_leads=flat,
        metadata=dict(raw.metadata), hints=hints,
    )  # fmt: skip


def _lead_plan(
    raw: _Raw, src: str, lead_names: Sequence[str] | str | None, notes: list[str]
) -> tuple[list[int], list[float]]:
    """For each lead of ``LEADS``: the channel to take (or ``DERIVED``) and its sign."""
    n = len(raw.channels)
    names = raw.names
    if lead_names is not None:
        given = (
            [s.strip() for s in lead_names.split(",")]
            if isinstance(lead_names, str)
            else [str(s) for s in lead_names]
        )
        if len(given) != n:
            raise InputError(
                f"{src}: {len(given)} lead names given but the file has {n} channels ({names or 'unnamed'})"
            )
        if names is not None and given != names:
            notes.append(f"channel names from lead_names override the file's ({', '.join(names)})")
        names = given
    if names is None:
        if n != N_LEADS:
            eight = (
                " (8 channels: if they are I, II, V1-V6, pass --lead-names I,II,V1,V2,V3,V4,V5,V6)"
                if n == 8
                else ""
            )
            raise InputError(
                f"{src}: a 12-lead ECG is needed; found {n} channel(s) and no lead names (name the channels, e.g. "
                f"a CSV header I,II,III,aVR,aVL,aVF,V1..V6, or pass lead_names / --lead-names){eight}"
            )
        notes.append("no lead names in the file; assumed the standard order I, II, III, aVR, aVL, aVF, V1-V6")
        return list(range(N_LEADS)), [1.0] * N_LEADS
    idx, signs, map_notes = match_leads(names, source=src)
    notes += map_notes
    return idx, signs


def _common_rate(
    raw: _Raw,
    src_idx: list[int],
    channels: list[np.ndarray],
    fs: float | None,
    src: str,
    notes: list[str],
    budget: Budget,
) -> tuple[float, list[np.ndarray]]:
    """The recording's rate (argument, else the file's highest) and the channels resampled to it."""
    file_fs = [raw.fs[i] for i in src_idx] if raw.fs else [None] * len(src_idx)
    if fs is not None:
        rate = check_fs(fs, src, budget)
        known = {f for f in file_fs if f}
        if known and known != {rate}:
            notes.append(
                f"fs={rate:g} Hz from the argument overrides the file's {', '.join(f'{f:g}' for f in sorted(known))} Hz"
            )
        return rate, channels
    if any(f is None for f in file_fs):
        raise InputError(f"{src}: sampling rate unknown; pass fs=<Hz> (--fs on the command line)")
    rate = max(check_fs(f, src, budget) for f in file_fs)
    odd = sorted({f for f in file_fs if f != rate})  # type: ignore[type-var]
    if odd:
        channels = [c if f == rate else resample_array(c, f, rate) for c, f in zip(channels, file_fs)]
        notes.append(f"leads sampled at {', '.join(f'{f:g}' for f in odd)} Hz resampled to {rate:g} Hz")
    return rate, channels  # type: ignore[return-value]


def _to_mv(
    x: np.ndarray, raw: _Raw, src_idx: list[int], units: str | None, src: str, notes: list[str]
) -> np.ndarray:
    """Rows of ``x`` (channels ``src_idx`` of the file) converted to mV: argument, else file units, else guess."""
    n = len(src_idx)
    if units is not None and str(units).strip().lower() != "auto":
        scales: list[float | None] = [parse_units(units, source=src)] * n
        file_units = {raw.units[i] for i in src_idx} if raw.units else set()
        if file_units - {None} and {unit_scale(u) for u in file_units} != {scales[0]}:
            notes.append(
                f"units={units!r} from the argument override the file's ({', '.join(sorted(str(u) for u in file_units))})"
            )
    else:
        file_units_list = [raw.units[i] for i in src_idx] if raw.units else [None] * n
        scales = [unit_scale(u) for u in file_units_list]
        converted = sorted({str(u) for u, s in zip(file_units_list, scales) if s not in (None, 1.0)})
        if converted:
            notes.append(f"converted from {', '.join(converted)} (units in the file) to mV")
    for i, s in enumerate(scales):
        if s is not None:
            x[i] *= s
    unknown_rows = [i for i, s in enumerate(scales) if s is None]
    if unknown_rows:
        factor, note = guess_units(x[unknown_rows])
        x[unknown_rows] *= factor
        if note:
            notes.append(note if len(unknown_rows) == n else f"leads with unknown units: {note}")
    else:
        warning = amplitude_warning(x)
        if warning:
            notes.append(warning)
    return x
