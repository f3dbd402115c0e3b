"""One training loop for every model: folds 1-8 train, checkpoint chosen on fold-9 macro-AUROC.

Plain PyTorch: progress bars (tqdm), CPU by default and CUDA when present, resumable (``last.pt`` holds the
optimiser, scheduler and RNG state), deterministic with a seed, and multi-process through ``torchrun`` +
``DistributedDataParallel`` (gloo on CPU, NCCL on GPUs). Fold 10 is never used here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from ecgimn.data import Standardizer, load_task
from ecgimn.data.baseline import remove_baseline
from ecgimn.errors import ConfigError, InputError
from ecgimn.evaluation import ExcludedClassWarning, macro_auroc
from ecgimn.inference.checkpoint import save_checkpoint
from ecgimn.inference.predict import autocast_dtype, predict, resolve_device
from ecgimn.inference.predictor import Predictor
from ecgimn.models import create_model
from ecgimn.training.config import TrainConfig
from ecgimn.training.locality import local_perturbations, locality_forward

BEST = "best.pt"
LAST = "last.pt"


def _dist_setup(device: torch.device) -> tuple[int, int]:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); returns (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world


def _lr_lambda(config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _batch(x: torch.Tensor, idx: torch.Tensor, config: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Gather a batch, with a random crop and augmentation when the recipe asks for them."""
    xb = x[idx]
    window = config.window_samples
    if xb.shape[-1] > window:
        starts = torch.randint(0, xb.shape[-1] - window + 1, (len(idx),), generator=gen)
        offsets = (starts[:, None] + torch.arange(window)[None, :]).to(xb.device)
        xb = torch.gather(xb, 2, offsets[:, None, :].expand(-1, xb.shape[1], -1))
    if config.augment:  # random numbers from the CPU generator: the same batches wherever the data lives
        scale = 1.0 + 0.1 * (2 * torch.rand(xb.shape[0], xb.shape[1], 1, generator=gen) - 1)
        xb = xb * scale.to(xb.device) + 0.01 * torch.randn(xb.shape, generator=gen).to(xb.device)
    return xb


def _regulariser(
    weights: torch.Tensor | None, config: TrainConfig, scale: float = 1.0
) -> torch.Tensor | float:
    """``l1 * mean|M| + tv * mean|M[t+1] - M[t]|`` on the unit-scale map ``M = W / scale``.

    IMNs return W multiplied by a fixed ``weight_scale`` (about 0.009 at 12 x 1000); penalising the unscaled map
    keeps the strengths meaningful (comparable to the seed paper's) instead of 100x weaker.
    """
    if weights is None or (not config.l1 and not config.tv):
        return 0.0
    maps = weights / scale
    reg = 0.0
    if config.l1:
        reg = reg + config.l1 * maps.abs().mean()
    if config.tv:
        reg = reg + config.tv * (maps[..., 1:] - maps[..., :-1]).abs().mean()
    return reg


def _load_teachers(
    config: TrainConfig, classes: list[str], stdz: Standardizer, device: torch.device
) -> list[torch.nn.Module]:
    """Teacher models for distillation, checked against the student's task, classes and standardisation."""
    teachers = []
    for path in config.distill_from or []:
        teacher_predictor = Predictor.from_checkpoint(path, device=device, expected_task=config.task)
        ckpt = teacher_predictor.checkpoint
        if list(ckpt["class_names"]) != list(classes):
            raise ConfigError(
                f"{path}: teacher classes {ckpt['class_names']} differ from the task's {list(classes)}"
            )
        if ckpt["standardizer"] != stdz.to_dict():
            raise ConfigError(
                f"{path}: the teacher was trained with a different standardisation "
                f"({ckpt['standardizer'].get('mode')!r}); use the same 'standardize' option"
            )
        if int(ckpt["fs"]) != config.fs:
            raise ConfigError(f"{path}: teacher sampling rate {ckpt['fs']} Hz, student {config.fs} Hz")
        teacher = teacher_predictor.model.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        teachers.append(teacher)
    return teachers


