"""Training loop, checkpoints, evaluation, resume, DDP on CPU and the study runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgimn.cli import main
from ecgimn.errors import CheckpointError, ConfigError
from ecgimn.inference.checkpoint import save_checkpoint
from ecgimn.training import TrainConfig, load_checkpoint, model_from_checkpoint, predict, train


def _config(root: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(root),
        task="superdiagnostic",
        fs=100,
        model="imn-1d",
        out=str(out),
        epochs=2,
        batch_size=8,
        seed=0,
        progress=False,
        model_kwargs={"encoder_channels": [8, 16, 16]},
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def _mixed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 synthetic records with the label patterns spread over the folds (so fold 9/10 have both labels)."""
    from conftest import make_mixed_ptbxl

    return make_mixed_ptbxl(tmp_path_factory.mktemp("mixed") / "ptbxl")


@pytest.fixture
def synthetic_ptbxl(_mixed_template: Path) -> Path:  # overrides conftest's: training needs mixed folds
    return _mixed_template


@pytest.fixture(scope="module")
def tiny_run(_mixed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One 2-epoch run shared by the tests of this module (none of them changes it: they check that)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    summary = train(_config(_mixed_template, out))
    return out, summary


def test_train_writes_self_contained_checkpoint(tiny_run):
    out, summary = tiny_run
    assert summary["epochs_run"] == 2
    ckpt = load_checkpoint(out / "best.pt")
    for key in (
        "state_dict",
        "model_config",
        "task",
        "class_names",
        "fs",
        "standardizer",
        "window_samples",
        "package_version",
        "metrics",
        "train_config",
    ):
        assert key in ckpt
    assert ckpt["task"] == "superdiagnostic" and ckpt["fs"] == 100
    assert ckpt["class_names"] == sorted(ckpt["class_names"])
    assert json.loads((out / "config.json").read_text())["seed"] == 0
    assert len(json.loads((out / "history.json").read_text())) == 2


def test_checkpoint_round_trip_predicts_identically(tiny_run, synthetic_ptbxl):
    out, _ = tiny_run
    ckpt = load_checkpoint(out / "best.pt")
    a, b = model_from_checkpoint(ckpt), model_from_checkpoint(load_checkpoint(out / "best.pt"))
    x = np.random.default_rng(0).standard_normal((3, 12, 1000)).astype(np.float32)
    pa = predict(a, x, window=1000, stride=500)["logits"]
    pb = predict(b, x, window=1000, stride=500)["logits"]
    np.testing.assert_array_equal(pa, pb)


def test_training_is_deterministic(synthetic_ptbxl, tmp_path):
    s1 = train(_config(synthetic_ptbxl, tmp_path / "a", epochs=1))
    s2 = train(_config(synthetic_ptbxl, tmp_path / "b", epochs=1))
    a = load_checkpoint(tmp_path / "a" / "best.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "b" / "best.pt")["state_dict"]
    assert s1["best_val_macro_auroc"] == s2["best_val_macro_auroc"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_finished_run_is_protected_and_resumes_to_same_history(tiny_run, synthetic_ptbxl):
    out, _ = tiny_run
    cfg = _config(synthetic_ptbxl, out)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg)
    history = json.loads((out / "history.json").read_text())
    summary = train(cfg, resume=True)  # nothing left to train
    assert summary["epochs_run"] == 2
    assert json.loads((out / "history.json").read_text()) == history


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_after_interruption(synthetic_ptbxl, tmp_path, monkeypatch, ema):
    """Kill the run after epoch 1 (simulated by an exception in epoch 2), resume, compare with a clean run.

    With weight averaging the averaged model must be restored too, or the fold-9 scores after resuming differ."""
    import ecgimn.training.loop as loop

    clean = _config(synthetic_ptbxl, tmp_path / "clean", epochs=3, ema=ema)
    train(clean)
    cfg = _config(synthetic_ptbxl, tmp_path / "resumed", epochs=3, ema=ema)
    calls = {"n": 0}
    real_predict = loop.predict

    def flaky_predict(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(loop, "predict", flaky_predict)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.setattr(loop, "predict", real_predict)
    assert len(json.loads((tmp_path / "resumed" / "history.json").read_text())) == 1
    train(cfg, resume=True)
    a = json.loads((tmp_path / "clean" / "history.json").read_text())
    b = json.loads((tmp_path / "resumed" / "history.json").read_text())
    np.testing.assert_allclose(
        [h["val_macro_auroc"] for h in a], [h["val_macro_auroc"] for h in b], atol=1e-6
    )
    np.testing.assert_allclose([h["train_loss"] for h in a], [h["train_loss"] for h in b], rtol=1e-5)


def test_ema_checkpoint_holds_the_averaged_model(synthetic_ptbxl, tmp_path):
    """best.pt (and fold-9 selection) use the weight average, not the last optimiser iterate."""
    out = tmp_path / "ema"
    train(_config(synthetic_ptbxl, out, epochs=1, ema=0.9))  # one epoch: best.pt is that epoch
    best = load_checkpoint(out / "best.pt")
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    averaged = {k.removeprefix("module."): v for k, v in last["ema"].items() if k.startswith("module.")}
    assert set(averaged) == set(best["state_dict"]) and best["train_config"]["ema"] == 0.9
    for k, v in best["state_dict"].items():
        torch.testing.assert_close(v, averaged[k])
    assert any(
        not torch.equal(v, last["state_dict"][k])
        for k, v in best["state_dict"].items()
        if v.is_floating_point()
    )
    model = model_from_checkpoint(best)  # and it is still an exact IMN
    x = torch.randn(2, 12, 250)
    o = model(x)
    torch.testing.assert_close(
        (o.weights * x[:, None]).sum((-2, -1)) + o.bias, o.logits, rtol=1e-4, atol=1e-4
    )
    with pytest.raises(ConfigError, match="ema must be"):
        train(_config(synthetic_ptbxl, tmp_path / "bad", ema=1.0))


def test_distillation_from_a_teacher(synthetic_ptbxl, tmp_path, tiny_run):
    """The student learns from the teacher's soft labels; mismatched teachers are refused with a clear error."""
    import ecgimn.training.loop as loop

    teacher_dir, _ = tiny_run
    teacher = str(teacher_dir / "best.pt")
    kd = _config(synthetic_ptbxl, tmp_path / "kd", epochs=1, distill_from=[teacher], distill_weight=1.0)
    train(kd)
    ckpt = load_checkpoint(tmp_path / "kd" / "best.pt")
    assert ckpt["train_config"]["distill_from"] == [teacher] and ckpt["interpretable"]
    # the loss is the BCE against the teacher's probabilities (weight 1: labels ignored)
    model = model_from_checkpoint(ckpt)
    teachers = loop._load_teachers(
        kd, list(ckpt["class_names"]), loop.Standardizer("per_record"), torch.device("cpu")
    )
    x = torch.randn(3, 12, 1000)
    y = torch.zeros(3, len(ckpt["class_names"]))
    logits = model(x).logits
    soft = torch.sigmoid(teachers[0](x).logits)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, soft)
    torch.testing.assert_close(loop._loss(logits, y, x, teachers, kd), expected)
    torch.testing.assert_close(
        loop._loss(logits, soft.round(), x, teachers, kd), expected
    )  # labels: no effect
    with pytest.raises(ConfigError, match="different standardisation"):
        train(_config(synthetic_ptbxl, tmp_path / "bad1", standardize="global", distill_from=[teacher]))
    with pytest.raises(CheckpointError, match="task"):
        train(_config(synthetic_ptbxl, tmp_path / "bad2", task="norm-vs-mi", distill_from=[teacher]))
    with pytest.raises(ConfigError, match="non-empty list"):
        train(_config(synthetic_ptbxl, tmp_path / "bad3", distill_from=teacher))
    assert (
        main(
            [
                "train",
                "--data",
                str(synthetic_ptbxl),
                "--out",
                str(tmp_path / "cli"),
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--no-progress",
                "--model-kwargs",
                '{"encoder_channels": [8, 16, 16]}',
                "--distill-from",
                teacher,
                "--distill-weight",
                "0.3",
                "--ema",
                "0.9",
            ]
        )
        == 0
    )
    cfg = load_checkpoint(tmp_path / "cli" / "best.pt")["train_config"]
    assert cfg["distill_from"] == [teacher] and cfg["distill_weight"] == 0.3 and cfg["ema"] == 0.9


def test_train_options_reach_the_config_fields_of_their_names():
    """``ecgimn train``: every option sets the TrainConfig field of its name (three are renamed or parsed)."""
    from dataclasses import asdict

    from ecgimn.cli import build_parser
    from ecgimn.cli.train import train_config

    args = build_parser().parse_args(
        ["train", "--data", "d", "--out", "o", "--lr", "0.5", "--eval-stride-seconds", "2", "--augment",
         "--distill-from", "a.pt", "b.pt", "--threads", "3", "--no-progress", "--model-kwargs", '{"dropout": 0.1}',
         "--data-on-device", "--precision", "bf16", "--patience", "4"]
    )  # fmt: skip
    cfg = asdict(train_config(args))
    expected = {"lr": 0.5, "eval_stride_seconds": 2.0, "augment": True, "distill_from": ["a.pt", "b.pt"]}
    expected |= {
        "num_threads": 3,
        "progress": False,
        "model_kwargs": {"dropout": 0.1},
        "data_on_device": True,
    }
    expected |= {"precision": "bf16", "patience": 4, "data": "d", "out": "o"}
    assert {k: cfg[k] for k in expected} == expected
    untouched = asdict(TrainConfig(data="d", out="o"))
    assert {k for k in cfg if cfg[k] != untouched[k]} == set(expected) - {"data", "out"}
    with pytest.raises(ConfigError, match="--model-kwargs is not valid JSON"):
        train_config(build_parser().parse_args(["train", "--data", "d", "--out", "o", "--model-kwargs", "{"]))


def test_crops_and_sliding_window_inference_stay_exact(synthetic_ptbxl, tmp_path):
    cfg = _config(
        synthetic_ptbxl, tmp_path / "crop", epochs=1, crop_seconds=2.5, l1=1e-4, tv=1e-3, augment=True
    )
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "crop" / "best.pt")
    assert ckpt["window_samples"] == 250 and ckpt["stride_samples"] == 125
    from ecgimn.training import exactness_error

    model = model_from_checkpoint(ckpt)
    x = np.random.default_rng(1).standard_normal((2, 12, 1000)).astype(np.float32)
    assert exactness_error(model, x, window=250, stride=125) < 1e-4


def _evaluate_cli(checkpoint: Path, root: Path, *extra: str) -> int:
    """``ecgimn evaluate --checkpoint CHECKPOINT --data ROOT EXTRA...``; its exit status."""
    return main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(root), *extra])


