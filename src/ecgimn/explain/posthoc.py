"""Post-hoc explanations of any model (black boxes included) with captum, shaped like IMN attributions.

One call, captum-style: ``attribute(model, x_std, target, method, window=..., stride=...) -> (N, 12, L)``.
Every map is on the standardised input the network sees, so it can be drawn with the same pictures as an
ECG-IMN explanation (:func:`ecgimn.viz.plot_ecg_evidence`, :func:`ecgimn.viz.plot_evidence_heatmap`).

The model is wrapped by :class:`LogitModel`, whose forward returns the full-record logits (B, K) through
:func:`ecgimn.inference.predict.forward_windows`, i.e. crop-trained models are explained as they predict: averaged
sliding windows. The wrapper also counts forward and backward passes (in records: one pass = one full-record
forward, however many windows it takes), which is how explanation cost is reported.

Methods (:data:`METHODS`):

* ``"gradcam"`` - captum ``LayerGradCam`` on ``model.gradcam_layer`` (ReLU applied), linearly upsampled to the
  input length. A 2-D encoder's layer output is (B, C, 12, T): the map is upsampled along time only and keeps
  its per-lead rows. A 1-D encoder's layer output is (B, C, T): one time profile, broadcast to all 12 leads
  (Grad-CAM of a 1-D model cannot say which lead). With sliding windows captum sees the layer once per window;
  each window's map (of the gradient of the *averaged* logit) is upsampled to the window and overlap-added at
  its position, as :func:`ecgimn.models.sliding_forward` places an IMN's window weights.
* ``"integrated_gradients"`` - captum ``IntegratedGradients``, 50 steps (Gauss-Legendre), baseline the
  all-zero standardised record. Units: logit (completeness: the map sums to ``f(x) - f(0)``).
* ``"gradient_shap"`` - captum ``GradientShap`` with ``n_samples=16``, ``stdevs=0.1`` (standardised units) and a
  baseline distribution of :data:`SHAP_BASELINES` records: the zero record plus Gaussian noise records
  (sd 0.1, fixed seed 0), i.e. "flat line plus sensor noise". Its samples are drawn with ``seed`` (default 0),
  so the same call gives the same map.
* ``"saliency"`` - captum ``Saliency``: ``|d logit / d x|`` (unsigned).
* ``"input_x_gradient"`` - captum ``InputXGradient``: signed ``x * d logit / d x``.
* ``"imn"`` - an IMN's exact attribution ``W_k(x) * x`` (one forward; no captum), for side-by-side comparison.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecgimn.errors import ConfigError, InputError
from ecgimn.inference.predict import forward_windows
from ecgimn.models import window_starts

METHODS: tuple[str, ...] = (
    "imn",
    "gradcam",
    "integrated_gradients",
    "gradient_shap",
    "saliency",
    "input_x_gradient",
)

#: GradientShap baseline distribution: the zero record plus this many - 1 Gaussian noise records (sd 0.1).
SHAP_BASELINES = 4
SHAP_NOISE_SD = 0.1


class LogitModel(nn.Module):
    """``forward(x) -> logits (B, K)`` of ``model`` with its window policy; counts passes (in records).

    Attributes:
        forward_calls: forward invocations; forward_records: records through forward (a batch of B counts B);
        backward_records: records whose logits received a gradient (counted by a hook on the logits).
    """

    def __init__(self, model: nn.Module, window: int | None = None, stride: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.window, self.stride = window, stride
        self.reset_counts()

    def reset_counts(self) -> None:
        """Zero the pass counters."""
        self.forward_calls = 0
        self.forward_records = 0
        self.backward_records = 0

    def counts(self) -> dict[str, int]:
        """The pass counters as a dict."""
        return {
            "forward_calls": self.forward_calls,
            "forward_records": self.forward_records,
            "backward_records": self.backward_records,
        }

    def full(self, x: torch.Tensor) -> Any:
        """The model's full-record :class:`~ecgimn.models.ModelOutput` (counted as a forward)."""
        self.forward_calls += 1
        self.forward_records += int(x.shape[0])
        if self.window is None or x.shape[-1] <= self.window:
            out = self.model(x)
        else:
            out = forward_windows(self.model, x, self.window, self.stride or self.window)
        if out.logits.requires_grad:
            n = int(x.shape[0])

            def _count(grad: torch.Tensor) -> None:
                self.backward_records += n

            out.logits.register_hook(_count)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.full(x).logits


def _targets(target: int | Sequence[int] | np.ndarray | torch.Tensor, n: int) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(target), dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.repeat(n)
    if t.numel() != n:
        raise InputError(f"target: expected one class index or {n}, got {t.numel()}")
    return t


