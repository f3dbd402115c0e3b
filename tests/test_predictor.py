"""The Predictor as the one owner of checkpoint -> preprocessing -> answers, and the shared helpers it uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ecg_like, write_random_checkpoint

from ecgimn.errors import CheckpointError, InputError
from ecgimn.inference.checkpoint import load_checkpoint, save_checkpoint, window_stride
from ecgimn.inference.predict import sigmoid
from ecgimn.inference.predictor import Predictor
from ecgimn.inference.protocol import ExplainingPredictor
from ecgimn.io.recording import Recording, as_signal
from ecgimn.models.windowed import window_bounds, window_starts


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("pred") / "m.pt")


def test_dataset_route_matches_the_user_route(ckpt_path: Path) -> None:
    """standardise() + forward() (data sets) and logits()/predict_proba()/explain() (users' records) agree."""
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    x = np.stack([ecg_like(1500, seed=s) for s in range(3)])
    z = p.forward(p.standardise(x))["logits"]
    np.testing.assert_allclose(p.logits(x, fs=100), z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p.predict_proba(x, fs=100), sigmoid(z), rtol=1e-5, atol=1e-6)
    ex = p.explain(x, fs=100)
    np.testing.assert_allclose(ex.logits, z, rtol=1e-4, atol=1e-4)
    assert isinstance(p, ExplainingPredictor)


def test_baseline_filter_is_part_of_standardise(tmp_path: Path, ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    plain = Predictor(ck, device="cpu")
    filtered = Predictor({**ck, "preprocess": {"baseline": "highpass"}}, device="cpu")
    x = ecg_like(1000)[None] + 1.0  # an offset the high-pass removes
    assert not np.allclose(plain.standardise(x), filtered.standardise(x))
    np.testing.assert_allclose(
        filtered.forward(filtered.standardise(x))["logits"], filtered.logits(x, fs=100), rtol=1e-5, atol=1e-5
    )


def test_stride_falls_back_to_the_window(tmp_path: Path, ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    assert window_stride(ck) == (1000, 500)
    old = {
        k: v
        for k, v in ck.items()
        if k not in ("stride_samples", "format", "format_version", "package_version")
    }
    path = save_checkpoint(tmp_path / "old.pt", old)
    assert Predictor.from_checkpoint(path, device="cpu").stride == 1000


def test_from_checkpoint_errors_are_one_line(tmp_path: Path, ckpt_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        Predictor.from_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="task"):
        Predictor.from_checkpoint(ckpt_path, expected_task="norm-vs-mi")


def test_one_length_message(ckpt_path: Path) -> None:
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    assert p.length_error(10.0) is None
    msg = p.length_error(5.0, "short.csv")
    assert msg.startswith("short.csv: record is 5.00 s long; this model needs at least 10.00 s")
    with pytest.raises(InputError, match=r"5\.00 s long; this model needs at least 10\.00 s"):
        p.predict_proba(ecg_like(500), fs=100)


def test_sigmoid_is_stable_and_exact() -> None:
    z = np.array([-1000.0, -3.0, 0.0, 3.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = sigmoid(z)
    from scipy.special import expit

    np.testing.assert_allclose(p, expit(z), rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        sigmoid(z.astype(np.float32)), torch.sigmoid(torch.tensor(z)).numpy(), atol=1e-7
    )


def test_one_signal_shape_check() -> None:
    assert as_signal(np.zeros((12, 5))).shape == (12, 5)
    assert as_signal(np.zeros((12, 5)), batch=True).shape == (1, 12, 5)
    for bad in (np.zeros((5, 12)), np.zeros(12), np.zeros((2, 11, 5))):
        with pytest.raises(InputError, match=r"thing: expected a \(12, L\)"):
            as_signal(bad, "thing", batch=bad.ndim == 3)
    with pytest.raises(InputError, match=r"r1: expected a \(12, L\) signal"):
        Recording(np.zeros((3, 100), np.float32), 100.0, record_id="r1")


@pytest.mark.parametrize("n, window, stride", [(1003, 50, 25), (1000, 50, 50), (30, 50, 25), (1003, 50, 80)])
def test_window_bounds_cover_everything(n: int, window: int, stride: int) -> None:
    starts, ends = window_bounds(n, window, stride)
    covered = np.zeros(n, bool)
    for s, e in zip(starts, ends):
        covered[s:e] = True
    assert covered.all() and ends.max() == n
    if stride < window:
        assert list(starts) == window_starts(n, window, stride)
    else:
        assert np.all(starts[1:] == ends[:-1])  # a partition


def test_synthetic_is_a_field_and_reports_say_so() -> None:
    from ecgimn.io import synthetic_ecg

    rec = synthetic_ecg()
    assert rec.synthetic and not Recording(np.zeros((12, 100), np.float32), 100.0).synthetic
    # simulated once: a second call returns the same signal, as a copy of its own
    original = rec.signal.copy()
    rec.signal[:] = 0
    again = synthetic_ecg()
    assert np.array_equal(again.signal, original) and again.signal.flags.writeable
    assert rec.signal.shape == (12, 5000) and rec.signal.dtype == np.float32


def test_study_presets_are_data() -> None:
    from ecgimn.study.presets import PRESETS_FILE, STUDY_PRESETS

    assert json.loads(PRESETS_FILE.read_text()) == STUDY_PRESETS
    assert all("model" in recipe for recipe in STUDY_PRESETS.values())


def test_study_list_needs_no_other_flag(capsys: pytest.CaptureFixture) -> None:
    from ecgimn.cli import main

    assert main(["study", "--list"]) == 0
    assert "imn-1d-aug-crop" in capsys.readouterr().out
    assert main(["study", "--configs", "imn-1d"]) == 2
    assert "needs --data and --out" in capsys.readouterr().err


def test_user_errors_are_the_builtin_kinds_callers_catch(tmp_path: Path) -> None:
    """Bad data, input and options are ValueErrors; an unusable checkpoint is a RuntimeError (and all EcgImnError)."""
    from ecgimn.data import load_task
    from ecgimn.errors import CheckpointError, ConfigError, DataError, EcgImnError, InputError
    from ecgimn.inference.checkpoint import load_checkpoint

    assert all(issubclass(e, (EcgImnError, ValueError)) for e in (DataError, InputError, ConfigError))
    with pytest.raises(RuntimeError, match="absent.pt") as exc:
        load_checkpoint(tmp_path / "absent.pt")
    assert isinstance(exc.value, CheckpointError)
    with pytest.raises(ValueError, match="PTB-XL folder") as exc:
        load_task(tmp_path / "missing", "superdiagnostic", progress=False)
    assert isinstance(exc.value, DataError)