def test_evaluate_cli_writes_json(tiny_run, synthetic_ptbxl, tmp_path, capsys):
    out, _ = tiny_run
    report_path = tmp_path / "eval.json"
    assert (
        _evaluate_cli(out / "best.pt", synthetic_ptbxl, "--out", str(report_path), "--n-bootstrap", "0") == 0
    )
    report = json.loads(report_path.read_text())
    assert report["split"] == "test" and report["task"] == "superdiagnostic"
    assert report["exactness_max_rel_error"] < 1e-4
    assert "macro-AUROC" in capsys.readouterr().out


def test_bad_checkpoints_give_clear_errors(tmp_path, tiny_run, synthetic_ptbxl, capsys):
    out, _ = tiny_run
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(missing)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable ECG-IMN checkpoint"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"a": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an ECG-IMN checkpoint"):
        load_checkpoint(foreign)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((out / "best.pt").read_bytes()[:2000])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="trained for task 'superdiagnostic'"):
        load_checkpoint(out / "best.pt", expected_task="norm-vs-mi")
    ckpt = load_checkpoint(out / "best.pt")
    ckpt["state_dict"] = dict(list(ckpt["state_dict"].items())[1:])  # e.g. weights of another architecture
    wrong = save_checkpoint(tmp_path / "wrong.pt", ckpt)
    with pytest.raises(CheckpointError, match="weights do not match"):
        model_from_checkpoint(load_checkpoint(wrong), wrong)
    # through the CLI: one line, exit 2, no traceback
    assert _evaluate_cli(text, synthetic_ptbxl) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert _evaluate_cli(out / "best.pt", synthetic_ptbxl, "--task", "norm-vs-mi") == 2