def _gradcam(wrapper: LogitModel, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    from captum.attr import LayerGradCam

    layer = getattr(wrapper.model, "gradcam_layer", None)
    if layer is None:
        raise ConfigError(
            f"gradcam: model {type(wrapper.model).__name__} has no `gradcam_layer`; use another method"
        )
    cam = LayerGradCam(wrapper, layer).attribute(x, target=target, relu_attributions=True).detach()
    B, C, L = x.shape
    win = L if wrapper.window is None else min(wrapper.window, L)
    starts = [0] if win == L else window_starts(L, win, wrapper.stride or win)
    if cam.shape[0] != len(starts) * B:
        raise ConfigError(f"gradcam: layer output batch {cam.shape[0]} is not windows x records")
    if cam.ndim == 4:  # (nB, 1, leads, T): upsample along time only
        up = F.interpolate(cam, size=(C, win), mode="bilinear", align_corners=False)[:, 0]
    else:  # (nB, 1, T): one time profile for every lead
        up = F.interpolate(cam, size=win, mode="linear", align_corners=False).expand(-1, C, -1)
    up = up.reshape(len(starts), B, C, win)
    out = x.new_zeros(B, C, L)
    for i, s in enumerate(starts):
        out[..., s : s + win] += up[i]
    return out


def _shap_baselines(x: torch.Tensor, n: int = SHAP_BASELINES, sd: float = SHAP_NOISE_SD) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn((max(n - 1, 0), *x.shape[1:]), generator=gen) * sd
    return torch.cat([torch.zeros((1, *x.shape[1:])), noise]).to(x)


def _attribute_batch(
    wrapper: LogitModel, x: torch.Tensor, target: torch.Tensor, method: str, kw: dict[str, Any]
) -> torch.Tensor:
    import captum.attr as ca

    if method == "imn":
        if not getattr(wrapper.model, "interpretable", False):
            raise ConfigError(
                f"method 'imn' needs an interpretable model, got {type(wrapper.model).__name__}"
            )
        with torch.no_grad():
            out = wrapper.full(x)
        w = out.weights[torch.arange(len(x)), target]
        return w * x
    if method == "gradcam":
        return _gradcam(wrapper, x, target)
    x = x.clone().requires_grad_(True)
    if method == "integrated_gradients":
        ig = ca.IntegratedGradients(wrapper)
        return ig.attribute(
            x,
            baselines=kw.get("baselines", 0.0),
            target=target,
            n_steps=int(kw.get("n_steps", 50)),
            internal_batch_size=kw.get("internal_batch_size", 64),
        )
    if method == "gradient_shap":
        baselines = kw.get("baselines")
        if baselines is None:
            baselines = _shap_baselines(x.detach())
        with _seeded(int(kw.get("seed", 0)), x.device):
            return ca.GradientShap(wrapper).attribute(
                x,
                baselines=baselines,
                target=target,
                n_samples=int(kw.get("n_samples", 16)),
                stdevs=float(kw.get("stdevs", 0.1)),
            )
    if method == "saliency":
        return ca.Saliency(wrapper).attribute(x, target=target, abs=True)
    if method == "input_x_gradient":
        return ca.InputXGradient(wrapper).attribute(x, target=target)
    raise ConfigError(f"unknown explanation method {method!r}; valid: {', '.join(METHODS)}")


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed numpy's and torch's global generators (captum's GradientShap draws its samples from both) for one
    call, and give the caller back its own streams afterwards."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def attribute(
    model: nn.Module | LogitModel,
    x_std: np.ndarray | torch.Tensor,
    target: int | Sequence[int] | np.ndarray | torch.Tensor,
    method: str,
    *,
    window: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    **kw: Any,
) -> np.ndarray:
    """Attribution maps (N, 12, L) float32 of class ``target`` for standardised inputs ``x_std`` (N, 12, L).

    Args:
        model: any ECG-IMN model (ModelOutput forward) or a :class:`LogitModel` (its counters keep counting).
        target: one class index for all records or one per record.
        method: one of :data:`METHODS` (see the module doc).
        window, stride: the model's window policy (``None``: direct forward on the whole record).
        batch_size: records per captum call.
        kw: method options: ``n_steps``, ``internal_batch_size`` (interpolated records per forward, default 64,
            bounds memory), ``baselines`` (integrated_gradients);
            ``n_samples``, ``stdevs``, ``baselines``, ``seed`` (gradient_shap; default 0: the same maps on every
            call).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r}; valid: {', '.join(METHODS)}")
    wrapper = model if isinstance(model, LogitModel) else LogitModel(model, window, stride)
    wrapper.model.eval()
    x = torch.as_tensor(np.asarray(x_std, dtype=np.float32)) if not torch.is_tensor(x_std) else x_std.float()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"x_std: expected (N, 12, L), got shape {tuple(x.shape)}")
    dev = next(wrapper.model.parameters()).device
    t = _targets(target, len(x))
    maps = []
    for s in range(0, len(x), batch_size):
        a = _attribute_batch(
            wrapper, x[s : s + batch_size].to(dev), t[s : s + batch_size].to(dev), method, kw
        )
        maps.append(a.detach().float().cpu().numpy())
    return np.concatenate(maps) if maps else np.zeros(tuple(x.shape), np.float32)
