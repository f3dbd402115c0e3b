"""Score a trained checkpoint on the PTB-XL test fold (fold 10), once, with the benchmark's scoring."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn.data import load_task
from ecgimn.evaluation.scoring import score
from ecgimn.inference.predict import sigmoid
from ecgimn.inference.predictor import Predictor


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_root: str | Path,
    *,
    split: str = "test",
    task: str | None = None,
    only_present: bool = False,
    cache_dir: str | None = None,
    device: str = "auto",
    n_bootstrap: int = 100,
    seed: int = 42,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Macro-AUROC with bootstrap interval, per-class AUROC and Fmax of a checkpoint on one split (default fold 10).

    For IMNs also the exactness check max |sum(W*x) + b - logit| / max(1, |logit|) and the share of the
    decision carried by the bias generator (:meth:`ecgimn.inference.predictor.Predictor.decomposition`), on every record.
    """
    predictor = Predictor.from_checkpoint(checkpoint, device=device, expected_task=task)
    ckpt = predictor.checkpoint
    data = load_task(
        data_root, ckpt["task"], ckpt["fs"], only_present=only_present, cache_dir=cache_dir, progress=progress
    ).split(split)
    if list(data.classes) != list(ckpt["class_names"]):
        # a subset can miss classes: align columns by name; classes absent from the data are reported
        missing = [c for c in ckpt["class_names"] if c not in data.classes]
        y = np.zeros((len(data.Y), len(ckpt["class_names"])), np.float32)
        for j, c in enumerate(ckpt["class_names"]):
            if c in data.classes:
                y[:, j] = data.Y[:, list(data.classes).index(c)]
    else:
        missing, y = [], data.Y
    x_std = predictor.standardise(data.X)
    t0 = time.perf_counter()
    logits = predictor.forward(x_std)["logits"]
    seconds = time.perf_counter() - t0
    probs = sigmoid(logits)
    report = score(y, probs, classes=list(ckpt["class_names"]), n_bootstrap=n_bootstrap, seed=seed)
    report.update(
        {
            "checkpoint": str(checkpoint),
            "model": ckpt["model_config"].get("name"),
            "task": ckpt["task"],
            "fs": ckpt["fs"],
            "split": split,
            "classes_absent_from_data": missing,
            "n_positive": {c: int(y[:, j].sum()) for j, c in enumerate(ckpt["class_names"])},
            **(
                predictor.decomposition(x_std)
                or {"exactness_max_rel_error": None, "bias_variance_fraction": None}
            ),
            "inference_seconds": seconds,
            "best_val_macro_auroc": ckpt.get("metrics", {}).get("best_val_macro_auroc"),
            "train_config": ckpt.get("train_config"),
        }
    )
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2, default=float))
    return report
