"""Training configuration: one dataclass, saved beside every checkpoint."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgimn.constants import SAMPLING_RATES, TASKS
from ecgimn.errors import ConfigError


@dataclass
class TrainConfig:
    """Everything that defines a training run (the recipe). Every field is recorded in the checkpoint.

    Recipe options:
        standardize: ``per_record`` (each record's per-lead z-score), ``global`` (one mean/std over all
            training values, as the PTB-XL benchmark) or ``per_lead`` (training mean/std per lead).
        crop_seconds: train on random crops of this length (benchmark: 2.5 s) and predict with sliding
            windows of the same length (stride ``eval_stride_seconds``); for IMNs the averaged windows are
            still one exact linear model. ``None`` trains on full records.
        l1 / tv: regularisers on the generated weight map of IMNs, taken on the unit-scale map
            ``M = W / model.weight_scale``: ``l1 * mean|M|`` and ``tv * mean|M[t+1] - M[t]|`` (total variation
            along time). Off by default.
        locality: weight of the locality penalty of IMNs (:mod:`ecgimn.training.locality`): per step a random
            smooth local perturbation (1-3 leads, 0.1-0.4 s) is added to every record and the change of the
            decision that lands outside the perturbed cells (``|sum (W' - W) x|`` per lead and 0.1 s block, plus
            ``|b' - b|``; logit units, mean over records and classes) is added to the loss times this weight.
            Costs one extra forward/backward pass of twice the batch per step. 0 = off.
        locality_repeat: the locality perturbation recurs across the record with a random period of 0.6-1.2 s
            (as widespread as a change written into every beat) instead of once.
        locality_bias: price of the bias's change in the locality penalty, relative to a leak of W (1 = equal).
        augment: random per-lead amplitude scaling (+-10 %) and Gaussian noise (0.01 std units).
        ema: decay of an exponential moving average of the weights (and BatchNorm statistics), updated every
            step; fold 9 scores and ``best.pt`` use the averaged model. 0 = off; 0.99 averages over ~100 steps.
        distill_from: checkpoints of a teacher (their mean logits; e.g. a seed ensemble trained on the same folds
            1-8 with the same task and standardisation). The loss becomes
            ``(1 - distill_weight) * BCE(logits, labels) + distill_weight * BCE(logits / T, sigmoid(teacher / T))``
            with ``T = distill_temperature``. The student stays whatever model it is (an IMN stays exact).
        baseline: baseline removal before standardisation (``none``, ``highpass`` or ``median``; see
            :mod:`ecgimn.data.baseline`), applied to every split in training and recorded in the checkpoint
            (``preprocess``) so inference applies the same filter. ``None`` (default) keeps the old behaviour.
        patience: stop when fold-9 macro-AUROC has not improved for this many epochs (0 = never).
        precision: ``None``/``fp32`` (float32) or ``bf16`` (forward and loss under ``torch.autocast`` with
            bfloat16, on GPUs; fold-9 scoring too).
        data_on_device: keep the standardised training set on the training device (e.g. the GPU) instead of
            copying every batch there (an execution option: same batches, same random numbers).
    """

    data: str
    task: str = "superdiagnostic"
    fs: int = 100
    model: str = "imn-1d"
    out: str = "runs/default"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    seed: int = 0
    device: str = "auto"
    standardize: str = "per_record"
    l1: float = 0.0
    tv: float = 0.0
    locality: float = 0.0
    locality_repeat: bool = False
    locality_bias: float = 1.0
    crop_seconds: float | None = None
    eval_stride_seconds: float | None = None
    augment: bool = False
    baseline: str | None = None
    patience: int = 0
    ema: float = 0.0
    distill_from: list[str] | None = None
    distill_weight: float = 0.5
    distill_temperature: float = 1.0
    only_present: bool = False
    cache_dir: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    max_train_records: int | None = None
    num_threads: int | None = None
    progress: bool = True
    precision: str | None = None
    data_on_device: bool = False

    def validate(self) -> TrainConfig:
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; choose one of: {', '.join(TASKS)}")
        if self.fs not in SAMPLING_RATES:
            raise ConfigError(f"fs must be one of {SAMPLING_RATES}, got {self.fs}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.standardize not in ("per_record", "global", "per_lead"):
            raise ConfigError(f"standardize must be per_record, global or per_lead, got {self.standardize!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("epochs, batch_size and lr must be positive")
        if not self.locality >= 0.0:
            raise ConfigError(f"locality must be a weight >= 0 (0 = off), got {self.locality}")
        if not self.locality_bias >= 0.0:
            raise ConfigError(f"locality_bias must be a weight >= 0, got {self.locality_bias}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be a decay within [0, 1) (0 = off), got {self.ema}")
        if not 0.0 <= self.distill_weight <= 1.0 or self.distill_temperature <= 0:
            raise ConfigError("distill_weight must be within [0, 1] and distill_temperature positive")
        if self.distill_from is not None and (isinstance(self.distill_from, str) or not self.distill_from):
            raise ConfigError("distill_from must be a non-empty list of teacher checkpoint paths")
        if self.precision not in (None, "fp32", "bf16"):
            raise ConfigError(f"precision must be fp32 or bf16, got {self.precision!r}")
        from ecgimn.data.baseline import check_method

        self.baseline = check_method(self.baseline)
        if self.crop_seconds is not None and not 0.5 <= self.crop_seconds <= 10:
            raise ConfigError(f"crop_seconds must be within 0.5-10 s, got {self.crop_seconds}")
        return self

    @property
    def window_samples(self) -> int:
        """Input window length the model is trained on (full 10 s record unless cropping)."""
        seconds = self.crop_seconds if self.crop_seconds else 10.0
        return int(round(seconds * self.fs))

    @property
    def stride_samples(self) -> int:
        """Stride of the sliding windows at inference (half a window unless set)."""
        if self.eval_stride_seconds:
            return int(round(self.eval_stride_seconds * self.fs))
        return max(1, self.window_samples // 2)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown training options: {sorted(unknown)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))
