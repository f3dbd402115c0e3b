"""Time every registered model on CPU (or --device): training steps and inference throughput.

Synthetic data only (no PTB-XL needed). For each model: seconds per training step (forward + backward + AdamW
step, BCE-with-logits loss), the implied seconds per epoch on the full PTB-XL training folds (17,418 records) and on
the 1,499-record shared subset, inference ECGs/s, parameters, forward GFLOPs per ECG (counted, so independent of
machine load) and the step-time ratio to ``imn-paper`` measured in the same process.

Models are timed round-robin (one step of each model per round, after a warm-up round) and the best round is kept,
so that load from other processes on a shared machine affects all models alike.

    python benchmarks/bench_models.py --steps 3 --models imn-paper imn-1d blackbox-1d
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ecgimn.models import create_model, list_models

PTBXL_TRAIN_RECORDS = 17_418
SUBSET_RECORDS = 1_499


def _train_step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> float:
    """Seconds for one forward + backward + optimiser step."""
    model.train()
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    F.binary_cross_entropy_with_logits(model(x).logits, y).backward()
    opt.step()
    return time.perf_counter() - t0


@torch.no_grad()
def _infer(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Seconds for one eval-mode forward pass."""
    model.eval()
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


@torch.no_grad()
def _forward_gflops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward GFLOPs per ECG (counted by torch)."""
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(x[:1])
    return counter.get_total_flops() / 1e9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="registered names (default: all)")
    parser.add_argument("--steps", type=int, default=3, help="timed rounds (after 1 warm-up round)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=1000, help="samples per ECG (1000 = 10 s at 100 Hz)")
    parser.add_argument(
        "--num-classes", type=int, default=5, help="K (5 superdiagnostic, 71 'all', 1 binary)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # imn-paper first: the reference for the ratio column
    names = ["imn-paper", *(n for n in (args.models or list_models()) if n != "imn-paper")]
    torch.manual_seed(0)
    dev = torch.device(args.device)
    x = torch.randn(args.batch_size, 12, args.length, device=dev)
    y = (torch.rand(args.batch_size, args.num_classes, device=dev) < 0.2).float()
    models = {n: create_model(n, num_classes=args.num_classes).to(dev) for n in names}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-3) for n, m in models.items()}
    train = {n: math.inf for n in names}
    infer = {n: math.inf for n in names}
    for rnd in range(args.steps + 1):  # round 0 is the warm-up
        for n, m in models.items():
            t_train, t_infer = _train_step(m, opts[n], x, y), _infer(m, x)
            if rnd:
                train[n], infer[n] = min(train[n], t_train), min(infer[n], t_infer)

    steps_full = math.ceil(PTBXL_TRAIN_RECORDS / args.batch_size)
    steps_sub = math.ceil(SUBSET_RECORDS / args.batch_size)
    print(
        f"# device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} "
        f"batch={args.batch_size} L={args.length} K={args.num_classes} rounds={args.steps} (best kept)"
    )
    header = (
        f"{'model':18s} {'params':>10s} {'s/step':>8s} {'s/epoch full':>13s} {'s/epoch 1499':>13s} "
        f"{'ECG/s infer':>12s} {'GFLOP/ECG':>10s} {'x paper':>8s}"
    )
    print(header + "\n" + "-" * len(header))
    for n, m in models.items():
        step = train[n]
        print(
            f"{n:18s} {sum(p.numel() for p in m.parameters()):>10,d} {step:8.3f} {step * steps_full:13.0f} "
            f"{step * steps_sub:13.1f} {args.batch_size / infer[n]:12.0f} {_forward_gflops(m, x):10.3f} "
            f"{train['imn-paper'] / step:7.1f}x"
        )


if __name__ == "__main__":
    main()
