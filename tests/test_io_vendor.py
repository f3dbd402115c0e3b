"""Vendor ECG exports (GE MUSE, HL7 aECG, Philips Sierra incl. XLI, DICOM, SCP-ECG), 8-lead storage with derived
limb leads, .zip records, and the one format table.

Files are written per each format's schema by ``tests/ecg_writers.py``; the real DICOM sample is pydicom's own
test file ``waveform_ecg.dcm`` (a Mortara 12-lead ECG shipped inside the pydicom wheel, MIT licence), read from
the installed package, not copied here. Integration tests write vendor files from real PTB-XL records (Wagner et
al., Sci Data 2020) in ``../shared/ptbxl`` and compare the default model's probabilities with the WFDB original.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import zip_bytes
from ecg_writers import write_aecg, write_dicom, write_muse, write_scp, write_sierra

from ecgimn.constants import LEADS
from ecgimn.errors import InputError
from ecgimn.io import FORMATS, SCAN_SUFFIXES, UPLOAD_SUFFIXES, from_array, map_leads, read_ecg
from ecgimn.io.leads import LIMB_LEADS, limb_derivation

FS = 500
L = 5000
EIGHT = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    """(12, L) mV at 500 Hz whose limb leads obey Einthoven/Goldberger (as a real ECG's do)."""
    t = np.arange(L) / FS
    rng = np.random.default_rng(1)
    x = np.stack([(0.4 + 0.1 * i) * np.sin(2 * np.pi * (1.1 + 0.37 * i) * t + i) for i in range(12)])
    x += 0.03 * rng.standard_normal(x.shape)
    i, ii = x[0], x[1]
    x[2], x[3], x[4], x[5] = ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2
    return x


def _rows(names: list[str]) -> list[int]:
    return [LEADS.index(n) for n in names]


# ------------------------------------------------------------------------------------------- derived limb leads


def test_limb_derivation_from_any_pair() -> None:
    p, q, coefs = limb_derivation(["I", "II", "V1"])  # type: ignore[misc]
    assert (p, q) == ("I", "II")
    assert coefs == {"III": (-1.0, 1.0), "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0)}
    rng = np.random.default_rng(0)
    i, ii = rng.standard_normal((2, 50))
    true = {lead: a * i + b * ii for lead, (a, b) in LIMB_LEADS.items()}
    for pair in (("I", "aVF"), ("II", "aVL"), ("III", "aVR"), ("aVL", "aVF")):
        p, q, coefs = limb_derivation(pair)  # type: ignore[misc]
        for lead, (a, b) in coefs.items():
            np.testing.assert_allclose(a * true[p] + b * true[q], true[lead], atol=1e-12)
    assert limb_derivation(["I", "V1"]) is None


@pytest.mark.parametrize("kind", ["csv", "npz", "wfdb", "array"])
def test_eight_lead_storage_is_completed(tmp_path: Path, ecg: np.ndarray, kind: str) -> None:
    x8 = ecg[_rows(EIGHT)]
    if kind == "csv":
        path = tmp_path / "e.csv"
        pd.DataFrame(x8.T, columns=EIGHT).to_csv(path, index=False)
        rec = read_ecg(path, fs=FS, units="mV")
    elif kind == "npz":
        path = tmp_path / "e.npz"
        np.savez(path, signal=x8, fs=FS, lead_names=np.array(EIGHT))
        rec = read_ecg(path, units="mV")
    elif kind == "wfdb":
        import wfdb

        wfdb.wrsamp("e", fs=FS, units=["mV"] * 8, sig_name=EIGHT, p_signal=x8.T, fmt=["16"] * 8,
                    adc_gain=[1000.0] * 8, baseline=[0] * 8, write_dir=str(tmp_path))  # fmt: skip
        rec = read_ecg(tmp_path / "e.hea")
    else:
        rec = from_array(x8, FS, lead_names=EIGHT, units="mV")
    atol = 2e-3 if kind == "wfdb" else 1e-5  # 1 µV quantisation of WFDB, times 1.5 in the derived leads
    np.testing.assert_allclose(rec.signal, ecg, atol=atol)
    assert rec.lead_names == LEADS and rec.flat_leads == []
    note = next(n for n in rec.notes if "derived" in n)
    assert "III, aVR, aVL, aVF" in note and "III = II - I" in note and "aVR = -0.5*I - 0.5*II" in note


def test_other_limb_pairs_and_map_leads(ecg: np.ndarray) -> None:
    names = ["I", "aVF", *EIGHT[2:]]
    rec = from_array(ecg[_rows(names)], FS, lead_names=names, units="mV")
    np.testing.assert_allclose(rec.signal, ecg, atol=1e-5)
    out, notes = map_leads(ecg[_rows(EIGHT)], EIGHT)
    np.testing.assert_allclose(out, ecg, atol=1e-12)
    assert any("derived exactly from I and II" in n for n in notes)


def test_what_cannot_be_derived_is_refused_with_reasons(ecg: np.ndarray) -> None:
    names = ["I", "II", "V1", "V2", "V4", "V5", "V6"]  # V3 missing
    with pytest.raises(InputError) as e:
        from_array(ecg[_rows(names)], FS, lead_names=names, units="mV")
    msg = str(e.value)
    assert "V3" in msg and "chest leads are independent and cannot be derived" in msg and "\n" not in msg
    names = ["I", *EIGHT[2:]]  # one limb lead only
    with pytest.raises(InputError) as e:
        from_array(ecg[_rows(names)], FS, lead_names=names, units="mV")
    msg = str(e.value)
    assert "II, III, aVR, aVL, aVF" in msg and "two other limb leads" in msg and "the file has I" in msg


# ---------------------------------------------------------------------------------------------- vendor formats


def test_ge_muse_eight_leads_rhythm_not_median(tmp_path: Path, ecg: np.ndarray) -> None:
    path = write_muse(tmp_path / "muse.xml", ecg[_rows(EIGHT)], EIGHT, FS, lsb_uv=4.88)
    rec = read_ecg(path)
    assert rec.fs == FS and rec.signal.shape == (12, L)  # the Median waveform (0.6 s) is not what is read
    np.testing.assert_allclose(rec.signal, ecg, atol=1.5 * 4.88e-3)  # LSB rounding, x1.5 in derived leads
    assert rec.metadata["format"] == "GE MUSE XML" and rec.metadata["device"] == "MAC5500"
    assert rec.metadata["highpass_hz"] == "0.16" and rec.metadata["acquisition_date"] == "05-01-2024"
    assert any("derived" in n for n in rec.notes) and any("converted from uV" in n for n in rec.notes)
    assert rec.record_id == "muse"


def test_ge_muse_without_rhythm_or_units_is_refused(tmp_path: Path, ecg: np.ndarray) -> None:
    path = write_muse(tmp_path / "m.xml", ecg[_rows(EIGHT)], EIGHT, FS)
    text = path.read_text(encoding="latin-1")
    (tmp_path / "median.xml").write_text(text.replace("<WaveformType>Rhythm", "<WaveformType>Other"))
    with pytest.raises(InputError, match="no Rhythm waveform .*Median"):
        read_ecg(tmp_path / "median.xml")
    (tmp_path / "nounits.xml").write_text(text.replace("MICROVOLTS", "COUNTS"))
    with pytest.raises(InputError, match="LeadAmplitudeUnits"):
        read_ecg(tmp_path / "nounits.xml")


def test_hl7_aecg_origin_scale_digits(tmp_path: Path, ecg: np.ndarray) -> None:
    path = write_aecg(tmp_path / "a.xml", ecg, list(LEADS), FS, scale_uv=2.5, origin_uv=-100.0)
    rec = read_ecg(path)
    assert rec.fs == FS
    np.testing.assert_allclose(rec.signal, ecg, atol=1.3e-3)
    assert rec.metadata["format"] == "HL7 aECG" and rec.metadata["device"] == "ELI 350"
    eight = write_aecg(tmp_path / "a8.xml", ecg[_rows(EIGHT)], EIGHT, FS)
    np.testing.assert_allclose(read_ecg(eight).signal, ecg, atol=3e-3)


@pytest.mark.parametrize("xli", [False, True])
def test_philips_sierra_plain_and_xli(tmp_path: Path, ecg: np.ndarray, xli: bool) -> None:
    path = write_sierra(tmp_path / "s.xml", ecg, list(LEADS), FS, resolution_uv=5.0, xli=xli)
    rec = read_ecg(path)
    assert rec.fs == FS and rec.metadata["compression"] == ("XLI" if xli else "none")
    np.testing.assert_allclose(rec.signal, ecg, atol=2.6e-3)
    assert rec.metadata["device"] == "PageWriter TC70" and rec.metadata["lowpass_hz"] == "150"


def test_dicom_written_and_real_sample(tmp_path: Path, ecg: np.ndarray) -> None:
    rec = read_ecg(write_dicom(tmp_path / "d.dcm", ecg, list(LEADS), FS, sensitivity_uv=2.5))
    np.testing.assert_allclose(rec.signal, ecg, atol=1.3e-3)
    assert rec.metadata["format"] == "DICOM waveform" and rec.metadata["waveform"] == "RHYTHM"
    from pydicom.data import get_testdata_file

    real = read_ecg(get_testdata_file("waveform_ecg.dcm"))  # Mortara 12-lead, 10 s at 1000 Hz (+ median beat)
    assert real.fs == 1000 and real.signal.shape == (12, 10000) and real.flat_leads == []
    assert "Mortara" in real.metadata["device"] and real.metadata["waveform"] == "RHYTHM"
    p2p = np.ptp(real.signal, axis=1)
    assert np.all((p2p > 0.2) & (p2p < 5)), p2p  # mV, from µV sensitivities
    i, ii, iii = real.signal[:3]
    assert np.abs(iii - (ii - i)).max() < 0.01  # the cart's own III agrees with Einthoven's law


def test_dicom_without_a_waveform_and_unnamed_eight_channels(tmp_path: Path, ecg: np.ndarray) -> None:
    from pydicom.data import get_testdata_file

    with pytest.raises(InputError, match="holds no waveform"):
        read_ecg(get_testdata_file("CT_small.dcm"))  # an image, not an ECG
    with pytest.raises(InputError, match="pass --lead-names I,II,V1,V2,V3,V4,V5,V6"):
        from_array(ecg[:8], FS)


def test_xml_detected_by_root_and_parsed_safely(tmp_path: Path) -> None:
    (tmp_path / "other.xml").write_text("<?xml version='1.0'?><svg><g/></svg>")
    with pytest.raises(InputError, match=r"root element <svg> is not a supported ECG format"):
        read_ecg(tmp_path / "other.xml")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<RestingECG>&b;</RestingECG>"
    )
    (tmp_path / "bomb.xml").write_text(bomb)
    with pytest.raises(InputError, match="entity"):
        read_ecg(tmp_path / "bomb.xml")
    ext = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><RestingECG>&x;</RestingECG>'
    (tmp_path / "ext.xml").write_text(ext)
    with pytest.raises(InputError, match="entity|unsafe"):
        read_ecg(tmp_path / "ext.xml")
    (tmp_path / "broken.xml").write_text("<RestingECG><Waveform>")
    with pytest.raises(InputError, match="not well-formed XML"):
        read_ecg(tmp_path / "broken.xml")


def test_size_bound_and_bad_base64(tmp_path: Path, ecg: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    import ecgimn.io.vendor as vendor

    path = write_muse(tmp_path / "m.xml", ecg[_rows(EIGHT)], EIGHT, FS)
    monkeypatch.setattr(vendor, "MAX_FILE_BYTES", 1000)
    with pytest.raises(InputError, match="too large for an ECG export"):
        read_ecg(path)
    monkeypatch.undo()
    text = path.read_text(encoding="latin-1")
    start = text.rindex("<WaveFormData>") + len("<WaveFormData>")  # a lead of the Rhythm waveform
    (tmp_path / "b64.xml").write_text(text[:start] + "!!not base64!!" + text[start:], encoding="latin-1")
    with pytest.raises(InputError, match="not valid Base64"):
        read_ecg(tmp_path / "b64.xml")


def test_scp_without_the_optional_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ecgdatakit(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("ecgdatakit"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    (tmp_path / "x.scp").write_bytes(b"\0" * 64)
    monkeypatch.setattr(builtins, "__import__", no_ecgdatakit)
    with pytest.raises(InputError, match=r"pip install 'ecgimn\[scp\]'.*convert") as e:
        read_ecg(tmp_path / "x.scp")
    assert "\n" not in str(e.value)
    with pytest.raises(InputError):
        read_ecg(tmp_path / "x.scp")


def test_scp_ecg_eight_leads_and_damage(tmp_path: Path, ecg: np.ndarray) -> None:
    pytest.importorskip("ecgdatakit", reason="the optional SCP-ECG reader (ecgimn[scp]) is not installed")
    path = write_scp(tmp_path / "e.scp", ecg[_rows(EIGHT)], EIGHT, FS, avm_nv=1000)
    rec = read_ecg(path)
    assert rec.fs == FS and rec.metadata["format"] == "SCP-ECG"
    np.testing.assert_allclose(rec.signal, ecg, atol=1.6e-3)
    assert any("derived exactly from I and II" in n for n in rec.notes)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x55  # one damaged sample: the CRC mismatch is noted, not hidden
    (tmp_path / "crc.scp").write_bytes(bytes(data))
    assert any("CRC" in n for n in read_ecg(tmp_path / "crc.scp").notes)
    (tmp_path / "x.scp").write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match="cannot decode SCP-ECG"):
        read_ecg(tmp_path / "x.scp")


# ------------------------------------------------------------------------------------------------------- .zip


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(zip_bytes(members))
    return path


def test_zip_of_a_wfdb_record_or_a_single_file(tmp_path: Path, ecg: np.ndarray) -> None:
    import wfdb

    wfdb.wrsamp("rec", fs=FS, units=["mV"] * 12, sig_name=list(LEADS), p_signal=ecg.T, fmt=["16"] * 12,
                adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path))  # fmt: skip
    files = {f"rec/{n}": (tmp_path / n).read_bytes() for n in ("rec.hea", "rec.dat")}
    rec = read_ecg(_zip(tmp_path / "record.zip", {**files, "__MACOSX/._rec.hea": b"junk"}))
    np.testing.assert_allclose(rec.signal, ecg, atol=1e-3)
    assert rec.record_id == "record" and rec.source.endswith("record.zip:rec.hea")
    muse = write_muse(tmp_path / "m.xml", ecg[_rows(EIGHT)], EIGHT, FS).read_bytes()
    rec = read_ecg(_zip(tmp_path / "one.zip", {"../../m.xml": muse}))  # zip-slip name: flattened
    assert rec.metadata["format"] == "GE MUSE XML" and not (tmp_path.parent / "m.xml").exists()


def test_zip_errors_name_the_archive_not_temporary_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        read_ecg(_zip(tmp_path / "bad.zip", {"x.csv": b"hello,world\nfoo,bar\n"}))
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'bad.zip'}:x.csv: ") and "ecgimn-zip" not in msg, msg


def test_zip_protections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ecgimn.io.archive as archive

    cases = {
        "nested.zip": ({"inner.zip": b"PK"}, "a .zip inside the .zip"),
        "exe.zip": ({"run.exe": b"MZ"}, "unsupported file type .exe"),
        "two.zip": ({"a.csv": b"1", "b.csv": b"2"}, "one recording at a time"),
        "empty.zip": ({}, "holds no files"),
        "many.zip": ({f"{k}.csv": b"1" for k in range(9)}, "holds 9 files"),
    }
    for name, (members, needle) in cases.items():
        with pytest.raises(InputError, match=needle):
            read_ecg(_zip(tmp_path / name, members))
    (tmp_path / "fake.zip").write_bytes(b"PK not a zip")
    with pytest.raises(InputError, match="not a readable .zip"):
        read_ecg(tmp_path / "fake.zip")
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 1_000_000)
    bomb = _zip(tmp_path / "bomb.zip", {"big.csv": b"0" * 3_000_000})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(archive.ArchiveTooLarge, match="unpacks to more than"):
        archive.extract_zip(bomb, tmp_path, shown="bomb.zip", limit_bytes=1_000_000)


