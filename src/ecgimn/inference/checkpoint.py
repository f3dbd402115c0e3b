"""One self-contained checkpoint format, loaded safely (``torch.load(weights_only=True)``).

A checkpoint holds only tensors and plain Python values: the model's weights and config, the task and class
names, the sampling rate, the standardisation, the input window policy, the package version, the training
recipe and metrics. Everything needed to reproduce a prediction.

Keys: ``state_dict``, ``model_config`` (registry name + arguments), ``task``, ``class_names``, ``fs`` (Hz),
``standardizer`` (:meth:`ecgimn.data.Standardizer.to_dict`), ``window_samples`` (the input window) are required;
optional are ``stride_samples`` (sliding-window stride for longer records; defaults to ``window_samples``, see
:func:`window_stride`), ``interpretable``, ``preprocess`` (``{"baseline": ...}``, or a ``<name>.preprocess.json``
sidecar), ``train_config`` and ``metrics``. ``format``, ``format_version`` and ``package_version`` are added on
save. Models are rebuilt from a checkpoint only by :class:`ecgimn.inference.predictor.Predictor`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ecgimn import __version__
from ecgimn.errors import CheckpointError

FORMAT = "ecgimn-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("state_dict", "model_config", "task", "class_names", "fs", "standardizer", "window_samples")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary file + rename), adding format and version fields."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__, **payload}
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"refusing to write an incomplete checkpoint {path}: missing {missing}")
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, *, expected_task: str | None = None) -> dict[str, Any]:
    """Load and validate a checkpoint; every failure is a one-line :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as exc:  # torch raises many types for corrupt/unsafe files (KeyError, UnpicklingError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable ECG-IMN checkpoint (corrupt, truncated or not a safe torch file: {first[:160]})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not an ECG-IMN checkpoint (no '{FORMAT}' marker); train one with `ecgimn train` "
            "or pass a bundled model name such as 'default'"
        )
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {data['format_version']} is newer than this ecgimn "
            f"({__version__}) reads; upgrade ecgimn"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: ECG-IMN checkpoint is missing {missing}; it is incomplete or corrupt")
    sidecar = path.with_name(f"{path.stem}.preprocess.json")
    if "preprocess" not in data and sidecar.is_file():
        try:
            data["preprocess"] = dict(json.loads(sidecar.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{sidecar}: not a valid preprocessing sidecar ({exc})") from None
    if expected_task is not None and data["task"] != expected_task:
        raise CheckpointError(
            f"{path}: checkpoint was trained for task {data['task']!r}, not {expected_task!r}; "
            "use a checkpoint of that task or drop --task"
        )
    return data


def window_stride(data: dict[str, Any]) -> tuple[int, int]:
    """The checkpoint's input window and sliding-window stride in samples (stride defaults to the window)."""
    window = int(data["window_samples"])
    return window, int(data.get("stride_samples") or window)


def model_from_checkpoint(data: dict[str, Any], path: str | Path = "checkpoint") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (eval mode)."""
    from ecgimn.models import create_model

    config = dict(data["model_config"])
    try:
        model = create_model(**config)
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: weights do not match model {config.get('name')!r} ({str(exc).splitlines()[0][:160]})"
        ) from None
    if len(data["class_names"]) != getattr(model, "num_classes", len(data["class_names"])):
        raise CheckpointError(
            f"{path}: {len(data['class_names'])} class names for a {model.num_classes}-class model"
        )
    return model.eval()


def ensemble_payload(checkpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """One checkpoint averaging several of the same task, classes, rate, standardisation and window.

    The members' weights go under ``members.<i>.``; for IMNs the ensemble is still one exact linear model.
    """
    first = checkpoints[0]
    for key in ("task", "class_names", "fs", "standardizer", "window_samples", "stride_samples"):
        if any(c.get(key) != first.get(key) for c in checkpoints[1:]):
            raise CheckpointError(f"cannot ensemble checkpoints that differ in {key!r}")
    state = {f"members.{i}.{k}": v for i, c in enumerate(checkpoints) for k, v in c["state_dict"].items()}
    config = {
        "name": "ensemble",
        "num_classes": len(first["class_names"]),
        "num_leads": first["model_config"].get("num_leads", 12),
        "members": [c["model_config"] for c in checkpoints],
    }
    metrics = {
        "members": [c.get("metrics", {}) for c in checkpoints],
        "best_val_macro_auroc": None,
        "best_epoch": None,
    }
    return {
        **{
            k: first[k]
            for k in first
            if k
            not in ("state_dict", "model_config", "metrics", "format", "format_version", "package_version")
        },
        "state_dict": state,
        "model_config": config,
        "metrics": metrics,
        "interpretable": all(c.get("interpretable", False) for c in checkpoints),
    }
