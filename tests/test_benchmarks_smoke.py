"""Smoke tests of ``benchmarks/`` and ``scripts/``: every script's ``--help`` runs, and the cheap ones do a tiny
real run on synthetic PTB-XL folders (or the shared subset, for the slow-marked ones).

Scripts are run by path in a child process, as a user runs them, so the tests do not depend on where the package
keeps the modules they use. The ``--help`` calls and the tiny runs share one child process (``runpy``, each with its
own ``sys.argv`` and working folder) to pay the interpreter start and the imports once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_mixed_ptbxl, write_random_checkpoint

ROOT = Path(__file__).resolve().parents[1]
#: every runnable script (helper modules without a ``__main__`` block, such as app_common.py, are imported by them)
SCRIPTS = sorted(
    p for folder in ("benchmarks", "scripts") for p in (ROOT / folder).glob("*.py")
    if 'if __name__ == "__main__"' in p.read_text(encoding="utf-8")
)  # fmt: skip

#: runs each job of the JSON list on stdin, ``{"id", "script", "argv", "cwd"}``, as ``python SCRIPT ARGV...`` in this one
#: process; prints {id: {"code", "out", "err"}} JSON
_RUNNER = r"""
import contextlib, io, json, os, runpy, sys, traceback
results = {}
for job in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    path = job["script"]
    sys.argv = [path, *job["argv"]]
    sys.path.insert(0, os.path.dirname(path))
    os.chdir(job["cwd"])
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            code, err = -1, io.StringIO(traceback.format_exc())
    sys.path.pop(0)
    results[job["id"]] = {"code": code, "out": out.getvalue(), "err": err.getvalue()[-3000:]}
print(json.dumps(results))
"""


def _env() -> dict[str, str]:
    """The test's environment with this checkout's ``src`` first on the path and one thread per process."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _run(script: str, *args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _run_all(jobs: list[dict]) -> dict[str, dict]:
    """The jobs (see ``_RUNNER``) in one child process: {id: {"code", "out", "err"}}."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(jobs), capture_output=True, text=True,
                          env=_env(), cwd=ROOT, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mixed_ptbxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 synthetic 100 Hz records with the label patterns spread over the folds (folds 9 and 10 hold every class)."""
    return make_mixed_ptbxl(tmp_path_factory.mktemp("smoke") / "ptbxl")


@pytest.fixture(scope="module")
def runs(mixed_ptbxl: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], Path]:
    """Every script's ``--help`` and the tiny runs below, in one child process; (results by id, their folder)."""
    tmp = tmp_path_factory.mktemp("runs")
    study = tmp / "study"
    write_random_checkpoint(study / "imn-tiny" / "seed0" / "best.pt", "imn-1d", encoder_channels=[8, 8, 8])
    tiny = {
        "bench_models": ("benchmarks/bench_models.py", "--models", "imn-1d", "--steps", "1", "--batch-size", "2",
                         "--length", "250", "--threads", "1"),
        "bench_data_load": ("benchmarks/bench_data_load.py", "--root", mixed_ptbxl, "--repeat", "1",
                            "--json", tmp / "load.json"),
        "bench_inference": ("benchmarks/bench_inference.py", "--data", mixed_ptbxl, "--n", "4", "--batch-size", "4",
                            "--threads", "1", "--repeats", "1", "--models", "imn-1d", "--out", tmp / "speed.md"),
        "check_offsets": ("scripts/check_offsets.py", "--study", study, "--data", mixed_ptbxl,
                          "--configs", "imn-tiny", "--seeds", "0"),
        "bench_split_precision": ("benchmarks/bench_split_precision.py", "--data", mixed_ptbxl, "--n", "2",
                                  "--threads", "1", "--repeats", "1"),
    }  # fmt: skip
    jobs = [{"id": str(p), "script": str(p), "argv": ["--help"], "cwd": str(ROOT)} for p in SCRIPTS]
    jobs += [
        {"id": name, "script": str(ROOT / script), "argv": [str(a) for a in args], "cwd": str(ROOT)}
        for name, (script, *args) in tiny.items()
    ]
    return _run_all(jobs), tmp


def _tiny(runs: tuple[dict[str, dict], Path], name: str) -> str:
    result = runs[0][name]
    assert result["code"] == 0, f"exit {result['code']}\n{result['out'][-2000:]}\n{result['err']}"
    return result["out"]


def test_every_script_is_found() -> None:
    names = {p.name for p in SCRIPTS}
    assert {
        "bench_models.py",
        "bench_inference.py",
        "explainers.py",
        "check_offsets.py",
        "ship_default.py",
    } <= names
    assert "app_common.py" not in names  # a helper module, not a script


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help_runs(script: Path, runs: tuple[dict[str, dict], Path]) -> None:
    result = runs[0][str(script)]
    assert result["code"] == 0, result["err"]
    assert result["out"].startswith("usage:") and "--help" in result["out"], result["out"][:500]


