"""``ecgimn train`` and ``ecgimn evaluate``."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import TYPE_CHECKING

from ecgimn.cli.common import add_command
from ecgimn.constants import TASKS

if TYPE_CHECKING:
    from ecgimn.training import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "train", run_train, help="train a model on folds 1-8, select on fold 9")
    p.add_argument("--data", required=True, help="PTB-XL root folder")
    p.add_argument("--task", default="superdiagnostic", choices=TASKS)
    p.add_argument("--fs", type=int, default=100, choices=(100, 500))
    p.add_argument(
        "--model",
        default="imn-1d",
        help="model registry name, e.g. imn-1d or blackbox-1d (an unknown name lists them all)",
    )
    p.add_argument("--out", required=True, help="run folder (best.pt, last.pt, config.json, history.json)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="cosine", choices=("cosine", "constant"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--standardize", default="per_record", choices=("per_record", "global", "per_lead"))
    p.add_argument("--l1", type=float, default=0.0, help="L1 penalty on mean |W| (IMNs)")
    p.add_argument("--tv", type=float, default=0.0, help="total-variation penalty on W along time (IMNs)")
    locality_help = (
        "weight of the locality penalty (IMNs): W * x and b must not move outside a random local change"
    )
    p.add_argument("--locality", type=float, default=0.0, help=locality_help)
    p.add_argument(
        "--locality-repeat",
        action="store_true",
        help="the locality perturbation recurs every 0.6-1.2 s (like a change in every beat) instead of once",
    )
    p.add_argument(
        "--locality-bias",
        type=float,
        default=1.0,
        help="price of the bias's change in the locality penalty relative to a leak of W (default 1)",
    )
    p.add_argument("--crop-seconds", type=float, default=None, help="train on random crops (e.g. 2.5)")
    p.add_argument("--eval-stride-seconds", type=float, default=None)
    p.add_argument("--augment", action="store_true")
    p.add_argument(
        "--baseline",
        default=None,
        choices=("none", "highpass", "median"),
        help="baseline removal before standardisation, recorded in the checkpoint (default none)",
    )
    p.add_argument("--patience", type=int, default=0, help="early stopping on fold-9 AUROC (0 = off)")
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="exponential moving average of the weights with this decay, e.g. 0.99 (0 = off)",
    )
    p.add_argument(
        "--distill-from",
        nargs="+",
        default=None,
        metavar="CKPT",
        help="teacher checkpoint(s) (same task, folds 1-8): learn from their mean soft labels too",
    )
    p.add_argument("--distill-weight", type=float, default=0.5, help="weight of the teacher term (0-1)")
    p.add_argument("--distill-temperature", type=float, default=1.0)
    p.add_argument("--only-present", action="store_true", help="use only records whose files exist")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--model-kwargs", default="{}", help="JSON of extra model constructor arguments")
    p.add_argument(
        "--max-train-records", type=int, default=None, help="subsample training records (smoke tests)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--precision",
        default=None,
        choices=("fp32", "bf16"),
        help="bf16: forward and loss under autocast (GPUs); default float32",
    )
    p.add_argument(
        "--data-on-device",
        action="store_true",
        help="keep the training set on the device (GPU) instead of copying each batch",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true")

    e = add_command(
        sub, "evaluate", run_evaluate, help="score a checkpoint on fold 10 (report once; never select on it)"
    )
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", required=True, help="PTB-XL root folder")
    e.add_argument("--task", default=None, help="refuse checkpoints of another task")
    e.add_argument("--split", default="test", choices=("test", "val"))
    e.add_argument("--out", default=None, help="also write the full result to this JSON file (default: none)")
    e.add_argument("--only-present", action="store_true")
    e.add_argument("--cache-dir", default=None)
    e.add_argument("--device", default="auto")
    e.add_argument("--n-bootstrap", type=int, default=100)
    e.add_argument("--json", action="store_true", help="print the full JSON")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`~ecgimn.training.TrainConfig` of ``ecgimn train``: each option sets the field of its name
    (``--threads``: ``num_threads``; ``--no-progress``: ``progress``; ``--model-kwargs``: JSON)."""
    from ecgimn.errors import ConfigError
    from ecgimn.training import TrainConfig

    try:
        model_kwargs = json.loads(args.model_kwargs)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--model-kwargs is not valid JSON: {exc}") from None
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    return TrainConfig(
        **{
            **given,
            "model_kwargs": model_kwargs,
            "num_threads": args.threads,
            "progress": not args.no_progress,
        }
    )


def run_train(args: argparse.Namespace) -> int:
    from ecgimn.training import train

    summary = train(train_config(args), resume=args.resume, overwrite=args.overwrite)
    print(json.dumps(summary, indent=2))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ecgimn.study.evaluate import evaluate_checkpoint

    out = args.out
    report = evaluate_checkpoint(
        args.checkpoint,
        args.data,
        split=args.split,
        task=args.task,
        only_present=args.only_present,
        cache_dir=args.cache_dir,
        device=args.device,
        n_bootstrap=args.n_bootstrap,
        out=out,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        from ecgimn.cli.score import format_score

        fold = "fold 10 (test)" if args.split == "test" else "fold 9 (validation)"
        print(f"{report['model']} on {report['task']}, {fold}")
        print(format_score(report, report.get("n_positive")))
        if report.get("exactness_max_rel_error") is not None:
            print(f"exactness max |sum(W*x)+b-logit|/max(1,|logit|): {report['exactness_max_rel_error']:.2e}")
        if out:
            print(f"written: {out}")
    return 0
