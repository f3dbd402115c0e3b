"""ONNX export: the exported graph gives the same logits, W and b as the Predictor (onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ecg_like, write_random_checkpoint

ort = pytest.importorskip(
    "onnxruntime", reason="the onnx extra (onnx, onnxruntime, onnxscript) is not installed"
)
pytest.importorskip("onnxscript", reason="the onnx extra (onnx, onnxruntime, onnxscript) is not installed")


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.slow  # exports the 3-member ensemble; test_black_box_and_per_record_standardisation checks parity by default
def test_default_model_export_parity(tmp_path: Path) -> None:
    """The bundled default (3-member ensemble, 2.5 s sliding windows) through `ecgimn export`."""
    import ecgimn
    from ecgimn.cli import main

    out = tmp_path / "default.onnx"
    assert main(["export", "--model", "default", "--format", "onnx", "--out", str(out)]) == 0
    assert main(["export", "--model", "default", "--out", str(out)]) == 2  # never overwritten without asking
    x = np.stack([ecg_like(1000, seed=s) for s in range(3)])
    sess = _session(out)
    predictor = ecgimn.load("default", device="cpu")
    e = predictor.explain(x)
    if predictor.baseline is not None:  # the graph reads the input after the baseline filter
        from ecgimn.data.baseline import remove_baseline

        x = remove_baseline(x, predictor.fs, predictor.baseline).astype(np.float32)
    logits, proba, w, b, x_std = sess.run(None, {"x": x})
    assert np.abs(logits - e.logits).max() <= 1e-4
    assert np.abs(w - e.weights).max() <= 1e-5
    assert np.abs(b - e.bias).max() <= 1e-4
    assert np.abs(proba - e.probabilities).max() <= 1e-5
    assert np.abs((w * x_std[:, None]).sum((-2, -1)) + b - logits).max() <= 1e-4  # exactness survives
    one = sess.run(["logits"], {"x": x[:1]})[0]  # dynamic batch
    assert np.abs(one - e.logits[:1]).max() <= 1e-4


def test_black_box_and_per_record_standardisation(tmp_path: Path) -> None:
    import ecgimn
    from ecgimn.export import export_onnx

    ckpt = write_random_checkpoint(tmp_path / "bb.pt", name="blackbox-1d")
    p = ecgimn.load(ckpt, device="cpu")
    info = export_onnx(p, tmp_path / "bb.onnx", length=1200)  # 10 s window, stride 5 s: two windows
    assert info["outputs"] == ["logits", "probabilities"]
    x = np.stack([ecg_like(1200, seed=s) for s in range(2)])
    proba = _session(tmp_path / "bb.onnx").run(["probabilities"], {"x": x})[0]
    assert np.abs(proba - p.predict_proba(x)).max() <= 1e-5


def test_lead_local_imn_export_parity(tmp_path: Path) -> None:
    """A per-lead, locality-bounded IMN (leads folded into the batch inside the graph) exports with the same W."""
    import ecgimn
    from ecgimn.export import export_onnx

    ckpt = write_random_checkpoint(tmp_path / "ll.pt", name="imn-1d-lead-local")
    p = ecgimn.load(ckpt, device="cpu")
    export_onnx(p, tmp_path / "ll.onnx", length=1000)
    x = np.stack([ecg_like(1000, seed=s) for s in range(2)])
    e = p.explain(x)
    logits, _, w, b, x_std = _session(tmp_path / "ll.onnx").run(None, {"x": x})
    assert np.abs(logits - e.logits).max() <= 1e-4
    assert np.abs(w - e.weights).max() <= 1e-5
    assert np.abs(b - e.bias).max() <= 1e-5
    assert np.abs((w * x_std[:, None]).sum((-2, -1)) + b - logits).max() <= 1e-4


def test_export_refuses_a_length_below_the_window(tmp_path: Path) -> None:
    import ecgimn
    from ecgimn.errors import ConfigError
    from ecgimn.export import export_onnx

    with pytest.raises(ConfigError, match="shorter than the model's window"):
        export_onnx(ecgimn.load("default", device="cpu"), tmp_path / "x.onnx", length=100)
