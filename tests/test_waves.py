"""Exact lead x wave decomposition: beat detection, delineation fallback, partition exactness, reports, pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_random_checkpoint as write_checkpoint

from ecgimn.errors import ConfigError, InputError
from ecgimn.explain import waves as wv
from ecgimn.explain.waves import (
    WAVES,
    beat_average,
    decompose,
    delineate_beats,
    detect_r_peaks,
    reference_record,
    wave_table,
)

FS = 100


def gaussian_beats(r_s: list[float], fs: int = FS, length_s: float = 10.0, seed: int = 0) -> np.ndarray:
    """(12, L) mV: a P, QRS and T bump (Gaussians) around every R time, different gain per lead, small noise."""
    t = np.arange(int(length_s * fs)) / fs
    one = np.zeros_like(t)
    for r in r_s:
        one += 0.15 * np.exp(-(((t - r + 0.16) / 0.025) ** 2))  # P
        one += 1.2 * np.exp(-(((t - r) / 0.012) ** 2))  # R
        one -= 0.2 * np.exp(-(((t - r - 0.03) / 0.01) ** 2))  # S
        one += 0.3 * np.exp(-(((t - r - 0.28) / 0.05) ** 2))  # T
    gains = np.linspace(0.4, 1.2, 12)[:, None] * np.where(np.arange(12) == 3, -1, 1)[:, None]
    noise = np.random.default_rng(seed).normal(0, 0.005, (12, len(t)))
    return gains * one[None] + noise


R_TIMES = [0.5 + 0.85 * i for i in range(11)]


def test_multi_lead_r_detector_finds_every_beat() -> None:
    x = gaussian_beats(R_TIMES)
    r = detect_r_peaks(x, FS)
    assert len(r) == len(R_TIMES)
    assert np.max(np.abs(r - np.round(np.array(R_TIMES) * FS))) <= 1
    # one flat lead and one very noisy lead do not hide the beats of the others
    x[1] = 0.0
    x[7] += np.random.default_rng(1).normal(0, 0.05, x.shape[1])
    assert len(detect_r_peaks(x, FS)) == len(R_TIMES)


@pytest.mark.parametrize("method", ["fixed", "neurokit"])
def test_labels_partition_the_record_in_wave_order(method: str) -> None:
    x = gaussian_beats(R_TIMES)
    beats = delineate_beats(x, FS, method=method)
    assert beats.n_beats == len(R_TIMES)
    assert beats.labels.shape == (x.shape[1],)
    assert set(np.unique(beats.labels)) <= set(range(len(WAVES)))
    assert np.all(np.diff(beats.bounds.ravel()) >= 0)  # monotone within and across beats
    for r, b in zip(beats.r, beats.bounds):
        assert b[2] <= r < b[3]  # the QRS contains R
        assert beats.labels[r] == WAVES.index("QRS")
    # regular rhythm: no gap left unassigned, the T wave peak is labelled T, the P peak P
    assert not (beats.labels == WAVES.index("unassigned")).any()
    r0 = beats.r[3]
    assert beats.labels[r0 + 28] == WAVES.index("T")
    assert beats.labels[r0 - 16] == WAVES.index("P")
    if method == "fixed":
        assert not beats.from_delineator.any()
        assert "fixed" in beats.method


def test_delineating_a_record_again_reuses_neurokits_answer() -> None:
    x = gaussian_beats(R_TIMES, seed=11)
    wv._neurokit_bounds_kept.cache_clear()
    first = delineate_beats(x, FS)
    assert wv._neurokit_bounds_kept.cache_info().misses == 1
    again = delineate_beats(x.copy(), FS)  # the same record: NeuroKit not asked again, the same beats
    assert wv._neurokit_bounds_kept.cache_info().hits == 1
    for name in ("r", "bounds", "from_delineator", "labels", "beat_of"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert again.from_delineator.any()
    kept = wv._neurokit_bounds(x[1], FS, again.r, 500)
    kept[:] = -1  # a caller changing its copy changes nothing kept
    fresh = wv._neurokit_bounds_kept.__wrapped__(x[1].tobytes(), float(FS), again.r.tobytes(), 500)
    np.testing.assert_array_equal(wv._neurokit_bounds(x[1], FS, again.r, 500), fresh)
    delineate_beats(x * 1.5, FS)  # another record: asked anew
    assert wv._neurokit_bounds_kept.cache_info().misses == 2


def test_neurokit_failure_falls_back_to_fixed_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    x = gaussian_beats(R_TIMES)
    monkeypatch.setattr(wv, "_neurokit_bounds", lambda *a, **k: None)
    beats = delineate_beats(x, FS)
    assert "failed" in beats.method and not beats.from_delineator.any()
    assert beats.n_beats == len(R_TIMES)


def test_implausible_delineator_boundaries_are_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    x = gaussian_beats(R_TIMES)
    r = detect_r_peaks(x, FS)

    def fake(lead, fs, rr, dfs):  # QRS onset 300 ms before R (implausible), T offset NaN, the rest plausible
        out = np.column_stack([rr - 20, rr - 12, rr - 30, rr + 5, rr + 20, np.full(len(rr), np.nan)]).astype(
            float
        )
        return out

    monkeypatch.setattr(wv, "_neurokit_bounds", fake)
    beats = delineate_beats(x, FS, r_peaks=r)
    assert beats.from_delineator[:, [0, 1, 3, 4]].all()
    assert not beats.from_delineator[:, 2].any() and not beats.from_delineator[:, 5].any()
    assert np.all(beats.bounds[:, 2] == r - 5)  # fixed QRS onset: R - 50 ms
    assert 0 < beats.delineated_share < 1


def test_no_beats_leaves_everything_unassigned_and_exact() -> None:
    x = np.zeros((12, 500))
    beats = delineate_beats(x, FS)
    assert beats.n_beats == 0 and (beats.labels == WAVES.index("unassigned")).all()
    a = np.random.default_rng(0).normal(size=(12, 500))
    d = decompose(a, 0.3, None, beats, "MI")
    assert abs(d.residual) < 1e-9
    assert d.table[:, WAVES.index("unassigned")].sum() == pytest.approx(a.sum())


def test_decomposition_is_exact_per_record_and_per_beat() -> None:
    x = gaussian_beats(R_TIMES)
    beats = delineate_beats(x, FS, method="fixed")
    rng = np.random.default_rng(3)
    a = rng.normal(0, 0.05, (12, x.shape[1])).astype(np.float32)
    b = -0.7
    logit = float(a.astype(np.float64).sum()) + b
    d = decompose(a, b, logit, beats, "STTC", 0.8)
    assert abs(d.residual) < 1e-5
    assert abs(beats.n_beats * d.beat_mean.sum() + d.outside.sum() + d.bias - d.logit) < 1e-5
    assert d.table.shape == (12, len(WAVES))
    assert np.allclose(d.table.sum(1), a.sum(1), atol=1e-5)  # per-lead sums agree with the lead shares
    with pytest.raises(InputError, match="logit"):
        decompose(a, b, logit + 1.0, beats, "STTC")
    with pytest.raises(InputError, match="attribution"):
        decompose(a[:, :10], b, None, beats, "STTC")


def test_wave_table_puts_evidence_in_the_labelled_cells() -> None:
    labels = np.array([0, 0, 2, 2, 2, 3, 4, 4, 5, 6])
    a = np.zeros((12, 10))
    a[7, 5] = 0.4  # V2, ST
    a[1, 2:5] = [1.0, -1.0, 0.5]  # II, QRS: spikes that cancel to +0.5
    t = wave_table(a, labels)
    assert t[7, WAVES.index("ST")] == pytest.approx(0.4)
    assert t[1, WAVES.index("QRS")] == pytest.approx(0.5)
    assert t.sum() == pytest.approx(0.9)


def test_summary_line_and_report_dict() -> None:
    x = gaussian_beats(R_TIMES)
    beats = delineate_beats(x, FS, method="fixed")
    a = np.zeros((12, x.shape[1]))
    qrs, t_mask = beats.mask("QRS"), beats.mask("T")
    for lead in (6, 7, 8):  # V1-V3 QRS evidence, V2-V4 T evidence
        a[lead, qrs] = 1.1 / 3 / qrs.sum()
    for lead in (7, 8, 9):
        a[lead, t_mask] = 0.4 / 3 / t_mask.sum()
    d = decompose(a, 0.3, None, beats, "MI", 0.94)
    line = d.summary()
    assert line.startswith("MI 0.94: QRS in V1-V3 +1.10, T in V2-V4 +0.40")
    assert "bias +0.30" in line
    assert d.share(["V1", "V2", "V3"], ["QRS"]) == pytest.approx(1.1 / 1.5)
    rep = json.loads(json.dumps(wv.waves_report([d])))
    assert rep["classes"]["MI"]["table"]["V2"]["QRS"] == pytest.approx(1.1 / 3, abs=1e-4)
    assert rep["delineation"]["n_beats"] == len(R_TIMES)
    assert rep["summary"] == [line]
    with pytest.raises(ConfigError):
        d.cell("V2", "U wave")


def test_lead_groups_read_like_a_cardiologist_writes_them() -> None:
    assert wv._lead_group(["V3", "V1", "V2"]) == "V1-V3"
    assert wv._lead_group(["aVF", "II", "III"]) == "II, III, aVF"
    assert wv._lead_group(["I", "V5", "V6"]) == "I, V5, V6"


def test_beat_average_and_reference_record() -> None:
    x = gaussian_beats(R_TIMES)
    beats = delineate_beats(x, FS, method="fixed")
    mb = beat_average(x, beats, 0.3, 0.5)
    assert mb.shape == (12, 80)
    assert np.argmax(mb[0]) == 30  # R at pre_s
    ref = reference_record(mb, beats, 0.3)
    assert ref.shape == x.shape
    assert np.abs(ref - x)[:, 100:900].max() < 0.05  # a regular record is close to its own mean beat


def test_explanation_waves_exact_with_and_without_reference(tmp_path: Path) -> None:
    import ecgimn

    model = ecgimn.load(
        write_checkpoint(tmp_path / "m.pt", "imn-1d", encoder_channels=[8, 8, 8]), device="cpu"
    )
    x = gaussian_beats(R_TIMES).astype(np.float32)
    ex = model.explain(x, fs=FS)
    for k in range(len(ex.class_names)):
        d = ex.waves(k)
        assert abs(d.residual) < 1e-5
        assert d.logit == pytest.approx(float(ex.logits[0, k]))
    ref = reference_record(beat_average(x, ex.beats(0)), ex.beats(0))
    d = ex.waves(ex.class_names[0], reference=ref, reference_name="mean beat")
    assert abs(d.residual) < 1e-5 and d.reference == "mean beat"
    expected_bias = float(ex.bias_mv[0, 0]) + float((ex.weights_mv[0, 0].astype(np.float64) * ref).sum())
    assert d.bias == pytest.approx(expected_bias, abs=1e-4)
    with pytest.raises(InputError, match="reference"):
        ex.waves(0, reference=ref[:, :10])
    with pytest.raises(ConfigError):
        ex.waves(0, record=5)


def test_picture_has_wave_strips_and_table() -> None:
    from ecgimn.viz import plot_ecg_evidence

    x = gaussian_beats(R_TIMES)
    beats = delineate_beats(x, FS, method="fixed")
    a = np.random.default_rng(0).normal(0, 0.01, x.shape)
    d = decompose(a, 0.1, None, beats, "STTC")
    for layout in ("12x1", "3x4"):
        fig = plot_ecg_evidence(x, FS, a, layout=layout, waves=d, bias=0.1)
        assert any(ax.get_label() == "wave_table" for ax in fig.axes)


def test_real_records_delineate(shared_ptbxl: Path) -> None:
    from ecgimn.data import PTBXL, read_wfdb_record

    ds = PTBXL(shared_ptbxl)
    db = ds.metadata.sort_index()
    rows = db[db.strat_fold == 10].head(12)
    shares = []
    for _, row in rows.iterrows():
        x = read_wfdb_record(shared_ptbxl / row.filename_lr, 100)
        beats = delineate_beats(x, 100)
        hr = 60.0 * beats.n_beats / 10.0
        assert 30 <= hr <= 200, (row.name, beats.n_beats)
        shares.append(beats.delineated_share)
    assert np.nanmean(shares) > 0.6  # NeuroKit supplies most boundaries on real records


def test_record_report_and_pictures_carry_the_waves(tmp_path: Path) -> None:
    import ecgimn
    from ecgimn.explain.report import explain_recording, render
    from ecgimn.io.recording import Recording

    model = ecgimn.load(
        write_checkpoint(tmp_path / "m.pt", "imn-1d", encoder_channels=[8, 8, 8]), device="cpu"
    )
    rec = Recording(gaussian_beats(R_TIMES).astype(np.float32), FS, record_id="beats")
    res = explain_recording(model, rec, classes=["MI", "NORM"])
    rep = json.loads(json.dumps(res.report()))
    assert set(rep["waves"]["classes"]) == {"MI", "NORM"}
    for c in ("MI", "NORM"):
        w = rep["waves"]["classes"][c]
        total = sum(v for row in w["table"].values() for v in row.values()) + w["bias"]
        assert total == pytest.approx(w["logit"], abs=1e-3)  # cells are rounded to 4 digits in the JSON
        assert abs(w["residual"]) < 1e-5
    assert len(rep["waves"]["summary"]) == 2
    paths = render(res, tmp_path / "figs", heatmap=False)
    assert len(paths) == 2 and all(p.stat().st_size > 0 for p in paths)