def test_existing_run_is_not_overwritten(tiny_run, synthetic_ptbxl, capsys):
    out, _ = tiny_run
    before = (out / "best.pt").read_bytes()
    assert (
        main(["train", "--data", str(synthetic_ptbxl), "--out", str(out), "--epochs", "1", "--no-progress"])
        == 2
    )
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "best.pt").read_bytes() == before


def test_bad_options(synthetic_ptbxl, tmp_path):
    with pytest.raises(ConfigError, match="unknown task"):
        train(_config(synthetic_ptbxl, tmp_path / "x", task="nope"))
    with pytest.raises(ConfigError, match="fs must be"):
        train(_config(synthetic_ptbxl, tmp_path / "x", fs=250))
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(_config(synthetic_ptbxl, tmp_path / "x"), resume=True)


def test_binary_task_single_map(synthetic_ptbxl, tmp_path):
    train(_config(synthetic_ptbxl, tmp_path / "mi", task="norm-vs-mi", epochs=1))
    ckpt = load_checkpoint(tmp_path / "mi" / "best.pt")
    assert ckpt["class_names"] == ["MI"]
    model = model_from_checkpoint(ckpt)
    out = model(torch.zeros(1, 12, 1000))
    assert out.weights.shape == (1, 1, 12, 1000)


