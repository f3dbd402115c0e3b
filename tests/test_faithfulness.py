"""Deletion/insertion curves on a toy model with a known answer, the randomisation check and localisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecgimn.data import Standardizer
from ecgimn.errors import ConfigError
from ecgimn.explain import (
    WaveMasks,
    attribute,
    delineate,
    evidence_fraction,
    perturbation_curves,
    randomization_check,
    randomized_models,
    rank_cells,
    rank_correlation,
    zero_mv_fill,
)
from ecgimn.explain.perturb import fill_removed
from ecgimn.models import ModelOutput, create_model

FS, L = 100, 100


class LeadZeroModel(nn.Module):
    """A fixed linear model: logit = sum(x[lead 0, 10:20]) - 5 (an 'IMN' with constant W)."""

    interpretable = True

    def __init__(self) -> None:
        super().__init__()
        w = torch.zeros(1, 12, L)
        w[0, 0, 10:20] = 1.0
        self.w = nn.Parameter(w, requires_grad=False)
        self.b = -5.0

    def forward(self, x: torch.Tensor) -> ModelOutput:
        w = self.w.expand(x.shape[0], -1, -1, -1)
        return ModelOutput((w * x[:, None]).sum((-2, -1)) + self.b, w, torch.full((x.shape[0], 1), self.b))


def _sig(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def test_deletion_and_insertion_rank_a_known_answer() -> None:
    model, x = LeadZeroModel(), np.ones((1, 12, L), np.float32)
    perfect = attribute(model, x, 0, "imn")  # W * x: 1 on lead 0, samples 10-19, else 0
    assert perfect[0, 0, 10:20].sum() == 10 and perfect.sum() == 10
    reversed_ = 1.0 - perfect  # everything else ranked first, the true cells last
    rand = np.random.default_rng(1).random(x.shape).astype(np.float32)
    kw = dict(fs=FS, cell_seconds=0.05, step_fraction=0.05, fill=0.0)  # 5-sample cells: 12 x 20 = 240 cells
    curves = {
        n: perturbation_curves(model, x, a, 0, **kw)
        for n, a in [("perfect", perfect), ("random", rand), ("reversed", reversed_)]
    }
    d = {n: float(c.deletion_auc[0]) for n, c in curves.items()}
    i = {n: float(c.insertion_auc[0]) for n, c in curves.items()}
    assert d["perfect"] < d["random"] < d["reversed"]
    assert i["perfect"] > i["random"] > i["reversed"]
    # by hand: the two relevant cells go in the first step (12 cells = 5%), so the curve drops to sigmoid(-5) at 0.05
    hi, lo = _sig(5.0), _sig(-5.0)
    np.testing.assert_allclose(curves["perfect"].fractions, np.arange(21) / 20)
    np.testing.assert_allclose(d["perfect"], 0.05 * (hi + lo) / 2 + 0.95 * lo, rtol=1e-5)
    np.testing.assert_allclose(i["perfect"], 0.05 * (hi + lo) / 2 + 0.95 * hi, rtol=1e-5)
    # reversed: the relevant cells are the last 2 of 240, removed in the last step (228 -> 240 cells)
    np.testing.assert_allclose(d["reversed"], 0.95 * hi + 0.05 * (hi + lo) / 2, rtol=1e-5)


def test_curves_use_the_window_policy_and_the_interpolation_baseline() -> None:
    model, x = LeadZeroModel(), np.ones((2, 12, L), np.float32)
    a = attribute(model, x, 0, "imn")
    c = perturbation_curves(model, x, a, 0, fs=FS, window=L, stride=L, baseline="interpolate", fill=0.0)
    # interpolating across removed cells of a constant signal restores it (the probability stays), until a whole
    # lead is removed: then there is nothing to interpolate from and the lead falls back to ``fill``
    np.testing.assert_allclose(c.deletion[:, :2], _sig(5.0), rtol=1e-6)
    np.testing.assert_allclose(c.deletion[:, -1], _sig(-5.0), rtol=1e-6)
    np.testing.assert_allclose(c.insertion[:, 0], _sig(-5.0), rtol=1e-6)
    assert c.deletion.shape == (2, 21) and c.insertion.shape == (2, 21)
    with pytest.raises(ConfigError):
        perturbation_curves(model, x, a, 0, fs=FS, baseline="blur")


def testfill_removed() -> None:
    x = np.tile(np.arange(10, dtype=np.float32), (2, 1))
    x[1] = 5.0
    removed = np.zeros_like(x, dtype=bool)
    removed[0, 3:7] = True
    removed[1] = True
    fill = np.full_like(x, -1.0)
    out = fill_removed(x * np.where(removed, 9, 1), removed, "interpolate", fill)
    np.testing.assert_allclose(out[0], np.arange(10))  # a straight line across the removed run
    np.testing.assert_allclose(out[1], -1.0)  # nothing kept in the lead: falls back to fill
    np.testing.assert_allclose(fill_removed(x, removed, "constant", fill)[0, 3:7], -1.0)


def test_rank_cells_uses_positive_mass_only() -> None:
    a = np.zeros((2, 8))
    a[1, 4:6] = 2.0  # lead 1, cell 2: positive mass 4
    a[0, 0:2] = [5.0, -10.0]  # lead 0, cell 0: positive mass 5
    a[0, 6:8] = -100.0  # negative evidence is not relevance
    order = rank_cells(a, np.arange(0, 8, 2))
    assert list(order[:2]) == [0, 4 + 2]


def test_zero_mv_fill_is_standardised_zero() -> None:
    x = np.random.default_rng(0).standard_normal((3, 12, 50)).astype(np.float32) + 2.0
    st = Standardizer("per_record")
    fill = zero_mv_fill(st, x)
    expected = -x.mean(-1, keepdims=True) / x.std(-1, keepdims=True)
    assert fill.shape == x.shape
    np.testing.assert_allclose(fill, np.broadcast_to(expected, x.shape), rtol=1e-4)


def test_randomisation_check_changes_the_explanation() -> None:
    torch.manual_seed(0)
    model = create_model("blackbox-1d", num_classes=2, encoder_channels=[8, 8, 8]).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((2, 12, 120)).astype(np.float32)

    def explain(m: nn.Module) -> np.ndarray:
        return attribute(m, x, 1, "saliency")

    full = randomization_check(model, explain, mode="full")
    assert [s["stage"] for s in full] == ["all"] and len(full[0]["rho"]) == 2
    assert full[0]["rho_mean"] < 0.9
    cascade = randomization_check(model, explain, mode="cascading")
    n_param_modules = sum(1 for m in model.modules() if any(True for _ in m.parameters(recurse=False)))
    assert len(cascade) == n_param_modules and cascade[0]["stage"] == "head"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched
    stages = [name for name, _ in randomized_models(model, "cascading")]
    assert stages[0] == "head" and stages[-1].startswith("encoder.blocks.0")
    assert np.isnan(rank_correlation(np.zeros(5), np.arange(5.0)))
    assert rank_correlation(np.arange(5.0), -np.arange(5.0) * 2) == pytest.approx(1.0)  # |.| are compared


def test_evidence_fraction_by_hand() -> None:
    a = np.zeros((12, 10))
    a[0, 2] = 3.0
    a[5, 7] = 1.0
    a[3, 2] = -4.0  # negative evidence does not count
    mask = np.zeros(10, dtype=bool)
    mask[1:4] = True
    frac, cov = evidence_fraction(a, mask)
    assert frac == pytest.approx(0.75) and cov == pytest.approx(0.3)
    assert np.isnan(evidence_fraction(-np.ones((12, 10)), mask)[0])
    masks = WaveMasks(mask, ~mask, 3)
    assert masks.window("st_t").sum() == 7


def test_delineate_simulated_ecg_and_failure() -> None:
    import neurokit2 as nk

    ecg = nk.ecg_simulate(duration=10, sampling_rate=FS, heart_rate=70, noise=0.0, random_state=0)
    masks = delineate(np.tile(ecg[:1000], (12, 1)), FS)
    assert masks is not None and masks.n_beats >= 8
    assert 0 < masks.qrs.mean() < 0.5 and 0 < masks.st_t.mean() < 0.6
    assert not (masks.qrs & masks.st_t).any()
    assert delineate(np.zeros((12, 1000)), FS) is None
