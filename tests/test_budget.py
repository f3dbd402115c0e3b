"""The input cost budget (ecgimn.io.budget): refusals before the cost is paid, for read_ecg, the API and the CLI."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from ecgimn.errors import InputError
from ecgimn.io import from_array, read_ecg
from ecgimn.io.budget import DEFAULT_BUDGET, Budget, check_csv, check_file, check_fs, check_signal


def _signal(seconds: float = 10, fs: int = 100) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.5 * np.sin(2 * np.pi * 1.2 * t)[None] * np.linspace(0.5, 1.5, 12)[:, None]).astype(np.float32)


@pytest.mark.parametrize(
    "fs", [None, 0, -100, math.nan, math.inf, -math.inf, 1e9, 1e308, 1e-300, 1e-5, 0.2, "x", True]
)
def test_check_fs_refuses_implausible_rates(fs: object) -> None:
    with pytest.raises(InputError, match="fs|sampling rate") as exc:
        check_fs(fs)
    assert "\n" not in str(exc.value)


def test_check_fs_accepts_ecg_rates() -> None:
    assert check_fs(100) == 100.0 and check_fs("500") == 500.0 and check_fs(np.float32(250)) == 250.0
    assert check_fs(20, budget=Budget(fs_min=10)) == 20.0


def test_budget_values_are_validated_and_max_seconds_can_be_raised() -> None:
    with pytest.raises(InputError):
        Budget(max_seconds=math.nan)
    with pytest.raises(InputError):
        Budget(fs_min=200, fs_max=100)
    longer = DEFAULT_BUDGET.with_max_seconds(3600)
    assert longer.max_seconds == 3600 and longer.max_samples == 3600 * 10_000
    with pytest.raises(InputError, match="max_seconds"):
        DEFAULT_BUDGET.with_max_seconds(float("inf"))
    check_signal(12, 3000 * 100, 100, budget=longer)  # 50 min at 100 Hz: allowed by the raised budget
    with pytest.raises(InputError, match="lasts"):
        check_signal(12, 3000 * 100, 100)


@pytest.mark.parametrize("fs", [0.2, 1e9, 1e308, 1e-300, 1e-5, 0, -1, math.nan, math.inf])
def test_read_ecg_refuses_bad_rates_fast(tmp_path: Path, fs: float) -> None:
    """The 48 KB .npy at fs=0.2 used to be resampled 500-fold (135 s, 2.65 GB); fs=1e9 raised a raw ValueError."""
    path = tmp_path / "tiny.npy"
    np.save(path, _signal())
    t = time.perf_counter()
    with pytest.raises(InputError, match="fs") as exc:
        read_ecg(path, fs=fs)
    assert time.perf_counter() - t < 1.0 and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="fs"):
        from_array(_signal(), fs)


def test_npz_bomb_is_refused_from_its_header(tmp_path: Path, npz_bomb: bytes) -> None:
    """A few hundred KB of compressed zeros declaring 12 x 10 M samples: refused before decompression."""
    path = tmp_path / "bomb.npz"
    path.write_bytes(npz_bomb)
    t = time.perf_counter()
    with pytest.raises(InputError, match="declares shape|samples"):
        read_ecg(path, fs=100)
    assert time.perf_counter() - t < 1.0
    # the header check alone: a 5-minute limit at a known rate refuses 12 x 40,000 samples at 100 Hz
    ok = tmp_path / "long.npz"
    np.savez_compressed(ok, signal=np.tile(_signal(), 40), fs=np.array(100.0))
    with pytest.raises(InputError, match="lasts"):
        read_ecg(ok)
    rec = read_ecg(ok, budget=Budget(max_seconds=600))
    assert rec.signal.shape == (12, 40_000)


def test_the_bomb_builder_writes_what_numpy_writes(tmp_path: Path) -> None:
    """conftest.zeros_npz (the bomb's builder): a valid .npz whose array is what np.savez_compressed stores."""
    import zipfile

    from conftest import zeros_npz

    path = tmp_path / "zeros.npz"
    path.write_bytes(
        zeros_npz("signal", (3, 700_001), "<f8")
    )  # 16.8 MB: several runs of zeros and a remainder
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every byte decompresses, the CRC matches
    np.savez_compressed(tmp_path / "ref.npz", signal=np.zeros((3, 700_001)))
    with np.load(path) as ours, np.load(tmp_path / "ref.npz") as ref:
        assert ours.files == ref.files == ["signal"]
        assert ours["signal"].dtype == ref["signal"].dtype and np.array_equal(ours["signal"], ref["signal"])


def test_npy_header_is_checked_before_loading(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:  # a header declaring 12 x 50 M float64 followed by almost nothing
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (12, 50_000_000)}
        )
        fh.write(b"\0" * 64)
    with pytest.raises(InputError, match="declares shape"):
        read_ecg(path, fs=500)
    with pytest.raises(InputError, match="sampling rate unknown"):
        read_ecg(path)


def test_one_line_csv_is_refused_before_parsing(tmp_path: Path) -> None:
    """A 1 MB line "1,1,1,..." took pandas 132 s and 2.35 GB."""
    path = tmp_path / "wide.csv"
    path.write_bytes(b"1," * 500_000 + b"1\n")
    t = time.perf_counter()
    with pytest.raises(InputError, match="one line of 500,001 values"):
        read_ecg(path, fs=100)
    assert time.perf_counter() - t < 1.0
    many = tmp_path / "wide_many.csv"
    many.write_bytes(b"\n".join([b"1," * 100 + b"1"] * 200))
    with pytest.raises(InputError, match="neither one sample per line"):
        check_csv(many)
    long_line = tmp_path / "long_line.csv"
    long_line.write_bytes(b"1" * 200 + b"\n")
    with pytest.raises(InputError, match="longer than"):
        check_csv(long_line, budget=Budget(max_csv_line_bytes=100))


