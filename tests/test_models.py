"""Models: registry, shapes, IMN exactness (logits == sum(W * x) + b), windows, ensembles, config round trip."""

from __future__ import annotations

import json

import pytest
import torch

from ecgimn.errors import ConfigError, InputError
from ecgimn.models import (
    IMN,
    MODEL_CONFIGS,
    ModelOutput,
    create_model,
    ensemble_forward,
    list_models,
    sliding_forward,
    window_starts,
)

ALL = list_models()
IMNS = list_models(interpretable=True)


def assert_exact(out: ModelOutput, x: torch.Tensor) -> None:
    """|sum(W * x) + b - logit| < 1e-4 * max(1, |logit|), recomputed in float64."""
    assert out.weights is not None and out.bias is not None
    assert out.weights.shape == (*out.logits.shape, *x.shape[1:])
    rec = (out.weights.double() * x.double()[:, None]).sum((-2, -1)) + out.bias.double()
    tol = 1e-4 * out.logits.double().abs().clamp_min(1.0)
    assert ((rec - out.logits.double()).abs() < tol).all(), (rec - out.logits.double()).abs().max()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registry_contents() -> None:
    expected = {"imn-paper", "imn-1d", "imn-1d-unet", "imn-1d-coarse", "imn-paper-static", "imn-1d-static"}
    assert expected <= set(IMNS)
    assert {"blackbox-paper", "blackbox-1d", "xresnet1d101", "xresnet1d50", "xresnet1d18"} <= set(
        list_models(interpretable=False)
    )
    assert set(ALL) == set(MODEL_CONFIGS)


@pytest.mark.parametrize("name", ALL)
def test_shapes_exactness_and_round_trip(name: str) -> None:
    L = 301  # not divisible by 4 or 8: exercises the internal padding
    model = create_model(name, num_classes=3)
    assert model.interpretable == (name in IMNS) and model.num_classes == 3
    x = torch.randn(2, 12, L)
    for train in (True, False) if name in IMNS else (False,):
        model.train(train)
        with torch.no_grad():
            out = model(x)
        assert isinstance(out, ModelOutput) and out.logits.shape == (2, 3)
        assert torch.isfinite(out.logits).all()
        if model.interpretable:
            assert out.weights.shape == (2, 3, 12, L) and out.bias.shape == (2, 3)
            assert_exact(out, x)
        else:
            assert out.weights is None and out.bias is None
            assert isinstance(model.gradcam_layer, torch.nn.Module)
            assert any(m is model.gradcam_layer for m in model.modules())
    # config: json-serialisable, rebuilds the same architecture and, with the weights, the same outputs
    config = json.loads(json.dumps(model.config))
    assert config == model.config and config["name"] == name and config["num_leads"] == 12
    clone = create_model(**config)
    assert list(clone.state_dict()) == list(model.state_dict())
    clone.load_state_dict(model.state_dict())
    clone.eval()
    with torch.no_grad():
        torch.testing.assert_close(clone(x).logits, out.logits)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("L", [1, 37, 203])
def test_any_length_binary_head(name: str, L: int) -> None:
    model = create_model(name, num_classes=1).eval()
    x = torch.randn(1, 12, L)
    with torch.no_grad():
        out = model(x)
    assert out.logits.shape == (1, 1) and torch.isfinite(out.logits).all()
    if model.interpretable:
        assert out.weights.shape == (1, 1, 12, L)
        assert_exact(out, x)


