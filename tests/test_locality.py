"""The training-time locality penalty: perturbations, the leak it measures, gradients, and the training option."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ecgimn.errors import ConfigError
from ecgimn.models import create_model
from ecgimn.models.base import ModelOutput
from ecgimn.training.locality import BLOCK_SECONDS, block_sums, local_perturbations, locality_forward


def locality_penalty(model, x, delta, support, fs):
    return locality_forward(model, x, delta, support, fs)[1]


FS = 100


class _Linear(nn.Module):
    """W = a + s * f(x) with a chosen dependence f; b = c + t * sum(x)."""

    def __init__(self, kind: str, bias_slope: float = 0.0) -> None:
        super().__init__()
        self.kind = kind
        self.a = nn.Parameter(torch.randn(2, 12, 1))
        self.s = nn.Parameter(torch.tensor(0.5))
        self.t = bias_slope
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if self.kind == "static":
            dep = torch.zeros_like(x)
        elif self.kind == "pointwise":  # W at (lead, t) reads x at (lead, t) only
            dep = torch.tanh(x)
        else:  # "global": every W reads the mean of the whole record
            dep = x.mean((-2, -1), keepdim=True).expand_as(x)
        w = self.a.unsqueeze(0) + self.s * self.drop(dep).unsqueeze(1)  # (B, 2, 12, L)
        b = self.t * x.sum((-2, -1))[:, None].expand(-1, 2)
        return ModelOutput(torch.einsum("bkcl,bcl->bk", w, x) + b, w, b)


def _batch(seed: int = 0, B: int = 6, L: int = 250) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(B, 12, L, generator=torch.Generator().manual_seed(seed + 1))
    delta, support = local_perturbations((B, 12, L), FS, torch.Generator().manual_seed(seed))
    return x, delta, support


def test_perturbations_are_local_smooth_and_seeded():
    x, delta, support = _batch(B=200)
    assert torch.all(delta[~support] == 0)
    leads = support.any(-1).sum(-1)
    assert leads.min() >= 1 and leads.max() <= 3
    length = support.any(1).sum(-1)
    assert length.min() >= 10 and length.max() <= 40
    assert torch.all(delta.abs().amax((-2, -1)) > 0) and delta.abs().max() <= 1.5
    # smooth at the edges: no step from the baseline where the segment starts or ends
    idx = torch.arange(delta.shape[-1])
    first = torch.where(support, idx, 10**6).amin(-1).clamp(max=delta.shape[-1] - 1)
    last = torch.where(support, idx, -1).amax(-1).clamp(min=0)
    edges = torch.maximum(delta.gather(-1, first[..., None]).abs(), delta.gather(-1, last[..., None]).abs())
    assert torch.all(edges[..., 0] <= 0.5 * delta.abs().amax(-1) + 1e-6)
    again = _batch(B=200)
    assert torch.equal(again[1], delta) and torch.equal(again[2], support)
    assert not torch.equal(_batch(seed=1, B=200)[1], delta)


def test_repeated_perturbations_recur_with_one_period_per_record():
    """``repeat``: the same segment in the same leads recurs every 0.6-1.2 s across the record; zero elsewhere."""
    B, L = 64, 1000
    delta, support = local_perturbations((B, 12, L), FS, torch.Generator().manual_seed(3), repeat=True)
    assert torch.all(delta[~support] == 0)
    for i in range(B):
        leads = support[i].any(-1)
        assert 1 <= int(leads.sum()) <= 3 and torch.all(support[i, leads] == support[i, leads][0])
        mask = support[i, leads][0].int()
        starts = torch.nonzero(mask.diff() == 1).flatten() + 1
        assert len(starts) >= 6  # about 10 s / <= 1.2 s
        period = starts.diff()
        assert int(period.min()) == int(period.max()) and 60 <= int(period[0]) <= 120
        lengths = {int(mask[s : s + int(period[0])].sum()) for s in starts[:-1].tolist()}
        assert len(lengths) == 1 and 10 <= lengths.pop() <= 40
        seg = delta[i, leads][:, int(starts[1]) : int(starts[2])]
        assert torch.allclose(seg, delta[i, leads][:, int(starts[2]) : int(starts[3])])
    # without repeat the draws are unchanged (seeded runs of the single perturbation reproduce)
    once = local_perturbations((B, 12, L), FS, torch.Generator().manual_seed(3))
    assert torch.all(once[1].any(1).int().diff(dim=-1).clamp(min=0).sum(-1) <= 1)


def test_block_sums_keep_a_partial_last_block():
    v = torch.arange(7.0)
    assert block_sums(v, 3).tolist() == [3.0, 12.0, 6.0]
    assert block_sums(v, 1).tolist() == v.tolist()


@pytest.mark.parametrize("kind", ["static", "pointwise"])
def test_no_leak_when_w_changes_only_inside_the_support(kind):
    """A W that does not depend on x, or depends on x only where x changed, leaks nothing (dropout is off)."""
    x, delta, support = _batch()
    model = _Linear(kind).train()
    leak = locality_penalty(model, x, delta, support, FS).detach()
    assert float(leak) == pytest.approx(0.0, abs=1e-6)
    assert model.training and type(model.drop) is nn.Dropout  # the paired dropout is undone


def test_a_global_w_leaks_and_the_gradient_flows():
    x, delta, support = _batch()
    model = _Linear("global").eval()
    leak = locality_penalty(model, x, delta, support, FS)
    assert float(leak.detach()) > 0
    leak.backward()
    assert model.s.grad is not None and float(model.s.grad.abs()) > 0
    # by hand: the outside change per lead and 0.1 s block, absolute, summed; mean over records and classes
    w = lambda z: model(z).weights.detach()  # noqa: E731
    moved = (w(x + delta) - w(x)) * x.unsqueeze(1) * (~support).unsqueeze(1)
    expected = block_sums(moved, int(BLOCK_SECONDS * FS)).abs().sum((-2, -1)).mean()
    assert float(leak.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_paired_dropout_drops_the_same_units_in_both_halves_and_returns_the_first_half():
    from ecgimn.training.locality import paired_dropout

    model = _Linear("pointwise").train()
    with paired_dropout(model):
        h = model.drop(torch.ones(8, 12, 50))
    assert torch.equal(h[:4], h[4:]) and (h == 0).any() and (h == 2).any()
    x, delta, support = _batch()
    model.eval()
    first, _ = locality_forward(model, x, delta, support, FS)
    ref = model(x)
    for a, b in zip(first, ref):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_moving_bias_counts_in_full():
    x, delta, support = _batch()
    leak = locality_penalty(_Linear("static", bias_slope=0.3), x, delta, support, FS)
    expected = (0.3 * delta.sum((-2, -1))).abs().mean()
    assert float(leak.detach()) == pytest.approx(float(expected), rel=1e-5)
    priced = locality_forward(_Linear("static", bias_slope=0.3), x, delta, support, FS, bias_weight=4.0)[1]
    assert float(priced.detach()) == pytest.approx(4 * float(expected), rel=1e-5)


def test_imn_leak_reflects_its_reach():
    """A time-local IMN with a static bias leaks less than the global dual-view IMN, never negative."""
    x, delta, support = _batch(B=4, L=250)
    torch.manual_seed(0)
    local = create_model("imn-1d-local", num_classes=5).eval()
    dual = create_model("imn-1d-dual", num_classes=5).eval()
    leak_local = float(locality_penalty(local, x, delta, support, FS).detach())
    leak_dual = float(locality_penalty(dual, x, delta, support, FS).detach())
    assert 0 <= leak_local < leak_dual
    with pytest.raises(ConfigError, match="interpretable"):
        locality_penalty(create_model("blackbox-1d", num_classes=5), x, delta, support, FS)


def test_training_with_locality_records_it(tmp_path):
    """One epoch with ``ecgimn train --locality``: the penalty is logged per epoch and the option saved beside the
    checkpoint; bad uses are refused."""
    from conftest import make_synthetic_ptbxl

    from ecgimn.training import TrainConfig, load_checkpoint, train

    root = make_synthetic_ptbxl(tmp_path / "ptbxl", n_records=30, rates=(100,))
    base = dict(
        data=str(root),
        epochs=1,
        batch_size=8,
        progress=False,
        crop_seconds=2.5,
        model="imn-1d",
        model_kwargs={"encoder_channels": [8, 16, 16]},
    )
    from ecgimn.cli import main

    args = [
        "train",
        "--data",
        str(root),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
    ]
    args += ["--crop-seconds", "2.5", "--locality", "0.5", "--no-progress", "--model", "imn-1d"]
    args += ["--locality-repeat", "--locality-bias", "3"]
    assert main([*args, "--model-kwargs", json.dumps({"encoder_channels": [8, 16, 16]})]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["locality"] == 0.5 and saved["locality_repeat"] is True and saved["locality_bias"] == 3.0
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["train_config"]["locality"] == 0.5
    assert ckpt["metrics"]["history"][0]["train_locality"] > 0
    with pytest.raises(ConfigError, match="locality must be"):
        train(TrainConfig(out=str(tmp_path / "bad"), locality=-1.0, **base))
    with pytest.raises(ConfigError, match="locality_bias must be"):
        train(TrainConfig(out=str(tmp_path / "bad"), locality=1.0, locality_bias=-1.0, **base))
    with pytest.raises(ConfigError, match="interpretable model"):
        train(TrainConfig(out=str(tmp_path / "bb"), locality=1.0, **{**base, "model": "blackbox-1d"}))


def test_study_estimate_times_the_locality_pair(synthetic_ptbxl):
    from ecgimn.study.estimate import estimate_seconds

    small = {"model": "imn-1d", "crop_seconds": 2.5, "model_kwargs": {"encoder_channels": [8, 16, 16]}}
    est = estimate_seconds(
        str(synthetic_ptbxl),
        {"plain": small, "loc": {**small, "locality": 1.0}},
        seeds=[0],
        defaults={"epochs": 1, "batch_size": 4, "num_threads": 1},
        steps=1,
    )
    assert [r["config"] for r in est["rows"]] == ["plain", "loc"]
    assert all(r["seconds"] > 0 for r in est["rows"])
