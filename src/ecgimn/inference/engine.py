"""An eval-only fast path that gives the same answers as a model's own forward (to float rounding).

:class:`InferenceEngine` wraps a trained model (an IMN, a black box or an :class:`~ecgimn.models.Ensemble` of
them) and computes what ``sliding_forward(model, x, window, stride)`` computes, with less work:

- BatchNorm folded into the preceding convolution (eval statistics; one pass over each feature map less);
- all sliding windows of a batch cut with ``unfold`` (a view) and run as one batch, ``max_windows`` at a time,
  so the memory used is bounded by the chunk, not by the record length;
- ensemble members' maps summed into one buffer before the shared steps: the dual-view change of units, the
  placement of the window maps on the record (one ``index_add_``) and the read-out;
- the logits read out once from the final map, ``logits = sum(W * x) + b``: the exactness identity holds by
  construction, and the per-window, per-member read-outs are skipped (the mean of linear models is the linear
  model of the mean weights).

The engine never trains: build it from the model's current weights (:func:`build_engine`), use it under
``torch.inference_mode``.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ecgimn.models.base import ModelOutput
from ecgimn.models.imn import IMN, Encoder
from ecgimn.models.windowed import Ensemble, window_starts

#: windows per forward by default: 512 windows of 12 x 250 samples keep the largest activation near 35 MB
DEFAULT_MAX_WINDOWS = 512

_CONV_TYPES = (nn.Conv1d, nn.Conv2d)
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution in an ``nn.Sequential`` into it (in place).

    ``bn(conv(x)) = conv'(x)`` with ``w' = w * g / sqrt(var + eps)`` and ``b' = (b - mean) * g / sqrt(var + eps)
    + beta``; the BatchNorm becomes an identity. Returns ``module``.
    """
    for child in module.children():
        fold_batchnorm(child)
    if isinstance(module, nn.Sequential):
        items = list(module)
        for i in range(len(items) - 1):
            conv, bn = items[i], items[i + 1]
            if isinstance(conv, _CONV_TYPES) and isinstance(bn, _BN_TYPES) and bn.track_running_stats:
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                shape = (-1,) + (1,) * (conv.weight.dim() - 1)
                bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
                conv.weight = nn.Parameter(conv.weight.detach() * scale.view(shape), requires_grad=False)
                conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach(), requires_grad=False)
                module[i + 1] = nn.Identity()
    return module


def _lift(module: nn.Module) -> nn.Module:
    """Replace 1-D convolutions, pools and upsampling by their 2-D twins over (channels, 1, time) (in place).

    oneDNN's 2-D convolution in channels-last layout is about twice as fast on CPU as its 1-D one, for the same
    arithmetic; every 1-D op here has an exact 2-D twin with a unit first spatial axis.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.Conv1d):
            new = nn.Conv2d(child.in_channels, child.out_channels, (1, child.kernel_size[0]),
                            stride=(1, child.stride[0]), padding=(0, child.padding[0]),
                            groups=child.groups, bias=child.bias is not None)
            new.weight = nn.Parameter(child.weight.detach().unsqueeze(2), requires_grad=False)
            if child.bias is not None:
                new.bias = nn.Parameter(child.bias.detach(), requires_grad=False)
        elif isinstance(child, nn.MaxPool1d):
            new = nn.MaxPool2d((1, child.kernel_size), stride=(1, child.stride), ceil_mode=child.ceil_mode)
        elif isinstance(child, nn.AvgPool1d):
            new = nn.AvgPool2d((1, child.kernel_size[0]), stride=(1, child.stride[0]), ceil_mode=child.ceil_mode,
                               count_include_pad=child.count_include_pad)
        elif isinstance(child, nn.Upsample) and isinstance(child.scale_factor, (int, float)):
            new = nn.Upsample(scale_factor=(1.0, float(child.scale_factor)), mode=child.mode)
        elif isinstance(child, nn.BatchNorm1d):
            new = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.eval()
        else:
            _lift(child)
            continue
        setattr(module, name, new)
    return module


def _mkldnn_fusion() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class _ConvGelu(nn.Module):
    """``gelu(conv2d(x))`` as one oneDNN call on CPU (float32, not under autocast), else the two ops."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
                and not torch.compiler.is_compiling()):
            return torch.ops.mkldnn._convolution_pointwise(
                x, c.weight, c.bias, list(c.padding), list(c.stride), list(c.dilation), c.groups, "gelu", [],
                "none")
        return F.gelu(c(x))


