"""Post-hoc explainers (captum) on small synthetic models: shapes, exactness of the IMN map, pass counting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgimn.errors import ConfigError, InputError
from ecgimn.explain import METHODS, LogitModel, attribute
from ecgimn.models import create_model

L = 200
SMALL = {"encoder_channels": [8, 8, 8]}


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 12, L)).astype(np.float32)


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    kw = dict(SMALL, decoder_channels=[8, 8]) if name.startswith("imn") else dict(SMALL)
    return create_model(name, num_classes=3, **kw).eval()


def _methods(model: torch.nn.Module) -> list[str]:
    skip = "gradcam" if model.interpretable else "imn"
    return [m for m in METHODS if m != skip]


@pytest.mark.parametrize("name", ["blackbox-1d", "blackbox-paper", "imn-1d", "imn-paper"])
@pytest.mark.parametrize("window", [None, 100])
def test_every_method_returns_input_shape(name: str, window: int | None, x: np.ndarray) -> None:
    model = _model(name)
    for method in _methods(model):
        a = attribute(model, x, [0, 2], method, window=window, stride=50, n_steps=4, n_samples=3)
        assert a.shape == x.shape and a.dtype == np.float32, method
        assert np.isfinite(a).all(), method
        assert np.abs(a).sum() > 0, method


def test_imn_attribution_is_exact(x: np.ndarray) -> None:
    model = _model("imn-1d")
    for window in (None, 100):
        a = attribute(model, x, 1, "imn", window=window, stride=50)
        wrapper = LogitModel(model, window, 50)
        with torch.no_grad():
            out = wrapper.full(torch.as_tensor(x))
        np.testing.assert_allclose(
            a.sum((-2, -1)) + out.bias[:, 1].numpy(), out.logits[:, 1].numpy(), rtol=1e-4, atol=1e-5
        )


def test_gradcam_1d_is_broadcast_over_leads_and_2d_is_not(x: np.ndarray) -> None:
    a1 = attribute(_model("blackbox-1d"), x, 0, "gradcam")
    np.testing.assert_array_equal(a1, np.broadcast_to(a1[:, :1], a1.shape))
    assert (a1 >= 0).all()
    a2 = attribute(_model("blackbox-paper"), x, 0, "gradcam")
    assert (a2 >= 0).all()
    assert not np.allclose(a2, a2[:, :1])


def test_gradcam_windows_cover_the_record(x: np.ndarray) -> None:
    # a record of exactly one window gives the same map with or without the window policy
    model = _model("blackbox-1d")
    np.testing.assert_allclose(
        attribute(model, x[:, :, :100], 1, "gradcam", window=100, stride=50),
        attribute(model, x[:, :, :100], 1, "gradcam"),
        rtol=1e-5,
        atol=1e-7,
    )


def test_integrated_gradients_completeness(x: np.ndarray) -> None:
    model = _model("blackbox-1d")
    a = attribute(model, x, 2, "integrated_gradients", n_steps=64)
    with torch.no_grad():
        fx = model(torch.as_tensor(x)).logits[:, 2].numpy()
        f0 = model(torch.zeros_like(torch.as_tensor(x))).logits[:, 2].numpy()
    np.testing.assert_allclose(a.sum((-2, -1)), fx - f0, rtol=0.05, atol=0.02)


def test_pass_counter(x: np.ndarray) -> None:
    model = _model("blackbox-1d")
    w = LogitModel(model)
    attribute(w, x[:1], 0, "integrated_gradients", n_steps=8)
    # captum evaluates all 8 interpolation steps in one batched call, then one backward through them
    assert w.counts() == {"forward_calls": 1, "forward_records": 8, "backward_records": 8}
    w.reset_counts()
    attribute(w, x[:1], 0, "integrated_gradients", n_steps=8, internal_batch_size=4)
    assert w.counts() == {"forward_calls": 2, "forward_records": 8, "backward_records": 8}
    w.reset_counts()
    attribute(w, x[:1], 0, "gradient_shap", n_samples=5)
    assert w.counts() == {"forward_calls": 1, "forward_records": 5, "backward_records": 5}
    for method in ("saliency", "input_x_gradient", "gradcam"):
        w.reset_counts()
        attribute(w, x[:1], 0, method)
        assert w.counts() == {"forward_calls": 1, "forward_records": 1, "backward_records": 1}, method
    wi = LogitModel(_model("imn-1d"), 100, 50)
    attribute(wi, x, 0, "imn")
    assert wi.counts() == {"forward_calls": 1, "forward_records": 2, "backward_records": 0}


def test_errors(x: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="interpretable"):
        attribute(_model("blackbox-1d"), x, 0, "imn")
    with pytest.raises(ConfigError, match="gradcam_layer"):
        attribute(_model("imn-1d"), x, 0, "gradcam")
    with pytest.raises(ConfigError, match="unknown explanation method"):
        attribute(_model("imn-1d"), x, 0, "lime")
    with pytest.raises(InputError, match="target"):
        attribute(_model("imn-1d"), x, [0, 1, 2], "imn")


def test_gradient_shap_is_seeded_and_leaves_the_global_generators_alone(x: np.ndarray) -> None:
    """The same call gives the same map (its samples come from ``seed``), another seed another map, and the caller's
    numpy and torch random streams continue as if the call had not happened."""
    model = _model("blackbox-1d")
    np.random.seed(7)
    torch.manual_seed(7)
    expected = np.random.uniform(size=3), torch.rand(3)
    np.random.seed(7)
    torch.manual_seed(7)
    a = attribute(model, x, 1, "gradient_shap", n_samples=4)
    assert np.array_equal(np.random.uniform(size=3), expected[0]) and torch.equal(torch.rand(3), expected[1])
    np.random.seed(123)  # another global state: the map does not depend on it
    torch.manual_seed(123)
    assert np.array_equal(attribute(model, x, 1, "gradient_shap", n_samples=4), a)
    assert not np.array_equal(attribute(model, x, 1, "gradient_shap", n_samples=4, seed=1), a)
