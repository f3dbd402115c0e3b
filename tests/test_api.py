"""The Python API: ``ecgimn.load(path)`` -> ``Predictor.explain`` / ``predict_proba`` (shapes, exactness, policies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ecg_like
from conftest import write_random_checkpoint as write_checkpoint

import ecgimn
from ecgimn.api import PRETRAINED_DIR, Explanation, Predictor
from ecgimn.constants import LEADS
from ecgimn.errors import CheckpointError, ConfigError, InputError

CLASSES = ["CD", "HYP", "MI", "NORM", "STTC"]
FS = 100
#: a small random-init ECG-IMN: fast, and exactness does not depend on training
SMALL = {"encoder_channels": [8, 8, 8], "decoder_channels": [8, 8, 8]}


def assert_exact(ex: Explanation) -> None:
    """Both exact forms of the decision reproduce the logits to 1e-4 relative."""
    tol = 1e-4 * np.maximum(1.0, np.abs(ex.logits))
    std_form = ex.attribution.astype(np.float64).sum((-2, -1)) + ex.bias
    mv_form = (ex.weights_mv.astype(np.float64) * ex.inputs[:, None]).sum((-2, -1)) + ex.bias_mv
    assert np.all(np.abs(std_form - ex.logits) <= tol)
    assert np.all(np.abs(mv_form - ex.logits) <= tol)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt", **SMALL)


@pytest.fixture(scope="module")
def predictor(checkpoint: Path) -> Predictor:
    return ecgimn.load(checkpoint, device="cpu")


def test_load_reads_the_checkpoint(predictor: Predictor, checkpoint: Path) -> None:
    assert predictor.class_names == CLASSES and predictor.fs == FS and predictor.interpretable
    assert predictor.window == 1000 and predictor.stride == 500 and predictor.min_seconds == 10.0
    assert predictor.name == "imn-1d" and predictor.source == str(checkpoint)
    assert not predictor.model.training


@pytest.mark.parametrize("batch", [None, 3])
def test_explain_fields_shapes_and_exactness(predictor: Predictor, batch: int | None) -> None:
    x = ecg_like() if batch is None else np.stack([ecg_like(seed=i) for i in range(batch)])
    n = 1 if batch is None else batch
    ex = predictor.explain(x, fs=FS)
    k = len(CLASSES)
    assert ex.class_names == CLASSES and ex.fs == FS and ex.notes == []
    for name in ("probabilities", "logits", "bias", "bias_mv"):
        assert getattr(ex, name).shape == (n, k), name
    for name in ("weights", "attribution", "weights_mv"):
        assert getattr(ex, name).shape == (n, k, 12, 1000), name
    assert ex.inputs.shape == ex.inputs_std.shape == (n, 12, 1000)
    np.testing.assert_allclose(ex.inputs.reshape(n, 12, -1), x.reshape(n, 12, -1))
    np.testing.assert_allclose(ex.attribution, ex.weights * ex.inputs_std[:, None], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ex.probabilities, 1 / (1 + np.exp(-ex.logits)), rtol=1e-6)
    assert np.all((ex.probabilities > 0) & (ex.probabilities < 1))
    assert_exact(ex)


def test_records_in_a_batch_are_independent(predictor: Predictor) -> None:
    x = np.stack([ecg_like(seed=i) for i in range(3)])
    batch = predictor.explain(x)
    single = predictor.explain(x[1])
    np.testing.assert_allclose(batch.logits[1], single.logits[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batch.weights[1], single.weights[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fs", [500, 250])
def test_other_rates_are_resampled_with_a_note(predictor: Predictor, fs: int) -> None:
    x = ecg_like(10 * fs, fs)
    ex = predictor.explain(x, fs=fs)
    assert ex.fs == FS and ex.inputs.shape == (1, 12, 1000)
    assert any(f"resampled from {fs} Hz to {FS} Hz" in n for n in ex.notes)
    assert_exact(ex)
    # the resampled record is (nearly) the 100 Hz record: similar decision
    direct = predictor.explain(ecg_like(1000, FS))
    assert np.abs(ex.probabilities - direct.probabilities).max() < 0.1


def test_longer_record_uses_exact_sliding_windows(predictor: Predictor) -> None:
    x = np.concatenate([ecg_like(seed=0), ecg_like(seed=1)], axis=-1)  # 20 s
    ex = predictor.explain(x)
    assert ex.weights.shape == (1, len(CLASSES), 12, 2000)
    assert any("sliding 10 s windows" in n and "exact" in n for n in ex.notes)
    assert_exact(ex)
    # the whole-record logits are the mean of the model's outputs on the windows (starts 0, 5, 10 s) of the
    # record as standardised as a whole
    x_std = torch.as_tensor(ex.inputs_std[0])
    with torch.no_grad():
        out = predictor.model(torch.stack([x_std[:, s : s + 1000] for s in (0, 500, 1000)]))
    np.testing.assert_allclose(ex.logits[0], out.logits.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ex.bias[0], out.bias.mean(0).numpy(), rtol=1e-4, atol=1e-5)


def test_too_short_and_nan_inputs_are_refused(predictor: Predictor) -> None:
    with pytest.raises(InputError, match=r"5\.00 s long; this model needs at least 10\.00 s"):
        predictor.explain(ecg_like(500))
    x = ecg_like()
    x[3, 10:20] = np.nan
    with pytest.raises(InputError, match="NaN/inf.*read_ecg"):
        predictor.explain(x)
    with pytest.raises(InputError, match=r"\(12, L\)"):
        predictor.explain(np.zeros((8, 1000), np.float32))


def test_class_index(predictor: Predictor) -> None:
    ex = predictor.explain(ecg_like())
    assert ex.class_index("NORM") == 3 and ex.class_index("sttc") == 4
    with pytest.raises(ConfigError, match=r"'XYZ'.*CD, HYP, MI, NORM, STTC"):
        ex.class_index("XYZ")


def test_predict_proba_matches_explain(predictor: Predictor) -> None:
    x = np.stack([ecg_like(seed=i) for i in range(2)])
    np.testing.assert_allclose(predictor.predict_proba(x), predictor.explain(x).probabilities, rtol=1e-5)
    long = np.concatenate([x, x], axis=-1)
    np.testing.assert_allclose(
        predictor.predict_proba(long), predictor.explain(long).probabilities, rtol=1e-5
    )


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="neither a checkpoint file nor a bundled model"):
        ecgimn.load("no-such-model")
    with pytest.raises(CheckpointError, match="not found"):
        ecgimn.load(tmp_path / "missing.pt")
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an ECG-IMN checkpoint"):
        ecgimn.load(tmp_path / "other.pt")


def test_black_box_predicts_but_does_not_explain(tmp_path: Path) -> None:
    bb = ecgimn.load(write_checkpoint(tmp_path / "bb.pt", "blackbox-1d", encoder_channels=[8, 8, 8]))
    assert not bb.interpretable
    assert bb.predict_proba(ecg_like()).shape == (1, len(CLASSES))
    with pytest.raises(CheckpointError, match="black box"):
        bb.explain(ecg_like())


def test_bundled_default_model() -> None:
    path = PRETRAINED_DIR / "default.pt"
    if not path.is_file():
        pytest.skip(f"bundled model {path} not trained/installed yet")
    model = ecgimn.load()
    assert model.interpretable and model.source == str(path)
    ex = model.explain(ecg_like(int(model.min_seconds * FS)), fs=FS)
    assert ex.probabilities.shape == (1, len(model.class_names))
    assert_exact(ex)


@pytest.mark.integration
def test_real_records_evidence_adds_up(predictor: Predictor, shared_ptbxl: Path) -> None:
    from ecgimn.explain.report import explain_recording
    from ecgimn.io import read_ecg

    paths = [shared_ptbxl / f"records100/00000/{i:05d}_lr" for i in (1, 2, 3)]
    paths.append(shared_ptbxl / "records500/00000/00004_hr")
    for path in paths:
        if not path.with_suffix(".hea").exists():
            pytest.skip(f"{path} not in the shared PTB-XL subset")
        rec = read_ecg(path)
        assert rec.lead_names == LEADS and rec.signal.shape[0] == 12
        result = explain_recording(predictor, rec, classes=CLASSES)
        assert_exact(result.explanation)
        assert [ev.class_name for ev in result.evidence] == CLASSES
        if rec.fs != FS:
            assert any("resampled from 500 Hz" in n for n in result.report()["input_checks"]["notes"])
        for ev in result.evidence:
            tol = 1e-4 * max(1.0, abs(ev.logit))
            assert abs(ev.lead_shares.sum() + ev.bias - ev.logit) <= tol
            part = np.zeros(12)
            for seg in ev.partition:
                part[seg.lead_index] += seg.evidence
            np.testing.assert_allclose(part, ev.lead_shares, rtol=1e-6, atol=1e-7)


@pytest.mark.slow  # scores the bundled ensemble on all of fold 10
@pytest.mark.integration
def test_bundled_default_model_card_numbers_reproduce(shared_ptbxl: Path) -> None:
    """The fold-10 numbers stored beside the bundled model (and quoted in its card) are what evaluate measures."""
    import json

    from ecgimn.study.evaluate import evaluate_checkpoint

    path, stored = PRETRAINED_DIR / "default.pt", PRETRAINED_DIR / "default_eval.json"
    if not path.is_file() or not stored.is_file():
        pytest.skip("bundled model or its evaluation record not present")
    expected = json.loads(stored.read_text())
    report = evaluate_checkpoint(path, shared_ptbxl, progress=False)
    assert report["n_records"] == expected["n_records"]
    for key in ("macro_auroc", "ci_low", "ci_high", "fmax"):
        assert report[key] == pytest.approx(expected[key], abs=1e-6), key
    card = (PRETRAINED_DIR / "default.md").read_text()
    assert f"**{report['macro_auroc']:.4f}**" in card


def test_resolve_device_validates_names_and_availability() -> None:
    import torch

    from ecgimn.errors import ConfigError
    from ecgimn.inference.predict import resolve_device

    assert resolve_device("cpu").type == "cpu" and resolve_device(None).type in ("cpu", "cuda")
    assert resolve_device(" CPU ").type == "cpu"
    for bad in ("tpu", "gpu0", "cuda:x"):
        with pytest.raises(ConfigError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
