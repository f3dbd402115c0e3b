"""Batched inference with the window policy a model was trained with (one code path for every model)."""

from __future__ import annotations

import numpy as np
import torch

from ecgimn.models import ModelOutput, sliding_forward


def resolve_device(device: str | None = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def forward_windows(model: torch.nn.Module, x: torch.Tensor, window: int, stride: int) -> ModelOutput:
    """Full-record output: a direct forward when the record is one window, else averaged sliding windows."""
    if x.shape[-1] == window:
        return model(x)
    return sliding_forward(model, x, window=window, stride=stride)


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    x_std: np.ndarray,
    *,
    window: int,
    stride: int,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    return_maps: bool = False,
) -> dict[str, np.ndarray]:
    """Logits (and, for IMNs with ``return_maps``, weights W and bias b) for standardised inputs (N, 12, L)."""
    model.eval()
    device = torch.device(device)
    logits, weights, biases = [], [], []
    for start in range(0, len(x_std), batch_size):
        xb = torch.as_tensor(np.ascontiguousarray(x_std[start : start + batch_size]), dtype=torch.float32)
        out = forward_windows(model, xb.to(device), window, stride)
        logits.append(out.logits.float().cpu().numpy())
        if return_maps and out.weights is not None:
            weights.append(out.weights.float().cpu().numpy())
            biases.append(out.bias.float().cpu().numpy())
    result = {"logits": np.concatenate(logits) if logits else np.zeros((0, 0), np.float32)}
    if weights:
        result["weights"] = np.concatenate(weights)
        result["bias"] = np.concatenate(biases)
    return result


def exactness_error(model: torch.nn.Module, x_std: np.ndarray, *, window: int, stride: int, device="cpu") -> float:
    """max |sum(W*x) + b - logit| / max(1, |logit|) over the given records (NaN for black boxes)."""
    out = predict(model, x_std, window=window, stride=stride, device=device, return_maps=True)
    if "weights" not in out:
        return float("nan")
    recon = (out["weights"].astype(np.float64) * x_std[:, None].astype(np.float64)).sum((-2, -1)) + out["bias"]
    return float(np.max(np.abs(recon - out["logits"]) / np.maximum(1.0, np.abs(out["logits"]))))
