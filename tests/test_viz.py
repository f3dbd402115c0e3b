"""ECG printout and heatmap figures: render, save in every format, physical paper geometry."""

from pathlib import Path

import numpy as np
import pytest

from ecgimn.errors import ConfigError, InputError
from ecgimn.explain import explain_class
from ecgimn.viz import paper_scale, plot_class_evidence, plot_ecg_evidence, plot_evidence_heatmap, save_figure

RECORD = Path(__file__).resolve().parents[2] / "shared" / "ptbxl" / "records100" / "00000" / "00001_lr"
#: the pictures here are saved at the package's own resolution (elsewhere the tests draw them at a lower one)
FULL_RESOLUTION_FIGURES = True


def _synthetic_ecg(n: int = 1000, fs: float = 100.0) -> np.ndarray:
    """ECG-like (12, n) mV: narrow QRS spikes every 0.8 s plus a T wave."""
    t = np.arange(n) / fs
    phase = (t % 0.8) - 0.3
    beat = 1.2 * np.exp(-((phase / 0.02) ** 2)) + 0.25 * np.exp(-(((phase - 0.25) / 0.06) ** 2))
    gains = np.linspace(-1.0, 1.5, 12)[:, None]
    return (gains * beat).astype(np.float32)


@pytest.fixture(scope="module")
def ecg() -> tuple[np.ndarray, float]:
    if RECORD.with_suffix(".hea").exists():
        import wfdb

        sig, fields = wfdb.rdsamp(str(RECORD))
        return sig.T.astype(np.float32), float(fields["fs"])
    return _synthetic_ecg(), 100.0


@pytest.fixture(scope="module")
def evidence(ecg):
    sig, fs = ecg
    att = np.random.default_rng(0).standard_normal(sig.shape) * 0.01
    att[6:9, 200:260] += 0.05
    return explain_class(att, -0.3, None, fs, "MI", probability=0.6)


def test_real_record_is_used_when_present(ecg):
    if not RECORD.with_suffix(".hea").exists():
        pytest.skip("PTB-XL record 00001_lr not in ../shared")
    sig, fs = ecg
    assert sig.shape == (12, 1000) and fs == 100.0


@pytest.mark.parametrize("layout", ["12x1", "3x4"])
@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_ecg_figure_renders_and_saves(ecg, evidence, layout, suffix, tmp_path):
    sig, _ = ecg
    fig = plot_class_evidence(sig, evidence, layout=layout, title="ecg 1 | MI p=0.60")
    inches = fig.get_size_inches()
    out = save_figure(fig, tmp_path / "sub" / f"ecg{suffix}")
    assert out.exists() and out.stat().st_size > 5_000
    head = out.read_bytes()[:24]
    assert {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}[suffix] in head[:8]
    if suffix == ".png":  # 150 dots per inch: the width and height in the PNG's IHDR chunk
        size = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert size == pytest.approx((inches[0] * 150, inches[1] * 150), abs=1)


@pytest.mark.parametrize("layout", ["12x1", "3x4"])
def test_paper_geometry_is_25mm_per_s_and_10mm_per_mv(ecg, layout):
    sig, fs = ecg
    fig = plot_ecg_evidence(sig, fs, np.zeros_like(sig), layout=layout)
    mm_s, mm_mv = paper_scale(fig)
    assert mm_s == pytest.approx(25.0, rel=1e-6)
    assert mm_mv == pytest.approx(10.0, rel=1e-6)
    # the grid spans the whole record (plus the calibration pulse) at 25 mm/s
    ax = next(a for a in fig.axes if a.get_label() == "ecg")
    width_mm = ax.get_position().width * fig.get_size_inches()[0] * 25.4
    assert width_mm / (sig.shape[1] / fs) == pytest.approx(25.0, rel=0.05)
    assert ax.get_xlim()[1] == pytest.approx(sig.shape[1] / fs)


def test_plot_options_and_plain_inputs(ecg):
    sig, fs = ecg
    att = np.random.default_rng(1).standard_normal(sig.shape)
    segs = [
        {"lead": "V2", "start_s": 5.5, "end_s": 6.0, "evidence": 2.0},
        {"lead_index": 0, "start_s": 9.0, "end_s": 9.5, "evidence": -1.0, "rank": 1},
    ]
    fig = plot_ecg_evidence(
        sig,
        fs,
        att,
        layout="3x4",
        top_segments=segs,
        bias=0.1,
        logit=None,
        smooth_s=0.1,
        vmax=0.5,
        lead_shares=att.sum(1),
    )
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "bias" in texts and "logit" in texts and "outside the time window" in texts
    ax = next(a for a in fig.axes if a.get_label() == "ecg")
    assert len(ax.patches) == 1  # V2 is shown at 5-7.5 s; lead I at 9 s is not shown in 3x4


def test_bad_inputs_are_refused(ecg, tmp_path):
    sig, fs = ecg
    with pytest.raises(InputError):
        plot_ecg_evidence(sig, fs, sig[:, :10])
    with pytest.raises(InputError):
        plot_ecg_evidence(sig[:6], fs, sig[:6])
    with pytest.raises(ConfigError):
        plot_ecg_evidence(sig, fs, sig, layout="6x2")  # type: ignore[arg-type]
    fig = plot_evidence_heatmap(sig, fs)
    with pytest.raises(ConfigError):
        save_figure(fig, tmp_path / "x.jpg")


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_heatmap(evidence, suffix, tmp_path):
    fig = plot_evidence_heatmap(evidence.attribution, evidence.fs, title="evidence for MI")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["I", "II", "III"]
    im = ax.get_images()[0]
    assert im.norm.vmin == pytest.approx(-im.norm.vmax)
    assert save_figure(fig, tmp_path / f"h{suffix}").stat().st_size > 2_000
