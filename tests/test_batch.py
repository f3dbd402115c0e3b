"""``ecgimn predict``: streamed batch prediction into a CSV, resumable, bad files listed and skipped."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import ecg_like, write_wfdb


def _folder(root: Path, n: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_wfdb(root / f"rec{i}", ecg_like(1000, seed=i).T, 100)
    (root / "broken.hea").write_text("this is not a WFDB header\n")
    np.save(root / "short.npy", ecg_like(100))  # 1 s: below the model's 2.5 s window
    return root


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predict_resumes_after_a_kill_and_lists_bad_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecgimn.api import Predictor
    from ecgimn.cli import main

    data = _folder(tmp_path / "ecgs")
    out = tmp_path / "results.csv"
    args = [
        "predict",
        str(data),
        "--out",
        str(out),
        "--workers",
        "0",
        "--batch-size",
        "2",
        "--no-progress",
        "--fs",
        "100",
    ]
    real = Predictor.explain
    seen: list[int] = []

    def killed_on_second_batch(self, x, *a, **k):
        seen.append(len(x))
        if len(seen) == 2:
            raise KeyboardInterrupt  # what a kill in the middle of the run looks like to the loop
        return real(self, x, *a, **k)

    monkeypatch.setattr(Predictor, "explain", killed_on_second_batch)
    assert main(args) == 130
    first = _rows(out)
    done_first = {r["file"] for r in first}
    assert sum(r["status"] == "ok" for r in first) == 2  # the first batch was written before the "kill"
    with open(out, "a") as f:
        f.write(
            str(data / "rec4.hea") + ",ok,,NO"
        )  # a half-written last line, as a kill during a write leaves

    seen.clear()
    monkeypatch.setattr(
        Predictor, "explain", lambda self, x, *a, **k: (seen.append(len(x)), real(self, x, *a, **k))[1]
    )
    assert main(args) == 1  # some files failed
    rows = _rows(out)
    files = [r["file"] for r in rows]
    assert len(files) == len(set(files)) == 7  # every file exactly once
    assert sum(seen) == 3 + 0  # only the 3 readable 10 s records not finished before were predicted again
    status = {Path(r["file"]).name: r for r in rows}
    assert status["broken.hea"]["status"] == "error" and "broken" in status["broken.hea"]["error"]
    assert status["short.npy"]["status"] == "error" and "at least" in status["short.npy"]["error"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 5 and all(len(r["sha256"]) == 64 and len(r["model_sha256"]) == 64 for r in ok)
    p = np.array([[float(r[f"p_{c}"]) for c in ("CD", "HYP", "MI", "NORM", "STTC")] for r in ok])
    assert ((p >= 0) & (p <= 1)).all() and all(r["top_NORM"].split()[0] for r in ok)
    assert done_first <= set(files)
    # a third run has nothing left to do
    assert main(args) == 0 and len(_rows(out)) == 7


def test_predict_with_worker_processes_matches_the_api(tmp_path: Path) -> None:
    import ecgimn
    from ecgimn.batch import run_batch
    from ecgimn.io import read_ecg

    data = _folder(tmp_path / "ecgs", n=3)
    p = ecgimn.load("default", device="cpu")
    files = sorted(str(f) for f in data.glob("rec*.hea"))
    counts = run_batch(p, files, tmp_path / "r.csv", workers=1, batch_size=8, progress=False)
    assert counts == {"skipped": 0, "ok": 3, "error": 0}
    rows = _rows(tmp_path / "r.csv")
    x = np.stack([read_ecg(f).signal for f in files])
    ref = p.predict_proba(x)
    got = np.array([[float(r[f"p_{c}"]) for c in p.class_names] for r in rows])
    assert np.abs(got - ref).max() <= 1e-4


def test_predict_refuses_results_of_another_model(tmp_path: Path) -> None:
    from conftest import write_random_checkpoint

    from ecgimn.cli import main

    data = _folder(tmp_path / "ecgs", n=1)
    out = tmp_path / "r.csv"
    base = ["predict", str(data / "rec0.hea"), "--out", str(out), "--workers", "0", "--no-progress"]
    assert main(base) == 0
    other = write_random_checkpoint(tmp_path / "other.pt", name="imn-1d")
    assert main([*base, "--model", str(other)]) == 2  # one-line error, nothing appended
    assert len(_rows(out)) == 1


def test_a_refused_file_fails_alone_and_is_checked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ecgimn
    from ecgimn.batch import run_batch
    from ecgimn.inference import predictor as predictor_module

    data = _folder(tmp_path / "ecgs", n=3)
    np.save(data / "micro_volts.npy", (ecg_like(1000, seed=7) * 1000).astype(np.float32))  # µV written as mV
    files = sorted(str(f) for f in data.glob("rec*.hea")) + [str(data / "micro_volts.npy")]
    checks: list[int] = []
    real = predictor_module.assess_batch
    monkeypatch.setattr(
        predictor_module, "assess_batch", lambda x, *a, **k: (checks.append(len(x)), real(x, *a, **k))[1]
    )
    p = ecgimn.load("default", device="cpu")
    counts = run_batch(p, files, tmp_path / "r.csv", workers=0, batch_size=8, progress=False,
                       reader_kwargs={"fs": 100, "units": "mV"})  # fmt: skip
    assert counts == {"skipped": 0, "ok": 3, "error": 1}
    rows = {Path(r["file"]).name: r for r in _rows(tmp_path / "r.csv")}
    bad = rows["micro_volts.npy"]
    assert bad["status"] == "error" and bad["input_status"] == "refused"
    assert "input refused: median peak-to-peak" in bad["error"] and "--allow-implausible" not in bad["error"]
    assert all(rows[f"rec{i}.hea"]["status"] == "ok" for i in range(3))
    assert checks == []  # the readers checked each file; the batch is not checked a second time


def test_wfdb_checksum_covers_header_and_signal_file(tmp_path: Path) -> None:
    import hashlib

    from ecgimn.batch import file_sha256

    write_wfdb(tmp_path / "r", ecg_like(1000).T, 100)
    both = hashlib.sha256((tmp_path / "r.hea").read_bytes() + (tmp_path / "r.dat").read_bytes()).hexdigest()
    assert file_sha256(tmp_path / "r.hea") == both
    (tmp_path / "r.dat").write_bytes((tmp_path / "r.dat").read_bytes()[:-2] + b"\x01\x00")
    assert file_sha256(tmp_path / "r.hea") != both  # a changed sample changes the checksum
