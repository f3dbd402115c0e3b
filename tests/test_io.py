"""ecgimn.io: every supported format round-trips to (12, L) mV in LEADS order; every bad input gives InputError."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgimn.constants import LEADS
from ecgimn.errors import InputError
from ecgimn.io import LEAD_ALIASES, Recording, from_array, map_leads, read_ecg, resample, synthetic_ecg
from ecgimn.io.leads import canonical_lead
from ecgimn.io.signal import check_length, clean_signal

PTBXL = Path(__file__).resolve().parents[2] / "shared" / "ptbxl"
FS = 250
L = 2500  # 10 s


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    """(12, L) float64 mV: distinct sines per lead plus noise (~1-2 mV peak-to-peak)."""
    t = np.arange(L) / FS
    rng = np.random.default_rng(0)
    x = np.stack([(0.5 + 0.1 * i) * np.sin(2 * np.pi * (1 + 0.3 * i) * t) for i in range(12)])
    return x + 0.05 * rng.standard_normal(x.shape)


def _check(rec: Recording, ecg: np.ndarray, atol: float = 1e-4, fs: float = FS) -> None:
    assert isinstance(rec, Recording)
    assert rec.signal.shape == (12, L) and rec.signal.dtype == np.float32
    assert rec.fs == fs and rec.lead_names == LEADS and rec.flat_leads == []
    np.testing.assert_allclose(rec.signal, ecg, atol=atol)


# ------------------------------------------------------------------------------------------------- formats


def test_wfdb_uv_units_and_record_forms(tmp_path: Path, ecg: np.ndarray) -> None:
    import wfdb

    order = [5, 0, 11, 3, 1, 2, 4, 6, 7, 8, 9, 10]  # shuffled leads + a respiration channel
    names = [LEADS[i] for i in order] + ["Resp"]
    sig = np.concatenate([ecg[order], ecg[:1] * 0.1]) * 1000.0  # µV
    wfdb.wrsamp(
        "rec",
        fs=FS,
        units=["uV"] * 13,
        sig_name=names,
        p_signal=sig.T,
        fmt=["16"] * 13,
        write_dir=str(tmp_path),
    )
    for path in (tmp_path / "rec.hea", tmp_path / "rec.dat", tmp_path / "rec"):
        rec = read_ecg(path)
        _check(rec, ecg, atol=2e-3)  # 16-bit quantisation
        assert rec.record_id == "rec"
    text = " | ".join(rec.notes)
    assert "uV" in text and "Resp" in text and "reordered" in text


def test_csv_orientations_names_and_order(tmp_path: Path, ecg: np.ndarray) -> None:
    order = np.random.default_rng(1).permutation(12)
    df = pd.DataFrame(ecg[order].T, columns=[LEADS[i] for i in order])
    df.to_csv(tmp_path / "cols_named.csv", index=False)
    df.T.to_csv(tmp_path / "rows_named.csv", header=False)  # lead names in the first column
    pd.DataFrame(ecg.T).to_csv(tmp_path / "cols.csv", index=False, header=False)
    pd.DataFrame(ecg).to_csv(tmp_path / "rows.csv", index=False, header=False)
    for name in ("cols_named", "rows_named", "cols", "rows"):
        rec = read_ecg(tmp_path / f"{name}.csv", fs=FS)
        _check(rec, ecg)
        assert any("assumed the standard order" in n for n in rec.notes) == (name in ("cols", "rows"))
    # a time column in seconds gives fs; pandas' index column is dropped
    timed = pd.DataFrame({"time": np.arange(L) / FS, **{f"lead {k}": v for k, v in zip(LEADS, ecg)}})
    timed.to_csv(tmp_path / "timed.csv")
    _check(read_ecg(tmp_path / "timed.csv"), ecg)


def test_npy_npz(tmp_path: Path, ecg: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", ecg.T.astype(np.float32))  # (L, 12)
    _check(read_ecg(tmp_path / "a.npy", fs=FS), ecg)
    names = np.array(["aVR", "I", "II", "III", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"])
    perm = [LEADS.index(n) for n in names]
    np.savez(tmp_path / "b.npz", signal=ecg[perm] * 1000, fs=FS, lead_names=names, units="uV")
    _check(read_ecg(tmp_path / "b.npz"), ecg)
    np.savez(tmp_path / "c.npz", ecg)  # single unnamed array
    _check(read_ecg(tmp_path / "c.npz", fs=FS), ecg)


def test_edf(tmp_path: Path, ecg: np.ndarray) -> None:
    from pyedflib import highlevel

    labels = [f"ECG {n}" for n in LEADS]
    labels[3] = "-aVR"
    sig = ecg.copy()
    sig[3] *= -1
    headers = [
        highlevel.make_signal_header(
            lab, dimension="uV", sample_frequency=FS, physical_min=-5000, physical_max=5000
        )
        for lab in labels
    ]
    highlevel.write_edf(str(tmp_path / "e.edf"), list(sig * 1000), headers)
    rec = read_ecg(tmp_path / "e.edf")
    _check(rec, ecg, atol=0.2)  # 16-bit over ±5 mV
    assert np.corrcoef(rec.signal[3], ecg[3])[0, 1] > 0.999
    assert any("inverted" in n for n in rec.notes)


# --------------------------------------------------------------------------------------- leads, units, signal


def test_lead_aliases() -> None:
    cases = {
        "lead I": "I",
        "DI": "I",
        "D2": "II",
        "ECG III": "III",
        "II (mV)": "II",
        "AVF": "aVF",
        "C4": "V4",
    }
    for name, lead in cases.items():
        assert canonical_lead(name) == (lead, False)
    assert canonical_lead("-aVR") == ("aVR", True)
    assert canonical_lead("MLII") == (None, False)  # Holter modified lead, not 12-lead II
    assert LEAD_ALIASES["avl"] == "aVL"
    out, notes = map_leads(np.arange(12.0)[::-1, None], list(LEADS)[::-1])
    assert out[:, 0].tolist() == list(range(12)) and notes


def test_uv_heuristic_and_units_override(tmp_path: Path, ecg: np.ndarray) -> None:
    np.save(tmp_path / "uv.npy", ecg * 1000)
    rec = read_ecg(tmp_path / "uv.npy", fs=FS)
    _check(rec, ecg)
    assert any("look like µV" in n and "--units mV" in n for n in rec.notes)
    rec = read_ecg(tmp_path / "uv.npy", fs=FS, units="uV")
    _check(rec, ecg)
    assert not any("look like" in n for n in rec.notes)
    with pytest.raises(InputError, match="unknown units"):
        read_ecg(tmp_path / "uv.npy", fs=FS, units="furlongs")


def test_resample_250_to_100() -> None:
    clean = np.stack(
        [(0.5 + 0.1 * i) * np.sin(2 * np.pi * (1 + 0.3 * i) * np.arange(L) / FS) for i in range(12)]
    )
    rec = from_array(clean, FS)
    out = resample(rec, 100)
    assert out.signal.shape == (12, 1000) and out.fs == 100 and out.signal.dtype == np.float32
    assert "resampled from 250 Hz to 100 Hz" in out.notes and rec.fs == FS  # original untouched
    t = np.arange(1000) / 100
    np.testing.assert_allclose(out.signal[0], 0.5 * np.sin(2 * np.pi * t), atol=0.01)


def test_nan_gaps_and_flat_leads(ecg: np.ndarray) -> None:
    x = ecg.copy()
    x[1, 100:110] = np.nan  # short gap -> interpolated
    x[4] = np.nan  # all-NaN lead -> zeros, flat
    x[7] = 0.3  # flat lead
    rec = from_array(x, FS)
    assert rec.flat_leads == [4, 7] and np.all(rec.signal[[4, 7]] == 0)
    assert np.isfinite(rec.signal).all()
    np.testing.assert_allclose(rec.signal[1, 100:110], ecg[1, 100:110], atol=0.2)
    assert any("interpolation" in n for n in rec.notes) and any("flat_leads" in n for n in rec.notes)
    x[[0, 2, 9]] = np.nan
    with pytest.raises(InputError, match="5 leads are flat or missing"):
        from_array(x, FS)
    with pytest.raises(InputError, match="empty"):
        clean_signal(np.zeros((12, 0)), FS)


def test_too_short(ecg: np.ndarray) -> None:
    rec = from_array(ecg[:, :500], FS)
    assert check_length(rec, 2) is rec
    with pytest.raises(InputError, match=r"2\.00 s long.*at least 5 s"):
        check_length(rec, 5)


def test_synthetic() -> None:
    rec = synthetic_ecg(duration=4, fs=100, seed=1)
    assert rec.signal.shape == (12, 400) and rec.record_id == "synthetic" and "SYNTHETIC" in rec.notes[0]
    assert np.isfinite(rec.signal).all() and 0.5 < np.ptp(rec.signal, axis=1).min()


# ------------------------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("foo.xyz", b"1,2,3", r"foo\.xyz: unsupported format '\.xyz'; accepted: WFDB"),
        ("bad.edf", b"not an edf file at all" * 20, r"bad\.edf: cannot read EDF"),
        ("bad.npy", b"\x93NUMPY garbage", r"bad\.npy: not a readable NumPy"),
        ("pick.npy", pickle.dumps({"signal": [1, 2]}), r"pick\.npy: contains pickled"),
        ("text.csv", b"hello,world\nfoo,bar\n", r"text\.csv: .*(non-numeric|no samples)"),
        ("bin.csv", bytes(range(256)) * 4, r"bin\.csv: "),
        ("orphan.dat", b"\x00" * 100, r"orphan\.dat: WFDB header orphan\.hea not found"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_ecg(tmp_path / name, fs=FS)


def test_bad_content(tmp_path: Path, ecg: np.ndarray) -> None:
    np.save(tmp_path / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled"):
        read_ecg(tmp_path / "obj.npy", fs=FS)
    np.save(tmp_path / "three.npy", ecg[:3])
    with pytest.raises(InputError, match=r"12-lead ECG is needed; found 3 channel\(s\) and no lead names"):
        read_ecg(tmp_path / "three.npy", fs=FS)
    pd.DataFrame(ecg.T, columns=[f"ch{i}" for i in range(12)]).to_csv(tmp_path / "unk.csv", index=False)
    with pytest.raises(InputError, match=r"missing.*'ch0'.*accepted names: I, II"):
        read_ecg(tmp_path / "unk.csv", fs=FS)
    pd.DataFrame(ecg[:11].T, columns=list(LEADS[:11])).to_csv(tmp_path / "no_v6.csv", index=False)
    with pytest.raises(InputError, match=r"lead\(s\) V6 are missing"):
        read_ecg(tmp_path / "no_v6.csv", fs=FS)
    with pytest.raises(InputError, match="sampling rate unknown; pass fs=.*--fs"):
        read_ecg(tmp_path / "unk.csv", lead_names=",".join(LEADS))
    with pytest.raises(InputError, match="file not found"):
        read_ecg(tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------------ real data


@pytest.mark.integration
def test_real_ptbxl_record() -> None:
    record = PTBXL / "records100" / "00000" / "00001_lr"
    if not Path(f"{record}.hea").exists():
        pytest.skip(f"PTB-XL not found at {PTBXL} (download it to ../shared/ptbxl)")
    import wfdb

    expected, fields = wfdb.rdsamp(str(record))
    rec = read_ecg(f"{record}.hea")
    assert rec.fs == 100 and rec.record_id == "00001_lr" and rec.signal.shape == (12, 1000)
    assert [n.lower() for n in fields["sig_name"]] == [n.lower() for n in LEADS]
    np.testing.assert_allclose(rec.signal, expected.T.astype(np.float32), atol=1e-6)
    assert rec.flat_leads == [] and not any("look like" in n for n in rec.notes)
