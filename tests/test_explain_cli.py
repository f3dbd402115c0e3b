"""``ecgimn explain`` / ``ecgimn demo`` end to end: every file format, batches, overwrite policy, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ecg_like
from conftest import write_random_checkpoint as write_checkpoint

from ecgimn.api import PRETRAINED_DIR
from ecgimn.cli import main
from ecgimn.cli.explain import collect_inputs, output_stems
from ecgimn.constants import LEADS

CLASSES = ["CD", "HYP", "MI", "NORM", "STTC"]
FS = 100
SMALL = {"encoder_channels": [8, 8, 8], "decoder_channels": [8, 8, 8]}
#: fast options: one class, one picture per file
FAST = ["--class", "NORM", "--no-heatmap"]


def write_edf(path: Path, x_mv: np.ndarray, fs: float = FS) -> Path:
    from pyedflib import highlevel

    headers = [
        highlevel.make_signal_header(f"ECG {n}", dimension="uV", sample_frequency=fs,
                                     physical_min=-5000, physical_max=5000)
        for n in LEADS
    ]  # fmt: skip
    highlevel.write_edf(str(path), list(x_mv.astype(np.float64) * 1000), headers)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt", **SMALL))


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def explain(capsys: pytest.CaptureFixture[str], ckpt: str, out: Path, *args: object) -> tuple[int, str, str]:
    return run(capsys, "explain", *args, "--model", ckpt, "--out", out)


def read_report(out: Path, stem: str) -> dict:
    return json.loads((out / f"{stem}_report.json").read_text())


def assert_one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


# ------------------------------------------------------------------------------------------------ formats


@pytest.mark.integration
def test_wfdb_record_summary_json_and_overwrite(capsys, ckpt, tmp_path, shared_ptbxl) -> None:
    for f in (shared_ptbxl / "records100/00000").glob("00001_lr.*"):
        shutil.copy(f, tmp_path)
    out = tmp_path / "out"
    rc, text, err = explain(capsys, ckpt, out, tmp_path / "00001_lr.hea", *FAST)
    assert rc == 0, err
    assert "00001_lr.hea" in text and "explained NORM" in text and "evidence for:" in text
    assert "(* predicted, p >= 0.5)" in text and "written:" in text
    report = read_report(out, "00001_lr")
    assert set(report["probabilities"]) == set(CLASSES)
    assert report["input_checks"]["fs_file"] == 100 and report["input_checks"]["duration_s"] == 10
    assert report["model"]["window_s"] == 10 and report["figures"] == ["00001_lr_NORM_ecg.png"]
    (ex,) = report["explanations"]
    assert ex["class"] == "NORM" and abs(ex["residual"]) < 1e-4 * max(1, abs(ex["logit"]))
    assert (out / "00001_lr_NORM_ecg.png").read_bytes()[:4] == b"\x89PNG"

    # never overwrite silently; --overwrite replaces; --json prints the report
    rc, text, err = explain(capsys, ckpt, out, tmp_path / "00001_lr.hea", *FAST)
    assert_one_line_error(rc, err, "00001_lr_report.json", "already exists", "--overwrite")
    rc, text, err = explain(capsys, ckpt, out, tmp_path / "00001_lr", *FAST, "--overwrite", "--json")
    assert rc == 0, err
    printed = json.loads(text)
    assert printed["probabilities"] == report["probabilities"]
    assert str(out / "00001_lr_NORM_ecg.png") in printed["outputs"]


def test_csv_with_shuffled_named_columns_matches_npy(capsys, ckpt, tmp_path) -> None:
    x = ecg_like()
    order = np.random.default_rng(1).permutation(12)
    np.savetxt(tmp_path / "shuffled.csv", x[order].T, delimiter=",", fmt="%.6f",
               header=",".join(LEADS[i] for i in order), comments="")  # fmt: skip
    np.save(tmp_path / "plain.npy", x)
    out = tmp_path / "out"
    for name in ("shuffled.csv", "plain.npy"):
        rc, _, err = explain(capsys, ckpt, out, tmp_path / name, "--fs", 100, *FAST)
        assert rc == 0, err
    csv_report, npy_report = read_report(out, "shuffled"), read_report(out, "plain")
    for c in CLASSES:
        assert csv_report["probabilities"][c] == pytest.approx(npy_report["probabilities"][c], abs=1e-4)
    assert any("standard order" in n for n in npy_report["input_checks"]["notes"])  # npy has no names


def test_npy_needs_fs(capsys, ckpt, tmp_path) -> None:
    np.save(tmp_path / "a.npy", ecg_like())
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "a.npy", *FAST)
    assert_one_line_error(rc, err, "a.npy", "sampling rate unknown", "--fs")


def test_npz_edf_and_500hz_file(capsys, ckpt, tmp_path) -> None:
    np.savez(tmp_path / "z.npz", signal=ecg_like(), fs=100, lead_names=np.array(LEADS))
    write_edf(tmp_path / "e.edf", ecg_like(seed=2))
    np.savez(tmp_path / "hr.npz", signal=ecg_like(5000, 500), fs=500)
    out = tmp_path / "out"
    for name in ("z.npz", "e.edf", "hr.npz"):
        rc, text, err = explain(capsys, ckpt, out, tmp_path / name, *FAST)
        assert rc == 0, (name, err)
        assert (out / f"{Path(name).stem}_NORM_ecg.png").exists()
    assert any("converted from uV" in n for n in read_report(out, "e")["input_checks"]["notes"])
    hr = read_report(out, "hr")
    assert hr["input_checks"]["fs_file"] == 500 and hr["input_checks"]["fs_model"] == 100
    assert any("resampled from 500 Hz to 100 Hz" in n for n in hr["input_checks"]["notes"])
    assert "note: resampled from 500 Hz" in text


def test_vendor_xml_eight_leads_and_zip(capsys, ckpt, tmp_path) -> None:
    import zipfile

    from ecg_writers import write_muse

    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    x = ecg_like(seed=7)
    muse = write_muse(tmp_path / "muse.xml", x[[LEADS.index(n) for n in eight]], eight, FS)
    with zipfile.ZipFile(tmp_path / "rec.zip", "w") as zf:
        zf.write(muse, "export/muse.xml")
    out = tmp_path / "out"
    rc, _, err = explain(capsys, ckpt, out, muse, tmp_path / "rec.zip", *FAST)
    assert rc == 0, err
    for stem in ("muse", "rec"):
        report = read_report(out, stem)
        assert report["acquisition"]["format"] == "GE MUSE XML"
        assert any(
            "III, aVR, aVL, aVF not in the file; derived" in n for n in report["input_checks"]["notes"]
        )
    assert read_report(out, "rec")["source"].endswith("rec.zip:muse.xml")
    (tmp_path / "bad.zip").write_bytes(b"PK nope")
    rc, _, err = explain(capsys, ckpt, tmp_path / "out2", tmp_path / "bad.zip", *FAST)
    assert_one_line_error(rc, err, "bad.zip", "not a readable .zip")


def test_svg_pdf_12x1_and_heatmap(capsys, ckpt, tmp_path) -> None:
    np.save(tmp_path / "a.npy", ecg_like())
    out = tmp_path / "out"
    rc, _, err = explain(capsys, ckpt, out, tmp_path / "a.npy", "--fs", 100, "--class", "mi",
                         "--format", "svg", "--format", "pdf", "--layout", "12x1")  # fmt: skip
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_MI_ecg.pdf", "a_MI_ecg.svg", "a_MI_heatmap.pdf", "a_MI_heatmap.svg", "a_report.json"]
    assert (out / "a_MI_ecg.pdf").read_bytes()[:4] == b"%PDF"


def test_longer_record_and_window_options(capsys, ckpt, tmp_path) -> None:
    np.save(tmp_path / "long.npy", np.concatenate([ecg_like(), ecg_like(seed=1)], axis=-1))  # 20 s
    out = tmp_path / "out"
    rc, _, err = explain(capsys, ckpt, out, tmp_path / "long.npy", "--fs", 100, *FAST,
                         "--window", 1, "--stride", 0.5, "--top-k", 2)  # fmt: skip
    assert rc == 0, err
    report = read_report(out, "long")
    (ex,) = report["explanations"]
    assert ex["duration_s"] == 20 and ex["window_s"] == 1 and len(ex["top_positive"]) <= 2
    assert abs(ex["residual"]) < 1e-4 * max(1, abs(ex["logit"]))
    assert any("sliding 10 s windows" in n for n in report["input_checks"]["notes"])


# ------------------------------------------------------------------------------------------------ batches


@pytest.mark.integration
def test_directory_batch_with_a_corrupt_file(capsys, ckpt, tmp_path, shared_ptbxl) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for f in (shared_ptbxl / "records100/00000").glob("00002_lr.*"):
        shutil.copy(f, data)
    np.savez(data / "z.npz", signal=ecg_like(), fs=100)
    np.savez(data / "hr.npz", signal=ecg_like(5000, 500), fs=500)
    write_edf(data / "e.edf", ecg_like(seed=3))
    t = np.arange(1000) / FS
    np.savetxt(data / "timed.csv", np.column_stack([t, ecg_like(seed=4).T]), delimiter=",", fmt="%.6f",
               header="time," + ",".join(LEADS), comments="")  # fmt: skip
    (data / "corrupt.csv").write_text("hello,world\nfoo,bar\n")
    (data / "README.md").write_text("not an ECG")  # ignored: not an ECG suffix
    np.savetxt(
        data / "plain.txt",
        np.column_stack([t, ecg_like(seed=5).T]),
        delimiter="\t",
        fmt="%.6f",
        header="time\t" + "\t".join(LEADS),
        comments="",
    )  # .txt: read as by read_ecg and the app
    out = tmp_path / "out"
    rc, text, err = explain(capsys, ckpt, out, data, *FAST)
    assert rc == 1
    assert "error: " in err and "corrupt.csv" in err and "1 of 7 file(s) failed" in err
    assert "7 file(s): 6 ok, 1 failed" in text
    with open(out / "summary.csv", newline="") as fh:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(fh)}
    assert set(rows) == {"00002_lr.hea", "z.npz", "hr.npz", "e.edf", "timed.csv", "corrupt.csv", "plain.txt"}
    bad = rows.pop("corrupt.csv")
    assert bad["status"] == "error" and "corrupt.csv" in bad["error"] and bad["p_NORM"] == ""
    for name, row in rows.items():
        assert row["status"] == "ok" and row["error"] == "", name
        assert 0 < float(row["p_NORM"]) < 1 and Path(row["report"]).exists()
        assert set(row["predicted"].split(";")) <= set(CLASSES) | {""}
    assert (out / "00002_lr_NORM_ecg.png").exists() and (out / "timed_NORM_ecg.png").exists()

    # the same batch again: refused up front, nothing overwritten
    rc, _, err = explain(capsys, ckpt, out, data, *FAST)
    assert_one_line_error(rc, err, "summary.csv", "--overwrite")


def test_glob_batch_json_and_name_clashes(capsys, ckpt, tmp_path) -> None:
    np.savez(tmp_path / "a.npz", signal=ecg_like(), fs=100)
    np.savez(tmp_path / "b.npz", signal=ecg_like(seed=1), fs=100)
    out = tmp_path / "out"
    rc, text, err = explain(capsys, ckpt, out, tmp_path / "*.npz", *FAST, "--json")
    assert rc == 0, err
    result = json.loads(text)
    assert result["n_files"] == 2 and result["n_ok"] == 2 and result["n_failed"] == 0
    assert [Path(r["file"]).name for r in result["results"]] == ["a.npz", "b.npz"]
    assert (out / "summary.csv").exists()
    # same stem in two formats -> distinct outputs; a WFDB record counts once
    files = [Path("x/a.npz"), Path("y/a.csv"), Path("z/a.npz")]
    assert output_stems(files) == ["a_npz", "a_csv", "a_npz_2"]
    (tmp_path / "r.hea").write_text("")
    (tmp_path / "r.dat").write_text("")
    found, batch = collect_inputs([str(tmp_path / "r.*")])
    assert [f.name for f in found] == ["r.hea"] and batch


def test_empty_folder_and_unmatched_glob(capsys, ckpt, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "empty", *FAST)
    assert_one_line_error(rc, err, "empty", "no ECG files", "--recursive")
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "*.edf", *FAST)
    assert_one_line_error(rc, err, "*.edf", "no ECG files match")


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("garbage.edf", b"\x00\x01 not an edf file" * 10, "cannot read"),
        ("text.npy", b"I,II,III\n1,2,3\n", "not a NumPy .npy/.npz file"),
        ("words.csv", b"I,II,III\nfoo,bar,baz\n", "non-numeric value"),
        ("missing.csv", None, "file not found"),
        ("ecg.xyz", b"123", "unsupported format"),
    ],
)
def test_unreadable_files(capsys, ckpt, tmp_path, name, content, needle) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / name, *FAST)
    assert_one_line_error(rc, err, name, needle)
    assert not (tmp_path / "out").exists()


def test_wrong_lead_count_without_names(capsys, ckpt, tmp_path) -> None:
    np.save(tmp_path / "eight.npy", ecg_like()[:8])
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "eight.npy", "--fs", 100, *FAST)
    assert_one_line_error(rc, err, "eight.npy", "found 8 channel(s) and no lead names", "--lead-names")


def test_flat_nan_leads_policy(capsys, ckpt, tmp_path) -> None:
    x = ecg_like()
    x[7] = 0.0  # flat V2
    x[9] = np.nan  # all-NaN V4
    x[1, 300:320] = np.nan  # a 0.2 s gap in II: interpolated
    np.save(tmp_path / "two_flat.npy", x)
    out = tmp_path / "out"
    rc, text, err = explain(capsys, ckpt, out, tmp_path / "two_flat.npy", "--fs", 100, *FAST)
    assert rc == 0, err
    checks = read_report(out, "two_flat")["input_checks"]
    assert checks["flat_or_missing_leads"] == ["V2", "V4"]
    assert any("linear interpolation" in n and "II" in n for n in checks["notes"])
    assert "flat or missing leads (kept as zeros): V2, V4" in text

    x[[0, 2]] = np.nan  # 4 leads without signal -> refused
    np.save(tmp_path / "four_flat.npy", x)
    rc, _, err = explain(capsys, ckpt, out, tmp_path / "four_flat.npy", "--fs", 100, *FAST)
    assert_one_line_error(rc, err, "four_flat.npy", "4 leads are flat or missing", "at most 3")

    x = ecg_like()
    x[:, 200:400] = np.nan  # a 2 s gap in every lead
    np.save(tmp_path / "gap.npy", x)
    rc, _, err = explain(capsys, ckpt, out, tmp_path / "gap.npy", "--fs", 100, *FAST)
    assert_one_line_error(rc, err, "gap.npy", "12 leads are flat or missing")


def test_too_short_record(capsys, ckpt, tmp_path) -> None:
    np.savez(tmp_path / "short.npz", signal=ecg_like(500), fs=100)
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "short.npz", *FAST)
    assert_one_line_error(rc, err, "short.npz", "5.00 s long", "at least 10.00 s")


def test_unknown_class(capsys, ckpt, tmp_path) -> None:
    np.savez(tmp_path / "a.npz", signal=ecg_like(), fs=100)
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "a.npz", "--class", "XYZ")
    assert_one_line_error(rc, err, "'XYZ'", "--class", "CD, HYP, MI, NORM, STTC")


def test_bad_checkpoints(capsys, tmp_path) -> None:
    np.savez(tmp_path / "a.npz", signal=ecg_like(), fs=100)
    torch.save({"a": 1}, tmp_path / "dict.pt")
    (tmp_path / "text.pt").write_text("this is not a checkpoint\n")
    bb = write_checkpoint(tmp_path / "blackbox.pt", "blackbox-1d", encoder_channels=[8, 8, 8])
    cases = [
        (tmp_path / "dict.pt", "not an ECG-IMN checkpoint"),
        (tmp_path / "text.pt", "not a readable ECG-IMN checkpoint"),
        (bb, "black box"),
        (tmp_path / "absent.pt", "not found"),
        ("no-such-model", "neither a checkpoint file nor a bundled model"),
    ]
    for model, needle in cases:
        rc, _, err = explain(capsys, str(model), tmp_path / "out", tmp_path / "a.npz")
        assert_one_line_error(rc, err, Path(model).name, needle)
    rc, _, err = run(capsys, "demo", "--model", tmp_path / "dict.pt", "--out", tmp_path / "demo")
    assert_one_line_error(rc, err, "dict.pt", "not an ECG-IMN checkpoint")


def test_bad_options(capsys, ckpt, tmp_path) -> None:
    np.savez(tmp_path / "a.npz", signal=ecg_like(), fs=100)
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "a.npz", "--window", 0)
    assert_one_line_error(rc, err, "--window")
    rc, _, err = explain(capsys, ckpt, tmp_path / "out", tmp_path / "a.npz", "--units", "furlongs")
    assert_one_line_error(rc, err, "a.npz", "unknown units")


# ------------------------------------------------------------------------------------------------ help, demo


def test_help_documents_the_policies(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("is the minimum", "sliding windows", "exact linear model", "up to 3 flat or missing leads",
                   "summary.csv", "--overwrite", "exit status"):  # fmt: skip
        assert needle in text, needle


def test_demo_synthetic_and_file(capsys, tmp_path, monkeypatch) -> None:
    import ecgimn.io

    # a one-class (binary task) model: one explained class, two pictures per run
    ckpt = write_checkpoint(tmp_path / "mi.pt", classes=["MI"], task="norm-vs-mi", **SMALL)
    synthetic = ecgimn.io.synthetic_ecg()
    monkeypatch.setattr(ecgimn.io, "synthetic_ecg", lambda: synthetic)  # simulate once (neurokit2 is slow)
    out = tmp_path / "demo"
    rc, text, err = run(capsys, "demo", "--model", ckpt, "--out", out)
    assert rc == 0, err
    first, second = text.splitlines()[:2]
    assert first.startswith("input: ") and second.startswith("SYNTHETIC \u2014 not a physiological ECG")
    assert str(out.resolve()) in text
    report = read_report(out, "synthetic")
    assert report["synthetic"] is True and report["input_check"]["status"] in ("ok", "warning")
    assert any(n.startswith("SYNTHETIC") for n in report["input_checks"]["notes"])
    assert report["figures"] == ["synthetic_MI_ecg.png", "synthetic_MI_heatmap.png"]
    assert all((out / f).exists() for f in report["figures"])
    rc, _, err = run(capsys, "demo", "--model", ckpt, "--out", out)  # reruns replace the demo's own outputs
    assert rc == 0, err

    np.savez(tmp_path / "mine.npz", signal=ecg_like(), fs=100)
    rc, text, err = run(capsys, "demo", tmp_path / "mine.npz", "--model", ckpt, "--out", out, "--json")
    assert rc == 0, err
    assert json.loads(text)["synthetic"] is False and (out / "mine_report.json").exists()


def test_demo_with_the_bundled_default_model(capsys, tmp_path) -> None:
    path = PRETRAINED_DIR / "default.pt"
    if not path.is_file():
        pytest.skip(f"bundled model {path} not trained/installed yet")
    rc, text, err = run(capsys, "demo", "--out", tmp_path / "demo")
    assert rc == 0, err
    report = read_report(tmp_path / "demo", "synthetic")
    assert report["synthetic"] and report["model"]["source"] == str(path)
    for ex in report["explanations"]:
        assert abs(ex["residual"]) < 1e-4 * max(1, abs(ex["logit"]))


# ------------------------------------------------------------------------------------------------ input check


@pytest.mark.integration
def test_input_check_status_refusal_and_override(capsys, ckpt, tmp_path, shared_ptbxl) -> None:
    from ecgimn.io import quality, read_ecg

    rec = read_ecg(shared_ptbxl / "records100/00000/00001_lr")
    header = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6"

    def write(name: str, x: np.ndarray) -> Path:
        path = tmp_path / f"{name}.csv"
        np.savetxt(path, x.T, delimiter=",", header=header, comments="")
        return path

    out = tmp_path / "out"
    rc, text, err = explain(
        capsys,
        ckpt,
        out,
        write("swapped", quality.swap_limb_leads(rec.signal, "la_ra")),
        *FAST,
        "--units",
        "mV",
        "--fs",
        FS,
    )
    assert rc == 0, err
    assert text.splitlines()[0] == "input: WARNING possible LA/RA reversal"
    report = read_report(out, "swapped")
    assert report["input_check"]["status"] == "warning"
    assert report["input_check"]["findings"][0]["code"] == "lead_reversal_la_ra"

    uv = write("uv", rec.signal * 1000)
    rc, _, err = explain(capsys, ckpt, out, uv, *FAST, "--units", "mV", "--fs", FS)
    assert_one_line_error(rc, err, "uv.csv", "input refused", "--units uV", "--allow-implausible")
    rc, text, err = explain(capsys, ckpt, out, uv, *FAST, "--units", "mV", "--fs", FS, "--allow-implausible")
    assert rc == 0, err
    assert text.startswith("input: WARNING (overridden) units")
    assert read_report(out, "uv")["input_check"]["overridden"] is True

    huge = rec.signal.astype(np.float64)
    huge[3, 5] = 3e38
    rc, _, err = explain(capsys, ckpt, out, write("huge", huge), *FAST, "--fs", FS, "--allow-implausible")
    assert_one_line_error(rc, err, "huge.csv", "magnitude")


def test_bad_device_and_missing_file_fail_before_the_model(capsys, ckpt, tmp_path, monkeypatch) -> None:
    import ecgimn

    rc, _, err = run(capsys, "explain", tmp_path / "missing.csv", "--model", ckpt, "--device", "tpu")
    assert_one_line_error(rc, err, "missing.csv", "file not found")
    np.save(tmp_path / "x.npy", ecg_like(FS * 10))
    rc, _, err = run(capsys, "explain", tmp_path / "x.npy", "--fs", FS, "--model", ckpt, "--device", "tpu")
    assert_one_line_error(rc, err, "unknown device 'tpu'")
    if not torch.cuda.is_available():
        rc, _, err = run(
            capsys, "explain", tmp_path / "x.npy", "--fs", FS, "--model", ckpt, "--device", "cuda"
        )
        assert_one_line_error(rc, err, "CUDA is not available")

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(ecgimn, "load", no_model)
    rc, _, err = run(capsys, "explain", tmp_path / "missing.csv", "--model", ckpt)
    assert_one_line_error(rc, err, "file not found")
