"""The lesion-prevalence diagnostic: its per-beat measures see a written lesion, its AUROC is the usual one, and a
run on a synthetic PTB-XL reads only the training folds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script
from test_waves import FS, R_TIMES, gaussian_beats

from ecgimn.constants import LEADS
from ecgimn.explain.lesions import Lesion
from ecgimn.explain.waves import delineate_beats

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "lesion_prevalence.py"


@pytest.fixture(scope="module")
def prevalence():
    return load_script(SCRIPT)


def test_measures_see_the_lesions_the_benchmark_writes(prevalence) -> None:
    x = gaussian_beats(R_TIMES)
    beats = delineate_beats(x, FS, method="fixed")
    st0, q0 = prevalence.beat_measures(x, FS, method="fixed")
    lateral = [LEADS.index(n) for n in ("I", "aVL", "V5", "V6")]
    others = [i for i in range(12) if i not in lateral]
    st1, _ = prevalence.beat_measures(
        Lesion("st_elevation", "lateral", 0.2).apply(x, beats), FS, method="fixed"
    )
    assert np.allclose(st1[lateral] - st0[lateral], 0.2, atol=0.02)
    assert np.allclose(st1[others], st0[others])
    _, q1 = prevalence.beat_measures(Lesion("q_wave", "lateral", 0.4).apply(x, beats), FS, method="fixed")
    assert np.all(q1[lateral] - q0[lateral] < -0.2) and np.allclose(q1[others], q0[others])
    flat = prevalence.beat_measures(np.zeros((12, 1000)), FS, method="fixed")
    assert np.isnan(flat[0]).all() and np.isnan(flat[1]).all()


def test_auroc_is_the_mann_whitney_statistic_with_ties(prevalence) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 60).astype(float)
    y = np.r_[np.ones(40), np.zeros(60)]
    assert prevalence.auroc(pos, neg) == pytest.approx(roc_auc_score(y, np.r_[pos, neg]))
    assert prevalence.auroc(np.array([np.nan, 1.0]), np.array([0.0])) == 1.0
    assert np.isnan(prevalence.auroc(np.array([]), neg))


def test_run_reads_the_training_folds_only(prevalence, synthetic_ptbxl: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.md"
    assert prevalence.main(["--data", str(synthetic_ptbxl), "--method", "fixed", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())
    # 20 records, folds (i - 1) % 10 + 1: training folds 1-8 hold ids 1-8 and 11-18; NORM-only: ids 1, 8, 11, 18
    # (pattern 0 and 7); MI: ids 2, 3, 12, 13 (IMI) and none of ASMI (pattern 9, folds 10)
    assert res["records"]["NORM"] == 4 and res["records"]["MI"] == 4 and res["records"]["MI: IMI"] == 4
    assert set(res["groups"]) == {"inferior", "lateral", "anterior"}
    # the synthetic signals are sine mixtures without beats: no measure, reported as such rather than guessed
    st = res["groups"]["inferior"]["st"]
    assert st["NORM"]["n"] == 0 and np.isnan(st["MI"]["auroc_vs_norm"])
    text = out.read_text()
    assert "training folds 1-8" in text and "| lateral | MI |" in text
