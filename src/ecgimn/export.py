"""Export a trained model to ONNX with its standardisation and window policy, keeping the exact explanation.

The exported graph takes ``x`` (batch, 12, length) float32 in millivolts at the model's sampling rate and returns

- ``logits`` (batch, K), ``probabilities`` (batch, K, sigmoid),
- ``weights`` W (batch, K, 12, length) and ``bias`` b (batch, K) of an interpretable model, on the standardised
  input ``x_std`` (batch, 12, length), also returned, so that ``logits == sum(W * x_std) + b`` can be checked
  outside Python, exactly as ``Predictor.explain`` returns them.

The batch is dynamic; the record length is fixed at export (``length``, default 10 s at the model's rate),
because the window policy depends on it: a record longer than the model's window is read with sliding windows,
averaged into one exact linear model, and those windows are laid out in the graph. Export once per length.

The baseline filter of a checkpoint that records one (``Predictor.baseline``, e.g. the bundled default's
high-pass) is a zero-phase filter over the whole record and is not part of the graph: apply
``ecgimn.data.baseline.remove_baseline(x, fs, method)`` before feeding the graph (the export's result names it).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ecgimn.errors import ConfigError
from ecgimn.inference.engine import InferenceEngine
from ecgimn.models.windowed import window_starts

#: outputs of the exported graph, in order
OUTPUT_NAMES = ("logits", "probabilities", "weights", "bias", "x_std")


class ExportModule(nn.Module):
    """The full-record computation of a :class:`~ecgimn.api.Predictor` as one traceable module."""

    def __init__(self, predictor, length: int) -> None:
        super().__init__()
        self.engine = InferenceEngine(
            predictor.model, fuse=False
        )  # plain ops only: every one has an ONNX twin
        self.interpretable = self.engine.interpretable
        st = predictor.standardizer
        self.mode = st.mode
        self.eps = float(st.eps)
        if st.mode != "per_record":
            mu, sigma = st.affine(torch.zeros(1, 12, 1).numpy())
            self.register_buffer("mu", torch.as_tensor(mu).reshape(-1, 1) if mu.ndim else torch.as_tensor(mu))
            self.register_buffer(
                "sigma", torch.as_tensor(sigma).reshape(-1, 1) if sigma.ndim else torch.as_tensor(sigma)
            )
        self.window, self.stride = predictor.window, predictor.stride
        self.length = length
        self.starts = window_starts(length, self.window, self.stride)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "per_record":
            mu = x.mean(-1, keepdim=True)
            sigma = x.std(-1, keepdim=True, correction=0).clamp_min(self.eps)
            return (x - mu) / sigma
        return (x - self.mu) / self.sigma

    def forward(self, x: torch.Tensor):
        x_std = self.standardise(x)
        if len(self.starts) == 1:
            if self.interpretable:
                w, b = self.engine.maps(x_std)
            else:
                z = self.engine.logits(x_std)
                return z, torch.sigmoid(z)
        else:
            B, C, L = x_std.shape
            win, n = self.window, len(self.starts)
            xs = torch.cat([x_std[..., s : s + win] for s in self.starts], 0)  # window-major (n*B, C, win)
            if not self.interpretable:
                z = self.engine.logits(xs).reshape(n, -1, self.engine.num_classes).mean(0)
                return z, torch.sigmoid(z)
            w_win, b_win = self.engine.maps(xs)
            w_win = w_win.reshape(n, -1, w_win.shape[1], C, win)
            # each window's W placed at its position (zero-padded), summed: one exact linear model
            w = sum(F.pad(w_win[i], (s, L - s - win)) for i, s in enumerate(self.starts)) / n
            b = b_win.reshape(n, -1, b_win.shape[-1]).mean(0)
        z = (w * x_std.unsqueeze(1)).sum((-2, -1)) + b
        return z, torch.sigmoid(z), w, b, x_std


def export_onnx(predictor, path: str | Path, *, length: int | None = None, opset: int = 18) -> dict:
    """Write ``predictor``'s model as ONNX to ``path``; returns ``{"path", "length", "outputs"}``.

    ``length``: record length in samples at the model's rate (default 10 s, at least the model's window).
    """
    try:
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
    except ImportError:
        raise ConfigError("ONNX export needs the onnx extra: pip install 'ecgimn[onnx]'") from None
    path = Path(path)
    length = int(length or 10 * predictor.fs)
    if length < predictor.window:
        raise ConfigError(f"length {length} is shorter than the model's window ({predictor.window} samples)")
    module = ExportModule(predictor, length).eval()
    outputs = list(OUTPUT_NAMES if module.interpretable else OUTPUT_NAMES[:2])
    example = torch.randn(2, 12, length)
    dims = {0: torch.export.Dim("batch", min=1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            (example,),
            input_names=["x"],
            output_names=outputs,
            dynamic_shapes=({**dims},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
        program.save(str(tmp))
    tmp.replace(path)
    return {"path": str(path), "length": length, "outputs": outputs, "baseline": predictor.baseline}