def _fuse_conv_gelu(module: nn.Module) -> nn.Module:
    """In every Sequential, [Conv2d (+ folded BatchNorm = Identity) + exact GELU] becomes one :class:`_ConvGelu`."""
    for child in module.children():
        _fuse_conv_gelu(child)
    if isinstance(module, nn.Sequential):
        items = list(module)
        for i in range(len(items) - 2):
            conv, mid, act = items[i : i + 3]
            if (isinstance(conv, nn.Conv2d) and isinstance(mid, nn.Identity) and isinstance(act, nn.GELU)
                    and act.approximate == "none" and conv.padding_mode == "zeros"
                    and isinstance(conv.padding, tuple)):
                module[i] = _ConvGelu(conv)
                module[i + 2] = nn.Identity()
    return module


class _ChannelsLastEncoder(nn.Module):
    """An :class:`~ecgimn.models.imn.Encoder` run in 2-D channels-last layout (1-D encoders lifted by :func:`_lift`)."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.one_d = encoder.ndim == 1
        self.blocks = _lift(encoder.blocks) if self.one_d else encoder.blocks
        self.blocks.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = x.flatten(1, 2).unsqueeze(2) if self.one_d else x  # (B, V*leads, 1, L) or (B, V, leads, L)
        x = x.contiguous(memory_format=torch.channels_last)
        feats = [x]
        for block in self.blocks:
            skip, x = block(x)
            feats.append(skip)
        return x, feats


def _channels_last(member: nn.Module, fuse: bool = True) -> nn.Module:
    """Run a member's encoder (and an IMN's decoder) in 2-D channels-last layout (in place; other models as given),
    with conv + GELU fused where oneDNN offers it."""
    if not isinstance(getattr(member, "encoder", None), Encoder):
        return member
    member.encoder = _ChannelsLastEncoder(member.encoder)
    if isinstance(member, IMN):
        if member.ndim == 1:
            _lift(member.decoder)
        member.decoder.to(memory_format=torch.channels_last)
    if fuse and _mkldnn_fusion():
        _fuse_conv_gelu(member)
    return member


def _members(model: nn.Module) -> list[nn.Module]:
    return list(model.members) if isinstance(model, Ensemble) else [model]


class InferenceEngine(nn.Module):
    """Same outputs as ``model`` (and as ``sliding_forward(model, ...)`` for longer inputs), computed faster.

    ``fuse``: conv + GELU as one oneDNN call on CPU (off for graph export, which has no such op).
    ``autocast``: a dtype (``torch.bfloat16``) to run the networks under ``torch.autocast`` on the engine's
    device; the maps are read out in float32, so ``logits == sum(W * x) + b`` still holds exactly for the W the
    network wrote, but W itself differs from the float32 model's by the reduced precision.
    """

    def __init__(self, model: nn.Module, autocast: torch.dtype | None = None, fuse: bool = True) -> None:
        super().__init__()
        members = [_channels_last(fold_batchnorm(copy.deepcopy(m).eval()), fuse) for m in _members(model)]
        for m in members:
            m.requires_grad_(False)
        self.members = nn.ModuleList(members)
        self.interpretable = all(isinstance(m, IMN) for m in members)
        self.num_classes = int(getattr(model, "num_classes", 0))
        self.num_leads = int(getattr(model, "num_leads", 12))
        # members whose dual view and linear view are the same share one change of units (mu, sd depend only
        # on the input)
        views = {(getattr(m, "dual_view", False), getattr(m, "linear_view", "z")) for m in members}
        self._shared_affine = self.interpretable and len(views) == 1
        self.autocast = autocast
        self.eval()

    def _autocast(self, device: torch.device):
        if self.autocast is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast)

    def maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble-mean ``(W, b)`` of an interpretable model on windows ``x`` (B, leads, L), in x's units."""
        n = len(self.members)
        w_sum = b_sum = affine = None
        shared: dict[tuple, tuple] = {}  # members of the same view and padding read the same encoder input
        with self._autocast(x.device):
            for m in self.members:
                key = (m.dual_view, m.pad_multiple)
                if key not in shared:
                    shared[key] = m.encoder_input(x)
                w, b, aff = m.raw_maps(x, shared[key])
                if not self._shared_affine:
                    w, b = IMN.to_input_units(w.float(), b.float(), aff)
                affine = aff
                w, b = w.float(), b.float()
                if w_sum is None:  # fresh tensors of this call: accumulated in place
                    w_sum, b_sum = w, b
                else:
                    w_sum += w
                    b_sum += b
        if n > 1:
            w_sum /= n
            b_sum /= n
        if self._shared_affine and affine is not None:
            affine = (affine[0].float(), affine[1].float())
            w_sum, b_sum = IMN.to_input_units(w_sum, b_sum, affine)
        return w_sum, b_sum

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean logits (B, K) on windows ``x`` (any model)."""
        total = None
        with self._autocast(x.device):
            for m in self.members:
                z = m(x).logits.float()
                total = z if total is None else total + z
        return total / len(self.members)

    def forward(
        self,
        x: torch.Tensor,
        window: int | None = None,
        stride: int | None = None,
        *,
        return_maps: bool = True,
        max_windows: int = DEFAULT_MAX_WINDOWS,
    ) -> ModelOutput:
        """Full-record output for ``x`` (B, leads, L): one window, or sliding windows averaged as one linear model."""
        B, C, L = x.shape
        window = L if window is None else min(int(window), L)
        starts = window_starts(L, window, stride or window)
        n = len(starts)
        maps = return_maps and self.interpretable
        if n == 1:
            if not maps:
                return ModelOutput(self.logits(x))
            w, b = self.maps(x)
            return ModelOutput(torch.einsum("bkcl,bcl->bk", w, x) + b, w, b)
        # window i covers samples offsets[i]; the gather copies each batch of windows once, contiguous
        offsets = torch.tensor(starts, device=x.device)[:, None] + torch.arange(window, device=x.device)
        if n <= max_windows:  # whole records, as many as fit in max_windows windows
            g = max(1, max_windows // n)
            blocks = [(r, min(B, r + g), 0, n) for r in range(0, B, g)]
        else:  # a long record: its windows max_windows at a time (memory bounded by the chunk)
            blocks = [(r, r + 1, w, min(n, w + max_windows)) for r in range(B) for w in range(0, n, max_windows)]
        K = self.num_classes
        if maps:
            weights = torch.zeros(B, K, C, L, device=x.device)
            bias = torch.zeros(B, K, device=x.device)
            rows = weights.view(B * K * C, L)
        else:
            logit_sums = []
        for r0, r1, w0, w1 in blocks:
            nb, nw, idx = r1 - r0, w1 - w0, offsets[w0:w1]
            xs = x[r0:r1, :, idx].transpose(1, 2).reshape(nb * nw, C, window)
            if not maps:
                logit_sums.append(self.logits(xs).view(nb, nw, -1).sum(1))
                continue
            w, b = self.maps(xs)  # (nb*nw, K, C, window), (nb*nw, K)
            bias[r0:r1] += b.view(nb, nw, K).sum(1)
            w = w.view(nb, nw, K * C, window).transpose(1, 2).reshape(nb * K * C, nw * window)
            rows[r0 * K * C : r1 * K * C].index_add_(1, idx.reshape(-1), w)
        if not maps:
            if n <= max_windows:  # blocks are whole records, in order
                return ModelOutput(torch.cat(logit_sums) / n)
            per_record = len(logit_sums) // B
            return ModelOutput(torch.stack(logit_sums).view(B, per_record, -1).sum(1) / n)
        weights /= n
        bias /= n
        return ModelOutput(torch.einsum("bkcl,bcl->bk", weights, x) + bias, weights, bias)


    def iter_windows(
        self, x: torch.Tensor, window: int, stride: int, max_windows: int = DEFAULT_MAX_WINDOWS
    ):
        """Stream the windows of one record ``x`` (leads, L): yields ``(starts, w, b)`` per chunk of at most
        ``max_windows`` windows, ``w`` (nw, K, leads, window) and ``b`` (nw, K) each window's own exact linear model.

        Memory: one chunk at a time, whatever the record's length.
        """
        C, L = x.shape
        window = min(int(window), L)
        starts = window_starts(L, window, stride)
        ramp = torch.arange(window, device=x.device)
        for w0 in range(0, len(starts), max_windows):
            chunk = starts[w0 : w0 + max_windows]
            idx = torch.tensor(chunk, device=x.device)[:, None] + ramp
            xs = x[:, idx].transpose(0, 1).contiguous()  # (nw, C, window)
            w, b = self.maps(xs)
            yield chunk, xs, w, b


def build_engine(model: nn.Module, autocast: torch.dtype | None = None) -> InferenceEngine:
    """The fast, eval-only twin of ``model`` (its current weights); an engine is returned as it is."""
    if isinstance(model, InferenceEngine):
        return model
    return InferenceEngine(model, autocast=autocast)


__all__ = ["DEFAULT_MAX_WINDOWS", "InferenceEngine", "build_engine", "fold_batchnorm"]