def test_zip_wfdb_header_cannot_name_other_files(tmp_path: Path, ecg: np.ndarray) -> None:
    import wfdb

    wfdb.wrsamp("rec", fs=FS, units=["mV"] * 12, sig_name=list(LEADS), p_signal=ecg.T, fmt=["16"] * 12,
                adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path))  # fmt: skip
    hea = (tmp_path / "rec.hea").read_text().replace("rec.dat", "other.dat").encode()
    with pytest.raises(InputError, match="'other.dat' is not in the .zip"):
        read_ecg(_zip(tmp_path / "r.zip", {"rec.hea": hea, "rec.dat": (tmp_path / "rec.dat").read_bytes()}))


# -------------------------------------------------------------------------------------------- the format table


def test_one_format_table_for_reader_cli_and_app() -> None:
    from ecgimn.cli.explain import ECG_SUFFIXES
    from ecgimn.io import readers

    for fmt in FORMATS:
        assert fmt.reader == "zip" or fmt.reader in readers._READERS, fmt
    assert ECG_SUFFIXES == SCAN_SUFFIXES
    for suffix in (".txt", ".xml", ".dcm", ".scp", ".zip"):
        assert suffix in SCAN_SUFFIXES and suffix in UPLOAD_SUFFIXES
    assert ".dat" in UPLOAD_SUFFIXES and ".dat" not in SCAN_SUFFIXES  # a WFDB record counts once, by its .hea
    server = pytest.importorskip("ecgimn.app.server", reason="app extra not installed")
    assert tuple(server.UPLOAD_EXTENSIONS) == UPLOAD_SUFFIXES


