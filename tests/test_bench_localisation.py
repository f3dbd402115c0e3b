"""The localisation benchmark's exact split, on synthetic beats and a small random IMN (no data needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import write_random_checkpoint
from test_waves import FS, R_TIMES, gaussian_beats

import ecgimn
from ecgimn.explain.lesions import Lesion
from ecgimn.explain.waves import delineate_beats

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_localisation.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_localisation", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_lesion_split_is_exact_and_summarised(tmp_path: Path) -> None:
    bench = _bench()
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


def test_design_rule_reads_study_and_localisation_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "localisation_designs", BENCH.with_name("localisation_designs.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    import json

    def loc(cells: float, bias: float, path: Path) -> str:
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

    study = tmp_path / "results.json"
    study.write_text(
        json.dumps(
            {
                "runs": [
                    {"config": mod.CANDIDATE, "val_macro_auroc": 0.93, "test_macro_auroc": 0.88}
                    for _ in range(3)
                ]
            }
        )
    )
    out = tmp_path / "designs.md"
    good = [loc(0.85, 0.05, tmp_path / f"c{i}.json") for i in range(3)]
    mod.main(
        [
            "--study",
            str(study),
            "--default",
            loc(0.5, 0.2, tmp_path / "d.json"),
            "--candidate",
            *good,
            "--out",
            str(out),
        ]
    )
    assert "adopt the candidate" in out.read_text()
    bad = [loc(0.85, 0.25, tmp_path / f"b{i}.json") for i in range(3)]
    mod.main(
        ["--study", str(study), "--default", str(tmp_path / "d.json"), "--candidate", *bad, "--out", str(out)]
    )
    text = out.read_text()
    assert "the shipped default stays" in text and "bias share <= 0.10: not met" in text
    # several named candidates (round 2): the verdict names the one that meets all bars, and an unknown name fails
    study.write_text(
        json.dumps(
            {
                "runs": [
                    {"config": n, "val_macro_auroc": v, "test_macro_auroc": 0.88}
                    for n, v in (("a", 0.93), ("b", 0.90))
                    for _ in range(3)
                ]
            }
        )
    )
    mod.main(
        [
            "--study",
            str(study),
            "--default",
            str(tmp_path / "d.json"),
            "--candidate",
            "a",
            *good,
            "--candidate",
            "b",
            *good,
            "--plan",
            "plan-2.md",
            "--out",
            str(out),
        ]
    )
    text = out.read_text()
    assert "`a` meets all bars" in text and "[plan-2.md](plan-2.md)" in text
    assert "Bars of the rule, `b`: fold-9 macro-AUROC >= 0.9268: not met" in text
    mod.main(
        [
            "--study",
            str(study),
            "--default",
            str(tmp_path / "d.json"),
            "--candidate",
            "a",
            *good[:2],
            "--out",
            str(out),
        ]
    )
    assert "incomplete" in out.read_text() and "no candidate meets all bars" in out.read_text()
    with pytest.raises(SystemExit, match="no runs of 'c'"):
        mod.main(
            [
                "--study",
                str(study),
                "--default",
                str(tmp_path / "d.json"),
                "--candidate",
                "c",
                *good,
                "--out",
                str(out),
            ]
        )