def test_bench_models_tiny_run(runs: tuple[dict[str, dict], Path]) -> None:
    out = _tiny(runs, "bench_models")
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.startswith(("imn-paper ", "imn-1d "))
    }
    assert set(rows) == {
        "imn-paper",
        "imn-1d",
    }  # imn-paper is always timed: the reference of the ratio column
    assert rows["imn-paper"][-1] == "1.0x" and float(rows["imn-1d"][2]) > 0  # s/step


def test_bench_data_load_tiny_run(runs: tuple[dict[str, dict], Path]) -> None:
    out = _tiny(runs, "bench_data_load")
    result = json.loads((runs[1] / "load.json").read_text())
    assert result["records_in_metadata"] == 60 and 0 < result["records_loaded"] <= 60
    assert result["first_load_s"] > 0 and "first load" in out


def test_bench_inference_tiny_run(runs: tuple[dict[str, dict], Path]) -> None:
    table = runs[1] / "speed.md"
    out = _tiny(runs, "bench_inference")
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| imn-1d |")]
    assert [r[2].strip() for r in rows] == ["explain", "explain check=False", "predict_proba"]
    assert float(rows[0][10]) < 1e-4  # the engine gives the reference path's logits
    assert "records=4" in table.read_text()
    assert "same verdicts: True" in out  # the batched input check gives the per-record verdicts


def test_bench_split_precision_tiny_run(runs: tuple[dict[str, dict], Path]) -> None:
    out = _tiny(runs, "bench_split_precision")
    assert "torch._int_mm" in out and "| fp32_precision=bf16 | conv" in out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| bf16x")]
    assert [r[1].strip() for r in rows] == ["bf16x3", "bf16x4"]
    assert all(0 < float(r[2]) < 1e-2 for r in rows)  # an error of split-precision size, not zero, not bf16's


def test_check_offsets_tiny_run(runs: tuple[dict[str, dict], Path]) -> None:
    out = _tiny(runs, "check_offsets")
    lines = [line for line in out.splitlines() if "imn-tiny" in line]
    assert [line.split()[0] for line in lines] == ["val", "test"]
    assert all("as trained" in line and "lead means removed" in line for line in lines)


def test_readme_figures_refuses_a_folder_without_the_records(tmp_path: Path) -> None:
    proc = _run("scripts/readme_figures.py", "--data", str(tmp_path), "--out", str(tmp_path / "img"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "--data" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "img").exists()


# ------------------------------------------------------------------ slower runs on the real subset (-m slow)


@pytest.mark.slow
@pytest.mark.integration
def test_readme_figures_real_run(shared_ptbxl: Path, tmp_path: Path) -> None:
    out = _ok(_run("scripts/readme_figures.py", "--data", str(shared_ptbxl), "--out", str(tmp_path),
                   "--no-screenshot"))  # fmt: skip
    for name in ("example_explanation.png", "example_sttc.png"):
        assert (tmp_path / name).stat().st_size > 50_000 and name in out
    assert (
        _run(
            "scripts/readme_figures.py",
            "--data",
            str(shared_ptbxl),
            "--out",
            str(tmp_path),
            "--no-screenshot",
        ).returncode
        == 2
    )  # no --overwrite: nothing replaced


@pytest.mark.slow
@pytest.mark.integration
def test_bench_long_record_tiny_run(shared_ptbxl: Path) -> None:
    out = _ok(_run("benchmarks/bench_long_record.py", "--data", str(shared_ptbxl), "--minutes", "0.5",
                   "--threads", "1"))  # fmt: skip
    assert "| 0.5 | " in out


@pytest.mark.slow
@pytest.mark.integration
def test_bench_input_checks_tiny_run(shared_ptbxl: Path, tmp_path: Path) -> None:
    table = tmp_path / "checks.md"
    _ok(_run("benchmarks/bench_input_checks.py", "--data", str(shared_ptbxl), "--limit", "40",
             "--out", str(table)))  # fmt: skip
    text = table.read_text()
    assert "| fault |" in text and "units_uv" in text


@pytest.mark.slow
def test_app_soak_tiny_run(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    _ok(
        _run(
            "benchmarks/app_soak.py",
            "--uploads",
            "6",
            "--clients",
            "1",
            "--every",
            "3",
            "--out",
            str(tmp_path),
        )
    )
    assert (tmp_path / "app-soak.md").is_file() and (tmp_path / "app-soak.png").is_file()