@pytest.mark.parametrize(
    "overrides",
    [
        {"skip": True},  # U-Net on the 2-D paper design
        {"weight_resolution": 2},
        {
            "encoder": "1d",
            "downsample": [2, 2, 2],
            "encoder_channels": [8, 8, 8],
            "weight_resolution": 3,
        },  # gcd 1
        {
            "encoder": "1d",
            "downsample": [2, 2],
            "encoder_channels": [8, 8],
            "weight_resolution": 10,
            "skip": True,
        },
        {"residual": True, "bias": "static", "decoder_channels": [8], "dropout": 0.0, "weight_scale": 0.5},
    ],
)
def test_design_options_stay_exact(overrides: dict) -> None:
    model = create_model("imn-paper", num_classes=2, **overrides).eval()
    x = torch.randn(2, 12, 97)
    with torch.no_grad():
        out = model(x)
    assert_exact(out, x)
    r = model.weight_resolution
    if r > 1:  # W tied within r-sample segments aligned to the start
        w = out.weights[..., : (97 // r) * r].unflatten(-1, (-1, r))
        torch.testing.assert_close(w, w[..., :1].expand_as(w))
    if overrides.get("bias") == "static":
        torch.testing.assert_close(out.bias, model.bias_generator.bias.expand(2, -1))


def test_decoder_context_makes_weights_depend_on_the_whole_window() -> None:
    """imn-1d's W at t=0 only sees a local receptive field; with global context (FiLM) it sees far-away samples."""
    x = torch.randn(1, 12, 800)
    far = x.clone()
    far[..., 700:] += 3.0  # change only the far end of the window
    for name, expect_change in (("imn-1d", False), ("imn-1d-ctx", True)):
        model = create_model(name, num_classes=2).eval()
        for film in getattr(
            model.decoder, "films", []
        ):  # zero-initialised (identity); give it something to do
            torch.nn.init.normal_(film.weight, std=0.1)
        with torch.no_grad():
            a, b = model(x), model(far)
        changed = not torch.allclose(a.weights[..., :50], b.weights[..., :50])
        assert changed == expect_change, name
        assert_exact(b, far)
    fresh = create_model("imn-1d-ctx", num_classes=2)
    assert all((f.weight == 0).all() and (f.bias == 0).all() for f in fresh.decoder.films)


def test_black_box_takes_the_imn_encoder_options() -> None:
    """The black box's encoder options are the IMN's (names and defaults), and it builds the same encoder."""
    import inspect

    from ecgimn.models import BlackBoxCNN
    from ecgimn.models.imn import ENCODER_OPTIONS

    imn, bb = inspect.signature(IMN).parameters, inspect.signature(BlackBoxCNN).parameters
    assert list(bb) == ["num_classes", "num_leads", *ENCODER_OPTIONS, "dual_view"]
    assert all(bb[k].default == imn[k].default for k in ENCODER_OPTIONS)
    options = dict(encoder="1d", encoder_channels=(8, 16), downsample=(2, 2), kernel_size=5, residual=True)
    torch.manual_seed(0)
    a = create_model("blackbox-paper", num_classes=2, **options).encoder
    torch.manual_seed(0)
    b = create_model("imn-paper", num_classes=2, **options).encoder
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    with pytest.raises(ConfigError, match="unknown option"):
        BlackBoxCNN(2, decoder_channels=(8,))


@pytest.mark.parametrize(
    ("imn", "twin"), [("imn-1d-dual", "blackbox-1d-dual"), ("imn-paper", "blackbox-paper")]
)
def test_dual_view_is_linear_in_the_z_scored_window(imn: str, twin: str) -> None:
    """dual_view: W and b come back in input units (exact for x); with the raw view's input weights zeroed, the
    decision depends on the z-scored window only, so a per-lead gain and offset change nothing."""
    x = torch.randn(2, 12, 203) * 0.3 + 0.1
    gain, offset = torch.rand(1, 12, 1) * 3 + 0.2, torch.randn(1, 12, 1)
    for name in (imn, twin):
        model = create_model(name, num_classes=3, dual_view=True).eval()
        first = model.encoder.blocks[0].conv[0]
        one_d = first.weight.dim() == 3  # 1-D: views x leads as 24 channels; 2-D: 2 image channels [z, x]
        assert first.in_channels == (24 if one_d else 2)
        with torch.no_grad():
            out = model(x)
            if model.interpretable:
                assert_exact(out, x)
            first.weight[:, first.in_channels // 2 :] = (
                0  # the raw view: channels 12-23 (1-D), channel 1 (2-D)
            )
            a, b = model(x), model(x * gain + offset)
        torch.testing.assert_close(a.logits, b.logits, rtol=1e-4, atol=1e-4)
        if model.interpretable:
            assert_exact(b, x * gain + offset)
            torch.testing.assert_close(b.weights * gain, a.weights, rtol=1e-4, atol=1e-6)  # W = W_z / sd
    plain = create_model(imn, num_classes=3, dual_view=False).eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x).logits, plain(x * gain + offset).logits)


def test_dual_view_flat_lead_stays_finite() -> None:
    x = torch.randn(1, 12, 250)
    x[:, 3] = 0.7  # a flat (disconnected) lead
    out = create_model("imn-1d-dual", num_classes=2).eval()(x)
    assert torch.isfinite(out.weights).all() and torch.isfinite(out.logits).all()
    assert_exact(out, x)


def test_weight_scale_default_and_gradients() -> None:
    model = create_model("imn-1d-static", num_classes=2)
    assert model.weight_scale == pytest.approx(1 / (12 * 1000) ** 0.5)
    x = torch.randn(4, 12, 200)
    out = model(x)
    assert out.logits.abs().max() < 10  # initial logits O(1)
    out.logits.sum().backward()
    assert model.encoder.blocks[0].conv[0].weight.grad.abs().sum() > 0
    assert model.bias_generator.bias.grad is not None


