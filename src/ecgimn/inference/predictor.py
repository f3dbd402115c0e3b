"""The one owner of "checkpoint -> model + preprocessing -> logits, probabilities, exact explanation".

A :class:`Predictor` holds a checkpoint's model with everything its answers depend on: the standardisation, the
sampling rate, the baseline filter (for checkpoints that record one) and the window/stride policy. Everything in
the package that needs a model's outputs from a checkpoint (the public API, evaluation, the study, benchmarks and
scripts) goes through it; :func:`ecgimn.inference.checkpoint.model_from_checkpoint` is called here only.

Two ways in:

* records from users (:meth:`Predictor.logits`, :meth:`Predictor.predict_proba`, :meth:`Predictor.explain`): any
  rate (resampled), input check, minimum length, then the model's preprocessing;
* data sets already at the model's rate and checked (:meth:`Predictor.standardise`, :meth:`Predictor.forward`):
  the model's preprocessing only, for evaluation and the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ecgimn.data import Standardizer
from ecgimn.data.baseline import baseline_method, remove_baseline
from ecgimn.errors import CheckpointError, ConfigError, InputError
from ecgimn.inference.checkpoint import load_checkpoint, model_from_checkpoint, window_stride
from ecgimn.inference.engine import build_engine
from ecgimn.inference.predict import autocast_dtype, decomposition, predict, resolve_device, sigmoid
from ecgimn.io.budget import check_batch, check_fs
from ecgimn.io.quality import InputCheck, assess_batch, magnitude_finding
from ecgimn.io.recording import as_signal
from ecgimn.io.signal import resample_array

if TYPE_CHECKING:
    from ecgimn.explain.waves import Beats, WaveDecomposition

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


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
    _beats: dict = field(default_factory=dict, repr=False, compare=False)

    def beats(self, record: int = 0, method: str = "neurokit") -> Beats:
        """Delineated beats of record ``record`` (cached; see :mod:`ecgimn.explain.waves`)."""
        if not 0 <= record < len(self.inputs):
            raise ConfigError(f"record {record} out of range for {len(self.inputs)} record(s)")
        from ecgimn.explain.waves import delineate_beats  # the result's convenience view; explain sits above

        key = (record, method)
        if key not in self._beats:
            self._beats[key] = delineate_beats(self.inputs[record], self.fs, method=method)
        return self._beats[key]

    def waves(
        self,
        k: int | str,
        record: int = 0,
        *,
        reference: np.ndarray | None = None,
        reference_name: str = "reference",
    ) -> WaveDecomposition:
        """Class ``k`` (index or name) of record ``record`` split exactly into lead x wave + bias.

        ``reference`` (12, L) in mV (e.g. :func:`ecgimn.explain.waves.reference_record` of a mean NORM beat)
        gives the referenced split ``sum(weights_mv * (x - reference)) + (bias_mv + sum(weights_mv * reference))``,
        exact as well.
        """
        from ecgimn.explain.waves import decompose

        ki = self.class_index(k) if isinstance(k, str) else int(k)
        if not 0 <= ki < len(self.class_names):
            raise ConfigError(f"class index {ki} out of range for {len(self.class_names)} classes")
        beats = self.beats(record)
        logit, p = float(self.logits[record, ki]), float(self.probabilities[record, ki])
        if reference is None:
            a, b, ref = self.attribution[record, ki], float(self.bias[record, ki]), None
        else:
            r = np.asarray(reference, dtype=np.float64)
            if r.shape != self.inputs[record].shape:
                raise InputError(
                    f"reference must have the record's shape {self.inputs[record].shape}, got {r.shape}"
                )
            w = self.weights_mv[record, ki].astype(np.float64)
            a = w * (self.inputs[record].astype(np.float64) - r)
            b, ref = logit - float(a.sum()), reference_name
        return decompose(a, b, logit, beats, self.class_names[ki], p, reference=ref)

    #: one :class:`ecgimn.io.quality.InputCheck` per record (status ok / warning / refused-but-overridden)
    input_check: list[InputCheck] | None = None

    def class_index(self, name: str) -> int:
        """Index of a class by name (case-insensitive); unknown names list the valid ones."""
        lookup = {c.lower(): i for i, c in enumerate(self.class_names)}
        if name.lower() not in lookup:
            raise ConfigError(
                f"unknown class {name!r}; this model's classes are: {', '.join(self.class_names)}"
            )
        return lookup[name.lower()]


@dataclass
class WindowedExplanation:
    """A long record explained window by window, in memory bounded by the chunk (no record-sized W is kept).

    The record's decision is the mean of its windows' exact linear models (itself one exact linear model):
    ``logits == window_logits.mean(0)`` and, per window, ``window_logits == window_evidence.sum(-1) + window_bias``.
    Evidence is on the standardised input (``W * x_std``), summed over each window's samples, per lead.
    """

    class_names: list[str]
    probabilities: np.ndarray  # (K,)
    logits: np.ndarray  # (K,)
    bias: np.ndarray  # (K,)
    window_starts_s: np.ndarray  # (n,) seconds
    window_seconds: float
    window_logits: np.ndarray  # (n, K)
    window_bias: np.ndarray  # (n, K)
    window_evidence: np.ndarray  # (n, K, 12)
    fs: float
    notes: list[str] = field(default_factory=list)


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
        raise CheckpointError(
            "the bundled default model is missing from this install; reinstall ecgimn or pass "
            "--model PATH_TO_CHECKPOINT"
        )
    raise CheckpointError(
        f"{name_or_path!r} is neither a checkpoint file nor a bundled model; bundled: {', '.join(names) or 'none'}"
    )


class Predictor:
    """A trained model with its preprocessing: standardisation, sampling rate and window policy."""

    def __init__(
        self,
        checkpoint: dict[str, Any],
        *,
        source: str = "",
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> None:
        self.checkpoint = checkpoint
        self.source = source
        self.model = model_from_checkpoint(checkpoint, source)
        self.device = resolve_device(device)
        self.autocast = autocast_dtype(precision)
        self.model.to(self.device)
        self._engine: torch.nn.Module | None = None
        self.class_names: list[str] = list(checkpoint["class_names"])
        self.fs: int = int(checkpoint["fs"])
        self.task: str = checkpoint["task"]
        self.window, self.stride = window_stride(checkpoint)
        self.standardizer = Standardizer.from_dict(checkpoint["standardizer"])
        self.interpretable = bool(
            checkpoint.get("interpretable", getattr(self.model, "interpretable", False))
        )
        #: baseline removal applied before standardisation (``None``: none; see :mod:`ecgimn.data.baseline`)
        self.baseline: str | None = baseline_method(checkpoint)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        expected_task: str | None = None,
    ) -> Predictor:
        """Load and validate a checkpoint file (:func:`~ecgimn.inference.checkpoint.load_checkpoint`).

        ``expected_task`` refuses checkpoints of another task with a one-line :class:`CheckpointError`.
        """
        return cls(
            load_checkpoint(path, expected_task=expected_task),
            source=str(path),
            device=device,
            precision=precision,
        )

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """The model's own preprocessing of records already at its rate ((..., 12, L) mV): the checkpoint's
        baseline filter (if any), then its standardisation, as float32. No input check: for data sets."""
        x = remove_baseline(x, float(self.fs), self.baseline)
        return self.standardizer.transform(x).astype(np.float32)

    def forward(
        self, x_std: np.ndarray, *, batch_size: int = 128, return_maps: bool = False
    ) -> dict[str, np.ndarray]:
        """Logits (and, with ``return_maps``, W and b) of standardised records (N, 12, L) under the checkpoint's
        window policy (:func:`~ecgimn.inference.predict.predict`)."""
        return predict(
            self.engine,
            x_std,
            window=self.window,
            stride=self.stride,
            batch_size=batch_size,
            device=self.device,
            return_maps=return_maps,
        )

    def decomposition(self, x_std: np.ndarray) -> dict[str, float] | None:
        """Exactness and bias share of an IMN's decision on standardised records (``None`` for black boxes;
        :func:`~ecgimn.inference.predict.decomposition`)."""
        return decomposition(self.model, x_std, window=self.window, stride=self.stride, device=self.device)

    @property
    def engine(self) -> torch.nn.Module:
        """The model's fast inference twin (same answers; built on first use from the current weights)."""
        if self._engine is None:
            self._engine = build_engine(self.model, autocast=self.autocast).to(self.device)
        return self._engine

    @property
    def name(self) -> str:
        return str(self.checkpoint["model_config"].get("name"))

    @property
    def min_seconds(self) -> float:
        """Shortest record the model accepts (its input window)."""
        return self.window / self.fs

    def length_error(self, seconds: float, source: str = "") -> str | None:
        """The one message for a record shorter than the model's input window (``None`` when long enough)."""
        if seconds + 1e-9 >= self.min_seconds:
            return None
        return (
            f"{source + ': ' if source else ''}record is {seconds:.2f} s long; this model needs at least "
            f"{self.min_seconds:.2f} s (the input window of {self.name!r}); use a longer recording"
        )

    def check_inputs(
        self, x: np.ndarray, fs: float, *, allow_implausible: bool = False, full: bool = True
    ) -> list[InputCheck]:
        """The input check (:mod:`ecgimn.io.quality`) of each record of ``x`` ((12, L) or (N, 12, L) mV).

        Raises :class:`InputError` naming the record when one is refused (implausible units, ADC counts, values
        beyond any ECG) unless ``allow_implausible``. ``full=False`` runs only the checks that can refuse.
        """
        x, fs = self._validate(x, fs)
        return self._check(x, fs, allow_implausible=allow_implausible, full=full)

    @staticmethod
    def _validate(x: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
        """The one entry step for records from users: an (N, 12, L) batch with samples, and a plausible rate."""
        x = as_signal(x, "input", batch=True)
        check_batch(x)
        return x, check_fs(fs)

    @staticmethod
    def _check(
        x: np.ndarray, fs: float, *, allow_implausible: bool = False, full: bool = True
    ) -> list[InputCheck]:
        """:meth:`check_inputs` of a batch already through :meth:`_validate` (all records checked at once)."""
        checks = assess_batch(x, fs, allow_implausible=allow_implausible, full=full)
        for i, check in enumerate(checks):
            if check.status == "refused":
                where = f"record {i}: " if len(x) > 1 else ""
                raise InputError(f"{where}{check.error_message()}")
        return checks

    def _prepare(self, x: np.ndarray, fs: float) -> tuple[np.ndarray, list[str]]:
        """Resampling, minimum length and the baseline filter of a batch already through :meth:`_validate`."""
        big = magnitude_finding(x)
        if big is not None:  # before the float32 cast, which would overflow
            raise InputError(big.message)
        x = np.asarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise InputError(
                f"input has {int((~np.isfinite(x)).sum())} NaN/inf values; read files with ecgimn.io.read_ecg "
                "(which repairs short gaps) or clean the signal"
            )
        notes = []
        if float(fs) != float(self.fs):
            x = resample_array(x, float(fs), float(self.fs)).astype(np.float32)
            notes.append(f"resampled from {fs:g} Hz to {self.fs} Hz (the model's rate)")
        short = self.length_error(x.shape[-1] / self.fs)
        if short:
            raise InputError(short)
        if self.baseline is not None:
            x = remove_baseline(x, self.fs, self.baseline)
            notes.append(
                f"baseline removed ({self.baseline} filter) before the model; inputs and evidence refer "
                "to the filtered signal"
            )
        if x.shape[-1] > self.window:
            notes.append(
                f"{x.shape[-1] / self.fs:.2f} s record explained with sliding {self.window / self.fs:g} s windows "
                f"(stride {self.stride / self.fs:g} s); the averaged windows are one exact linear model"
            )
        return x, notes

    def explain(
        self,
        x: np.ndarray,
        fs: float = 100,
        batch_size: int = 64,
        *,
        allow_implausible: bool = False,
        check: bool = True,
    ) -> Explanation:
        """Probabilities, logits and the exact linear model (W, b) the network wrote for each record.

        Every record first goes through the input check (:meth:`check_inputs`; its result is
        ``Explanation.input_check``); implausible inputs are refused unless ``allow_implausible``.
        ``check=False`` skips it (for callers that checked already).
        """
        if not self.interpretable:
            raise CheckpointError(
                f"{self.source}: model {self.name!r} is a black box with no exact explanation; use predict() "
                "or a post-hoc explainer from ecgimn.explain"
            )
        x, fs = self._validate(x, fs)
        checks = self._check(x, fs, allow_implausible=allow_implausible) if check else None
        x, notes = self._prepare(x, fs)
        mu, sigma = self.standardizer.affine(x)
        x_std = ((x - mu) / sigma).astype(np.float32)
        out = self.forward(x_std, batch_size=batch_size, return_maps=True)
        logits_a, w, b = out["logits"], out["weights"], out["bias"]
        mu_b = np.broadcast_to(mu, x.shape)[:, None]
        sigma_b = np.broadcast_to(sigma, x.shape)[:, None]
        weights_mv = w / sigma_b
        bias_mv = b - (w * mu_b / sigma_b).sum((-2, -1))
        return Explanation(
            class_names=self.class_names,
            probabilities=sigmoid(logits_a),
            logits=logits_a,
            weights=w,
            bias=b,
            attribution=w * x_std[:, None],
            inputs=x,
            inputs_std=x_std,
            weights_mv=weights_mv.astype(np.float32),
            bias_mv=bias_mv.astype(np.float32),
            fs=float(self.fs),
            notes=notes,
            input_check=checks,
        )

    def explain_windows(self, x: np.ndarray, fs: float = 100, max_windows: int = 256) -> WindowedExplanation:
        """Explain one long (12, L) record window by window, ``max_windows`` windows per forward.

        Memory is the signal (a few float32 copies of 12 x L) plus a working set fixed by ``max_windows``
        (activations and W of that many windows), independent of the record's length; time is linear in it.
        """
        if not self.interpretable:
            raise CheckpointError(
                f"{self.source}: model {self.name!r} is a black box with no exact explanation"
            )
        x = as_signal(x, "explain_windows takes one record", dtype=np.float32)
        xr, notes = self._prepare(*self._validate(x, fs))
        x_std = torch.as_tensor(self.standardizer.transform(xr[0]), device=self.device)
        del xr
        evidence, biases, starts = [], [], []
        with torch.inference_mode():
            for chunk, xs, w, b in self.engine.iter_windows(x_std, self.window, self.stride, max_windows):
                evidence.append(torch.einsum("nkcl,ncl->nkc", w, xs).cpu().numpy())
                biases.append(b.cpu().numpy())
                starts += chunk
        ev, bias = np.concatenate(evidence), np.concatenate(biases)
        window_logits = ev.sum(-1) + bias
        logits = window_logits.mean(0)
        return WindowedExplanation(
            class_names=self.class_names,
            probabilities=sigmoid(logits),
            logits=logits,
            bias=bias.mean(0),
            window_starts_s=np.asarray(starts, dtype=np.float64) / self.fs,
            window_seconds=self.window / self.fs,
            window_logits=window_logits,
            window_bias=bias,
            window_evidence=ev,
            fs=float(self.fs),
            notes=notes,
        )

    def logits(
        self, x: np.ndarray, fs: float = 100, batch_size: int = 64, *, allow_implausible: bool = False
    ) -> np.ndarray:
        """Logits (N, K) for any model, interpretable or not (implausible units are refused)."""
        x, fs = self._validate(x, fs)
        self._check(x, fs, allow_implausible=allow_implausible, full=False)
        x, _ = self._prepare(x, fs)
        return self.forward(self.standardizer.transform(x).astype(np.float32), batch_size=batch_size)[
            "logits"
        ]

    def predict_proba(
        self, x: np.ndarray, fs: float = 100, batch_size: int = 64, *, allow_implausible: bool = False
    ) -> np.ndarray:
        """Class probabilities (N, K) for any model, interpretable or not (implausible units are refused)."""
        return sigmoid(self.logits(x, fs, batch_size, allow_implausible=allow_implausible))


def load(
    name_or_path: str | Path = "default", device: str | None = None, precision: str = "fp32"
) -> Predictor:
    """Load a checkpoint file or a bundled model by name (``default``).

    ``precision``: ``fp32`` (the model's own answers) or ``bf16`` (autocast: faster on GPUs and CPUs with bf16
    units; probabilities and W carry bf16 rounding, the identity ``logit = sum(W * x) + b`` still holds).
    """
    return Predictor.from_checkpoint(resolve_model_path(name_or_path), device=device, precision=precision)