def test_normal_files_pass_the_budget(tmp_path: Path) -> None:
    x = _signal(fs=500)
    csv = tmp_path / "ok.csv"
    np.savetxt(csv, x.T, delimiter=",", header="I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6", comments="")
    check_csv(csv)
    assert read_ecg(csv, fs=500).signal.shape == (12, 5000)
    rows = tmp_path / "rows.csv"  # one lead per line is still accepted
    np.savetxt(rows, x, delimiter=",")
    assert read_ecg(rows, fs=500).signal.shape == (12, 5000)


@pytest.mark.parametrize("fs", [0, -5, math.nan, math.inf, None, 1e9, 1e-300])
def test_predictor_validates_fs(fs: object, tmp_path: Path) -> None:
    from conftest import write_random_checkpoint

    from ecgimn.api import load

    predictor = load(write_random_checkpoint(tmp_path / "m.pt"))
    with pytest.raises(InputError, match="fs|sampling rate"):
        predictor.explain(_signal(), fs=fs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="fs|sampling rate"):
        predictor.predict_proba(_signal(), fs=fs)  # type: ignore[arg-type]


def test_predictor_refuses_an_empty_batch(tmp_path: Path) -> None:
    from conftest import write_random_checkpoint

    from ecgimn.api import load

    predictor = load(write_random_checkpoint(tmp_path / "m.pt"))
    with pytest.raises(InputError, match="empty input"):
        predictor.predict_proba(np.zeros((0, 12, 1000), np.float32), fs=100)


def test_cli_explain_refuses_hostile_inputs_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, npz_bomb: bytes
) -> None:
    from conftest import write_random_checkpoint

    from ecgimn.cli import main

    ckpt = write_random_checkpoint(tmp_path / "m.pt")
    np.save(tmp_path / "tiny.npy", _signal())
    (tmp_path / "wide.csv").write_bytes(b"1," * 500_000 + b"1\n")
    (tmp_path / "bomb.npz").write_bytes(npz_bomb)
    for args in (["tiny.npy", "--fs", "0.2"], ["tiny.npy", "--fs", "1e308"], ["wide.csv", "--fs", "100"],
                 ["bomb.npz", "--fs", "100"]):  # fmt: skip
        code = main(["explain", str(tmp_path / args[0]), *args[1:], "--model", str(ckpt), "--out",
                     str(tmp_path / "out")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_wfdb_header_declaring_hours_is_refused_before_reading(tmp_path: Path) -> None:
    from conftest import write_wfdb

    write_wfdb(tmp_path / "ok", _signal().T, 100)
    assert read_ecg(tmp_path / "ok.hea").signal.shape == (12, _signal().shape[1])
    lines = (tmp_path / "ok.hea").read_text().splitlines()
    head = lines[0].split()
    head[3] = str(100 * 3600 * 5)  # 5 hours declared; the .dat holds 10 s
    (tmp_path / "long.hea").write_text("# a comment first\n" + "\n".join([" ".join(["long", *head[1:]]), *[
        line.replace("ok.dat", "long.dat") for line in lines[1:]]]) + "\n")  # fmt: skip
    (tmp_path / "long.dat").write_bytes((tmp_path / "ok.dat").read_bytes())
    t = time.perf_counter()
    with pytest.raises(InputError, match="lasts 18,000 s"):
        read_ecg(tmp_path / "long.hea")
    assert time.perf_counter() - t < 1.0
    (tmp_path / "fast.hea").write_text(
        (tmp_path / "ok.hea").read_text().replace(" 100 ", " 1e9 ", 1).replace("ok.dat", "fast.dat")
    )
    (tmp_path / "fast.dat").write_bytes((tmp_path / "ok.dat").read_bytes())
    with pytest.raises(InputError, match="fs|rate"):
        read_ecg(tmp_path / "fast.hea")


def test_wfdb_header_without_a_length_is_bounded_by_its_files(tmp_path: Path) -> None:
    """A header that omits the length: the length follows from the signal files' size, checked before reading."""
    from conftest import write_wfdb

    write_wfdb(tmp_path / "ok", _signal().T, 100)
    lines = (tmp_path / "ok.hea").read_text().splitlines()
    head = lines[0].split()

    def record(name: str, seconds: float, fmt: str | None = None) -> Path:
        sig = [line.replace("ok.dat", f"{name}.dat") for line in lines[1:]]
        if fmt:
            sig = [" ".join([s.split()[0], fmt, *s.split()[2:]]) for s in sig]
        (tmp_path / f"{name}.hea").write_text("\n".join([" ".join([name, *head[1:3]]), *sig]) + "\n")
        (tmp_path / f"{name}.dat").write_bytes(b"\0" * int(2 * 12 * 100 * seconds))
        return tmp_path / f"{name}.hea"

    check_file(record("short", 10), "wfdb")  # 10 s of format 16: within the limit
    with pytest.raises(InputError, match="lasts 7,200 s"):
        check_file(record("hours", 7200), "wfdb")
    with pytest.raises(InputError, match="no record length"):
        check_file(record("flac", 10, fmt="516"), "wfdb")