@pytest.mark.slow  # two torchrun processes, each importing torch
@pytest.mark.skipif(sys.platform == "win32", reason="torchrun/gloo test runs on Linux/macOS")
def test_ddp_two_processes_on_cpu(synthetic_ptbxl, tmp_path):
    """torchrun + DistributedDataParallel (gloo backend): 2 CPU processes train one model."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "ecgimn",
        "train",
        "--data",
        str(synthetic_ptbxl),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--no-progress",
        "--model-kwargs",
        '{"encoder_channels": [8, 16, 16]}',
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(out / "best.pt")
    assert len(json.loads((out / "history.json").read_text())) == 2
    assert ckpt["metrics"]["n_train"] > 0


def _study_cli(
    root: Path, configs: str | Path, out: Path, *extra: str, seeds: tuple[str, ...] = ("0", "1")
) -> int:
    """``ecgimn study --data ROOT --configs CONFIGS --seeds SEEDS... --out OUT EXTRA...``; its exit status."""
    argv = ["study", "--data", str(root), "--configs", str(configs), "--seeds", *seeds, "--out", str(out)]
    return main([*argv, *extra])


def test_study_tiny_run(synthetic_ptbxl, tmp_path, capsys, monkeypatch):
    from ecgimn.study import runner

    # 200 paired resamples instead of 1000: the same computation, a fifth of the ranking (the interval is checked
    # for its place around the difference, not for its width)
    monkeypatch.setitem(runner.paired_comparison.__kwdefaults__, "n_bootstrap", 200)
    configs = tmp_path / "configs.json"
    configs.write_text(
        json.dumps(
            {
                "imn-tiny": {"model": "imn-1d", "model_kwargs": {"encoder_channels": [8, 16, 16]}},
                "bb-tiny": {"model": "blackbox-1d", "model_kwargs": {"encoder_channels": [8, 16, 16]}},
            }
        )
    )
    assert (
        _study_cli(
            synthetic_ptbxl,
            configs,
            tmp_path / "study",
            "--set",
            "epochs=1",
            "batch_size=8",
            "progress=false",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "expected training time" in out and "ms/step" in out
    results = json.loads((tmp_path / "study" / "results.json").read_text())
    assert len(results["runs"]) == 4
    md = (tmp_path / "study" / "results.md").read_text()
    assert "imn-tiny" in md and "bb-tiny" in md and "fold-10 AUROC" in md
    imn = [r for r in results["runs"] if r["config"] == "imn-tiny"]
    assert all(r["exactness_max_rel_error"] < 1e-4 for r in imn)
    assert all(r["exactness_max_rel_error"] is None for r in results["runs"] if r["config"] == "bb-tiny")
    assert all(0 <= r["bias_variance_fraction"] for r in imn)
    assert (
        set(results["ensembles"]) == {"imn-tiny | seeds 0,1", "bb-tiny | seeds 0,1"}
        and "Seed ensembles" in md
    )
    comparison = json.loads((tmp_path / "study" / "comparison.json").read_text())
    assert (
        comparison["imn"] == "imn-tiny" and comparison["blackbox"] == "bb-tiny" and len(comparison["a"]) == 2
    )
    single = comparison["single_models"]
    expected = np.mean([r["test_macro_auroc"] for r in imn]) - np.mean(
        [r["test_macro_auroc"] for r in results["runs"] if r["config"] == "bb-tiny"]
    )
    assert single["difference"] == pytest.approx(expected, abs=1e-9)  # the same runs, the same records
    assert single["ci_low"] <= single["difference"] <= single["ci_high"]
    assert "Paired comparison" in md and comparison["single_models"]["n_bootstrap"] == 200
    assert "Matched twins" in md and "| imn-tiny | bb-tiny | " in md  # imn-1d / blackbox-1d, same recipe
    assert f"{expected:+.4f}" in md.split("Matched twins")[1]


def _tiny_study(root: Path, out: Path, *extra: str, seeds: tuple[str, ...] = ("0",)) -> int:
    tiny = ("epochs=2", "batch_size=8", "progress=false", 'model_kwargs={"encoder_channels": [8, 8, 8]}')
    return _study_cli(root, "imn-1d", out, "--set", *tiny, *extra, seeds=seeds)


def test_study_adopts_its_run_folders_and_never_overwrites_another_run(synthetic_ptbxl, tmp_path, capsys):
    """A run folder that results.json does not list (lost results.json, runs trained elsewhere and copied in) is
    adopted when its recipe matches, without training; a run of another recipe is left alone with an error."""
    study = tmp_path / "study"
    assert _tiny_study(synthetic_ptbxl, study) == 0
    best = study / "imn-1d" / "seed0" / "best.pt"
    before = json.loads((study / "results.json").read_text())["runs"][0]
    stamp = best.stat().st_mtime_ns
    (study / "results.json").unlink()
    capsys.readouterr()
    assert _tiny_study(synthetic_ptbxl, study) == 0
    assert "found in their folders" in capsys.readouterr().out
    assert best.stat().st_mtime_ns == stamp  # not retrained
    after = json.loads((study / "results.json").read_text())["runs"][0]
    for key in ("val_macro_auroc", "test_macro_auroc", "epochs_run", "best_epoch", "n_params"):
        assert after[key] == before[key], key
    (study / "results.json").unlink()
    assert _tiny_study(synthetic_ptbxl, study, "lr=0.01", seeds=("1", "0")) == 2
    err = capsys.readouterr().err
    assert "another recipe" in err and "lr: 0.001 there, 0.01 here" in err
    assert best.stat().st_mtime_ns == stamp
    assert not (study / "imn-1d" / "seed1").exists()  # refused before training anything


def test_study_resumes_an_interrupted_run(synthetic_ptbxl, tmp_path, monkeypatch):
    import ecgimn.training.loop as loop

    assert _tiny_study(synthetic_ptbxl, tmp_path / "clean") == 0
    real_predict, calls = loop.predict, {"n": 0}

    def flaky_predict(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the fold-9 scoring of epoch 2
            raise KeyboardInterrupt
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(loop, "predict", flaky_predict)
    assert _tiny_study(synthetic_ptbxl, tmp_path / "cut") == 130
    monkeypatch.setattr(loop, "predict", real_predict)
    history = tmp_path / "cut" / "imn-1d" / "seed0" / "history.json"
    first = json.loads(history.read_text())
    assert len(first) == 1
    assert _tiny_study(synthetic_ptbxl, tmp_path / "cut") == 0
    assert (
        json.loads(history.read_text())[0] == first[0]
    )  # continued (epoch 1 kept, timing and all), not redone
    clean, cut = (
        json.loads((tmp_path / d / "results.json").read_text())["runs"][0] for d in ("clean", "cut")
    )
    assert cut["epochs_run"] == 2
    assert cut["val_macro_auroc"] == pytest.approx(clean["val_macro_auroc"], abs=1e-6)


def test_resuming_an_early_stopped_run_trains_nothing(synthetic_ptbxl, tmp_path, monkeypatch):
    import ecgimn.training.loop as loop

    monkeypatch.setattr(loop, "_improved", lambda record, best: record["epoch"] == 0)
    cfg = _config(synthetic_ptbxl, tmp_path / "es", epochs=5, patience=1)
    assert train(cfg)["epochs_run"] == 2  # epoch 1 did not improve: stop
    assert train(cfg, resume=True)["epochs_run"] == 2
    assert len(json.loads((tmp_path / "es" / "history.json").read_text())) == 2


@pytest.mark.integration
def test_one_epoch_on_real_ptbxl(shared_ptbxl, tmp_path):
    """1 epoch of the fast configuration on the real 1,999-record subset, then fold-10 evaluation."""
    out = tmp_path / "real"
    summary = train(_config(shared_ptbxl, out, epochs=1, batch_size=64, max_train_records=400))
    assert 0.5 < summary["best_val_macro_auroc"] <= 1.0
    from ecgimn.study.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(out / "best.pt", shared_ptbxl, n_bootstrap=10, progress=False)
    assert report["n_records"] == 252
    assert report["ci_low"] <= report["macro_auroc"] <= report["ci_high"] or report["n_bootstrap"] == 10
    assert report["exactness_max_rel_error"] < 1e-4


def test_study_estimate_only(synthetic_ptbxl, tmp_path, capsys):
    assert _study_cli(synthetic_ptbxl, "imn-1d-crop", tmp_path / "s", "--set", "epochs=2", "--estimate") == 0
    out = capsys.readouterr().out
    assert "imn-1d-crop" in out and "expected training time" in out
    assert not (tmp_path / "s").exists()


def test_study_estimate_times_existing_teachers(synthetic_ptbxl, tmp_path, tiny_run):
    from ecgimn.study.estimate import estimate_seconds

    teacher = str(tiny_run[0] / "best.pt")
    configs = {
        "kd": {
            "model": "imn-1d",
            "distill_from": [teacher, "{study}/not-trained/best.pt"],
            "model_kwargs": {"encoder_channels": [8, 16, 16]},
        }
    }
    est = estimate_seconds(
        str(synthetic_ptbxl), configs, seeds=[0], defaults={"epochs": 1, "batch_size": 8}, study_dir=tmp_path
    )
    assert est["rows"][0]["teachers_missing"] == 1 and est["rows"][0]["seconds"] > 0


def test_regularisers_act_on_the_unit_scale_map():
    from ecgimn.training.loop import _regulariser

    maps = torch.tensor([[[[1.0, -1.0, 3.0]]]])
    scale = 0.01
    cfg = TrainConfig(data=".", l1=0.5, tv=0.25)
    expected = 0.5 * (5 / 3) + 0.25 * ((2 + 4) / 2)
    assert float(_regulariser(maps * scale, cfg, scale)) == pytest.approx(expected)
    assert _regulariser(None, cfg) == 0.0
    assert _regulariser(maps, TrainConfig(data=".")) == 0.0


def test_study_teacher_paths_resolve_to_the_study_folder(tmp_path):
    from ecgimn.study.presets import STUDY_PRESETS
    from ecgimn.study.presets import expand_study_paths as _expand_study_paths

    recipe = _expand_study_paths(STUDY_PRESETS["imn-1d-aug-crop-kd"], tmp_path)
    assert recipe["distill_from"] == [
        str(tmp_path / "blackbox-1d-aug-crop" / f"seed{s}" / "best.pt") for s in range(3)
    ]
    assert "{study}" in STUDY_PRESETS["imn-1d-aug-crop-kd"]["distill_from"][0]  # the preset is not modified


def test_every_study_preset_is_a_valid_recipe():
    from ecgimn.models import list_models
    from ecgimn.study.presets import STUDY_PRESETS
    from ecgimn.study.presets import expand_study_paths as _expand_study_paths

    for name, recipe in STUDY_PRESETS.items():
        config = TrainConfig(data="unused", **_expand_study_paths(recipe, Path("study"))).validate()
        assert config.model in list_models(), name
        twin = name.replace("imn-1d", "blackbox-1d", 1)
        if name.startswith("imn-1d-") and twin in STUDY_PRESETS:  # twins differ only in the model
            other = dict(STUDY_PRESETS[twin])
            assert {k: v for k, v in other.items() if k != "model"} == {
                k: v for k, v in recipe.items() if k != "model"
            }, (name, twin)


def test_data_on_device_gives_the_same_run_and_bf16_autocast_trains(synthetic_ptbxl, tmp_path):
    """The GPU options, exercised on CPU: a device-resident training set draws the same batches (same weights);
    bf16 autocast trains to finite losses and writes a checkpoint that still explains exactly."""
    kw = dict(epochs=1, crop_seconds=2.5, augment=True)
    train(_config(synthetic_ptbxl, tmp_path / "a", **kw))
    train(_config(synthetic_ptbxl, tmp_path / "b", data_on_device=True, device="cpu", **kw))
    a = load_checkpoint(tmp_path / "a" / "best.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "b" / "best.pt")["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    train(_config(synthetic_ptbxl, tmp_path / "c", precision="bf16", **kw))
    history = json.loads((tmp_path / "c" / "history.json").read_text())
    assert np.isfinite(history[0]["train_loss"])
    with pytest.raises(ConfigError, match="precision"):
        _config(synthetic_ptbxl, tmp_path / "d", precision="fp8").validate()


def test_baseline_option_is_trained_recorded_and_applied(synthetic_ptbxl, tmp_path):
    from ecgimn.api import Predictor
    from ecgimn.study.evaluate import evaluate_checkpoint

    with pytest.raises(ConfigError, match="baseline"):
        _config(synthetic_ptbxl, tmp_path / "bad", baseline="wavelet").validate()
    train(_config(synthetic_ptbxl, tmp_path / "hp", epochs=1, baseline="highpass"))
    ckpt = load_checkpoint(tmp_path / "hp" / "best.pt")
    assert ckpt["preprocess"] == {"baseline": "highpass"} and ckpt["train_config"]["baseline"] == "highpass"
    predictor = Predictor(ckpt, device="cpu")
    assert predictor.baseline == "highpass"
    x = np.random.default_rng(2).standard_normal((2, 12, 1000)).astype(np.float32) * 0.3
    np.testing.assert_allclose(predictor.predict_proba(x + 5.0), predictor.predict_proba(x), atol=1e-4)
    assert evaluate_checkpoint(tmp_path / "hp" / "best.pt", synthetic_ptbxl, progress=False)["n_records"] > 0
    old = load_checkpoint(tmp_path / "hp" / "best.pt")
    del old["preprocess"]
    assert (
        Predictor(old, device="cpu").baseline is None
    )  # checkpoints without the option keep their behaviour