def test_window_starts() -> None:
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(3, 4, 2) == [0]
    with pytest.raises(ConfigError):
        window_starts(10, 0, 1)


@pytest.mark.parametrize(
    "name", ["imn-1d", "imn-1d-coarse", "imn-1d-dual", "blackbox-1d", "blackbox-1d-dual"]
)
def test_sliding_forward(name: str) -> None:
    model = create_model(name, num_classes=2).eval()
    x = torch.randn(2, 12, 233)
    with torch.no_grad():
        out = sliding_forward(model, x, window=100, stride=50)
        manual = torch.stack([model(x[..., s : s + 100]).logits for s in (0, 50, 100, 133)]).mean(0)
        chunked = sliding_forward(model, x, window=100, stride=50, max_batch=3)
        short = sliding_forward(model, x[..., :80], window=100, stride=50)  # shorter than a window: one pass
        torch.testing.assert_close(short.logits, model(x[..., :80]).logits)
    torch.testing.assert_close(out.logits, manual)
    torch.testing.assert_close(chunked.logits, out.logits)
    if model.interpretable:
        assert out.weights.shape == (2, 2, 12, 233)
        assert_exact(out, x)
    else:
        assert out.weights is None


def test_ensemble_forward() -> None:
    models = [
        create_model("imn-1d", num_classes=2).eval(),
        create_model("imn-1d-static", num_classes=2).eval(),
        create_model("imn-1d-dual", num_classes=2).eval(),
    ]
    x = torch.randn(2, 12, 150)
    with torch.no_grad():
        out = ensemble_forward(models, x)
        assert_exact(out, x)
        torch.testing.assert_close(out.logits, sum(m(x).logits for m in models) / 3)
        mixed = ensemble_forward([models[0], create_model("blackbox-1d", num_classes=2).eval()], x)
    assert mixed.weights is None and mixed.logits.shape == (2, 2)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="imn-paper"):
        create_model("no-such-model", num_classes=2)
    with pytest.raises(ConfigError, match="unknown option"):
        create_model("imn-1d", num_classes=2, colour="red")
    with pytest.raises(ConfigError):
        create_model("imn-1d", num_classes=2, bias="sometimes")
    with pytest.raises(ConfigError):
        create_model("imn-1d", num_classes=0)
    with pytest.raises(InputError):
        create_model("imn-1d", num_classes=2)(torch.randn(2, 8, 100))


def test_direct_construction_is_the_paper_design() -> None:
    model = IMN(num_classes=2)
    assert [b.conv[0].out_channels for b in model.encoder.blocks] == [16, 32, 64]
    assert model.encoder.reduction == 4
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in create_model("imn-paper", num_classes=2).parameters()
    )


def test_xresnet1d101_size() -> None:
    model = create_model("xresnet1d101", num_classes=71)
    n = sum(p.numel() for p in model.parameters())
    assert 1.7e6 < n < 2.0e6
    assert sum(len(stage) for stage in model.stages) == 33
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 12, 250)).logits.shape == (1, 71)


def test_dual_view_linear_on_x_with_static_bias() -> None:
    """imn-1d-dual-x-static: exact on the input as given, and the bias does not depend on the input at all."""
    torch.manual_seed(0)
    model = create_model("imn-1d-dual-x-static", num_classes=3).eval()
    x = torch.randn(2, 12, 250)
    with torch.no_grad():
        out = model(x)
        shifted = model(x + 0.5)  # a baseline shift moves every lead's mean
    assert torch.allclose(out.logits, (out.weights * x[:, None]).sum((-2, -1)) + out.bias, atol=1e-5)
    assert torch.allclose(out.bias, shifted.bias) and torch.allclose(out.bias[0], out.bias[1])
    with pytest.raises(ConfigError, match="linear_view"):
        create_model("imn-1d-dual", num_classes=3, linear_view="y")


def _w_change(model: torch.nn.Module, x: torch.Tensor, lead: int, span: tuple[int, int]) -> torch.Tensor:
    """max |W(x') - W(x)| per (lead, time) when lead ``lead`` of x is changed in samples span[0]..span[1]-1."""
    x2 = x.clone()
    x2[:, lead, span[0] : span[1]] += torch.randn(span[1] - span[0])
    with torch.no_grad():
        return (model(x2).weights - model(x).weights).abs().amax((0, 1))