def _loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    xb: torch.Tensor,
    teachers: list[torch.nn.Module],
    config: TrainConfig,
) -> torch.Tensor:
    """BCE on the labels, mixed with BCE on the teachers' mean soft labels when distilling."""
    loss = F.binary_cross_entropy_with_logits(logits, y)
    if not teachers:
        return loss
    t = config.distill_temperature
    with torch.no_grad():
        soft = torch.sigmoid(torch.stack([m(xb).logits for m in teachers]).mean(0) / t)
    soft_loss = F.binary_cross_entropy_with_logits(logits / t, soft)
    return (1 - config.distill_weight) * loss + config.distill_weight * soft_loss


def _validation_metrics(y: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
    """Fold-9 macro-AUROC (NaN when no class has both labels, e.g. tiny data) and BCE loss."""
    loss = float(
        F.binary_cross_entropy_with_logits(torch.as_tensor(logits), torch.as_tensor(y, dtype=torch.float32))
    )
    with warnings.catch_warnings():  # small validation folds can lack a class: expected, not news each epoch
        warnings.filterwarnings("ignore", category=ExcludedClassWarning)
        try:
            return float(macro_auroc(y, logits)), loss
        except InputError:
            return float("nan"), loss


def _improved(record: dict, best: dict) -> bool:
    """Select on fold-9 macro-AUROC; fall back to fold-9 loss only when the AUROC is undefined."""
    if best["epoch"] < 0:
        return True
    if np.isfinite(record["val_macro_auroc"]):
        return not np.isfinite(best["val_macro_auroc"]) or record["val_macro_auroc"] > best["val_macro_auroc"]
    return not np.isfinite(best["val_macro_auroc"]) and record["val_loss"] < best["val_loss"]


def _checkpoint_payload(
    model, config: TrainConfig, data, stdz: Standardizer, metrics: dict
) -> dict[str, Any]:
    return {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": dict(model.config),
        "interpretable": bool(model.interpretable),
        "task": config.task,
        "class_names": list(data.classes),
        "fs": int(config.fs),
        "standardizer": stdz.to_dict(),
        "window_samples": config.window_samples,
        "stride_samples": config.stride_samples,
        "train_config": config.to_dict(),
        "preprocess": {"baseline": config.baseline},
        "metrics": metrics,
    }


def _check_out(config: TrainConfig, resume: bool, overwrite: bool) -> Path:
    """The run folder, refusing to overwrite a run (or to resume none) unless asked."""
    out = Path(config.out)
    if (out / LAST).exists() and not resume and not overwrite:
        raise ConfigError(
            f"{out} already holds a run; pass --resume to continue it or --overwrite to replace it"
        )
    if resume and not (out / LAST).exists():
        raise ConfigError(f"{out / LAST} not found: nothing to resume")
    return out


def _setup(config: TrainConfig) -> tuple[torch.device, int, int]:
    """Threads, device (the local GPU under torchrun), process group, seeds and determinism: (device, rank, world)."""
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    rank, world = _dist_setup(device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
    return device, rank, world


@dataclasses.dataclass
class _Data:
    """The task (its classes), the fitted standardisation and the standardised training and fold-9 arrays."""

    task: Any
    stdz: Standardizer
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: np.ndarray
    y_val: np.ndarray


def _load_data(config: TrainConfig, device: torch.device, main_process: bool) -> _Data:
    """Folds 1-8 (optionally subsampled) and fold 9, baseline-filtered as the checkpoint will record, standardised
    with statistics of the training folds only."""
    data = load_task(
        config.data,
        config.task,
        config.fs,
        only_present=config.only_present,
        cache_dir=config.cache_dir,
        progress=config.progress and main_process,
    )
    train_data, val_data = data.split("train"), data.split("val")
    if config.max_train_records and len(train_data.Y) > config.max_train_records:
        keep = np.sort(
            np.random.default_rng(config.seed).permutation(len(train_data.Y))[: config.max_train_records]
        )
        train_data = train_data.subset(keep)
    if config.baseline:  # the same filter the Predictor applies to checkpoints that record it
        train_data = dataclasses.replace(
            train_data, X=remove_baseline(train_data.X, config.fs, config.baseline)
        )
        val_data = dataclasses.replace(val_data, X=remove_baseline(val_data.X, config.fs, config.baseline))
    stdz = Standardizer(mode=config.standardize).fit(train_data.X, folds=train_data.folds)
    x_train = torch.as_tensor(stdz.transform(train_data.X), dtype=torch.float32)
    y_train = torch.as_tensor(train_data.Y, dtype=torch.float32)
    x_val = stdz.transform(val_data.X).astype(np.float32)
    if config.data_on_device:  # one copy to the device; batches are gathered there
        x_train, y_train = x_train.to(device), y_train.to(device)
    return _Data(data, stdz, x_train, y_train, x_val, val_data.Y)


@dataclasses.dataclass
class _State:
    """What ``last.pt`` carries besides the weights: where the run is and what it has selected so far."""

    start_epoch: int = 0
    best: dict = dataclasses.field(
        default_factory=lambda: {"val_macro_auroc": float("nan"), "val_loss": float("inf"), "epoch": -1}
    )
    history: list = dataclasses.field(default_factory=list)
    stale: int = 0


def _resume(out: Path, model, optimizer, scheduler, ema) -> _State:
    """Restore weights, optimiser, scheduler, EMA and RNG from ``last.pt``."""
    state = torch.load(out / LAST, map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return _State(state["epoch"] + 1, state["best"], state["history"], state["stale"])


def _train_epoch(
    net,
    model,
    ema,
    optimizer,
    scheduler,
    d: _Data,
    teachers,
    config: TrainConfig,
    epoch: int,
    device: torch.device,
    rank: int,
    world: int,
    show: bool,
) -> tuple[list[float], list[float]]:
    """One pass over this process's share of the training folds; the batch losses and locality penalties."""
    net.train()
    amp = autocast_dtype(config.precision)
    weight_scale = float(getattr(model, "weight_scale", 1.0))
    gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = torch.randperm(len(d.x_train), generator=gen)[rank::world]
    losses: list[float] = []
    leaks: list[float] = []
    bar = tqdm(
        range(0, len(order), config.batch_size),
        desc=f"epoch {epoch + 1}/{config.epochs}",
        disable=not show,
        leave=False,
    )
    for start in bar:
        idx = order[start : start + config.batch_size]
        if config.data_on_device:
            idx = idx.to(device)
        xb = _batch(d.x_train, idx, config, gen).to(device, non_blocking=True)
        yb = d.y_train[idx].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            leak = None
            if config.locality:  # one pass over [x, x + delta]; the classification loss on x
                delta, support = local_perturbations(tuple(xb.shape), config.fs, gen, config.locality_repeat)
                output, leak = locality_forward(
                    net, xb, delta.to(device), support.to(device), config.fs, config.locality_bias
                )
            else:
                output = net(xb)
            loss = _loss(output.logits.float(), yb, xb, teachers, config) + _regulariser(
                output.weights, config, weight_scale
            )
            if leak is not None:
                loss = loss + config.locality * leak
                leaks.append(float(leak.detach()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    return losses, leaks


def _end_epoch(
    out: Path,
    scored,
    model,
    optimizer,
    scheduler,
    ema,
    d: _Data,
    config: TrainConfig,
    st: _State,
    epoch: int,
    losses: list[float],
    leaks: list[float],
    train_seconds: float,
    device: torch.device,
) -> None:
    """Score fold 9, keep ``best.pt`` when it improved, write ``last.pt`` and the history (main process)."""
    scores = predict(
        scored,
        d.x_val,
        window=config.window_samples,
        stride=config.stride_samples,
        device=device,
        autocast=autocast_dtype(config.precision),
    )["logits"]
    val_auc, val_loss = _validation_metrics(d.y_val, scores)
    record = {
        "epoch": epoch,
        "train_loss": float(np.mean(losses)),
        "val_macro_auroc": val_auc,
        "val_loss": val_loss,
        "train_seconds": train_seconds,
        "lr": scheduler.get_last_lr()[0],
    }
    if leaks:  # the mean locality penalty (logit units), when training with one
        record["train_locality"] = float(np.mean(leaks))
    st.history.append(record)
    improved = _improved(record, st.best)
    st.stale = 0 if improved else st.stale + 1
    if improved:
        st.best = {"val_macro_auroc": val_auc, "val_loss": val_loss, "epoch": epoch}
        metrics = {
            "best_val_macro_auroc": val_auc,
            "best_epoch": epoch,
            "history": st.history,
            "n_train": int(len(d.x_train)),
            "n_val": int(len(d.x_val)),
        }
        save_checkpoint(out / BEST, _checkpoint_payload(scored, config, d.task, d.stdz, metrics))
    if config.progress:
        tqdm.write(
            f"epoch {epoch + 1}/{config.epochs}  loss {record['train_loss']:.4f}  fold-9 loss "
            f"{val_loss:.4f}  macro-AUROC {val_auc:.4f}{'  *' if improved else ''}  ({train_seconds:.1f} s)"
        )
    torch.save(
        {
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "epoch": epoch,
            "ema": ema.state_dict() if ema is not None else None,
            "best": st.best,
            "history": st.history,
            "stale": st.stale,
        },
        out / (LAST + ".tmp"),
    )
    os.replace(out / (LAST + ".tmp"), out / LAST)
    (out / "history.json").write_text(json.dumps(st.history, indent=2))


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Train ``config.model`` on folds 1-8, select on fold 9, write ``best.pt``/``last.pt`` under ``config.out``.

    Returns a summary (best fold-9 macro-AUROC, its epoch, seconds per epoch, paths).
    """
    config.validate()
    out = _check_out(config, resume, overwrite)
    device, rank, world = _setup(config)
    main_process = rank == 0
    d = _load_data(config, device, main_process)

    model = create_model(config.model, num_classes=len(d.task.classes), **config.model_kwargs).to(device)
    if config.locality and (world > 1 or not model.interpretable):
        raise ConfigError(
            "locality needs an interpretable model (an IMN) trained in one process; "
            f"got {config.model!r} in {world} process(es)"
        )
    teachers = _load_teachers(config, list(d.task.classes), d.stdz, device)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(math.ceil(len(d.x_train) / world) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, steps_per_epoch))
    ema = None
    if config.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
    scored = ema.module if ema is not None else model  # the model fold 9 scores and best.pt holds

    st = _resume(out, model, optimizer, scheduler, ema) if resume else _State()
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        config.save(out / "config.json")

    for epoch in range(st.start_epoch, config.epochs):
        if (
            config.patience and st.stale >= config.patience
        ):  # early-stopped (also when resuming a stopped run)
            break
        t0 = time.perf_counter()
        losses, leaks = _train_epoch(
            net,
            model,
            ema,
            optimizer,
            scheduler,
            d,
            teachers,
            config,
            epoch,
            device,
            rank,
            world,
            show=config.progress and main_process,
        )
        train_seconds = time.perf_counter() - t0
        if main_process:
            _end_epoch(
                out,
                scored,
                model,
                optimizer,
                scheduler,
                ema,
                d,
                config,
                st,
                epoch,
                losses,
                leaks,
                train_seconds,
                device,
            )
        if world > 1:
            flag = torch.tensor([st.stale], dtype=torch.long)
            dist.broadcast(flag, 0)
            st.stale = int(flag)

    if world > 1:
        dist.barrier()
    seconds = [h["train_seconds"] for h in st.history]
    return {
        "best_val_macro_auroc": st.best["val_macro_auroc"],
        "best_epoch": st.best["epoch"],
        "epochs_run": len(st.history),
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else float("nan"),
        "checkpoint": str(out / BEST),
        "n_params": sum(p.numel() for p in model.parameters()),
    }
