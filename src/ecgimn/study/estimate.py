"""Expected wall time of a study, from a few timed training steps per configuration on this machine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn.study.presets import expand_study_paths
from ecgimn.training.config import TrainConfig


def estimate_seconds(
    data: str,
    configs: dict[str, dict[str, Any]],
    *,
    seeds: list[int],
    task: str = "superdiagnostic",
    fs: int = 100,
    defaults: dict[str, Any] | None = None,
    steps: int = 3,
    study_dir: str | Path = ".",
) -> dict[str, Any]:
    """Expected wall time of a study: a few timed training steps per configuration on random inputs of the real
    shape (this machine, this device), times the steps per epoch of the data set found at ``data``.

    Distillation teachers that exist already are run in the timed steps too; a row whose teachers are not trained
    yet has ``teachers_missing`` > 0 (its estimate is low by their forward passes)."""
    import torch
    import torch.nn.functional as F

    from ecgimn.data import PTBXL
    from ecgimn.inference.predict import resolve_device
    from ecgimn.inference.predictor import Predictor
    from ecgimn.models import create_model

    labels = PTBXL(data).labels(task)
    n_train = int(np.isin(labels.folds, (1, 2, 3, 4, 5, 6, 7, 8)).sum())
    rows, total = [], 0.0
    for name, recipe in configs.items():
        config = TrainConfig(
            data=data, task=task, fs=fs, **expand_study_paths({**(defaults or {}), **recipe}, Path(study_dir))
        ).validate()
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        device = resolve_device(config.device)
        model = create_model(config.model, num_classes=len(labels.classes), **config.model_kwargs).to(device)
        paths = config.distill_from or []
        teachers = [Predictor.from_checkpoint(p, device=device).model for p in paths if Path(p).is_file()]
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
        x = torch.randn(config.batch_size, 12, config.window_samples, device=device)
        y = torch.zeros(config.batch_size, len(labels.classes), device=device)
        times = []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            with torch.no_grad():
                for teacher in teachers:
                    teacher(x)
            xin = torch.cat([x, x]) if config.locality else x  # the locality pair doubles the pass
            loss = F.binary_cross_entropy_with_logits(model(xin).logits[: len(x)], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        step = float(np.median(times[1:]))  # the first step warms up
        seconds = step * -(-n_train // config.batch_size) * config.epochs * len(seeds)
        total += seconds
        rows.append(
            {
                "config": name,
                "seconds_per_step": step,
                "epochs": config.epochs,
                "seconds": seconds,
                "teachers_missing": len(paths) - len(teachers),
            }
        )
    return {"n_train": n_train, "rows": rows, "total_seconds": total}
