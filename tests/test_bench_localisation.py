"""The localisation benchmark's exact split, on synthetic beats and a small random IMN (no data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script, write_random_checkpoint
from test_waves import FS, R_TIMES, gaussian_beats

import ecgimn
from ecgimn.explain.lesions import Lesion
from ecgimn.explain.waves import delineate_beats

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_localisation.py"


def test_lesion_split_is_exact_and_summarised(tmp_path: Path) -> None:
    bench = load_script(BENCH)
    pred = ecgimn.load(
        write_random_checkpoint(tmp_path / "m.pt", "imn-1d", encoder_channels=[8, 8, 8]), device="cpu"
    )
    X = np.stack([gaussian_beats(R_TIMES, seed=s) for s in range(2)]).astype(np.float32)
    beats = [delineate_beats(x, FS, method="fixed") for x in X]
    lesions = [Lesion("st_elevation", "inferior", s) for s in (0.05, 0.1, 0.2)] + [
        Lesion("control", "all", 0.02)
    ]
    res = bench.imn_lesions(pred, X, beats, lesions, FS)
    assert set(res) == {
        "st_elevation-horizontal/inferior@0.05",
        "st_elevation-horizontal/inferior@0.1",
        "st_elevation-horizontal/inferior@0.2",
        "control/all@0.02",
    }
    for v in res.values():
        assert v["max_abs_residual"] < 1e-4 and v["n"] == 2
    s = bench.summarise(res, lesions)
    assert s["dlogit_grows_with_size"].endswith("of 1")
    assert np.isfinite(s["control_max_abs_dp"])
    assert len(bench.lesion_set()) == 56


def _study(path: Path, runs: list[tuple[str, float]]) -> Path:
    """A study results.json: three seeds of each (config, fold-9 macro-AUROC), fold 10 at 0.88."""
    results = [
        {"config": c, "val_macro_auroc": v, "test_macro_auroc": 0.88} for c, v in runs for _ in range(3)
    ]
    path.write_text(json.dumps({"runs": results}))
    return path


def _localisation(cells: float, bias: float, path: Path) -> str:
    """A localisation run's JSON with these cell and bias shares (the rest fixed, every bar met)."""
    summary = {
        "cells_share_mean": cells,
        "cells_share_median": cells,
        "bias_share_mean": bias,
        "abs_cells_share_mean": 0.5,
        "dlogit_grows_with_size": "18 of 18",
        "control_max_abs_dp": 0.001,
    }
    real = {"sttc_st_t_share_norm_referenced": 0.9, "mi_top_lead_in_territory": {"model": 0.6}}
    path.write_text(json.dumps({"summary": summary, "real": real}))
    return str(path)


def test_design_rule_reads_study_and_localisation_runs(tmp_path: Path) -> None:
    mod = load_script(BENCH.with_name("localisation_designs.py"))
    out = tmp_path / "designs.md"
    default = tmp_path / "d.json"

    def designs(study: Path, *candidates: list[str], plan: str | None = None) -> str:
        """localisation_designs.py with each ``--candidate [NAME] RUN...`` group; returns the written table."""
        argv = ["--study", str(study), "--default", str(default), "--out", str(out)]
        for group in candidates:
            argv += ["--candidate", *group]
        mod.main(argv + (["--plan", plan] if plan else []))
        return out.read_text()

    study = _study(tmp_path / "results.json", [(mod.CANDIDATE, 0.93)])
    _localisation(0.5, 0.2, default)
    good = [_localisation(0.85, 0.05, tmp_path / f"c{i}.json") for i in range(3)]
    assert "adopt the candidate" in designs(study, good)
    bad = [_localisation(0.85, 0.25, tmp_path / f"b{i}.json") for i in range(3)]
    text = designs(study, bad)
    assert "the shipped default stays" in text and "bias share <= 0.10: not met" in text
    # several named candidates (round 2): the verdict names the one that meets all bars, and an unknown name fails
    _study(study, [("a", 0.93), ("b", 0.90)])
    text = designs(study, ["a", *good], ["b", *good], plan="plan-2.md")
    assert "`a` meets all bars" in text and "[plan-2.md](plan-2.md)" in text
    assert "Bars of the rule, `b`: fold-9 macro-AUROC >= 0.9268: not met" in text
    text = designs(study, ["a", *good[:2]])
    assert "incomplete" in text and "no candidate meets all bars" in text
    with pytest.raises(SystemExit, match="no runs of 'c'"):
        designs(study, ["c", *good])
