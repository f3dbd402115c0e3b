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

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ecgimn.models.base import ModelOutput, check_input
from ecgimn.models.imn import IMN, VIEW_EPS, Encoder, ResidualBlock
from ecgimn.models.windowed import Ensemble, window_starts

#: windows per forward by default: 512 windows of 12 x 250 samples keep the largest activation near 35 MB
DEFAULT_MAX_WINDOWS = 512

_CONV_TYPES = (nn.Conv1d, nn.Conv2d)
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


def _copy_module(module: nn.Module, memo: dict[int, nn.Module] | None = None) -> nn.Module:
    """A copy of ``module`` for the engine to rewrite in place, the same as ``copy.deepcopy`` gives for what the
    engine touches at a fraction of its cost (a build copies every member): every submodule a new object with its
    own containers (attribute dicts and lists, hook tables) and its own parameter, buffer and tensor attribute
    storage; other attribute values (numbers, strings, tuples, functions) are shared, as they are immutable or
    never changed. A submodule reached twice is copied once."""
    memo = {} if memo is None else memo
    if id(module) in memo:
        return memo[id(module)]
    new = module.__class__.__new__(module.__class__)
    memo[id(module)] = new
    state = {}
    for key, value in module.__dict__.items():
        if key == "_parameters":
            value = type(value)(
                (k, None if p is None else nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad))
                for k, p in value.items()
            )
        elif key == "_buffers":
            value = type(value)((k, None if b is None else b.clone()) for k, b in value.items())
        elif key == "_modules":
            value = type(value)((k, None if m is None else _copy_module(m, memo)) for k, m in value.items())
        elif isinstance(value, torch.Tensor):
            value = value.clone()
        elif isinstance(value, (dict, list, set)):
            value = value.copy()
        state[key] = value
    object.__setattr__(new, "__dict__", state)
    return new


def _conv2d(weight: torch.Tensor, bias: torch.Tensor | None, **options) -> nn.Conv2d:
    """An ``nn.Conv2d`` holding ``weight`` (out, in/groups, kh, kw) and ``bias`` (frozen), without drawing the random
    initial weights it would replace."""
    out_channels, in_per_group, kh, kw = weight.shape
    conv = nn.Conv2d(
        in_per_group * options.get("groups", 1), out_channels, (kh, kw), bias=bias is not None, device="meta",
        **options,
    )  # fmt: skip
    conv.weight = nn.Parameter(weight, requires_grad=False)
    if bias is not None:
        conv.bias = bias if isinstance(bias, nn.Parameter) else nn.Parameter(bias, requires_grad=False)
    return conv


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
                conv.bias = nn.Parameter(
                    (bias - bn.running_mean) * scale + bn.bias.detach(), requires_grad=False
                )
                module[i + 1] = nn.Identity()
    return module


def _lift(module: nn.Module) -> nn.Module:
    """Replace 1-D convolutions, pools and upsampling by their 2-D twins over (channels, 1, time) (in place).

    oneDNN's 2-D convolution in channels-last layout is about twice as fast on CPU as its 1-D one, for the same
    arithmetic; every 1-D op here has an exact 2-D twin with a unit first spatial axis.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.Conv1d):
            new = _conv2d(
                child.weight.detach().unsqueeze(2),
                None if child.bias is None else child.bias.detach(),
                stride=(1, child.stride[0]),
                padding=child.padding if isinstance(child.padding, str) else (0, child.padding[0]),
                dilation=(1, child.dilation[0]),
                groups=child.groups,
                padding_mode=child.padding_mode,
            )
        elif isinstance(child, nn.MaxPool1d):
            new = nn.MaxPool2d((1, child.kernel_size), stride=(1, child.stride), ceil_mode=child.ceil_mode)
        elif isinstance(child, nn.AvgPool1d):
            new = nn.AvgPool2d(
                (1, child.kernel_size[0]),
                stride=(1, child.stride[0]),
                ceil_mode=child.ceil_mode,
                count_include_pad=child.count_include_pad,
            )
        elif isinstance(child, nn.Upsample) and isinstance(child.scale_factor, (int, float)):
            new = nn.Upsample(scale_factor=(1.0, float(child.scale_factor)), mode=child.mode)
        elif isinstance(child, nn.BatchNorm1d):
            new = nn.BatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            new.load_state_dict(child.state_dict())
            new.eval()
        else:
            _lift(child)
            continue
        setattr(module, name, new)
    return module


def _mkldnn_fusion() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def _use_onednn(x: torch.Tensor) -> bool:
    """The oneDNN fused calls serve float32 CPU tensors outside autocast and graph capture; else plain ops."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