def test_cli_explains_a_zip_and_scans_vendor_files(tmp_path: Path, ecg: np.ndarray) -> None:
    from ecgimn.cli.explain import collect_inputs

    data = tmp_path / "data"
    data.mkdir()
    write_muse(data / "m.xml", ecg[_rows(EIGHT)], EIGHT, FS)
    write_dicom(data / "d.dcm", ecg, list(LEADS), FS)
    _zip(data / "z.zip", {"a.xml": (data / "m.xml").read_bytes()})
    (data / "notes.md").write_text("x")
    files, batch = collect_inputs([str(data)])
    assert batch and [f.name for f in files] == ["d.dcm", "m.xml", "z.zip"]


# ----------------------------------------------------------------------------------- round trips on PTB-XL


#: PTB-XL records written as vendor files: the first two by default, the other eight with -m slow
ROUND_TRIP_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
ROUND_TRIP_QUICK = 2


@pytest.fixture(scope="module")
def default_predictor():  # type: ignore[no-untyped-def]
    import ecgimn

    return ecgimn.load("default", device="cpu")


@pytest.mark.integration
@pytest.mark.parametrize("ids", [
    pytest.param(ROUND_TRIP_IDS[:ROUND_TRIP_QUICK], id="first"),
    pytest.param(ROUND_TRIP_IDS[ROUND_TRIP_QUICK:], id="rest", marks=pytest.mark.slow),
])  # fmt: skip
def test_vendor_files_match_the_wfdb_original(
    tmp_path: Path, shared_ptbxl: Path, default_predictor, ids: tuple[int, ...]
) -> None:
    """Each vendor file written from a real PTB-XL record (500 Hz, µV) gives the WFDB original's probabilities
    with the default model within 0.02 (8-lead MUSE included: its four limb leads are derived)."""
    import importlib.util

    scp = importlib.util.find_spec("ecgdatakit") is not None  # the optional SCP-ECG reader
    worst: dict[str, float] = {}
    for ecg_id in ids:
        stem = shared_ptbxl / "records500" / f"{ecg_id // 1000 * 1000:05d}" / f"{ecg_id:05d}_hr"
        if not Path(f"{stem}.hea").exists():
            continue
        ref = read_ecg(f"{stem}.hea")
        x = ref.signal.astype(np.float64)
        files = {
            "muse8": write_muse(tmp_path / "m.xml", x[_rows(EIGHT)], EIGHT, ref.fs),
            "aecg": write_aecg(tmp_path / "a.xml", x, list(LEADS), ref.fs),
            "sierra": write_sierra(tmp_path / "s.xml", x, list(LEADS), ref.fs),
            "sierra_xli": write_sierra(tmp_path / "sx.xml", x, list(LEADS), ref.fs, xli=True),
            "dicom": write_dicom(tmp_path / "d.dcm", x, list(LEADS), ref.fs),
        }
        if scp:
            files["scp8"] = write_scp(tmp_path / "e.scp", x[_rows(EIGHT)], EIGHT, ref.fs)
        p_ref = default_predictor.predict_proba(ref.signal, ref.fs)
        for kind, path in files.items():
            rec = read_ecg(path)
            diff = float(np.abs(default_predictor.predict_proba(rec.signal, rec.fs) - p_ref).max())
            worst[kind] = max(worst.get(kind, 0.0), diff)
    assert worst, "no PTB-XL 500 Hz records found"
    print("max |p(vendor) - p(WFDB)| over", len(ids), "records:", worst)
    assert max(worst.values()) <= 0.02, worst


@pytest.mark.integration
def test_zip_of_a_real_record_matches(tmp_path: Path, shared_ptbxl: Path, default_predictor) -> None:
    stem = shared_ptbxl / "records100" / "00000" / "00001_lr"
    z = _zip(tmp_path / "r.zip", {f"00001_lr{s}": Path(f"{stem}{s}").read_bytes() for s in (".hea", ".dat")})
    ref, rec = read_ecg(f"{stem}.hea"), read_ecg(z)
    np.testing.assert_array_equal(rec.signal, ref.signal)
    buf = io.StringIO()
    print(rec.notes, file=buf)
    assert str(tmp_path / "ecgimn-zip") not in buf.getvalue()
