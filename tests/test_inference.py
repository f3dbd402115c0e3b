"""The fast inference engine gives the same answers as the models' own forward (reference: the pre-engine path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_script

from ecgimn.inference.engine import InferenceEngine, build_engine, fold_batchnorm
from ecgimn.inference.predict import autocast_dtype, predict
from ecgimn.models import ModelOutput, create_model

TOL = 1e-5
REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_inference.py"


#: the pre-engine path (one copy, in benchmarks/, also timed by bench_inference.py)
reference_sliding = load_script(REFERENCE).reference_sliding


def _randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial running statistics and affine parameters, so that folding them is actually tested."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.copy_(0.3 * torch.randn(n, generator=g))
            mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
            mod.weight.data.copy_(1 + 0.2 * torch.randn(n, generator=g))
            mod.bias.data.copy_(0.1 * torch.randn(n, generator=g))
    return model.eval()


def _model(name: str, k: int = 3, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return _randomise_batchnorm(create_model(name, num_classes=k, **kw))


def _x(b: int = 3, length: int = 250, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 12, length, generator=g) * 0.8 + 0.1


def _assert_same(ref: ModelOutput, new: ModelOutput, x: torch.Tensor) -> None:
    scale = max(1.0, float(ref.logits.abs().max()))  # float32 rounding grows with the logits' size
    assert (ref.logits - new.logits).abs().max() <= TOL * scale, (ref.logits - new.logits).abs().max()
    if ref.weights is None:
        assert new.weights is None
        return
    assert (ref.weights - new.weights).abs().max() <= TOL
    assert (ref.bias - new.bias).abs().max() <= TOL
    # the exactness identity, on the engine's own output
    recon = (new.weights.double() * x[:, None].double()).sum((-2, -1)) + new.bias.double()
    assert (recon - new.logits.double()).abs().max() <= 1e-5


MODELS = [
    "imn-paper",
    "imn-paper-static",
    "imn-1d",
    "imn-1d-dual",
    "imn-1d-unet",
    "imn-1d-ctx",
    "imn-1d-coarse",
    "imn-1d-local",
    "imn-1d-lead-local",
    "blackbox-1d",
    "blackbox-paper",
    "blackbox-1d-dual",
    "xresnet1d18",
]


@pytest.mark.parametrize("name", MODELS)
def test_engine_matches_model_on_one_window(name: str) -> None:
    model = _model(name)
    x = _x()
    with torch.no_grad():
        ref = model(x)
        new = build_engine(model)(x)
    _assert_same(ref, new, x)


@pytest.mark.parametrize(
    "name", ["imn-paper", "imn-1d", "imn-1d-dual", "imn-1d-coarse", "imn-1d-lead-local", "blackbox-1d"]
)
@pytest.mark.parametrize("length,window,stride", [(1000, 250, 125), (1037, 250, 100), (600, 250, 250)])
def test_engine_matches_sliding_windows(name: str, length: int, window: int, stride: int) -> None:
    model = _model(name)
    x = _x(2, length)
    with torch.no_grad():
        ref = reference_sliding(model, x, window, stride)
        new = build_engine(model)(x, window, stride)
        chunked = build_engine(model)(x, window, stride, max_windows=3)  # long-record path: windows in chunks
    _assert_same(ref, new, x)
    _assert_same(ref, chunked, x)


@pytest.mark.parametrize(
    "members",
    [
        [{"name": "imn-1d-dual"}] * 3,  # the shipped default's shape
        [{"name": "imn-1d"}, {"name": "imn-1d-dual"}],  # views differ: per-member change of units
        [{"name": "imn-paper"}, {"name": "imn-1d"}],
        [{"name": "blackbox-1d"}, {"name": "blackbox-1d-dual"}],
        [{"name": "imn-1d"}, {"name": "blackbox-1d"}],  # mixed: a black box
        [{"name": "imn-1d-lead-local"}, {"name": "imn-1d-dual"}],  # per-lead generation beside a dual view
        [{"name": "imn-1d-lead-local"}, {"name": "imn-1d"}],  # per-lead and 1-D members share one input
        # a 1-D and a 2-D encoder of the same view and padding read the input in different layouts
        [{"name": "imn-1d", "downsample": [1, 2, 2]}, {"name": "imn-paper"}],
    ],
)
def test_engine_matches_ensembles_with_windows(members: list[dict]) -> None:
    torch.manual_seed(0)
    model = _randomise_batchnorm(create_model("ensemble", num_classes=5, members=members))
    x = _x(3, 1000)
    with torch.no_grad():
        ref = reference_sliding(model, x, 250, 125)
        new = build_engine(model)(x, 250, 125)
    assert new.weights is None if ref.weights is None else new.weights is not None
    _assert_same(ref, new, x)


def test_engine_does_not_touch_the_model_and_logits_only_mode() -> None:
    model = _model("imn-1d-dual")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine = build_engine(model)
    assert model.training  # the model is copied, not changed
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(v.is_contiguous() for v in model.state_dict().values())  # layout unchanged too
    # nothing shared: no module, no tensor storage (training the model later cannot change the engine)
    assert not {id(m) for m in model.modules()} & {id(m) for m in engine.modules()}
    storage = {t.untyped_storage().data_ptr() for t in model.state_dict().values() if t.numel()}
    assert not storage & {t.untyped_storage().data_ptr() for t in engine.state_dict().values() if t.numel()}
    assert build_engine(engine) is engine
    x = _x(2, 1000)
    with torch.no_grad():
        full = engine(x, 250, 125)
        fast = engine(x, 250, 125, return_maps=False)
    assert fast.weights is None
    assert torch.allclose(full.logits, fast.logits, atol=TOL)


def test_fold_batchnorm_is_exact_on_a_sequential() -> None:
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Conv1d(4, 6, 5, padding=2), torch.nn.BatchNorm1d(6), torch.nn.GELU())
    _randomise_batchnorm(seq)
    x = torch.randn(3, 4, 40)
    with torch.no_grad():
        ref = seq(x)
        folded = fold_batchnorm(seq)
        assert isinstance(folded[1], torch.nn.Identity)
        assert torch.allclose(folded(x), ref, atol=1e-6)


def test_predict_uses_engine_and_matches_reference() -> None:
    torch.manual_seed(0)
    model = _randomise_batchnorm(
        create_model("ensemble", num_classes=5, members=[{"name": "imn-1d-dual"}] * 2)
    )
    x = _x(5, 1000).numpy()
    out = predict(model, x, window=250, stride=125, batch_size=2, return_maps=True)
    with torch.no_grad():
        ref = reference_sliding(model, torch.as_tensor(x), 250, 125)
    assert np.abs(out["logits"] - ref.logits.numpy()).max() <= TOL
    assert np.abs(out["weights"] - ref.weights.numpy()).max() <= TOL
    assert np.abs(out["bias"] - ref.bias.numpy()).max() <= TOL
    assert set(predict(model, x, window=250, stride=125)) == {"logits"}


def test_bf16_autocast_on_cpu_keeps_the_identity() -> None:
    model = _model("imn-1d-dual", k=5)
    x = _x(4, 1000)
    engine = InferenceEngine(model, autocast=autocast_dtype("bf16"))
    with torch.inference_mode():
        out = engine(x, 250, 125)
        ref = build_engine(model)(x, 250, 125)
    assert out.weights.dtype == torch.float32
    recon = (out.weights.double() * x[:, None].double()).sum((-2, -1)) + out.bias.double()
    assert (recon - out.logits.double()).abs().max() <= 1e-5  # exact for the W it wrote
    assert (out.logits - ref.logits).abs().max() < 0.25  # and close to the float32 model (bf16 rounding)
    assert (out.logits - ref.logits).abs().max() > 0  # it did run in reduced precision


def test_precision_names() -> None:
    from ecgimn.errors import ConfigError

    assert autocast_dtype("fp32") is None and autocast_dtype("BF16") is torch.bfloat16
    with pytest.raises(ConfigError, match="precision"):
        autocast_dtype("fp8")


def test_absent_cuda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgimn.errors import ConfigError
    from ecgimn.inference.predict import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    assert resolve_device("auto").type == "cpu"


@pytest.mark.integration
def test_default_explain_on_real_records_matches_reference(shared_ptbxl) -> None:
    """The bundled default (3 x imn-1d-dual, 2.5 s windows) on real PTB-XL records: same logits, W and b."""
    import ecgimn
    from ecgimn.data.ptbxl import read_wfdb_record

    heads = sorted((shared_ptbxl / "records100" / "00000").glob("*_lr.hea"))[:6]
    x = np.stack([read_wfdb_record(h.with_suffix(""), 100) for h in heads])
    predictor = ecgimn.load("default", device="cpu")
    out = predictor.explain(x)
    x_std = torch.as_tensor(out.inputs_std)
    with torch.no_grad():
        ref = reference_sliding(predictor.model, x_std, predictor.window, predictor.stride)
    assert np.abs(out.logits - ref.logits.numpy()).max() <= TOL
    assert np.abs(out.weights - ref.weights.numpy()).max() <= TOL
    assert np.abs(out.bias - ref.bias.numpy()).max() <= TOL
    assert np.abs(out.attribution.sum((-2, -1)) + out.bias - out.logits).max() <= 1e-4


def test_explain_windows_matches_explain(tmp_path) -> None:
    """The streamed long-record path gives the record's logits of explain(), and each window's evidence adds up."""
    from conftest import ecg_like

    import ecgimn

    p = ecgimn.load("default", device="cpu")
    x = ecg_like(3000, seed=3)  # 30 s at 100 Hz: 23 windows, streamed 5 at a time
    full = p.explain(x)
    win = p.explain_windows(x, max_windows=5)
    assert len(win.window_starts_s) == 23 and win.window_evidence.shape == (23, 5, 12)
    assert np.abs(win.logits - full.logits[0]).max() <= 1e-4
    assert np.abs(win.bias - full.bias[0]).max() <= 1e-5
    assert np.abs(win.window_evidence.sum(-1) + win.window_bias - win.window_logits).max() <= 1e-6
    # per-lead evidence of the record = mean over windows (the record's W is the mean of the placed windows)
    assert np.abs(win.window_evidence.mean(0) - full.attribution[0].sum(-1)).max() <= 1e-4


@pytest.mark.parametrize("k,up", [(5, 2), (1, 2), (3, 2), (3, 3), (5, 4)])
def test_polyphase_conv_equals_upsample_then_conv(k: int, up: int) -> None:
    """A nearest upsampling followed by a 'same' conv is one conv of the coarse map with `up` phases (a view back)."""
    from ecgimn.inference.engine import _phases_to_time, _polyphase

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 4, (1, k), padding=(0, k // 2)).eval()
    h = torch.randn(3, 6, 1, 17).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = conv(torch.nn.functional.interpolate(h, scale_factor=(1, up), mode="nearest")) * 0.5
        poly = _polyphase(conv, up, scale=0.5)
        y = poly(h)
        out = _phases_to_time(y, up)
    assert out.shape == ref.shape and out.data_ptr() == y.data_ptr()  # the interleave is a view
    assert (out - ref).abs().max() <= 1e-5
    assert _polyphase(torch.nn.Conv2d(6, 4, (1, k), stride=(1, 2), padding=(0, k // 2)), up) is None


def test_fused_residual_matches_block_on_any_length() -> None:
    """The fused residual block (sum in conv2, pooled shortcut as one strided conv) equals the block; an odd
    length (partial pooling window) takes the original shortcut."""
    import copy

    from ecgimn.inference.engine import _fuse_conv_gelu, _fuse_residual, _FusedResidual, _lift
    from ecgimn.models.imn import ResidualBlock

    torch.manual_seed(0)
    block = _randomise_batchnorm(ResidualBlock(1, 8, 16, 7, stride=2))
    lifted = fold_batchnorm(_lift(torch.nn.Sequential(copy.deepcopy(block)))).to(
        memory_format=torch.channels_last
    )
    fast = _fuse_residual(_fuse_conv_gelu(lifted))
    assert isinstance(fast[0], _FusedResidual) and fast[0].pooled is not None
    for length in (64, 63):
        x = torch.randn(3, 8, length)
        with torch.no_grad():
            ref = block(x)
            out = fast(x.unsqueeze(2).contiguous(memory_format=torch.channels_last)).squeeze(2)
        assert (out - ref).abs().max() <= 1e-5, length


def test_engine_batch_sizes_change_the_packed_weights_not_the_answers() -> None:
    """Packed weights follow the input shape: other batch sizes and lengths give the model's answers."""
    model = _model("imn-1d-dual", k=5)
    engine = build_engine(model)
    with torch.no_grad():
        for b, length in ((3, 250), (5, 250), (2, 333), (3, 250)):
            x = _x(b, length, seed=b + length)
            _assert_same(model(x), engine(x), x)


@pytest.mark.parametrize(
    "options",
    [
        {"padding": 4, "dilation": 2},
        {"padding": 3, "padding_mode": "circular"},
        {"padding": "same", "dilation": 3},
        {"padding": 1, "stride": 2, "padding_mode": "reflect", "groups": 2},
    ],
)
def test_lifted_conv1d_keeps_dilation_padding_and_its_mode(options):
    """The 2-D twin of a Conv1d gives its output exactly, whatever its dilation, padding and padding mode."""
    from ecgimn.inference.engine import _lift

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(4, 6, 3, **options).eval()
    x = torch.randn(2, 4, 50)
    lifted = _lift(torch.nn.Sequential(conv))  # replaces its child; conv itself stays
    with torch.no_grad():
        assert torch.allclose(lifted(x.unsqueeze(2)).squeeze(2), conv(x), atol=1e-6)