class _FusedConv(nn.Module):
    """``conv2d(x) [+ other] [-> GELU]`` as one oneDNN call on CPU, its weight packed once in oneDNN's layout.

    Unpacked, oneDNN reorders a plain weight into its blocked layout on every call; the packed copy is made on
    the first call for an input shape (made again when the shape changes) and is never a parameter (state_dict,
    ``.to()`` and export see the plain ``conv``). Off CPU float32 (CUDA, autocast, graph capture): the plain ops.
    """

    def __init__(self, conv: nn.Conv2d, gelu: bool) -> None:
        super().__init__()
        self.conv, self.gelu = conv, gelu
        self._packed: tuple[tuple[int, ...], torch.Tensor] | None = None

    def _weight(self, x: torch.Tensor) -> torch.Tensor:
        c, shape = self.conv, tuple(x.shape)
        if self._packed is None or self._packed[0] != shape:
            w = c.weight.detach().contiguous(memory_format=torch.channels_last)
            self._packed = (
                shape,
                torch.ops.mkldnn._reorder_convolution_weight(
                    w, list(c.padding), list(c.stride), list(c.dilation), c.groups, list(shape)
                ),
            )
        return self._packed[1]

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        c = self.conv
        if _use_onednn(x):
            args = (list(c.padding), list(c.stride), list(c.dilation), c.groups)
            if other is None:
                return torch.ops.mkldnn._convolution_pointwise(
                    x, self._weight(x), c.bias, *args, "gelu" if self.gelu else "none", [], "none"
                )
            # oneDNN fuses the sum but not a GELU after it: GELU in place on the fresh output
            y = torch.ops.mkldnn._convolution_pointwise.binary(
                x,
                other.contiguous(memory_format=torch.channels_last),
                self._weight(x),
                c.bias,
                *args,
                "add",
                None,
                None,
                [],
                None,
            )
            return torch.ops.aten.gelu_(y) if self.gelu else y
        y = c(x) if other is None else c(x) + other
        return F.gelu(y) if self.gelu else y


def _fuse_conv_gelu(module: nn.Module) -> nn.Module:
    """In every Sequential, [Conv2d (+ folded BatchNorm = Identity) (+ exact GELU)] becomes one :class:`_FusedConv`."""
    for child in module.children():
        _fuse_conv_gelu(child)
    if isinstance(module, nn.Sequential):
        items = list(module) + [None, None]
        for i in range(len(module)):
            conv, mid, act = items[i : i + 3]
            if not (
                isinstance(conv, nn.Conv2d)
                and conv.padding_mode == "zeros"
                and isinstance(conv.padding, tuple)
            ):
                continue
            gelu = isinstance(mid, nn.Identity) and isinstance(act, nn.GELU) and act.approximate == "none"
            module[i] = _FusedConv(conv, gelu)
            if gelu:
                module[i + 2] = nn.Identity()
    return module


