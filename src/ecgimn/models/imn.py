"""ECG-IMN: a hypernetwork that generates a per-ECG linear model.

For a standardised ECG ``x`` (B, leads, L) the network outputs ``W(x)`` (B, K, leads, L) and ``b(x)`` (B, K) and
predicts ``logits = (W * x[:, None]).sum((-2, -1)) + b``: the decision *is* a linear model whose weights are the explanation.

Parts (small composable modules):

- :class:`Encoder` - conv blocks over the (leads x time) image (``"2d"``, 1 input channel, max-pool in time,
  as in the seed paper) or over time with the leads as channels (``"1d"``, strided, optionally residual).
- :class:`Decoder` - the transition decoder: [conv + BN + GELU + nearest upsampling] blocks, optional U-Net
  skips from the encoder, a final conv to the K weight maps.
- :class:`BiasGenerator` - ``"dynamic"`` (global average pool of the latent + Linear, as in the paper) or
  ``"static"`` (a learned per-class constant, so the input-dependent part of the decision is all in ``W * x``).
- :class:`LeadFold` - per-lead generation: each lead is read alone (leads folded into the batch) with a learned lead
  embedding, so one shared generator writes a lead's W from that lead only.
- :func:`w_reach` - how far (in samples) W at time t can look in the input, for 1-D generators without global paths.
- :class:`IMN` - the wrapper: padding, weight resolution, weight scale and the exact linear read-out.
- :func:`input_views` - the encoder's input: the ECG itself, or (``dual_view``) the ECG z-scored per lead *and* in
  its own units, so the network sees the shapes and the absolute amplitudes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ecgimn.constants import N_LEADS
from ecgimn.errors import ConfigError
from ecgimn.models.base import ModelOutput, check_input, register_model

#: W is scaled by 1/sqrt(leads * REFERENCE_LENGTH) unless ``weight_scale`` is given (10 s at 100 Hz).
REFERENCE_LENGTH = 1000
#: floor of the per-lead standard deviation in the dual view (input units), so flat leads do not blow up.
VIEW_EPS = 1e-2


#: the IMN's options that configure its encoder (names and defaults in :class:`IMN`'s signature); the black-box
#: twins (:mod:`ecgimn.models.blackbox`) take the same ones
ENCODER_OPTIONS = (
    "encoder",
    "encoder_channels",
    "downsample",
    "kernel_size",
    "lead_kernel_size",
    "residual",
    "dropout",
)


def input_views(
    x: torch.Tensor, dual_view: bool
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """The encoder's views of ``x`` (B, leads, L): ``(views (B, V, leads, L), (mu, sd) | None)``.

    ``dual_view=False``: V = 1, the input itself. ``dual_view=True``: V = 2, ``[z, x]`` with ``z = (x - mu) / sd``
    z-scored per lead over time (``mu``, ``sd``: (B, leads, 1), ``sd >= VIEW_EPS``). Under training-set
    normalisation ``x`` keeps the absolute amplitudes that a per-record z-score removes; ``z`` is
    amplitude-free.
    """
    if not dual_view:
        return x.unsqueeze(1), None
    mu = x.mean(-1, keepdim=True)
    sd = x.std(-1, keepdim=True, correction=0).clamp_min(VIEW_EPS)  # population std: 0, not NaN, for L = 1
    return torch.stack([(x - mu) / sd, x], 1), (mu, sd)


def _conv(
    ndim: int, cin: int, cout: int, kernel: tuple[int, int] | int, stride: int = 1, bias: bool = False
) -> nn.Module:
    """A 'same'-padded convolution; in 2-D the kernel is (leads, time) and only time is strided."""
    if ndim == 2:
        kl, kt = kernel if isinstance(kernel, tuple) else (kernel, kernel)
        return nn.Conv2d(cin, cout, (kl, kt), stride=(1, stride), padding=(kl // 2, kt // 2), bias=bias)
    k = kernel if isinstance(kernel, int) else kernel[-1]
    return nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


def _bn(ndim: int, c: int) -> nn.Module:
    return nn.BatchNorm2d(c) if ndim == 2 else nn.BatchNorm1d(c)


def _time_op(ndim: int, kind: str, factor: int) -> nn.Module:
    """Max/avg pooling (ceil mode: a partial last window is kept) or nearest upsampling by ``factor`` along time."""
    size: int | tuple[int, int] = (1, factor) if ndim == 2 else factor
    if kind == "up":
        return nn.Upsample(scale_factor=size, mode="nearest")
    pool = {
        ("max", 2): nn.MaxPool2d,
        ("max", 1): nn.MaxPool1d,
        ("avg", 2): nn.AvgPool2d,
        ("avg", 1): nn.AvgPool1d,
    }
    return pool[kind, ndim](size, ceil_mode=True)


class ConvBnAct(nn.Sequential):
    """conv + BatchNorm + GELU."""

    def __init__(
        self, ndim: int, cin: int, cout: int, kernel: tuple[int, int] | int, stride: int = 1
    ) -> None:
        super().__init__(_conv(ndim, cin, cout, kernel, stride), _bn(ndim, cout), nn.GELU())


class ResidualBlock(nn.Module):
    """Two convs (the first strided) + BN, plus a pooled 1x1 shortcut, then GELU."""

    def __init__(
        self, ndim: int, cin: int, cout: int, kernel: tuple[int, int] | int, stride: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = ConvBnAct(ndim, cin, cout, kernel, stride)
        self.conv2 = nn.Sequential(_conv(ndim, cout, cout, kernel), _bn(ndim, cout))
        short: list[nn.Module] = [_time_op(ndim, "avg", stride)] if stride > 1 else []
        if cin != cout:
            short += [_conv(ndim, cin, cout, 1), _bn(ndim, cout)]
        self.shortcut = nn.Sequential(*short)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class EncoderBlock(nn.Module):
    """One encoder stage. Returns (skip feature, output).

    2-D (paper): conv-BN-GELU at full resolution, then MaxPool (1, downsample); the skip is the pre-pool map.
    1-D: the first conv is strided by ``downsample``; the skip is the output. Dropout on the output.
    """

    def __init__(
        self,
        ndim: int,
        cin: int,
        cout: int,
        kernel: tuple[int, int] | int,
        downsample: int,
        residual: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        stride = 1 if ndim == 2 else downsample
        self.conv = (
            ResidualBlock(ndim, cin, cout, kernel, stride)
            if residual
            else ConvBnAct(ndim, cin, cout, kernel, stride)
        )
        self.pool = _time_op(ndim, "max", downsample) if ndim == 2 and downsample > 1 else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x)
        return h, self.drop(self.pool(h))


class Encoder(nn.Module):
    """Conv encoder over ``"2d"`` (views x leads x time image) or ``"1d"`` (views x leads as channels) input.

    Attributes:
        feature_info: (channels, time reduction) of the skip features, the input itself first.
        out_channels, reduction: of the latent.
    """

    def __init__(
        self,
        kind: str = "2d",
        num_leads: int = N_LEADS,
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 15,
        lead_kernel_size: int = 3,
        downsample: Sequence[int] = (1, 2, 2),
        residual: bool = False,
        dropout: float = 0.2,
        views: int = 1,
    ) -> None:
        super().__init__()
        if kind not in ("1d", "2d"):
            raise ConfigError(f"encoder must be '1d' or '2d', got {kind!r}")
        if len(channels) != len(downsample) or not channels:
            raise ConfigError("encoder_channels and downsample must be non-empty and of the same length")
        if kernel_size % 2 == 0 or lead_kernel_size % 2 == 0:
            raise ConfigError("kernel sizes must be odd ('same' padding)")
        self.ndim = 2 if kind == "2d" else 1
        kernel: tuple[int, int] | int = (lead_kernel_size, kernel_size) if self.ndim == 2 else kernel_size
        cin = views if self.ndim == 2 else num_leads * views
        self.feature_info: list[tuple[int, int]] = [(cin, 1)]
        blocks, red = [], 1
        for i, (cout, ds) in enumerate(zip(channels, downsample)):
            # the first 1-D block is a plain conv stem; later blocks are residual if asked
            res = residual and (self.ndim == 2 or i > 0)
            blocks.append(EncoderBlock(self.ndim, cin, int(cout), kernel, int(ds), res, dropout))
            self.feature_info.append((int(cout), red if self.ndim == 2 else red * int(ds)))
            cin, red = int(cout), red * int(ds)
        self.blocks = nn.ModuleList(blocks)
        self.out_channels, self.reduction = cin, red

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: (B, views, leads, L) -> (latent, [encoder input, skip features...]); 1-D folds views into channels."""
        x = x if self.ndim == 2 else x.flatten(1, 2)
        feats = [x]
        for block in self.blocks:
            skip, x = block(x)
            feats.append(skip)
        return x, feats


