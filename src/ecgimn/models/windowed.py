"""Averaging models over windows or over an ensemble, keeping IMNs exact.

An average of linear models is a linear model: if window i predicts ``sum(W_i * x_i) + b_i``, the mean over windows
equals ``sum(W * x) + b`` with W = (sum of the W_i placed at their positions) / n and b = mean(b_i).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ecgimn.constants import N_LEADS
from ecgimn.errors import ConfigError
from ecgimn.models.base import ModelOutput, create_model, register_model


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start indices of windows of ``window`` samples every ``stride``; the last one is aligned to the end."""
    if window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be >= 1 (got window={window}, stride={stride})")
    if window >= length:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def window_bounds(n: int, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Start/end (exclusive) sample indices of windows covering ``[0, n)`` with nothing dropped.

    ``stride < window`` (sliding): the starts of :func:`window_starts` (the last window aligned to the end;
    ``n <= window`` gives the single window ``[0, n)``). ``stride >= window`` (a partition): consecutive windows,
    the last one the shorter remainder ``[k*window, n)``.
    """
    if window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be >= 1 sample (got window={window}, stride={stride})")
    starts = np.arange(0, n, window) if stride >= window else np.asarray(window_starts(n, window, stride))
    return starts, np.minimum(starts + window, n)


def sliding_forward(
    model: nn.Module, x: torch.Tensor, window: int, stride: int, max_batch: int | None = None
) -> ModelOutput:
    """Run ``model`` on windows of ``x`` (B, leads, L) and average.

    Windows of length ``window`` start every ``stride`` samples, the last one aligned to the end so no sample is
    dropped (a record not longer than ``window`` is one window: the model sees the whole record). Logits are the mean
    over windows; for an interpretable model the weights are each window's W placed at its position, summed and
    divided by the number of windows, and the bias the mean of the biases, so ``logits == sum(W * x) + b`` holds.
    Windows are batched together, ``max_batch`` (windows x records) at a time if given. Gradients flow as usual.
    """
    B, C, L = x.shape
    starts = window_starts(L, window, stride)
    win = min(window, L)
    xs = torch.cat([x[..., s : s + win] for s in starts])  # (n*B, C, win), window-major
    chunk = max_batch or xs.shape[0]
    outs = [model(xs[i : i + chunk]) for i in range(0, xs.shape[0], chunk)]
    n = len(starts)
    logits = torch.cat([o.logits for o in outs]).view(n, B, -1).mean(0)
    if outs[0].weights is None:
        return ModelOutput(logits)
    w_win = torch.cat([o.weights for o in outs]).view(n, B, -1, C, win)
    bias = torch.cat([o.bias for o in outs]).view(n, B, -1).mean(0)
    # every window's W added at its position in one scatter (differentiable)
    idx = (torch.tensor(starts, device=x.device)[:, None] + torch.arange(win, device=x.device)).reshape(-1)
    placed = w_win.permute(1, 2, 3, 0, 4).reshape(B, w_win.shape[2], C, n * win)
    weights = placed.new_zeros(B, w_win.shape[2], C, L).index_add(-1, idx, placed)
    return ModelOutput(logits, weights / n, bias)


def ensemble_forward(models: Sequence[nn.Module], x: torch.Tensor) -> ModelOutput:
    """Average the outputs of ``models`` on ``x``; if every model is an IMN the mean W and b are returned (exact)."""
    if not models:
        raise ConfigError("ensemble_forward needs at least one model")
    outs = [m(x) for m in models]
    logits = torch.stack([o.logits for o in outs]).mean(0)
    if any(o.weights is None for o in outs):
        return ModelOutput(logits)
    return ModelOutput(
        logits, torch.stack([o.weights for o in outs]).mean(0), torch.stack([o.bias for o in outs]).mean(0)
    )


class Ensemble(nn.Module):
    """Average of member models (registry name ``ensemble``): ``members`` are member configs (``model.config``).

    An average of IMNs is one IMN: mean W and mean b give the logits exactly, so the ensemble stays interpretable.
    """

    def __init__(self, num_classes: int, num_leads: int = N_LEADS, *, members: Sequence[dict] = ()) -> None:
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one member config")
        built = []
        for cfg in members:
            cfg = dict(cfg)
            name = cfg.pop("name")
            cfg.pop("num_classes", None)
            cfg.pop("num_leads", None)
            built.append(create_model(name, num_classes=num_classes, num_leads=num_leads, **cfg))
        self.members = nn.ModuleList(built)
        self.num_classes, self.num_leads = num_classes, num_leads
        self.interpretable = all(getattr(m, "interpretable", False) for m in built)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return ensemble_forward(list(self.members), x)


register_model(
    "ensemble",
    Ensemble,
    interpretable=True,
    description="average of member models (exact for IMNs); default: 2 x imn-1d",
    members=[{"name": "imn-1d"}, {"name": "imn-1d"}],
)