class _FusedResidual(nn.Module):
    """A :class:`~ecgimn.models.imn.ResidualBlock` (BatchNorm folded, 2-D) with fewer passes over its maps.

    ``gelu(conv2(conv1(x)) + shortcut(x))``: the sum is fused into conv2, the GELU applied in place; an average
    pool of stride s followed by a 1x1 convolution (the shortcut) is one convolution of kernel and stride s
    with the weights divided by s (same sum, float rounding aside), where the length is a multiple of s (else the
    pool's partial last window needs the original ops, which are kept).
    """

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.conv1 = block.conv1
        self.conv2 = _FusedConv(block.conv2[0].conv, gelu=isinstance(block.act, nn.GELU))
        self.shortcut = block.shortcut
        self.pooled: _FusedConv | None = None
        self.stride = 1
        ops = [m for m in block.shortcut if not isinstance(m, nn.Identity)]
        if (
            len(ops) == 2
            and isinstance(ops[0], nn.AvgPool2d)
            and isinstance(ops[1], _FusedConv)
            and not ops[1].gelu
            and ops[1].conv.kernel_size == (1, 1)
        ):
            k, st = ops[0].kernel_size, ops[0].stride
            k, st = (k, k) if isinstance(k, int) else k, (st, st) if isinstance(st, int) else st
            if k[0] == st[0] == 1 and k[1] == st[1] and ops[0].padding in (0, (0, 0)):
                c = ops[1].conv
                conv = _conv2d((c.weight.detach() / k[1]).repeat(1, 1, 1, k[1]), c.bias, stride=(1, k[1]))
                self.pooled, self.stride = (
                    _FusedConv(conv.to(memory_format=torch.channels_last), gelu=False),
                    k[1],
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pooled is not None and x.shape[-1] % self.stride == 0:
            s = self.pooled(x)
        else:
            s = self.shortcut(x)
        return self.conv2(self.conv1(x), s)


def _fuse_residual(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, ResidualBlock) and isinstance(child.conv2[0], _FusedConv):
            setattr(module, name, _FusedResidual(child))
        else:
            _fuse_residual(child)
    return module


def _polyphase(conv: nn.Conv2d, up: int, scale: float = 1.0) -> _FusedConv | None:
    """``conv(upsample_nearest(h, up))`` as one convolution of ``h`` with ``up`` output phases (``None``: not this shape).

    Output ``up * t + p`` reads ``h`` at ``t + floor((p + j - c) / up)`` for tap ``j`` (``c``: the left padding), so
    phase ``p`` is a convolution of ``h`` whose taps are sums of the original taps: fewer taps, no upsampled map. The
    phases are stacked as output channels ``[phase 0 | phase 1 | ...]``; in channels-last memory that is the
    upsampled map itself, (N, T, up, C) == (N, up*T, C), so :func:`_phases_to_time` is a view. ``scale``
    multiplies weights and bias (the IMN's weight scale).
    """
    (kh, k), (sh, st), (ph, c) = conv.kernel_size, conv.stride, conv.padding
    if (
        kh != 1
        or sh != 1
        or st != 1
        or ph != 0
        or conv.dilation != (1, 1)
        or conv.groups != 1
        or k != 2 * c + 1
    ):
        return None
    d = [[(p + j - c) // up for j in range(k)] for p in range(up)]
    reach = max(max(-min(r), max(r)) for r in d)
    w0 = conv.weight.detach()[:, :, 0, :] * scale  # (cout, cin, k)
    w = w0.new_zeros(up, w0.shape[0], w0.shape[1], 2 * reach + 1)
    for p in range(up):
        for j in range(k):
            w[p, :, :, d[p][j] + reach] += w0[:, :, j]
    new = _conv2d(
        w.flatten(0, 1).unsqueeze(2).contiguous(memory_format=torch.channels_last),
        None if conv.bias is None else (conv.bias.detach() * scale).repeat(up),
        padding=(0, reach),
    )
    return _FusedConv(new, gelu=False)


def _phases_to_time(y: torch.Tensor, up: int) -> torch.Tensor:
    """(N, up*C, 1, T) channels-last with phase-major channels -> (N, C, 1, up*T) channels-last (a view)."""
    N, UC, _, T = y.shape
    return y.permute(0, 2, 3, 1).reshape(N, 1, T * up, UC // up).permute(0, 3, 1, 2)


class _PolyphaseDecoder(nn.Module):
    """A 2-D :class:`~ecgimn.models.imn.Decoder` without skips or context, each nearest upsampling folded into the
    next convolution (:func:`_polyphase`): no upsampled map is written, and a k-tap convolution after a x2
    upsampling costs (k + 1) / 2 taps per output. Same maps up to float rounding; the weight scale is folded in."""

    def __init__(self, decoder: nn.Module, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.stages = nn.ModuleList()
        self.ups: list[int] = []
        up = 1
        for block in decoder.blocks:
            conv, upsample = block[0][0], block[1]
            if up > 1:
                poly = _polyphase(conv.conv, up)
                poly.gelu = conv.gelu
                conv = poly
            self.stages.append(conv)
            self.ups.append(up)
            up = int(upsample.scale_factor[1]) if isinstance(upsample, nn.Upsample) else 1
        self.stages.append(_polyphase(decoder.out, up, scale) if up > 1 else _scaled(decoder.out, scale))
        self.ups.append(up)

    @staticmethod
    def applies(decoder: nn.Module) -> bool:
        """Only plain stacks: [fused conv + GELU, nearest upsampling by an integer or nothing] blocks, a 'same' out conv."""
        if len(decoder.films) or not isinstance(decoder.out, nn.Conv2d):
            return False
        up = 1
        for block in decoder.blocks:
            if len(block) != 2 or not (
                isinstance(block[0], nn.Sequential) and isinstance(block[0][0], _FusedConv)
            ):
                return False
            if up > 1 and _polyphase(block[0][0].conv, up) is None:
                return False
            u = block[1]
            if isinstance(u, nn.Upsample):
                f = u.scale_factor
                if u.mode != "nearest" or not isinstance(f, tuple) or f[0] != 1 or f[1] != int(f[1]):
                    return False
                up = int(f[1])
            elif isinstance(u, nn.Identity):
                up = 1
            else:
                return False
        return up == 1 or _polyphase(decoder.out, up) is not None

    def forward(self, x: torch.Tensor, skips, scale: float = 1.0, context=None) -> torch.Tensor:
        if scale != self.scale or any(s is not None for s in skips) or context is not None:
            raise RuntimeError("polyphase decoder built for another weight scale, or given skips / context")
        for stage, up in zip(self.stages, self.ups):
            x = stage(x)
            if up > 1:
                x = _phases_to_time(x, up)
        return x


def _scaled(conv: nn.Conv2d, scale: float) -> _FusedConv:
    new = _copy_module(conv)
    new.weight = nn.Parameter(conv.weight.detach() * scale, requires_grad=False)
    if conv.bias is not None:
        new.bias = nn.Parameter(conv.bias.detach() * scale, requires_grad=False)
    return _FusedConv(new, gelu=False)


class _MeanPoolBias(nn.Module):
    """A dynamic :class:`~ecgimn.models.imn.BiasGenerator` reading a channels-last latent without a strided
    reduction: the time mean over a (N, T, C) view (same values, float rounding aside)."""

    def __init__(self, gen: nn.Module) -> None:
        super().__init__()
        self.fc = gen.fc

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        if latent.is_contiguous(memory_format=torch.channels_last) and latent.dim() == 4:
            N, C, H, T = latent.shape
            pooled = latent.permute(0, 2, 3, 1).reshape(N, H * T, C).mean(1)
        else:
            pooled = latent.flatten(2).mean(-1)
        return self.fc(pooled)


class _ChannelsLastEncoder(nn.Module):
    """An :class:`~ecgimn.models.imn.Encoder` run in 2-D channels-last layout (1-D encoders lifted by :func:`_lift`)."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.one_d = encoder.ndim == 1
        self.blocks = _lift(encoder.blocks) if self.one_d else encoder.blocks
        self.blocks.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # (B, V, leads, L) -> (B, V*leads, 1, L); an input from _views_channels_last is that already (a view here)
        x = x.flatten(1, 2).unsqueeze(2) if self.one_d else x  # (B, V*leads, 1, L) or (B, V, leads, L)
        x = x.contiguous(memory_format=torch.channels_last)
        feats = [x]
        for block in self.blocks:
            skip, x = block(x)
            feats.append(skip)
        return x, feats


def _views_channels_last(
    m: IMN, x: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """``m.encoder_input(x)`` for a 1-D IMN, written once into the channels-last (B, V*leads, 1, Lp) tensor its
    encoder reads (one pass instead of stack, pad and layout copies; the same values as ``input_views``)."""
    check_input(x, m.num_leads)
    B, C, L = x.shape
    Lp = -(-L // m.pad_multiple) * m.pad_multiple
    V = 2 if m.dual_view else 1
    buf = x.new_empty(B, Lp, V, C)  # (B, time, view, lead): channels-last memory of (B, V*C, 1, Lp)
    if Lp > L:
        buf[:, L:].zero_()
    xt = x.transpose(1, 2)
    affine = None
    if m.dual_view:
        mu = x.mean(-1, keepdim=True)
        sd = x.std(-1, keepdim=True, correction=0).clamp_min(VIEW_EPS)
        z = buf[:, :L, 0]
        torch.sub(xt, mu.transpose(1, 2), out=z)
        z.div_(sd.transpose(1, 2))
        affine = (mu, sd)
    buf[:, :L, V - 1].copy_(xt)
    return buf.view(B, Lp, V * C).permute(0, 2, 1).unsqueeze(2), affine


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
        _fuse_residual(_fuse_conv_gelu(member))
        if isinstance(member, IMN):
            if (
                member.ndim == 1
                and not member.context
                and all(i is None for i in member._skip_index)
                and _PolyphaseDecoder.applies(member.decoder)
            ):
                member.decoder = _PolyphaseDecoder(member.decoder, member.weight_scale)
            if member.bias_generator.mode == "dynamic":
                member.bias_generator = _MeanPoolBias(member.bias_generator)
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
        members = [_channels_last(fold_batchnorm(_copy_module(m).eval()), fuse) for m in _members(model)]
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

    def maps(self, x: torch.Tensor, divide: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble-mean ``(W, b)`` of an interpretable model on windows ``x`` (B, leads, L), in x's units.

        ``divide``: the maps come back divided by it as well (a caller's mean over windows), in the same pass as
        the members' mean and the change of units.
        """
        n = len(self.members) * divide
        w_sum = b_sum = affine = None
        shared: dict[tuple, tuple] = {}  # members of the same view, padding and layout read the same input
        with self._autocast(x.device):
            for m in self.members:
                one_d = isinstance(m.encoder, _ChannelsLastEncoder) and m.encoder.one_d
                key = (m.dual_view, m.pad_multiple, one_d)
                if key not in shared:
                    shared[key] = _views_channels_last(m, x) if one_d else m.encoder_input(x)
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
        if self._shared_affine and affine is not None:  # W / (n sd): the mean rides on the change of units
            b_sum /= n
            return IMN.to_input_units(w_sum, b_sum, (affine[0].float(), affine[1].float() * n))
        if n > 1:
            w_sum /= n
            b_sum /= n
        return w_sum, b_sum

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean logits (B, K) on windows ``x`` (any model).

        Interpretable models read them out of the ensemble-mean maps (shared encoder input, one change of units);
        black boxes (and mixed ensembles) average their members' logits.
        """
        if self.interpretable:
            w, b = self.maps(x)
            return torch.einsum("bkcl,bcl->bk", w, x) + b
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
            blocks = [
                (r, r + 1, w, min(n, w + max_windows)) for r in range(B) for w in range(0, n, max_windows)
            ]
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
            w, b = self.maps(
                xs, divide=n
            )  # (nb*nw, K, C, window), (nb*nw, K): each window's share of the mean
            bias[r0:r1] += b.view(nb, nw, K).sum(1)
            w = w.view(nb, nw, K * C, window).transpose(1, 2).reshape(nb * K * C, nw * window)
            rows[r0 * K * C : r1 * K * C].index_add_(1, idx.reshape(-1), w)
        if not maps:
            if n <= max_windows:  # blocks are whole records, in order
                return ModelOutput(torch.cat(logit_sums) / n)
            per_record = len(logit_sums) // B
            return ModelOutput(torch.stack(logit_sums).view(B, per_record, -1).sum(1) / n)
        return ModelOutput(torch.einsum("bkcl,bcl->bk", weights, x) + bias, weights, bias)

    def iter_windows(self, x: torch.Tensor, window: int, stride: int, max_windows: int = DEFAULT_MAX_WINDOWS):
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
