"""The localisation benchmark's exact split, on synthetic beats and a small random IMN (no data needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
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
    pred = ecgimn.load(write_random_checkpoint(tmp_path / "m.pt", "imn-1d", encoder_channels=[8, 8, 8]), device="cpu")
    X = np.stack([gaussian_beats(R_TIMES, seed=s) for s in range(2)]).astype(np.float32)
    beats = [delineate_beats(x, FS, method="fixed") for x in X]
    lesions = [Lesion("st_elevation", "inferior", s) for s in (0.05, 0.1, 0.2)] + [Lesion("control", "all", 0.02)]
    res = bench.imn_lesions(pred, X, beats, lesions, FS)
    assert set(res) == {"st_elevation-horizontal/inferior@0.05", "st_elevation-horizontal/inferior@0.1",
                        "st_elevation-horizontal/inferior@0.2", "control/all@0.02"}
    for v in res.values():
        assert v["max_abs_residual"] < 1e-4 and v["n"] == 2
    s = bench.summarise(res, lesions)
    assert s["dlogit_grows_with_size"].endswith("of 1")
    assert np.isfinite(s["control_max_abs_dp"])
    assert len(bench.lesion_set()) == 56
