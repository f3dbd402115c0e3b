"""Batched inference with the window policy a model was trained with (one code path for every model)."""

from __future__ import annotations

import numpy as np
import torch

from ecgimn.errors import ConfigError
from ecgimn.inference.engine import DEFAULT_MAX_WINDOWS, build_engine
from ecgimn.models import ModelOutput, sliding_forward

DEVICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; any other name is validated here, the one place that does.

    Unknown names (``tpu``) and devices this machine lacks (``cuda`` without CUDA) raise a one-line
    :class:`ecgimn.errors.ConfigError`.
    """
    from ecgimn.errors import ConfigError

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {device!r}; use {DEVICES}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r} requested but CUDA is not available on this machine (torch "
                f"{torch.__version__}); use --device cpu or auto"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(
                f"device {device!r} requested but Apple MPS is not available; use --device cpu or auto"
            )
    elif dev.type != "cpu":
        raise ConfigError(f"device {device!r} is not supported; use {DEVICES}")
    return dev


#: ``--precision`` choices -> autocast dtype (None: the model's float32)
def sigmoid(z: np.ndarray) -> np.ndarray:
    """Probabilities from logits (every head here is one sigmoid per class), without overflow for large |z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def autocast_dtype(precision: str | None) -> torch.dtype | None:
    """``fp32`` -> None, ``bf16`` -> torch.bfloat16; anything else is a :class:`ConfigError`."""
    key = (precision or "fp32").lower()
    if key not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[key]


def forward_windows(model: torch.nn.Module, x: torch.Tensor, window: int, stride: int) -> ModelOutput:
    """Full-record output: a direct forward when the record is one window, else averaged sliding windows."""
    if x.shape[-1] == window:
        return model(x)
    return sliding_forward(model, x, window=window, stride=stride)


def predict(
    model: torch.nn.Module,
    x_std: np.ndarray,
    *,
    window: int,
    stride: int,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    return_maps: bool = False,
    autocast: torch.dtype | None = None,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> dict[str, np.ndarray]:
    """Logits (and, for IMNs with ``return_maps``, weights W and bias b) for standardised inputs (N, 12, L).

    Runs the model's :class:`~ecgimn.inference.engine.InferenceEngine` (same answers as its forward, to float
    rounding; ``model`` may be an engine already, to reuse it across calls). ``autocast``: e.g. ``torch.bfloat16``
    on CUDA (W then carries bf16 rounding; the identity ``logits == sum(W * x) + b`` still holds).
    ``max_windows``: sliding windows per forward, which bounds the working memory of long records.
    """
    model.eval()
    device = torch.device(device)
    engine = build_engine(model, autocast=autocast).to(device)
    pin = device.type == "cuda"
    logits, weights, biases = [], [], []
    with torch.inference_mode():
        for start in range(0, len(x_std), batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(x_std[start : start + batch_size]), dtype=torch.float32)
            if pin:
                xb = xb.pin_memory()
            out = engine(
                xb.to(device, non_blocking=pin),
                window,
                stride,
                return_maps=return_maps,
                max_windows=max_windows,
            )
            logits.append(out.logits.float().cpu().numpy())
            if return_maps and out.weights is not None:
                weights.append(out.weights.float().cpu().numpy())
                biases.append(out.bias.float().cpu().numpy())
    result = {"logits": _join(logits) if logits else np.zeros((0, 0), np.float32)}
    if weights:
        result["weights"] = _join(weights)
        result["bias"] = _join(biases)
    return result


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """The batches as one array; a single batch as it is (no copy of a record-sized W)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def decomposition(
    model: torch.nn.Module, x_std: np.ndarray, *, window: int, stride: int, device="cpu", batch_size: int = 64
) -> dict[str, float] | None:
    """How exact and how input-driven an IMN's decision is, over the given records (None for black boxes).

    ``exactness_max_rel_error``: max |sum(W*x) + b - logit| / max(1, |logit|).
    ``bias_variance_fraction``: var_records(b) / var_records(logit), averaged over classes: 0 when the
    input-dependent part of the decision lies entirely in the map W * x (static bias), larger when the bias
    generator carries it.
    """
    if not getattr(model, "interpretable", False):
        return None
    errors, maps, biases, logits = [], [], [], []
    model = build_engine(model)
    for start in range(0, len(x_std), batch_size):
        xb = x_std[start : start + batch_size]
        out = predict(model, xb, window=window, stride=stride, device=device, return_maps=True)
        term = (out["weights"].astype(np.float64) * xb[:, None].astype(np.float64)).sum((-2, -1))
        errors.append(np.abs(term + out["bias"] - out["logits"]) / np.maximum(1.0, np.abs(out["logits"])))
        maps.append(term)
        biases.append(out["bias"])
        logits.append(out["logits"])
    b, z = np.concatenate(biases), np.concatenate(logits)
    var_z = z.var(0)
    frac = np.where(var_z > 0, b.var(0) / np.maximum(var_z, 1e-12), 0.0)
    return {
        "exactness_max_rel_error": float(np.concatenate(errors).max()),
        "bias_variance_fraction": float(frac.mean()),
    }


def exactness_error(
    model: torch.nn.Module, x_std: np.ndarray, *, window: int, stride: int, device="cpu"
) -> float:
    """max |sum(W*x) + b - logit| / max(1, |logit|) over the given records (NaN for black boxes)."""
    stats = decomposition(model, x_std, window=window, stride=stride, device=device)
    return float("nan") if stats is None else stats["exactness_max_rel_error"]
