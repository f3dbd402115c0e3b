"""Provenance (time, version, model and input SHA-256) in every report and picture; titles drawn literally."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_random_checkpoint

from ecgimn.constants import LEADS
from ecgimn.provenance import input_sha256, sha256_files


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def _csv(path: Path) -> Path:
    t = np.arange(1000) / 100
    x = 0.6 * np.sin(2 * np.pi * 1.2 * t)[:, None] * np.linspace(0.5, 1.5, 12)[None]
    np.savetxt(path, x, delimiter=",", header=",".join(LEADS), comments="", fmt="%.4f")
    return path


def test_cli_json_report_carries_provenance(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from ecgimn.cli import main

    csv = _csv(tmp_path / "rec.csv")
    assert main(["explain", str(csv), "--fs", "100", "--model", str(ckpt), "--out", str(tmp_path / "out"),
                 "--format", "pdf", "--no-heatmap", "--class", "MI"]) == 0  # fmt: skip
    report = json.loads((tmp_path / "out" / "rec_report.json").read_text())
    prov = report["provenance"]
    assert prov["input_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert prov["model_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert prov["ecgimn_version"] and prov["time"].endswith("Z") and prov["input_hashed"] == "file"
    assert (tmp_path / "out" / "rec_MI_ecg.pdf").read_bytes().startswith(b"%PDF")


def test_wfdb_input_digest_covers_header_and_data(tmp_path: Path) -> None:
    (tmp_path / "r.hea").write_bytes(b"header")
    (tmp_path / "r.dat").write_bytes(b"data")
    want = sha256_files(
        [("r.hea", hashlib.sha256(b"header").hexdigest()), ("r.dat", hashlib.sha256(b"data").hexdigest())]
    )
    assert input_sha256(tmp_path / "r.hea") == input_sha256(tmp_path / "r") == want
    assert input_sha256(tmp_path / "missing.csv") is None


def test_pictures_carry_provenance_and_literal_titles(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record named x$^{$ broke drawing (mathtext); the app's heatmap was titled "figure: ..."."""
    import ecgimn.viz
    from ecgimn.api import load
    from ecgimn.explain.report import explain_recording, render
    from ecgimn.io import read_ecg

    rec = read_ecg(_csv(tmp_path / "x.csv"), fs=100)
    rec.record_id = "x$^{$"
    result = explain_recording(load(ckpt), rec, classes=["MI"])
    assert result.report()["provenance"]["input_hashed"].startswith("signal")
    seen: list[Any] = []
    original = ecgimn.viz.save_figure
    monkeypatch.setattr(
        ecgimn.viz, "save_figure", lambda fig, path, **kw: (seen.append(fig), original(fig, path, **kw))[1]
    )
    paths = render(result, tmp_path / "out", formats=("png",), stem="figure")
    assert len(paths) == 2 and all(p.stat().st_size > 1000 for p in paths)
    texts = [
        [t.get_text() for t in fig.texts] + [ax.get_title(loc="left") for ax in fig.axes] for fig in seen
    ]
    assert all(any("model sha256" in t for t in tt) for tt in texts)
    heat = " ".join(texts[1])
    assert "figure:" not in heat and r"x\$^{\$: evidence for MI" in heat
