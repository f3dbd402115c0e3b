"""A training-time locality penalty for IMNs: a local change of the input should only change the evidence there.

Per step, :func:`local_perturbations` draws one smooth local perturbation per record (1-3 random leads, one random
0.1-0.4 s segment, random amplitude, sign and shape: a bump, a plateau or a ramp; generic shapes at random places,
not clinical lesions), and :func:`locality_penalty` runs the model on ``x`` and ``x + delta`` in one batch and
measures how much of the change of the decision lands outside the perturbation's support::

    leak_k = sum over leads and 0.1 s blocks of |sum over the block's cells outside the support of (W'_k - W_k) x|
             + bias_weight * |b'_k - b_k|

in logit units (the change of the logit's exact split ``dlogit = sum((W' - W) x') + sum(W delta) + (b' - b)``
outside the support is ``sum((W' - W) x)`` there, as ``delta`` is zero outside). Within a block the signed change
may cancel (the unit of an explanation is a lead x wave cell, not a sample); across blocks and leads it may not.
A model whose W and b do not depend on the input has zero leak. The penalty is the mean over records and classes,
so a weight of 1 prices one logit of leak like one nat of the classification loss.

:func:`locality_forward` runs the pair as the training step's one forward pass, in training mode, with the same
dropout mask for both halves (:func:`paired_dropout`), so that ``W' - W`` is caused by ``delta`` (and the shared
BatchNorm statistics) and the model that is penalised is the model that is trained; the classification loss uses
the first half. (Scoring the pair in evaluation mode instead lets the network satisfy the penalty with a degenerate
evaluation-mode model that training mode never shows: fold-9 scores then collapse.)
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from ecgimn.errors import ConfigError
from ecgimn.models.base import ModelOutput

#: the perturbation: leads (1..MAX_LEADS), segment length (seconds), amplitude (training-standardised units)
MAX_LEADS = 3
SEGMENT_SECONDS = (0.1, 0.4)
AMPLITUDE = (0.25, 1.5)
#: the leak is summed with signs inside blocks of this length (seconds) and in absolute value across them
BLOCK_SECONDS = 0.1
#: with ``repeat``, the segment recurs with a random period in this range (seconds): RR intervals of 50-100 bpm
PERIOD_SECONDS = (0.6, 1.2)
SHAPES = ("bump", "plateau", "ramp")


def local_perturbations(
    shape: tuple[int, int, int], fs: int, gen: torch.Generator, repeat: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random smooth local perturbations for a batch of ``shape`` (B, leads, L): ``(delta, support)``.

    ``support`` (B, leads, L, bool) marks the chosen leads x segment(s); ``delta`` is zero outside it. With
    ``repeat`` the same segment recurs across the whole record with a random period (:data:`PERIOD_SECONDS`, not
    aligned to any beat), so the change is as widespread as a change written into every beat. Random numbers come
    from ``gen`` (CPU), so a seeded run draws the same perturbations anywhere.
    """
    B, C, L = shape
    if C < 1 or L < 2:
        raise ConfigError(f"locality needs records of at least 2 samples, got shape {tuple(shape)}")
    lo = max(2, int(round(SEGMENT_SECONDS[0] * fs)))
    hi = max(lo, min(L, int(round(SEGMENT_SECONDS[1] * fs))))
    length = torch.randint(lo, hi + 1, (B,), generator=gen).clamp(max=L)
    start = (torch.rand(B, generator=gen) * (L - length + 1)).floor().long()
    n_leads = torch.randint(1, min(MAX_LEADS, C) + 1, (B,), generator=gen)
    rank = torch.rand(B, C, generator=gen).argsort(1).argsort(1)  # a random permutation rank per lead
    leads = rank < n_leads[:, None]  # (B, C): n_leads random leads
    t = torch.arange(L, dtype=torch.float32)
    offset = t[None, :] - start[:, None].float()  # (B, L)
    if repeat:
        p_lo, p_hi = (int(round(s * fs)) for s in PERIOD_SECONDS)
        period = torch.randint(p_lo, p_hi + 1, (B,), generator=gen).maximum(length + 1)
        offset = torch.remainder(offset, period[:, None].float())
    u = (offset + 0.5) / length[:, None].float()  # (B, L): 0-1 inside a segment
    inside = (u > 0) & (u < 1)
    u = u.clamp(0, 1)
    taper = 0.2
    edge = torch.minimum(u, 1 - u) / taper
    bump = torch.sin(math.pi * u) ** 2
    plateau = 0.5 - 0.5 * torch.cos(math.pi * edge.clamp(max=1))
    ramp = u * (0.5 - 0.5 * torch.cos(math.pi * ((1 - u) / taper).clamp(max=1)))
    kind = torch.randint(0, len(SHAPES), (B,), generator=gen)
    wave = torch.stack([bump, plateau, ramp], 1)[torch.arange(B), kind] * inside  # (B, L)
    amp = AMPLITUDE[0] + (AMPLITUDE[1] - AMPLITUDE[0]) * torch.rand(B, 1, generator=gen)
    sign = torch.where(torch.rand(B, 1, generator=gen) < 0.5, -1.0, 1.0)
    per_lead = amp * sign * (0.5 + 0.5 * torch.rand(B, C, generator=gen)) * leads  # (B, C)
    delta = per_lead[:, :, None] * wave[:, None, :]
    support = leads[:, :, None] & inside[:, None, :]
    return delta, support


