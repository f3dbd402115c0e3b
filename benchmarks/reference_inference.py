"""The pre-engine inference path, kept as the reference the inference engine is checked and timed against.

Every ensemble member runs on all windows; logits, W and b are averaged per member and per window; W is placed
window by window. ``tests/test_inference.py`` checks the engine against it (<= 1e-5) and
``benchmarks/bench_inference.py`` times it as the ``old`` path. This file is the one copy.
"""

from __future__ import annotations

import torch

from ecgimn.models import ModelOutput, window_starts


def reference_forward(model: torch.nn.Module, x: torch.Tensor) -> ModelOutput:
    """One window: every member of ``model`` (an ensemble, or the model itself) on ``x``, outputs averaged."""
    members = list(model.members) if hasattr(model, "members") else [model]
    outs = [m(x) for m in members]
    logits = torch.stack([o.logits for o in outs]).mean(0)
    if any(o.weights is None for o in outs):
        return ModelOutput(logits)
    return ModelOutput(
        logits, torch.stack([o.weights for o in outs]).mean(0), torch.stack([o.bias for o in outs]).mean(0)
    )


def reference_sliding(model: torch.nn.Module, x: torch.Tensor, window: int, stride: int) -> ModelOutput:
    """Sliding windows: all windows concatenated into one :func:`reference_forward`, W placed window by window."""
    B, C, L = x.shape
    if L == window:
        return reference_forward(model, x)
    starts = window_starts(L, window, stride)
    win = min(window, L)
    out = reference_forward(model, torch.cat([x[..., s : s + win] for s in starts]))
    n = len(starts)
    logits = out.logits.view(n, B, -1).mean(0)
    if out.weights is None:
        return ModelOutput(logits)
    w_win = out.weights.view(n, B, -1, C, win)
    weights = w_win.new_zeros(B, w_win.shape[2], C, L)
    for i, s in enumerate(starts):
        weights[..., s : s + win] += w_win[i]
    return ModelOutput(logits, weights / n, out.bias.view(n, B, -1).mean(0))