def split_upsampling(total: int, n_blocks: int) -> list[int]:
    """Distribute an upsampling factor over decoder blocks: x2 per block from the first, the rest on the last."""
    factors = [1] * n_blocks
    for i in range(n_blocks):
        if total % 2:
            break
        factors[i], total = 2, total // 2
    factors[-1] *= total
    return factors


class Decoder(nn.Module):
    """Transition decoder: blocks of [conv + BN + GELU + nearest upsample], then a conv to ``out_channels`` maps.

    ``skip_channels[i]`` (0 = none) are concatenated to the input of block i (the last entry: of the final conv).
    ``context_channels`` > 0 adds global context (FiLM): a vector ``c`` (e.g. the average-pooled latent) scales and
    shifts the input of every block, ``h * (1 + gamma_i(c)) + beta_i(c)``; zero-initialised, so it starts as identity.
    """

    def __init__(
        self,
        ndim: int,
        in_channels: int,
        channels: Sequence[int],
        out_channels: int,
        upsample: Sequence[int],
        skip_channels: Sequence[int],
        kernel_size: int = 3,
        out_kernel_size: int = 3,
        context_channels: int = 0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0 or out_kernel_size % 2 == 0:
            raise ConfigError("decoder kernel sizes must be odd ('same' padding)")
        blocks, films, cin = [], [], in_channels
        for cout, up, sc in zip(channels, upsample, skip_channels):
            up_op = _time_op(ndim, "up", up) if up > 1 else nn.Identity()
            blocks.append(nn.Sequential(ConvBnAct(ndim, cin + sc, int(cout), kernel_size), up_op))
            if context_channels:
                film = nn.Linear(context_channels, 2 * cin)
                nn.init.zeros_(film.weight)
                nn.init.zeros_(film.bias)
                films.append(film)
            cin = int(cout)
        self.blocks = nn.ModuleList(blocks)
        self.films = nn.ModuleList(films)
        self.out = _conv(ndim, cin + skip_channels[-1], out_channels, out_kernel_size, bias=True)

    def forward(
        self,
        x: torch.Tensor,
        skips: Sequence[torch.Tensor | None],
        scale: float = 1.0,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The output maps times ``scale`` (applied to the final conv's parameters: no extra map-sized tensor)."""
        for i, (block, skip) in enumerate(zip(self.blocks, skips)):
            if self.films:
                gamma, beta = self.films[i](context).chunk(2, dim=1)
                shape = (*gamma.shape, *([1] * (x.dim() - 2)))
                x = x * (1 + gamma.view(shape)) + beta.view(shape)
            x = block(x if skip is None else torch.cat([x, skip], 1))
        x = x if skips[-1] is None else torch.cat([x, skips[-1]], 1)
        return self.out._conv_forward(x, self.out.weight * scale, self.out.bias * scale)


class BiasGenerator(nn.Module):
    """``"dynamic"``: global average pool of the latent + Linear (paper); ``"static"``: a learned per-class constant."""

    def __init__(self, in_channels: int, num_classes: int, mode: str = "dynamic") -> None:
        super().__init__()
        if mode not in ("dynamic", "static"):
            raise ConfigError(f"bias must be 'dynamic' or 'static', got {mode!r}")
        self.mode = mode
        if mode == "dynamic":
            self.fc = nn.Linear(in_channels, num_classes)
        else:
            self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        if self.mode == "static":
            return self.bias.repeat(latent.shape[0], 1)  # a copy, not a view of the parameter
        return self.fc(latent.flatten(2).mean(-1))


class LeadFold(nn.Module):
    """Per-lead generation: views (B, V, C, L) -> (B*C, V+E, 1, L), each lead alone with its learned E-dim
    embedding appended as E constant channels. A generator applied to the result writes lead c's W from lead c only
    (weights shared over leads; the embedding says which lead it is).

    The views may also come in the 1-D encoder's layout, views x leads as channels (B, V*C, 1, L) (any memory
    format): every form a 1-D encoder reads folds the same way.
    """

    def __init__(self, num_leads: int, dim: int) -> None:
        super().__init__()
        if dim < 0:
            raise ConfigError(f"lead_embedding must be >= 0, got {dim}")
        self.embedding = nn.Parameter(torch.randn(num_leads, dim))

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        C = self.embedding.shape[0]
        if views.shape[2] != C:  # (B, V*C, 1, L): views x leads as channels
            views = views.unflatten(1, (-1, C)).flatten(2, 3)
        B, V, C, L = views.shape
        per_lead = views.transpose(1, 2).reshape(B * C, V, 1, L)
        emb = self.embedding[None, :, :, None, None].expand(B, C, -1, 1, L).reshape(B * C, -1, 1, L)
        return torch.cat([per_lead, emb.to(per_lead.dtype)], 1)


def w_reach(
    kernel_size: int,
    downsample: Sequence[int],
    residual: bool,
    upsample: Sequence[int],
    decoder_kernel_size: int,
    out_kernel_size: int,
) -> int:
    """Samples either side of t that a 1-D encoder + decoder's output at t can depend on (a bound, 'same' padding).

    Propagates the input interval [t - left, t + right] that a feature at reduction s covers: a conv of kernel k at
    reduction s widens both sides by s * (k // 2); a residual shortcut's average pool of factor f the right side by
    s * (f - 1); a nearest upsampling by f from reduction s the left side by s - s / f (the output repeats an
    earlier anchor).
    """
    left = right = 0
    s, h = 1, kernel_size // 2
    for i, ds in enumerate(downsample):
        right_short = right + s * (ds - 1)
        left, right, s = left + s * h, right + s * h, s * ds  # the (first) conv, strided
        if residual and i > 0:
            left, right = left + s * h, max(right + s * h, right_short)
    for up in upsample:
        left, right = left + s * (decoder_kernel_size // 2), right + s * (decoder_kernel_size // 2)
        left, s = left + s - s // up, s // up
    return max(left, right) + s * (out_kernel_size // 2)


class IMN(nn.Module):
    """Interpretable Mesomorphic Network for ECGs: ``logits = sum(W(x) * x) + b(x)``, exactly.

    Defaults are the seed paper's design (2-D encoder 16/32/64, kernel (3, 15), max-pool (1, 2) after blocks 2 and 3,
    decoder 32/16 with nearest upsampling, dynamic bias, dropout 0.2).

    Args:
        num_classes: K outputs (1 for a binary task).
        num_leads: input leads (rows of W).
        encoder: ``"2d"`` (paper) or ``"1d"`` (leads as channels, strided, fast on CPU).
        encoder_channels, downsample: per encoder block, output channels and time reduction.
        kernel_size, lead_kernel_size: conv kernel along time / along leads (2-D only).
        residual: residual encoder blocks (in 1-D the first block stays a plain conv stem).
        decoder_channels, decoder_kernel_size, out_kernel_size: decoder capacity and kernels.
        skip: U-Net skips: the deepest encoder feature (or the input) at each decoder resolution is concatenated.
        context: global context in the decoder: the average-pooled latent scales and shifts every decoder block's
            input (FiLM), so the weights at one time can depend on the whole window (rhythm, axis, other beats).
        weight_resolution: r; W is generated at L/r and nearest-upsampled, i.e. tied within r-sample segments.
        bias: ``"dynamic"`` (GAP + Linear of the latent) or ``"static"`` (learned per-class constant).
        dropout: after every encoder block.
        dual_view: the encoder reads each window twice, z-scored per lead and as given (see :func:`input_views`),
            and the generated linear model acts on the z-scored window. W and b are returned in the input's units
            (``W / sd`` and ``b - sum(W * mu / sd)``), so ``logits == sum(W * x) + b`` still holds for the input
            ``x``. Meant for training-set normalisation, where the input keeps the absolute amplitudes.
        linear_view: with ``dual_view``, the view the linear model acts on: ``"z"`` (above) or ``"x"`` (the input
            as given: W and b are used as generated, no division by the window's per-lead sd and no
            ``sum(W * mu / sd)`` term in the bias, so a change in one place of a lead does not rescale that lead's
            whole W nor move the bias through the lead's mean).
        lead_local: per-lead generation (1-D encoder; :class:`LeadFold`): W of a lead is written from that lead
            alone by a generator shared over leads, plus a learned ``lead_embedding``-dim lead embedding; a change in
            one lead cannot move another lead's W. A dynamic bias then pools over leads and time.
        lead_embedding: size of the lead embedding with ``lead_local``.
        max_reach: a locality bound, in samples: W at time t may depend on the input only within ``t +- max_reach``
            (:func:`w_reach` of the architecture, checked here). Refuses what gives W a global path: the 2-D
            encoder (not computed), ``context``, ``dual_view`` (its z-score uses the whole window), ``skip`` and
            ``weight_resolution`` > 1. The bias is a separate choice (``"static"`` keeps it input-free).
        weight_scale: fixed multiplier on the generated maps; ``None`` -> ``1/sqrt(num_leads * 1000)``, which keeps
            the initial logits O(1) at 10 s / 100 Hz (a plain sum of 12*L random terms is O(sqrt(12 L))). The scaled
            W is the one returned, so the identity stays exact.

    Any length L works: the input is zero-padded at the end to a multiple of ``lcm(reduction, r)``, W is cropped
    back to L and the logits are computed from the cropped W and the original x (padding would contribute nothing
    anyway). The padding only influences W near the end (through the convolutions) and the dynamic bias (through
    the average pool), by at most ``pad_multiple - 1`` zero samples.
    """

    interpretable = True

    def __init__(
        self,
        num_classes: int,
        num_leads: int = N_LEADS,
        *,
        encoder: str = "2d",
        encoder_channels: Sequence[int] = (16, 32, 64),
        downsample: Sequence[int] = (1, 2, 2),
        kernel_size: int = 15,
        lead_kernel_size: int = 3,
        residual: bool = False,
        decoder_channels: Sequence[int] = (32, 16),
        decoder_kernel_size: int = 3,
        out_kernel_size: int = 3,
        skip: bool = False,
        context: bool = False,
        weight_resolution: int = 1,
        bias: str = "dynamic",
        dropout: float = 0.2,
        dual_view: bool = False,
        linear_view: str = "z",
        lead_local: bool = False,
        lead_embedding: int = 8,
        max_reach: int | None = None,
        weight_scale: float | None = None,
    ) -> None:
        super().__init__()
        if weight_resolution < 1 or not decoder_channels:
            raise ConfigError("weight_resolution must be >= 1 and decoder_channels non-empty")
        self.num_classes, self.num_leads = num_classes, num_leads
        self.config: dict = {}
        self.dual_view = bool(dual_view)
        if linear_view not in ("z", "x"):
            raise ConfigError(f"linear_view must be 'z' or 'x', got {linear_view!r}")
        self.linear_view = linear_view
        self.lead_local = bool(lead_local)
        if self.lead_local and encoder != "1d":
            raise ConfigError("lead_local needs encoder='1d' (the 2-D encoder mixes neighbouring leads)")
        views = 2 if dual_view else 1
        self.lead_fold = LeadFold(num_leads, int(lead_embedding)) if self.lead_local else None
        self.encoder = Encoder(
            encoder,
            1 if self.lead_local else num_leads,
            encoder_channels,
            kernel_size,
            lead_kernel_size,
            downsample,
            residual,
            dropout,
            views + int(lead_embedding) if self.lead_local else views,
        )
        red, r = self.encoder.reduction, int(weight_resolution)
        g = math.gcd(red, r)
        # the decoder climbs from the latent (reduction red) to reduction g; W is then avg-pooled to r, repeated r times
        self.weight_resolution, self._pool = r, r // g
        self.pad_multiple = red * r // g
        ups = split_upsampling(red // g, len(decoder_channels))
        # time reduction at the input of each decoder block and of the final conv; skips come from the encoder
        in_red = [red // math.prod(ups[:i]) for i in range(len(ups) + 1)]
        deepest = {rd: i for i, (_, rd) in enumerate(self.encoder.feature_info) if rd < red}
        self._skip_index = [deepest.get(rd) if skip else None for rd in in_red]
        skip_ch = [0 if i is None else self.encoder.feature_info[i][0] for i in self._skip_index]
        self.ndim = self.encoder.ndim
        out_maps = num_classes if self.ndim == 2 or self.lead_local else num_classes * num_leads
        self.decoder = Decoder(
            self.ndim,
            self.encoder.out_channels,
            decoder_channels,
            out_maps,
            ups,
            skip_ch,
            decoder_kernel_size,
            out_kernel_size,
            self.encoder.out_channels if context else 0,
        )
        self.context = bool(context)
        # W's reach in samples when it is bounded by construction (1-D, no global path), else None
        self.reach: int | None = None
        if self.ndim == 1 and not (self.context or self.dual_view or skip or r > 1):
            self.reach = w_reach(kernel_size, downsample, residual, ups, decoder_kernel_size, out_kernel_size)
        if max_reach is not None:
            if self.reach is None:
                raise ConfigError(
                    "max_reach needs a 1-D encoder without context, dual_view, skip or "
                    "weight_resolution > 1 (each gives W a path to the whole window)"
                )
            if self.reach > int(max_reach):
                raise ConfigError(
                    f"W of this architecture reaches {self.reach} samples either side, more than "
                    f"max_reach={max_reach}; use smaller kernels or less downsampling"
                )
        self.bias_generator = BiasGenerator(self.encoder.out_channels, num_classes, bias)
        self.weight_scale = (
            float(weight_scale) if weight_scale is not None else 1.0 / math.sqrt(num_leads * REFERENCE_LENGTH)
        )

    def encoder_input(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """The encoder's input for ``x``: its views (:func:`input_views`) zero-padded to ``pad_multiple``."""
        check_input(x, self.num_leads)
        L = x.shape[-1]
        Lp = -(-L // self.pad_multiple) * self.pad_multiple
        views, affine = input_views(x, self.dual_view)
        return (F.pad(views, (0, Lp - L)) if Lp > L else views), affine

    def raw_maps(
        self,
        x: torch.Tensor,
        prepared: tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """The generated linear model before the dual-view change of units: ``(w, b, (mu, sd) | None)``.

        ``w`` (B, K, leads, L) and ``b`` (B, K) act on the encoder's z-scored view when ``affine`` is given
        (see :meth:`to_input_units`), on ``x`` itself otherwise. ``prepared``: :meth:`encoder_input` of ``x``,
        when already computed (models of the same view and padding share it).
        """
        views, affine = prepared if prepared is not None else self.encoder_input(x)
        B, C, L = x.shape
        latent, feats = self.encoder(views if self.lead_fold is None else self.lead_fold(views))
        pooled = latent.flatten(2).mean(-1) if self.context else None
        w = self.decoder(
            latent, [None if i is None else feats[i] for i in self._skip_index], self.weight_scale, pooled
        )
        if self.lead_fold is not None:  # (B*C, K, T) -> (B, K, C, T); the bias pools over leads and time
            w = w.unflatten(0, (B, C)).transpose(1, 2)
            latent = latent.unflatten(0, (B, C)).transpose(1, 2)
        w = w.reshape(B, self.num_classes * C, -1)  # (B, K*C, T)
        if self._pool > 1:
            w = F.avg_pool1d(w, self._pool)
        if self.weight_resolution > 1:
            w = w.repeat_interleave(self.weight_resolution, dim=-1)
        w = w[..., :L].reshape(B, self.num_classes, C, L)
        # the linear model acts on the z-scored view only with linear_view 'z'; with 'x' on the input as given
        return w, self.bias_generator(latent), (affine if self.linear_view == "z" else None)

    @staticmethod
    def to_input_units(
        w: torch.Tensor, b: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The linear model of ``z = (x - mu) / sd`` written in the units of ``x`` (identity without ``affine``)."""
        if affine is None:
            return w, b
        mu, sd = affine
        w = w / sd.unsqueeze(1)
        return w, b - (w.sum(-1) * mu.squeeze(-1).unsqueeze(1)).sum(-1)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """x: (B, leads, L) standardised -> ModelOutput(logits (B, K), weights (B, K, leads, L), bias (B, K))."""
        w, b = self.to_input_units(*self.raw_maps(x))
        logits = torch.einsum("bkcl,bcl->bk", w, x) + b
        return ModelOutput(logits, w, b)


_PAPER: dict = {}  # the IMN constructor defaults are the paper design
_ONE_D: dict = dict(
    encoder="1d",
    encoder_channels=(64, 128, 128),
    downsample=(2, 2, 2),
    kernel_size=7,
    residual=True,
    decoder_channels=(64, 32, 32),
    decoder_kernel_size=5,
    out_kernel_size=1,
)

register_model(
    "imn-paper",
    IMN,
    interpretable=True,
    description="seed paper IMN: 2-D conv encoder + transition decoder",
    **_PAPER,
)
register_model(
    "imn-paper-static",
    IMN,
    interpretable=True,
    description="imn-paper with a static (per-class) bias",
    bias="static",
)
register_model(
    "imn-1d", IMN, interpretable=True, description="fast 1-D residual IMN (leads as channels)", **_ONE_D
)
register_model(
    "imn-1d-unet", IMN, interpretable=True, description="imn-1d with U-Net skips", **{**_ONE_D, "skip": True}
)
register_model(
    "imn-1d-ctx",
    IMN,
    interpretable=True,
    description="imn-1d with global context (FiLM from the pooled latent) in the decoder",
    **{**_ONE_D, "context": True},
)
register_model(
    "imn-1d-wide",
    IMN,
    interpretable=True,
    description="imn-1d with 1.5x the encoder channels (96/192/192); twin of blackbox-1d-wide",
    **{**_ONE_D, "encoder_channels": (96, 192, 192)},
)
register_model(
    "imn-1d-dual",
    IMN,
    interpretable=True,
    description="imn-1d reading each window z-scored and in its own units; linear in the z-scored window",
    **{**_ONE_D, "dual_view": True},
)
register_model(
    "imn-1d-dual-x-static",
    IMN,
    interpretable=True,
    description="imn-1d-dual whose linear model acts on the input as given (not the z-scored window), static bias",
    **{**_ONE_D, "dual_view": True, "linear_view": "x", "bias": "static"},
)
register_model(
    "imn-1d-coarse",
    IMN,
    interpretable=True,
    description="imn-1d, W tied within 4-sample segments",
    **{**_ONE_D, "weight_resolution": 4},
)
register_model(
    "imn-1d-static",
    IMN,
    interpretable=True,
    description="imn-1d with a static bias",
    **{**_ONE_D, "bias": "static"},
)
# locality-bounded generators: W at t reads the input within t +- 40 samples (0.4 s at 100 Hz) only, on the input
# as given (no per-window z-score), static bias; the second one also per lead (W of a lead reads only that lead)
_LOCAL: dict = {**_ONE_D, "kernel_size": 3, "decoder_kernel_size": 3, "bias": "static", "max_reach": 40}
register_model(
    "imn-1d-local",
    IMN,
    interpretable=True,
    description="imn-1d whose W at t reads only t +- 40 samples (kernels 3), static bias",
    **_LOCAL,
)
register_model(
    "imn-1d-lead-local",
    IMN,
    interpretable=True,
    description="imn-1d-local with per-lead generation: W of a lead reads only that lead within +- 40 samples",
    **{**_LOCAL, "lead_local": True, "encoder_channels": (32, 64, 64), "decoder_channels": (32, 16, 16)},
)
