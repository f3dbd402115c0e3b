"""The NumPy reader of plain format-16 WFDB records: wfdb's samples bit for bit, and wfdb's path for anything else;
the one record-line parser that the reader and the budget share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from conftest import PTBXL_LEAD_NAMES, synthetic_signal, write_wfdb

from ecgimn.data import read_wfdb_record
from ecgimn.errors import DataError
from ecgimn.io import read_ecg, readers
from ecgimn.io.wfdb16 import RecordLine, parse_record_line, read_format16, read_record_line

INFO_KEYS = ("n_sig", "sig_len", "sig_name", "units")


def _same_as_wfdb(stem: Path) -> None:
    fast = read_format16(stem)
    assert fast is not None, stem
    signal, info = fast
    ref, ref_info = wfdb.rdsamp(str(stem), return_res=32)
    assert signal.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(signal, ref)  # bit for bit (NaN where wfdb has NaN)
    assert {k: info[k] for k in INFO_KEYS} == {k: ref_info[k] for k in INFO_KEYS}
    assert float(info["fs"]) == float(ref_info["fs"])
    # float64, as read_ecg reads a record: wfdb.rdrecord's physical signal bit for bit
    signal64, _ = read_format16(stem, dtype=np.float64)
    record = wfdb.rdrecord(str(stem))
    assert signal64.dtype == record.p_signal.dtype == np.float64
    np.testing.assert_array_equal(signal64, record.p_signal)


def _read_ecg_through_wfdb(path: Path, monkeypatch: pytest.MonkeyPatch):
    """``read_ecg(path)`` with the NumPy reader switched off (every record read by ``wfdb.rdrecord``)."""
    with monkeypatch.context() as m:
        m.setattr(readers, "read_format16", lambda *a, **k: None)
        return read_ecg(path)


def _same_recording(a, b) -> None:
    np.testing.assert_array_equal(a.signal, b.signal)
    assert (a.fs, a.record_id, a.notes, a.flat_leads) == (b.fs, b.record_id, b.notes, b.flat_leads)


def test_synthetic_record_with_missing_samples_and_odd_gain(tmp_path: Path) -> None:
    x = synthetic_signal(3, 100).astype(np.float64)
    x[5, 2] = np.nan  # written as -32768, read back as NaN
    stem = tmp_path / "rec"
    wfdb.wrsamp("rec", fs=100, units=["mV"] * 12, sig_name=[f"L{i}" for i in range(12)], p_signal=x,
                fmt=["16"] * 12, adc_gain=[200.0 + i for i in range(12)], baseline=[-7 + i for i in range(12)],
                write_dir=str(tmp_path))  # fmt: skip
    _same_as_wfdb(stem)
    assert np.isnan(read_format16(stem)[0][5, 2])


def test_read_ecg_takes_the_fast_path_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = synthetic_signal(5, 500)
    x[100:110, 3] = np.nan  # a short gap: interpolated and noted the same way on both paths
    write_wfdb(tmp_path / "rec", x, 500)
    calls = []
    real = readers.read_format16
    monkeypatch.setattr(readers, "read_format16", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert real(tmp_path / "rec") is not None
    for path in (tmp_path / "rec.hea", tmp_path / "rec.dat", tmp_path / "rec"):
        calls.clear()
        fast = read_ecg(path)
        assert calls == [(tmp_path / "rec",)]  # the NumPy reader read it
        _same_recording(fast, _read_ecg_through_wfdb(path, monkeypatch))
    # another format goes through wfdb and gives the same recording too
    wfdb.wrsamp("r212", fs=500, units=["mV"] * 12, sig_name=PTBXL_LEAD_NAMES,
                p_signal=np.nan_to_num(x), fmt=["212"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                write_dir=str(tmp_path))  # fmt: skip
    assert read_format16(tmp_path / "r212") is None
    _same_recording(
        read_ecg(tmp_path / "r212.hea"), _read_ecg_through_wfdb(tmp_path / "r212.hea", monkeypatch)
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("00001_lr 12 100 1000", RecordLine("00001_lr", 12, 100.0, 1000, True)),
        ("rec 12 500 5000 0:00:00 01/01/2000 # note", RecordLine("rec", 12, 500.0, 5000, True)),
        ("rec 2 360/720(3) 650000", RecordLine("rec", 2, 360.0, 650000, False)),  # counter frequency
        ("multi/3 2 250 100", RecordLine("multi/3", 2, 250.0, 100, False)),  # several segments
        ("rec 12 1e3 500", RecordLine("rec", 12, 1000.0, 500, False)),  # not wfdb's way to write a rate
        ("rec 12", RecordLine("rec", 12, 250.0, None, False)),  # the WFDB format's default rate, no length
        ("rec", RecordLine("rec", 0, 250.0, None, False)),
    ],
)
def test_record_line(line: str, expected: RecordLine) -> None:
    assert parse_record_line(line) == expected


@pytest.mark.parametrize(
    "line", ["", "# only a comment", "rec twelve 100 1000", "rec 12 fast", "rec 12 100 10s"]
)
def test_record_line_that_is_not_one_raises(line: str) -> None:
    with pytest.raises(ValueError):
        parse_record_line(line)


def test_read_record_line_skips_comments_and_reads_no_further(tmp_path: Path) -> None:
    hea = tmp_path / "rec.hea"
    hea.write_bytes(b"# comment\n\n   # indented comment\nrec 12 500 5000\n" + b"\xff" * 10 + b"\n")
    assert read_record_line(hea) == RecordLine("rec", 12, 500.0, 5000, True)
    hea.write_text("# nothing but comments\n\n")
    assert read_record_line(hea) is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.replace(" 16 ", " 212 ", 1),  # another format
        lambda h: h.replace("(0)/mV", "/mV", 1),  # baseline left to its default
        lambda h: h.replace("rec 12 100", "rec 12 100/1000", 1),  # counter frequency
        lambda h: h.replace("rec.dat 16", "rec.dat 16+24", 1),  # byte offset
        lambda h: h.replace("rec.dat", "other.dat", 1),  # a second signal file
        lambda h: h.replace("rec 12 100", "rec 12 1e2", 1),  # a rate wfdb reads another way
        lambda h: h.replace("/mV", "/m.V", 1),  # a unit wfdb reads another way
        lambda h: h.replace("(0)/mV 16 0", "(0)/mV 16 x", 1),  # a field wfdb reads another way
        lambda h: h.replace("1000.0(0)", "1.0.0(0)", 1),  # a gain that is not a number
    ],
    ids=[
        "format-212",
        "no-baseline",
        "counter-freq",
        "offset",
        "two-files",
        "rate-1e2",
        "unit",
        "adc-zero",
        "gain",
    ],
)
def test_anything_but_the_plain_case_is_left_to_wfdb(tmp_path: Path, edit) -> None:
    write_wfdb(tmp_path / "rec", synthetic_signal(4, 100), 100)
    hea = tmp_path / "rec.hea"
    assert read_format16(tmp_path / "rec") is not None
    edited = edit(hea.read_text())
    assert edited != hea.read_text()
    hea.write_text(edited)
    assert read_format16(tmp_path / "rec") is None


def test_truncated_file_falls_back_and_is_diagnosed(tmp_path: Path) -> None:
    write_wfdb(tmp_path / "00004_lr", synthetic_signal(4, 100), 100)
    dat = tmp_path / "00004_lr.dat"
    dat.write_bytes(dat.read_bytes()[:5001])
    assert read_format16(tmp_path / "00004_lr") is None
    with pytest.raises(DataError, match=r"truncated \(5,001 bytes, expected 24,000\)"):
        read_wfdb_record(tmp_path / "00004_lr", 100)


@pytest.mark.integration
def test_shared_records_equal_wfdb(shared_ptbxl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stems = (
        sorted(shared_ptbxl.glob("records100/*/*.hea"))[::20]
        + sorted(shared_ptbxl.glob("records500/*/*.hea"))[::50]
    )
    assert len(stems) >= 100
    for hea in stems:
        _same_as_wfdb(hea.with_suffix(""))
    for hea in stems[:: len(stems) // 4]:  # read_ecg: the same recordings as through wfdb.rdrecord
        _same_recording(read_ecg(hea), _read_ecg_through_wfdb(hea, monkeypatch))


@pytest.mark.parametrize(
    ("fs", "units", "n_sig"), [(100, "mV", 12), (500, "mV", 12), (100, "uV", 12), (250, "mV", 11)]
)
def test_the_suites_wfdb_writer_writes_wfdbs_bytes(tmp_path: Path, fs: int, units: str, n_sig: int) -> None:
    """conftest.write_wfdb (NumPy) writes the files wfdb.wrsamp writes, byte for byte (missing samples too)."""
    x = synthetic_signal(7, fs)[:, :n_sig] * (1000.0 if units == "uV" else -1.0)
    x[0, 2] = x[9, 0] = np.nan
    names = [n.lower() for n in PTBXL_LEAD_NAMES[:n_sig]]
    write_wfdb(tmp_path / "a" / "rec", x, fs, names, units=units)
    gain = 1000.0 if units == "mV" else 1.0
    wfdb.wrsamp("rec", fs=fs, units=[units] * n_sig, sig_name=names, p_signal=x, fmt=["16"] * n_sig,
                adc_gain=[gain] * n_sig, baseline=[0] * n_sig, write_dir=str(tmp_path))  # fmt: skip
    for ext in (".hea", ".dat"):
        assert (tmp_path / "a" / f"rec{ext}").read_bytes() == (tmp_path / f"rec{ext}").read_bytes(), ext