@pytest.mark.parametrize("name", ["imn-1d-local", "imn-1d-lead-local"])
def test_local_presets_bound_where_w_can_change(name: str) -> None:
    """A change of x in one lead over [140, 150) moves W only within [140 - reach, 150 + reach) (and, lead-local,
    only in that lead); the bias is input-free; the identity stays exact."""
    model = create_model(name, num_classes=3).eval()
    assert model.reach == 40
    x = torch.randn(2, 12, 300)
    d = _w_change(model, x, 4, (140, 150))
    moved = torch.nonzero(d.amax(0) > 0).flatten()
    assert 100 <= moved.min() and moved.max() == 149 + 40  # inside the bound, which is reached on the right
    leads = torch.nonzero(d.amax(1) > 0).flatten().tolist()
    assert leads == ([4] if name == "imn-1d-lead-local" else list(range(12)))
    with torch.no_grad():
        out, other = model(x), model(torch.randn(2, 12, 300))
    assert_exact(out, x)
    torch.testing.assert_close(out.bias, other.bias)


def test_global_paths_move_w_everywhere() -> None:
    """The same probe on imn-1d-dual (z-scored view over the window): W moves far outside any local bound, so the
    probe above can fail; the model also declares no reach."""
    model = create_model("imn-1d-dual", num_classes=3).eval()
    assert model.reach is None
    d = _w_change(model, torch.randn(1, 12, 600), 4, (290, 300))
    moved = torch.nonzero(d.amax(0) > 0).flatten()
    assert moved.min() == 0 and moved.max() == 599


@pytest.mark.parametrize(
    "kw",
    [
        {
            "kernel_size": 3,
            "downsample": (2, 2, 2),
            "residual": True,
            "decoder_kernel_size": 3,
            "out_kernel_size": 1,
        },
        {
            "kernel_size": 7,
            "downsample": (2, 2, 2),
            "residual": True,
            "decoder_kernel_size": 5,
            "out_kernel_size": 1,
        },
        {
            "kernel_size": 5,
            "downsample": (2, 1, 4),
            "residual": False,
            "decoder_kernel_size": 3,
            "out_kernel_size": 3,
        },
        {
            "kernel_size": 3,
            "downsample": (1, 2),
            "residual": True,
            "decoder_kernel_size": 5,
            "out_kernel_size": 3,
            "lead_local": True,
            "bias": "dynamic",
        },
    ],
)
def test_w_reach_bounds_the_measured_dependence(kw: dict) -> None:
    """w_reach is a bound of where W depends on x, and not a loose one (within one latent step of the measured)."""
    n = len(kw["downsample"])
    model = IMN(3, encoder="1d", encoder_channels=[8] * n, decoder_channels=[8] * n, dropout=0.0, **kw).eval()
    reach, lo, hi = model.reach, 200, 203
    torch.manual_seed(1)
    measured = 0
    for _ in range(3):  # several inputs: a single one may leave some GELU flat by chance
        d = _w_change(model, torch.randn(1, 12, 400), 0, (lo, hi)).amax(0)
        moved = torch.nonzero(d > 0).flatten()
        assert moved.min() >= lo - reach and moved.max() <= hi - 1 + reach
        measured = max(measured, int(lo - moved.min()), int(moved.max() - hi + 1))
    assert measured >= reach - model.encoder.reduction


def test_lead_local_dual_view_and_dynamic_bias_stay_exact() -> None:
    """Per-lead generation composes with the dual view and a dynamic bias (pooled over leads and time)."""
    model = create_model(
        "imn-1d-lead-local", num_classes=2, dual_view=True, linear_view="z", bias="dynamic", max_reach=None
    ).eval()
    assert model.reach is None  # the z-scored view reads the whole window
    x = torch.randn(3, 12, 250) * 2 + 0.3
    with torch.no_grad():
        out = model(x)
    assert_exact(out, x)
    d = _w_change(model, x, 7, (10, 20))
    assert torch.nonzero(d.amax(1) > 0).flatten().tolist() == [7]  # still lead-local


def test_locality_options_refuse_global_paths() -> None:
    for kw, match in [
        ({"dual_view": True}, "max_reach needs"),
        ({"context": True}, "max_reach needs"),
        ({"skip": True}, "max_reach needs"),
        ({"weight_resolution": 2}, "max_reach needs"),
        ({"max_reach": 39}, "reaches 40 samples"),
        ({"lead_embedding": -1, "lead_local": True}, "lead_embedding"),
    ]:
        with pytest.raises(ConfigError, match=match):
            create_model("imn-1d-local", num_classes=2, **kw)
    with pytest.raises(ConfigError, match="max_reach needs"):
        create_model("imn-paper", num_classes=2, max_reach=100)
    with pytest.raises(ConfigError, match="lead_local needs encoder='1d'"):
        create_model("imn-paper", num_classes=2, lead_local=True)
