"""The public surface: ``model = ecgimn.load(...)``; ``out = model.explain(x, fs=100)``.

``x`` is a (12, L) or (N, 12, L) array in millivolts, leads in the order I, II, III, aVR, aVL, aVF, V1-V6.
The model sees standardised input ``x_std = (x - mu) / sigma``; its decision is exactly linear in it:
``logit = sum(W * x_std) + b``. The same decision written in millivolts is
``logit = sum(weights_mv * x) + bias_mv`` with ``weights_mv = W / sigma`` and ``bias_mv = b - sum(W * mu / sigma)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecgimn.constants import N_LEADS
from ecgimn.data import Standardizer
from ecgimn.errors import CheckpointError, ConfigError, InputError
from ecgimn.io.budget import check_batch, check_fs
from ecgimn.io.signal import resample_array
from ecgimn.training.checkpoint import load_checkpoint, model_from_checkpoint
from ecgimn.training.predict import predict, resolve_device

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


@dataclass
class Explanation:
    """The model's own decision for N records and K classes (exact: ``attribution.sum((-2,-1)) + bias == logits``)."""

    class_names: list[str]
    probabilities: np.ndarray  # (N, K)
    logits: np.ndarray  # (N, K)
    weights: np.ndarray  # (N, K, 12, L)  W, on standardised input
    bias: np.ndarray  # (N, K)
    attribution: np.ndarray  # (N, K, 12, L)  W * x_std
    inputs: np.ndarray  # (N, 12, L) mV, as used (after resampling)
    inputs_std: np.ndarray  # (N, 12, L) what the network saw
    weights_mv: np.ndarray  # (N, K, 12, L)  W / sigma
    bias_mv: np.ndarray  # (N, K)
    fs: float
    notes: list[str] = field(default_factory=list)

    def class_index(self, name: str) -> int:
        """Index of a class by name (case-insensitive); unknown names list the valid ones."""
        lookup = {c.lower(): i for i, c in enumerate(self.class_names)}
        if name.lower() not in lookup:
            raise ConfigError(f"unknown class {name!r}; this model's classes are: {', '.join(self.class_names)}")
        return lookup[name.lower()]


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A checkpoint path, or the name of a bundled model (``default`` -> ``ecgimn/pretrained/default.pt``)."""
    path = Path(name_or_path)
    if path.suffix == ".pt" or path.exists():
        return path
    bundled = PRETRAINED_DIR / f"{name_or_path}.pt"
    if bundled.is_file():
        return bundled
    names = sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))
    if str(name_or_path) == "default":
        raise CheckpointError("the bundled default model is missing from this install; reinstall ecgimn or pass "
                              "--model PATH_TO_CHECKPOINT")
    raise CheckpointError(
        f"{name_or_path!r} is neither a checkpoint file nor a bundled model; bundled: {', '.join(names) or 'none'}"
    )


class Predictor:
    """A trained model with its preprocessing: standardisation, sampling rate and window policy."""

    def __init__(self, checkpoint: dict, *, source: str = "", device: str | None = None) -> None:
        self.checkpoint = checkpoint
        self.source = source
        self.model = model_from_checkpoint(checkpoint, source)
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.class_names: list[str] = list(checkpoint["class_names"])
        self.fs: int = int(checkpoint["fs"])
        self.task: str = checkpoint["task"]
        self.window: int = int(checkpoint["window_samples"])
        self.stride: int = int(checkpoint.get("stride_samples", self.window))
        self.standardizer = Standardizer.from_dict(checkpoint["standardizer"])
        self.interpretable = bool(checkpoint.get("interpretable", getattr(self.model, "interpretable", False)))

    @property
    def name(self) -> str:
        return str(self.checkpoint["model_config"].get("name"))

    @property
    def min_seconds(self) -> float:
        """Shortest record the model accepts (its input window)."""
        return self.window / self.fs

    def _prepare(self, x: np.ndarray, fs: float) -> tuple[np.ndarray, list[str]]:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1] != N_LEADS:
            raise InputError(f"expected a (12, L) or (N, 12, L) array in mV, got shape {x.shape}")
        check_batch(x)
        fs = check_fs(fs)
        if not np.isfinite(x).all():
            raise InputError(
                f"input has {int((~np.isfinite(x)).sum())} NaN/inf values; read files with ecgimn.io.read_ecg "
                "(which repairs short gaps) or clean the signal"
            )
        notes = []
        if float(fs) != float(self.fs):
            x = resample_array(x, float(fs), float(self.fs)).astype(np.float32)
            notes.append(f"resampled from {fs:g} Hz to {self.fs} Hz (the model's rate)")
        if x.shape[-1] < self.window:
            raise InputError(
                f"record is {x.shape[-1] / self.fs:.2f} s long; this model needs at least {self.min_seconds:.2f} s"
            )
        if x.shape[-1] > self.window:
            notes.append(
                f"{x.shape[-1] / self.fs:.2f} s record explained with sliding {self.window / self.fs:g} s windows "
                f"(stride {self.stride / self.fs:g} s); the averaged windows are one exact linear model"
            )
        return x, notes

    def explain(self, x: np.ndarray, fs: float = 100, batch_size: int = 64) -> Explanation:
        """Probabilities, logits and the exact linear model (W, b) the network wrote for each record."""
        if not self.interpretable:
            raise CheckpointError(
                f"{self.source}: model {self.name!r} is a black box with no exact explanation; use predict() "
                "or a post-hoc explainer from ecgimn.explain"
            )
        x, notes = self._prepare(x, fs)
        mu, sigma = self.standardizer.affine(x)
        x_std = ((x - mu) / sigma).astype(np.float32)
        out = predict(self.model, x_std, window=self.window, stride=self.stride, batch_size=batch_size,
                      device=self.device, return_maps=True)
        logits_a, w, b = out["logits"], out["weights"], out["bias"]
        mu_b = np.broadcast_to(mu, x.shape)[:, None]
        sigma_b = np.broadcast_to(sigma, x.shape)[:, None]
        weights_mv = w / sigma_b
        bias_mv = b - (w * mu_b / sigma_b).sum((-2, -1))
        return Explanation(
            class_names=self.class_names, probabilities=1.0 / (1.0 + np.exp(-logits_a)), logits=logits_a,
            weights=w, bias=b, attribution=w * x_std[:, None], inputs=x, inputs_std=x_std,
            weights_mv=weights_mv.astype(np.float32), bias_mv=bias_mv.astype(np.float32), fs=float(self.fs),
            notes=notes,
        )

    def predict_proba(self, x: np.ndarray, fs: float = 100, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, K) for any model, interpretable or not."""
        x, _ = self._prepare(x, fs)
        x_std = self.standardizer.transform(x).astype(np.float32)
        logits = predict(self.model, x_std, window=self.window, stride=self.stride, batch_size=batch_size,
                         device=self.device)["logits"]
        return 1.0 / (1.0 + np.exp(-logits))

def load(name_or_path: str | Path = "default", device: str | None = None) -> Predictor:
    """Load a checkpoint file or a bundled model by name (``default``)."""
    path = resolve_model_path(name_or_path)
    return Predictor(load_checkpoint(path), source=str(path), device=device)
