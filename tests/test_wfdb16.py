"""The NumPy reader of plain format-16 WFDB records: wfdb's samples bit for bit, and wfdb's path for anything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from conftest import synthetic_signal, write_wfdb

from ecgimn.data import read_wfdb_record
from ecgimn.data.wfdb16 import read_format16
from ecgimn.errors import DataError

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


def test_synthetic_record_with_missing_samples_and_odd_gain(tmp_path: Path) -> None:
    x = synthetic_signal(3, 100).astype(np.float64)
    x[5, 2] = np.nan  # written as -32768, read back as NaN
    stem = tmp_path / "rec"
    wfdb.wrsamp("rec", fs=100, units=["mV"] * 12, sig_name=[f"L{i}" for i in range(12)], p_signal=x,
                fmt=["16"] * 12, adc_gain=[200.0 + i for i in range(12)], baseline=[-7 + i for i in range(12)],
                write_dir=str(tmp_path))  # fmt: skip
    _same_as_wfdb(stem)
    assert np.isnan(read_format16(stem)[0][5, 2])


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.replace(" 16 ", " 212 ", 1),  # another format
        lambda h: h.replace("(0)/mV", "/mV", 1),  # baseline left to its default
        lambda h: h.replace("rec 12 100", "rec 12 100/1000", 1),  # counter frequency
        lambda h: h.replace("rec.dat 16", "rec.dat 16+24", 1),  # byte offset
        lambda h: h.replace("rec.dat", "other.dat", 1),  # a second signal file
    ],
    ids=["format-212", "no-baseline", "counter-freq", "offset", "two-files"],
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
def test_shared_records_equal_wfdb(shared_ptbxl: Path) -> None:
    stems = (
        sorted(shared_ptbxl.glob("records100/*/*.hea"))[::20]
        + sorted(shared_ptbxl.glob("records500/*/*.hea"))[::50]
    )
    assert len(stems) >= 100
    for hea in stems:
        _same_as_wfdb(hea.with_suffix(""))