class _PairedDropout(nn.Module):
    """Dropout whose mask, drawn for the first half of the batch, is repeated for the second half."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        half = h.shape[0] // 2
        keep = torch.rand_like(h[:half]) >= self.p
        mask = torch.cat([keep, keep]).to(h.dtype) / (1 - self.p)
        return h * mask


@contextmanager
def paired_dropout(model: nn.Module):
    """While active, every training-mode ``nn.Dropout`` of ``model`` drops the same units in both halves of the
    batch, so that a pair ``[x, x + delta]`` differs by ``delta`` alone (BatchNorm sees both halves together)."""
    swapped = []
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.Dropout) and child.training and child.p > 0:
                setattr(module, name, _PairedDropout(child.p))
                swapped.append((module, name, child))
    try:
        yield
    finally:
        for module, name, child in swapped:
            setattr(module, name, child)


def block_sums(values: torch.Tensor, block: int) -> torch.Tensor:
    """Sums over consecutive blocks of ``block`` samples along the last axis (a partial last block kept)."""
    L = values.shape[-1]
    pad = -L % block
    if pad:
        values = torch.nn.functional.pad(values, (0, pad))
    return values.unflatten(-1, (-1, block)).sum(-1)


def leak(
    out: ModelOutput, x: torch.Tensor, support: torch.Tensor, fs: int, bias_weight: float = 1.0
) -> torch.Tensor:
    """Mean leak (logit units) outside ``support`` between the two halves of ``out`` (the model's output for
    ``[x, x + delta]``); the change of the bias is priced ``bias_weight`` times."""
    if out.weights is None or out.bias is None:
        raise ConfigError("locality needs an interpretable model (one that returns its weight map and bias)")
    B = x.shape[0]
    w, w2 = out.weights[:B].float(), out.weights[B:].float()
    outside = (~support).to(device=x.device, dtype=torch.float32).unsqueeze(1)  # (B, 1, C, L)
    moved = (w2 - w) * x.float().unsqueeze(1) * outside  # (B, K, C, L)
    block = max(1, int(round(BLOCK_SECONDS * fs)))
    per_class = block_sums(moved, block).abs().sum((-2, -1))  # (B, K)
    per_class = per_class + bias_weight * (out.bias[B:].float() - out.bias[:B].float()).abs()
    return per_class.mean()


def locality_forward(
    model: nn.Module,
    x: torch.Tensor,
    delta: torch.Tensor,
    support: torch.Tensor,
    fs: int,
    bias_weight: float = 1.0,
) -> tuple[ModelOutput, torch.Tensor]:
    """Run ``model`` (in its current mode) on ``[x, x + delta]`` as one batch with paired dropout: the output for
    ``x`` (the first half, for the classification loss) and the :func:`leak` of the pair."""
    B = x.shape[0]
    with paired_dropout(model):
        out = model(torch.cat([x, x + delta.to(x.dtype)]))
    first = ModelOutput(
        out.logits[:B],
        None if out.weights is None else out.weights[:B],
        None if out.bias is None else out.bias[:B],
    )
    return first, leak(out, x, support, fs, bias_weight)
